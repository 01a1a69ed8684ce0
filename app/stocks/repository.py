"""Every SQL statement on stocks: one stock, filtered lists, and the writes."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import psycopg
from pydantic import TypeAdapter
from sqlalchemy import Select, Table
from sqlalchemy.exc import IntegrityError

from app.kit.errors import NotFound
from app.kit.keyset import Page, PageParams, SortOrder
from app.kit.repository import IfMatch, Repository, Versioned, can_exist
from app.stocks.models import STOCKS, StockCreate, StockPublic, StockUpdate


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
        try:
            return await self._insert({**stock.model_dump(), "user_id": user_id})
        except IntegrityError as error:
            # The foreign key, not a prior SELECT, decides whether the user exists:
            # a user deleted a moment ago cannot slip between a check and the insert.
            if isinstance(error.orig, psycopg.errors.ForeignKeyViolation):
                await self.session.rollback()
                raise NotFound("User", user_id) from None
            raise

    async def replace(self, stock_id: int, stock: StockCreate, if_match: IfMatch) -> Versioned[StockPublic]:
        """Every field set from `stock`: an `is_active` left out becomes true, as in the guide."""
        return await self._update(stock_id, stock.model_dump(), if_match)

    async def patch(self, stock_id: int, changes: StockUpdate, if_match: IfMatch) -> Versioned[StockPublic]:
        """Only the fields the client sent."""
        return await self._update(stock_id, changes.model_dump(exclude_unset=True), if_match)
