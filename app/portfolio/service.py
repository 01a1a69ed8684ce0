"""The portfolio on a day and over a period: the user's ledger replayed, valued at the closes.

The conventions: docs/explanation/valuation.md.

The ledger (a few hundred entries) is replayed here, through the ledger's own
`apply` (app/stocks/ledger/rules.py), so the quantities and average costs are
exactly those the holdings' rows hold; the heavy part, every day's value from
every close, is one SQL statement (`PortfolioRepository.daily_values`).
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from itertools import groupby

from app.kit.errors import AppError
from app.portfolio.models import Interval, Performance, Valuation, ValuedPosition
from app.portfolio.repository import Held, LedgerEntry, PortfolioRepository
from app.portfolio.returns import DailyValue, period_returns
from app.stocks.ledger.rules import Holding, Refused, apply

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
ONE_DAY = timedelta(days=1)
AVERAGE_PLACES = Decimal("0.0001")  # as the portfolio query rounds average_price
# The longest period a performance request may span: its cost grows with the days (and the TWR's
# exact fraction with the days that have flows).
MAX_PERIOD_DAYS = 3653  # ten years
# Enough digits that sums of quantity (bigint) x price (12 digits) never round.
_EXACT = 40


class LedgerDoesNotAddUp(AppError):
    """A holding's ledger that its own rules refuse on replay: 409, naming the holding and the entry.

    The ledger's writes keep every holding replayable (app/stocks/ledger/service.py), so this
    means rows written past them (by hand, in SQL); the answer says which entry to correct,
    where a bare 500 would hide it.
    """

    status_code = 409
    code = "ledger_does_not_add_up"
    title = "Ledger does not add up"


def _step(holding: Holding, item: LedgerEntry) -> tuple[Holding, Decimal | None]:
    """One entry replayed onto its holding, through the ledger's own rules."""
    try:
        return apply(holding, item.entry)
    except Refused as refused:
        logger.error("Stock %s's ledger does not replay at its %s of %s: %s", item.stock_id, item.entry.type,
                     item.entry.occurred_on, refused.reason)  # fmt: skip
        raise LedgerDoesNotAddUp(
            f"Stock with ID {item.stock_id}: its ledger does not add up at the {item.entry.type} of "
            f"{item.entry.occurred_on.isoformat()} ({refused.reason}); correct or delete that transaction"
        ) from None


class PeriodRefused(AppError):
    """A period that cannot be computed (`from` after `to`, too long): 422 naming the parameter."""

    status_code = 422
    code = "period_refused"
    title = "Period refused"


# ---------------------------------------------------------------- the valuation on a day


async def valuation(portfolios: PortfolioRepository, user_id: int, as_of: date) -> Valuation:
    """The user's active holdings as their ledgers stood at the end of `as_of`, at the latest closes on or before it."""
    ledger = await portfolios.ledger(user_id, as_of)
    lots: dict[int, Holding] = {}
    symbol_of: dict[int, str] = {}
    realized = dividends = fees = ZERO
    with localcontext(prec=_EXACT):
        for item in ledger:
            lots[item.stock_id], gain = _step(lots.get(item.stock_id, Holding()), item)
            symbol_of[item.stock_id] = item.symbol
            realized += gain or ZERO
            if item.entry.type == "dividend":
                dividends += item.amount or ZERO
            elif item.entry.type == "fee":
                fees += item.amount or ZERO
            else:
                fees += item.entry.fee or ZERO  # a buy's or a sell's; None for the others
        quantities: dict[str, int] = defaultdict(int)
        costs: dict[str, Decimal] = defaultdict(Decimal)
        for stock_id, lot in lots.items():
            if lot.quantity > 0:
                quantities[symbol_of[stock_id]] += lot.quantity
                costs[symbol_of[stock_id]] += lot.quantity * (lot.average or ZERO)
        closes = await portfolios.latest_closes(sorted(quantities), as_of)
        positions = [_valued(symbol, quantities[symbol], costs[symbol], closes.get(symbol)) for symbol in quantities]
    positions.sort(key=lambda position: (-position.value, position.name))
    return Valuation(
        user_id=user_id,
        as_of=as_of,
        total_value=sum((position.value for position in positions), ZERO),
        market_value=sum((position.market_value for position in positions), ZERO),
        unrealized_gain=sum((position.unrealized_gain for position in positions), ZERO),
        realized_gain=realized,
        dividends=dividends,
        fees=fees,
        positions=positions,
    )


def _valued(symbol: str, quantity: int, cost: Decimal, close: Decimal | None) -> ValuedPosition:
    market_value = cost if close is None else quantity * close
    return ValuedPosition(
        name=symbol,
        quantity=quantity,
        value=cost,
        average_price=(cost / quantity).quantize(AVERAGE_PLACES, rounding=ROUND_HALF_UP),
        market_price=close,
        priced=close is not None,
        market_value=market_value,
        unrealized_gain=market_value - cost,
    )


# ---------------------------------------------------------------- the performance over a period


