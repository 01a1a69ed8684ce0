"""A ledger write: the holding locked, the entry checked by replaying, written, and the holding moved, all at once.

Each runs in one database transaction (`open_session.transaction()`): the
entry, the holding row and any realized gain a replay changed land together
or not at all, and the lock on the holding row makes two writes to one
holding take turns, each replaying what the other wrote.
"""

from decimal import Decimal

from app.core.database import SessionOpener
from app.kit.errors import AppError
from app.kit.scope import Scope
from app.stocks.ledger.models import TransactionCreate, TransactionPublic
from app.stocks.ledger.repository import LockedHolding, TransactionRepository
from app.stocks.ledger.rules import Entry, Holding, Refused, apply, in_order, replay

# The field of a new entry that a later entry's refusal is blamed on: what moved the holding.
_MOVING_FIELD = {"buy": "quantity", "sell": "quantity", "split": "ratio"}


class LedgerRefusal(AppError):
    """The ledger would break a rule (a short sell, a split into fractions): 422, naming the field at fault."""

    status_code = 422
    code = "ledger_refused"
    title = "Ledger refused"


class LedgerService:
    def __init__(self, open_session: SessionOpener, scope: Scope) -> None:
        self.open_session = open_session
        self.scope = scope

    async def record(self, stock_id: int, payload: TransactionCreate) -> TransactionPublic:
        """Add a transaction to a holding: appended, or (dated before later ones) replayed into its place."""
        values = payload.model_dump()
        entry = Entry(
            type=payload.type,
            occurred_on=payload.occurred_on,
            quantity=values.get("quantity"),
            price=values.get("price"),
            fee=values.get("fee"),
            ratio=values.get("ratio"),
        )
        async with self.open_session.transaction() as session:
            transactions = TransactionRepository(session, self.scope)
            locked = await transactions.lock_holding(stock_id)
            changed_gains: list[tuple[int, Decimal | None]] = []
            try:
                if locked.last_day is None or entry.occurred_on >= locked.last_day:
                    # The latest entry: the row is its ledger replayed, so one step from the row is the replay.
                    holding, gain = apply(locked.holding, entry)
                else:
                    holding, gain, changed_gains = await _replayed_with(transactions, locked, entry)
            except Refused as refused:
                raise _blamed_on(entry, refused) from None
            written = await transactions.insert(
                {**values, "stock_id": stock_id, "user_id": locked.user_id, "realized_gain": gain}
            )
            if holding != locked.holding:
                await transactions.move_holding(stock_id, holding)
            await transactions.set_gains(changed_gains)
        return written

    async def remove(self, transaction_id: int) -> None:
        """Delete a transaction and replay the rest; refused (422) if the rest does not add up."""
        async with self.open_session.transaction() as session:
            transactions = TransactionRepository(session, self.scope)
            stock_id = await transactions.holding_of(transaction_id)
            locked = await transactions.lock_holding(stock_id)
            rest = [entry for entry in await transactions.ledger(stock_id) if entry.id != transaction_id]
            where = ("path", "transaction_id")
            try:
                result = replay(rest)
            except Refused as refused:
                raise LedgerRefusal(
                    f"Without this transaction: {refused.reason}", location=where, rejected=transaction_id
                ) from None
            if result.holding.average is None:
                raise LedgerRefusal(
                    "This is the holding's only buy: delete the stock instead, or record another buy first",
                    location=where,
                    rejected=transaction_id,
                )
            await transactions.delete_entry(transaction_id)
            if result.holding != locked.holding:
                await transactions.move_holding(stock_id, result.holding)
            await transactions.set_gains(_changed(rest, result.gains))


async def _replayed_with(
    transactions: TransactionRepository, locked: LockedHolding, entry: Entry
) -> tuple[Holding, Decimal | None, list[tuple[int, Decimal | None]]]:
    """A backdated entry: the whole ledger replayed with it in its place; the later sells' gains it moved."""
    entries = in_order([*await transactions.ledger(locked.stock_id), entry])
    result = replay(entries)
    position = entries.index(entry)
    others = entries[:position] + entries[position + 1 :]
    gains = result.gains[:position] + result.gains[position + 1 :]
    return result.holding, result.gains[position], _changed(others, gains)


def _changed(entries: list[Entry], gains: list[Decimal | None]) -> list[tuple[int, Decimal | None]]:
    return [
        (entry.id, gain)
        for entry, gain in zip(entries, gains, strict=True)
        if entry.id is not None and gain != entry.realized_gain
    ]


def _blamed_on(entry: Entry, refused: Refused) -> LedgerRefusal:
    """A 422 naming the new entry's field: its own when it is the one refused, what moved the holding otherwise."""
    if refused.entry is entry:
        return LedgerRefusal(refused.reason, location=("body", entry.type, refused.field))
    later = f"{refused.entry.type} of {refused.entry.occurred_on.isoformat()} (transaction {refused.entry.id})"
    return LedgerRefusal(
        f"Dated {entry.occurred_on.isoformat()}, this {entry.type} breaks the later {later}: {refused.reason}",
        location=("body", entry.type, _MOVING_FIELD.get(entry.type, "occurred_on")),
    )
