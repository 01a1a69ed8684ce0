"""Every SQL statement on stocks: one stock, filtered lists, and the writes (each with its ledger entry).

A new holding is recorded in its ledger as its opening buy, and a PUT or
PATCH that changes its quantity or price as an adjustment (docs/reference/ledger.md),
in the same statement as the write: a data-modifying CTE, so the guide's
writes stay one round trip and the holding always equals its ledger replayed.
"""

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar

import psycopg
from pydantic import TypeAdapter
from sqlalchemy import Select, Table, bindparam, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.kit.errors import NotFound
from app.kit.fields import today
from app.kit.keyset import Page, PageParams, SortOrder
from app.kit.repository import IfMatch, Repository, Versioned, can_exist, readable_columns, version_matches
from app.kit.scope import owner_matches
from app.stocks.ledger.models import TRANSACTIONS
from app.stocks.models import STOCKS, StockCreate, StockPublic, StockReplace, StockUpdate


@dataclass(frozen=True, slots=True)
class StockFilters:
    """The filters a list of stocks takes; all optional, all combined with AND."""

    name: str | None = None  # a normalized symbol: stored upper-case, so this is an index lookup
    is_active: bool | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    user_id: int | None = None


class StockRepository(Repository[StockPublic]):
    table: ClassVar[Table] = STOCKS
    owner_column: ClassVar[str] = "user_id"
    resource: ClassVar[str] = "Stock"
    public: ClassVar[TypeAdapter[Any]] = TypeAdapter(StockPublic)
    public_list: ClassVar[TypeAdapter[Any]] = TypeAdapter(list[StockPublic])

    async def list(self, filters: StockFilters, order: SortOrder, params: PageParams) -> Page[StockPublic]:
        statement: Select[Any] = self._all_columns()
        if filters.user_id is not None:
            statement = statement.where(STOCKS.c.user_id == filters.user_id)
        if filters.name is not None:
            statement = statement.where(STOCKS.c.name == filters.name)
        if filters.is_active is not None:
            statement = statement.where(STOCKS.c.is_active == filters.is_active)
        if filters.min_price is not None:
            statement = statement.where(STOCKS.c.price >= filters.min_price)
        if filters.max_price is not None:
            statement = statement.where(STOCKS.c.price <= filters.max_price)
        return await self._page(statement, order, params)

    async def create_for_user(self, user_id: int, stock: StockCreate) -> Versioned[StockPublic]:
        """A new holding of `user_id`; `NotFound` for the user if there is no such user (in scope)."""
        if not (can_exist(user_id) and self.scope.reaches_user(user_id)):
            raise NotFound("User", user_id)
        values = stock.model_dump(exclude={"acquired_on"})
        params = {f"new_{field}": value for field, value in values.items()}
        try:
            row = await self._first(
                _insert_with_opening_buy(tuple(values)),
                **params,
                new_user_id=user_id,
                acquired_on=stock.acquired_on or today(),
            )
        except IntegrityError as error:
            # The foreign key, not a prior SELECT, decides whether the user exists:
            # a user deleted a moment ago cannot slip between a check and the insert.
            if isinstance(error.orig, psycopg.errors.ForeignKeyViolation):
                await self.session.rollback()
                raise NotFound("User", user_id) from None
            raise
        assert row is not None  # INSERT ... RETURNING always returns the row
        return self._answer(row)

    async def replace(self, stock_id: int, stock: StockReplace, if_match: IfMatch) -> Versioned[StockPublic]:
        """Every field set from `stock`: an `is_active` left out becomes true, as in the guide."""
        return await self._update_with_adjustment(stock_id, stock.model_dump(), if_match)

    async def patch(self, stock_id: int, changes: StockUpdate, if_match: IfMatch) -> Versioned[StockPublic]:
        """Only the fields the client sent."""
        return await self._update_with_adjustment(stock_id, changes.model_dump(exclude_unset=True), if_match)

    async def _update_with_adjustment(
        self, stock_id: int, values: dict[str, Any], if_match: IfMatch
    ) -> Versioned[StockPublic]:
        """As `_update`, plus an adjustment in the ledger when the quantity or the price moved, in one statement."""
        if not values.keys() & {"quantity", "price"}:
            return await self._update(stock_id, values, if_match)  # the ledger cannot move: the plain UPDATE
        self._require_possible_id(stock_id)
        params = {f"new_{field}": value for field, value in values.items()}
        row = await self._first(
            _update_with_adjustment(tuple(values)),
            row_id=stock_id,
            today=today(),
            **params,
            **if_match.params(),
            **self.scope.params(),
        )
        if row is None:
            raise await self._missing_or_changed(stock_id)
        return self._answer(row)


# The ledger entry's columns a holding's write fills (the others stay NULL).
_ENTRY = ("stock_id", "user_id", "type", "occurred_on", "quantity", "price", "fee")


@cache
def _insert_with_opening_buy(fields: tuple[str, ...]) -> Select[Any]:
    """WITH s AS (INSERT INTO stocks ... RETURNING *), t AS (INSERT INTO transactions the opening buy) SELECT s."""
    new_stock = (
        insert(STOCKS)
        .values({field: bindparam(f"new_{field}") for field in (*fields, "user_id")})
        .returning(*readable_columns(STOCKS))
        .cte("new_stock")
    )
    opening_buy = (
        insert(TRANSACTIONS)
        .from_select(
            _ENTRY,
            select(
                new_stock.c.id,
                new_stock.c.user_id,
                literal("buy"),
                bindparam("acquired_on", type_=TRANSACTIONS.c.occurred_on.type),
                new_stock.c.quantity,
                new_stock.c.price,
                literal(Decimal(0), type_=TRANSACTIONS.c.fee.type),
            ),
        )
        .cte("opening_buy")
    )
    return select(new_stock).add_cte(opening_buy)


@cache
def _update_with_adjustment(fields: tuple[str, ...]) -> Select[Any]:
    """The row locked as it was, updated, and an adjustment entry if its quantity or price moved; one statement.

    `was` reads the row FOR UPDATE (the newest version, the WHERE re-checked
    on it, as a plain UPDATE would), so what "moved" compares against is what
    this UPDATE replaces, even when another write landed a moment before.
    """
    was = (
        select(STOCKS.c.id, STOCKS.c.quantity, STOCKS.c.price)
        .where(STOCKS.c.id == bindparam("row_id"), owner_matches(STOCKS.c.user_id), version_matches(STOCKS))
        .with_for_update()
        .cte("was")
    )
    changed = (
        update(STOCKS)
        .where(STOCKS.c.id == was.c.id)
        .values({field: bindparam(f"new_{field}") for field in fields})
        .returning(*readable_columns(STOCKS), was.c.quantity.label("was_quantity"), was.c.price.label("was_price"))
        .cte("changed")
    )
    adjustment = (
        insert(TRANSACTIONS)
        .from_select(
            _ENTRY,
            select(
                changed.c.id,
                changed.c.user_id,
                literal("adjustment"),
                bindparam("today", type_=TRANSACTIONS.c.occurred_on.type),
                changed.c.quantity,
                changed.c.price,
                literal(None, type_=TRANSACTIONS.c.fee.type),
            ).where(or_(changed.c.quantity != changed.c.was_quantity, changed.c.price != changed.c.was_price)),
        )
        .cte("adjustment")
    )
    return select(*(changed.c[column.name] for column in readable_columns(STOCKS))).add_cte(adjustment)
