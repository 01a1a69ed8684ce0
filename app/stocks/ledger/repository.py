"""Every SQL statement of the ledger: a holding locked and moved, its entries read, written, listed and deleted."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import TypeAdapter
from sqlalchemy import Select, Table, bindparam, delete, func, insert, select, update

from app.kit.errors import NotFound
from app.kit.keyset import Page, PageParams, SortOrder
from app.kit.repository import Repository, can_exist
from app.kit.scope import owner_matches
from app.stocks.ledger.models import TRANSACTIONS, TransactionPublic
from app.stocks.ledger.rules import Entry, Holding
from app.stocks.models import STOCKS

# Lists walk a ledger oldest first: by day, then as written.
OLDEST_FIRST = SortOrder("occurred_on")
_ENTRY_COLUMNS = tuple(
    TRANSACTIONS.c[name] for name in ("id", "type", "occurred_on", "quantity", "price", "fee", "ratio", "realized_gain")
)


@dataclass(frozen=True, slots=True)
class LockedHolding:
    """A holding row, locked until the transaction ends: its owner, state, and the day of its latest entry."""

    stock_id: int
    user_id: int
    holding: Holding
    last_day: date | None


@dataclass(frozen=True, slots=True)
class TransactionFilters:
    """A user's transactions: all optional, combined with AND; `since` and `until` include their day."""

    user_id: int
    type: str | None = None
    symbol: str | None = None  # normalized, as stocks.name stores it
    since: date | None = None
    until: date | None = None


# The holding row, locked: two ledger writes on one holding take turns (each replays what the other wrote).
_LOCK_HOLDING = (
    select(STOCKS.c.id, STOCKS.c.user_id, STOCKS.c.quantity, STOCKS.c.price)
    .where(STOCKS.c.id == bindparam("row_id"), owner_matches(STOCKS.c.user_id))
    .with_for_update(of=STOCKS)
)
# Read in a statement of its own, once the lock is held. In the locking statement it would be
# stale: a SELECT ... FOR UPDATE that waited for another ledger write hands back the row as that
# write left it, but evaluates a subquery in the snapshot taken before the wait, so a backdated
# entry would look like the latest and skip the replay (a sell of shares not held on its day).
_LAST_DAY = select(func.max(TRANSACTIONS.c.occurred_on)).where(TRANSACTIONS.c.stock_id == bindparam("stock_id"))
_HOLDING_EXISTS = select(STOCKS.c.id).where(STOCKS.c.id == bindparam("row_id"), owner_matches(STOCKS.c.user_id))
_LEDGER = (
    select(*_ENTRY_COLUMNS)
    .where(TRANSACTIONS.c.stock_id == bindparam("stock_id"))
    .order_by(TRANSACTIONS.c.occurred_on, TRANSACTIONS.c.id)
)
_WRITTEN = tuple(column for column in TRANSACTIONS.c if column.name not in ("id", "created_at"))
_INSERT = (
    insert(TRANSACTIONS)
    .values({column.name: bindparam(f"new_{column.name}") for column in _WRITTEN})
    .returning(*TRANSACTIONS.c)
)
_MOVE_HOLDING = (
    update(STOCKS)
    .where(STOCKS.c.id == bindparam("row_id"))
    .values(quantity=bindparam("new_quantity"), price=bindparam("new_price"))
)
_SET_GAIN = (
    update(TRANSACTIONS)
    .where(TRANSACTIONS.c.id == bindparam("entry_id"))
    .values(realized_gain=bindparam("new_realized_gain"))
)
_SELECT_ONE = select(*TRANSACTIONS.c).where(
    TRANSACTIONS.c.id == bindparam("row_id"), owner_matches(TRANSACTIONS.c.user_id)
)
_DELETE = delete(TRANSACTIONS).where(TRANSACTIONS.c.id == bindparam("row_id"))


def entry_of(row: Any) -> Entry:
    return Entry(
        type=row.type,
        occurred_on=row.occurred_on,
        quantity=row.quantity,
        price=row.price,
        fee=row.fee,
        ratio=row.ratio,
        id=row.id,
        realized_gain=row.realized_gain,
    )