def default_period(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """`to` defaults to today; `from` to the day after the same date a year before `to` (a year of closes)."""
    last = last or today
    if first is None:
        try:
            year_before = last.replace(year=last.year - 1)
        except ValueError:  # 29 February, or the year 1
            year_before = last.replace(year=last.year - 1, day=28) if last.year > 1 else date.min
        first = max(year_before + ONE_DAY, date.min + ONE_DAY)
    if first > last:
        raise PeriodRefused(
            f"from ({first.isoformat()}) must not be after to ({last.isoformat()})",
            location=("query", "from"),
            rejected=first.isoformat(),
        )
    if first == date.min:
        raise PeriodRefused(
            "from must be after 0001-01-01: the period opens at the close of the day before",
            location=("query", "from"),
            rejected=first.isoformat(),
        )
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise PeriodRefused(
            f"A period spans at most {MAX_PERIOD_DAYS} days; from {first.isoformat()} to {last.isoformat()} "
            f"is {(last - first).days + 1}",
            location=("query", "from"),
            rejected=first.isoformat(),
        )
    return first, last


async def performance(
    portfolios: PortfolioRepository, user_id: int, first: date, last: date, interval: Interval
) -> Performance:
    """docs/explanation/returns.md's series from the close before `first` to the close of `last`, and its returns."""
    opening = first - ONE_DAY
    ledger = await portfolios.ledger(user_id, last)
    held, inflows, outflows = _replayed(ledger, opening, last)
    values = await portfolios.daily_values(held, opening, last)
    series = [
        DailyValue(day, values.get(day, ZERO), inflows.get(day, ZERO), outflows.get(day, ZERO))
        for day in _days(opening, last)
    ]
    returns = period_returns(series)
    return Performance.model_validate(
        {
            "from": first,
            "to": last,
            "start_value": returns.start_value,
            "end_value": returns.end_value,
            "net_flows": returns.net_flows,
            "gain": returns.gain,
            "twr": returns.twr,
            "xirr": returns.xirr,
            "series": _thinned(series, interval),
        }
    )


def _replayed(
    ledger: Sequence[LedgerEntry], opening: date, last: date
) -> tuple[list[Held], dict[date, Decimal], dict[date, Decimal]]:
    """What each symbol held over which days from `opening` on, and the money in and out each day after it.

    Flows follow docs/explanation/returns.md's table: a buy's cost and a fee entry in; a sale's
    proceeds and a dividend out; an adjustment's change in cost in (or out); a split nothing.
    """
    lots: dict[int, Holding] = {}
    lots_of: dict[str, set[int]] = defaultdict(set)
    changes: dict[str, list[tuple[date, int, Decimal]]] = defaultdict(list)  # after each day's entries
    inflows: dict[date, Decimal] = defaultdict(Decimal)
    outflows: dict[date, Decimal] = defaultdict(Decimal)
    with localcontext(prec=_EXACT):
        for day, entries in groupby(ledger, key=lambda item: item.entry.occurred_on):
            touched: set[str] = set()
            for item in entries:
                before = lots.get(item.stock_id, Holding())
                after, _ = _step(before, item)
                lots[item.stock_id] = after
                lots_of[item.symbol].add(item.stock_id)
                touched.add(item.symbol)
                if day > opening:
                    money_in = _money_in(item, before, after)
                    if money_in > 0:
                        inflows[day] += money_in
                    elif money_in < 0:
                        outflows[day] -= money_in
            for symbol in touched:
                symbol_lots = [lots[stock_id] for stock_id in lots_of[symbol]]
                quantity = sum(lot.quantity for lot in symbol_lots)
                cost = sum((lot.quantity * (lot.average or ZERO) for lot in symbol_lots), ZERO)
                changes[symbol].append((max(day, opening), quantity, cost))
    end = last + ONE_DAY
    held = [
        Held(symbol, since, until, quantity, cost)
        for symbol, symbol_changes in changes.items()
        for (since, quantity, cost), until in zip(
            symbol_changes, [change[0] for change in symbol_changes[1:]] + [end], strict=True
        )
        if quantity > 0 and since < until
    ]
    return held, inflows, outflows


def _money_in(item: LedgerEntry, before: Holding, after: Holding) -> Decimal:
    """The money the owner put in (> 0) or took out (< 0) with one entry."""
    entry = item.entry
    if entry.type == "buy":
        return (entry.quantity or 0) * (entry.price or ZERO) + (entry.fee or ZERO)
    if entry.type == "sell":
        return -((entry.quantity or 0) * (entry.price or ZERO) - (entry.fee or ZERO))
    if entry.type == "dividend":
        return -(item.amount or ZERO)
    if entry.type == "fee":
        return item.amount or ZERO
    if entry.type == "adjustment":
        return after.quantity * (after.average or ZERO) - before.quantity * (before.average or ZERO)
    return ZERO  # a split: the same value in more (or fewer) shares


def _days(first: date, last: date) -> Iterable[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def _ends(day: date, interval: Interval) -> bool:
    """Whether `day` is the last of its day, week (Sunday, as ISO weeks end) or month."""
    if interval == "week":
        return day.isoweekday() == 7
    if interval == "month":
        return (day + ONE_DAY).day == 1
    return True


def _thinned(series: Sequence[DailyValue], interval: Interval) -> list[dict[str, object]]:
    """The opening point, each day ending an interval, and the last day; `invested` runs over every day.

    Plain dicts, which `Performance.model_validate` turns into `PerformancePoint`s in one call
    (in Rust): building each point here cost 10 us, 11 ms for three years of days.
    """
    points: list[dict[str, object]] = []
    invested = series[0].value
    for position, point in enumerate(series):
        invested += point.inflow - point.outflow
        if position == 0 or position == len(series) - 1 or _ends(point.day, interval):
            points.append({"date": point.day, "value": point.value, "invested": invested})
    return points
