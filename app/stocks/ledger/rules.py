"""The ledger's formulas, once: a holding is its entries applied in order (docs/reference/ledger.md).

Every write (a new transaction, a deleted one) and every replay go through
`apply`, so the row a write leaves and the row a replay computes cannot
drift apart. Pure Python over Decimal: no database, no HTTP.

Conventions (moving average cost, per holding):

- buy q at p, fee f: cost = quantity x average + q x p + f; quantity += q; average = cost / quantity.
- sell q at p, fee f: realized gain = q x p - f - q x average; quantity -= q; average unchanged.
  Never more than is held.
- split r: quantity x r (must be whole); average / r.
- dividend, fee: the holding does not move.
- adjustment (a guide-style PUT or PATCH): quantity and average set as given.

An average is rounded to 4 decimal places, half to even, at each step that
divides (buy, split) and nowhere else; a realized gain needs no rounding
(every term has 4 decimal places at most).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from app.kit.fields import INT32_MAX

PLACES = Decimal("0.0001")  # the stocks.price column's scale, NUMERIC(12,4)
AVERAGE_MAX = Decimal("99999999.9999")  # ... and its largest value


@dataclass(frozen=True, slots=True)
class Holding:
    """A holding as its ledger leaves it: shares held and their average cost per share (None before any buy)."""

    quantity: int = 0
    average: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """What `apply` reads of a transaction; the fields its type does not have are None."""

    type: str
    occurred_on: date
    quantity: int | None = None
    price: Decimal | None = None
    fee: Decimal | None = None
    ratio: Decimal | None = None
    id: int | None = None  # None: not written yet
    realized_gain: Decimal | None = None  # as stored (a sell's); `apply` computes it, never reads it


class Refused(Exception):
    """`entry` cannot be applied: `field` is the one at fault (`quantity` for a short sell), `reason` says why."""

    def __init__(self, entry: Entry, field: str, reason: str) -> None:
        super().__init__(reason)
        self.entry = entry
        self.field = field
        self.reason = reason


def round_average(value: Decimal) -> Decimal:
    return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)


def apply(holding: Holding, entry: Entry) -> tuple[Holding, Decimal | None]:
    """The holding after `entry`, and the entry's realized gain (a sell's; None for the others)."""
    # Enough digits that nothing rounds before the one rounding the convention names:
    # quantity (10 digits) x average (12) + amounts stays far below 40.
    with localcontext(prec=40, rounding=ROUND_HALF_EVEN):
        if entry.type == "buy":
            return _buy(holding, entry), None
        if entry.type == "sell":
            return _sell(holding, entry)
        if entry.type == "split":
            return _split(holding, entry), None
        if entry.type == "adjustment":
            assert entry.quantity is not None and entry.price is not None
            return Holding(entry.quantity, entry.price), None
        return holding, None  # dividend, fee: money in or out, the holding as it was


def _buy(holding: Holding, entry: Entry) -> Holding:
    assert entry.quantity is not None and entry.price is not None and entry.fee is not None
    quantity = holding.quantity + entry.quantity
    if quantity > INT32_MAX:
        raise Refused(entry, "quantity", f"The holding would hold {quantity} shares, more than {INT32_MAX}")
    cost = holding.quantity * (holding.average or 0) + entry.quantity * entry.price + entry.fee
    average = round_average(cost / quantity)
    if average > AVERAGE_MAX:
        raise Refused(entry, "fee", f"The average cost would be {average} a share, more than {AVERAGE_MAX}")
    return Holding(quantity, average)


def _sell(holding: Holding, entry: Entry) -> tuple[Holding, Decimal]:
    assert entry.quantity is not None and entry.price is not None and entry.fee is not None
    if entry.quantity > holding.quantity:
        raise Refused(
            entry,
            "quantity",
            f"Cannot sell {entry.quantity} shares on {entry.occurred_on.isoformat()}: "
            f"{holding.quantity} held then (no short positions)",
        )
    assert holding.average is not None  # shares are held, so something bought them
    gain = entry.quantity * entry.price - entry.fee - entry.quantity * holding.average
    return Holding(holding.quantity - entry.quantity, holding.average), gain


def _split(holding: Holding, entry: Entry) -> Holding:
    assert entry.ratio is not None
    quantity = holding.quantity * entry.ratio
    if quantity != quantity.to_integral_value():
        raise Refused(
            entry,
            "ratio",
            f"{holding.quantity} shares split {entry.ratio} for 1 on {entry.occurred_on.isoformat()} "
            f"would be {quantity.normalize()}, not a whole number",
        )
    if quantity > INT32_MAX:
        raise Refused(entry, "ratio", f"The holding would hold {quantity} shares, more than {INT32_MAX}")
    if holding.average is None:
        return Holding(int(quantity), None)
    average = round_average(holding.average / entry.ratio)
    if not 0 < average <= AVERAGE_MAX:
        raise Refused(entry, "ratio", f"The average cost would be {average} a share, outside 0.0001 to {AVERAGE_MAX}")
    return Holding(int(quantity), average)


@dataclass(frozen=True, slots=True)
class Replay:
    """A ledger replayed: the holding it leaves, and each sell's realized gain by the entry's position."""

    holding: Holding
    gains: list[Decimal | None]


def replay(entries: Iterable[Entry]) -> Replay:
    """Every entry applied in order, from nothing held; `Refused` at the first that cannot be."""
    holding = Holding()
    gains: list[Decimal | None] = []
    for entry in entries:
        holding, gain = apply(holding, entry)
        gains.append(gain)
    return Replay(holding, gains)


def in_order(entries: Sequence[Entry]) -> list[Entry]:
    """Replay order: by day, then as written (id; one not written yet comes after those that are)."""
    return sorted(entries, key=lambda entry: (entry.occurred_on, entry.id is None, entry.id or 0))