class TransactionRepository(Repository[TransactionPublic]):
    table: ClassVar[Table] = TRANSACTIONS
    owner_column: ClassVar[str] = "user_id"
    resource: ClassVar[str] = "Transaction"
    public: ClassVar[TypeAdapter[Any]] = TypeAdapter(TransactionPublic)
    public_list: ClassVar[TypeAdapter[Any]] = TypeAdapter(list[TransactionPublic])

    # -- reading

    async def read_one(self, transaction_id: int) -> TransactionPublic:
        """One transaction (transactions have no ETag: none is ever changed, only deleted)."""
        self._require_possible_id(transaction_id)
        row = await self._first(_SELECT_ONE, row_id=transaction_id, **self.scope.params())
        if row is None:
            raise NotFound(self.resource, transaction_id)
        return self.public.validate_python(row)

    async def list_for_holding(self, stock_id: int, params: PageParams) -> Page[TransactionPublic]:
        """A holding's ledger, oldest first; `NotFound` for the stock if it is not in scope."""
        if (
            not can_exist(stock_id)
            or await self._first(_HOLDING_EXISTS, row_id=stock_id, **self.scope.params()) is None
        ):
            raise NotFound("Stock", stock_id)
        statement: Select[Any] = self._all_columns().where(TRANSACTIONS.c.stock_id == stock_id)
        return await self._page(statement, OLDEST_FIRST, params)

    async def list_for_user(self, filters: TransactionFilters, params: PageParams) -> Page[TransactionPublic]:
        """A user's transactions across holdings, oldest first (the caller checks the user is in scope)."""
        statement: Select[Any] = self._all_columns().where(TRANSACTIONS.c.user_id == filters.user_id)
        if filters.type is not None:
            statement = statement.where(TRANSACTIONS.c.type == filters.type)
        if filters.symbol is not None:
            holdings = select(STOCKS.c.id).where(STOCKS.c.user_id == filters.user_id, STOCKS.c.name == filters.symbol)
            statement = statement.where(TRANSACTIONS.c.stock_id.in_(holdings))
        if filters.since is not None:
            statement = statement.where(TRANSACTIONS.c.occurred_on >= filters.since)
        if filters.until is not None:
            statement = statement.where(TRANSACTIONS.c.occurred_on <= filters.until)
        return await self._page(statement, OLDEST_FIRST, params)

    # -- the statements of a ledger write (app/stocks/ledger/service.py runs them in one transaction)

    async def lock_holding(self, stock_id: int) -> LockedHolding:
        """The holding row, locked for the rest of the transaction; `NotFound` if not in scope."""
        if not can_exist(stock_id):
            raise NotFound("Stock", stock_id)
        row = (await self._execute(_LOCK_HOLDING, {"row_id": stock_id, **self.scope.params()})).first()
        if row is None:
            raise NotFound("Stock", stock_id)
        last_day = (await self._execute(_LAST_DAY, {"stock_id": stock_id})).scalar_one()
        return LockedHolding(row.id, row.user_id, Holding(row.quantity, row.price), last_day)

    async def holding_of(self, transaction_id: int) -> int:
        """The stock a transaction belongs to; `NotFound` for the transaction if not in scope."""
        self._require_possible_id(transaction_id)
        row = await self._first(_SELECT_ONE, row_id=transaction_id, **self.scope.params())
        if row is None:
            raise NotFound(self.resource, transaction_id)
        return int(row["stock_id"])

    async def ledger(self, stock_id: int) -> list[Entry]:
        """A holding's entries in replay order."""
        return [entry_of(row) for row in await self._execute(_LEDGER, {"stock_id": stock_id})]

    async def insert(self, values: dict[str, Any]) -> TransactionPublic:
        params = {f"new_{column.name}": values.get(column.name) for column in _WRITTEN}
        row = await self._first(_INSERT, **params)
        assert row is not None  # INSERT ... RETURNING always returns the row
        return self.public.validate_python(row)

    async def delete_entry(self, transaction_id: int) -> None:
        await self._execute(_DELETE, {"row_id": transaction_id})

    async def move_holding(self, stock_id: int, holding: Holding) -> None:
        params = {"row_id": stock_id, "new_quantity": holding.quantity, "new_price": holding.average}
        await self._execute(_MOVE_HOLDING, params)

    async def set_gains(self, gains: Sequence[tuple[int, Decimal | None]]) -> None:
        """Sells whose realized gain a replay changed (a backdated or deleted entry moved their average cost)."""
        if gains:  # one statement, run for each (psycopg sends them in one pipeline)
            rows = [{"entry_id": entry_id, "new_realized_gain": gain} for entry_id, gain in gains]
            await self._execute(_SET_GAIN, rows)  # type: ignore[arg-type]  # a list of parameter sets: executemany
