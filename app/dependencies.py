"""Request dependencies shared by the routers: ids, "load or 404", and the stock filters."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query
from pydantic import TypeAdapter
from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.sql.expression import Select

from app.crud import not_found
from app.db import SessionDep
from app.etags import Versioning, etag, versioning
from app.models import INT32_MAX, Stock, Symbol, User, UserWithStocks


def user_not_found(user_id: int) -> HTTPException:
    return not_found(User, user_id)


def stock_not_found(stock_id: int) -> HTTPException:
    return not_found(Stock, stock_id)


def _can_exist(row_id: int) -> bool:
    # Ids are PostgreSQL `integer` from 1 up; any other number names no row,
    # and sent as a parameter it would be a driver error, not a 404.
    return 1 <= row_id <= INT32_MAX


# Every dependency is `async def`: FastAPI runs plain functions in a thread
# pool, a hop that costs more than what they do.
async def _user_id(user_id: Annotated[int, Path(description="The user's id.", examples=[1])]) -> int:
    if not _can_exist(user_id):
        raise user_not_found(user_id)
    return user_id


async def _stock_id(stock_id: Annotated[int, Path(description="The stock's id.", examples=[1])]) -> int:
    if not _can_exist(stock_id):
        raise stock_not_found(stock_id)
    return stock_id


UserId = Annotated[int, Depends(_user_id)]
StockId = Annotated[int, Depends(_stock_id)]


# A user and their stocks in one round trip: the user's columns, then each
# stock's (all NULL for a user without stocks), one row per stock. Plain
# columns, not ORM entities: building a response from rows skips the identity
# map and instance bookkeeping, which cost more than the query on this path.
_users, _stocks = User.__table__, Stock.__table__
_USER_WITH_STOCKS = (
    select(*_users.c, *(column.label(f"stock_{column.name}") for column in _stocks.c))
    .select_from(_users.outerjoin(_stocks))
    .where(_users.c.id == bindparam("user_id"))
    .order_by(_stocks.c.id)
)
_STOCK_COLUMNS = [(f"stock_{column.name}", column.name) for column in _stocks.c]
# Pydantic's own validator, all in Rust: SQLModel's `model_validate` adds a
# Python pass meant for table rows, a tenth of this request's time.
_USER_WITH_STOCKS_SCHEMA = TypeAdapter(UserWithStocks)


@dataclass(frozen=True)
class Found:
    """A row as the API answers it, and its ETag."""

    body: Any
    etag: str


async def user_with_stocks_or_404(user_id: UserId, session: SessionDep) -> Found:
    """The user and their stocks, in one statement whatever the number of stocks."""
    rows = (await session.exec(_USER_WITH_STOCKS, params={"user_id": user_id})).mappings().all()
    if not rows:
        raise user_not_found(user_id)
    user = dict(rows[0])
    user["stocks"] = [
        {name: row[label] for label, name in _STOCK_COLUMNS} for row in rows if row["stock_id"] is not None
    ]
    return Found(_USER_WITH_STOCKS_SCHEMA.validate_python(user), etag(user))


async def existing_user_id(user_id: UserId, session: SessionDep) -> int:
    """The id of a user that exists, or a 404."""
    if await session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise user_not_found(user_id)
    return user_id


VersioningDep = Annotated[Versioning, Depends(versioning)]
UserWithStocksDep = Annotated[Found, Depends(user_with_stocks_or_404)]
ExistingUserId = Annotated[int, Depends(existing_user_id)]

# Price filters compare with NUMERIC; the bound keeps absurd values (1e400) out of the driver.
PriceBound = Annotated[Decimal, Query(ge=0, le=10**12)]


class StockFilters:
    """The filters a list of stocks takes; all optional, all combined with AND."""

    def __init__(
        self, name: str | None, is_active: bool | None, min_price: Decimal | None, max_price: Decimal | None
    ) -> None:
        self.name = name
        self.is_active = is_active
        self.min_price = min_price
        self.max_price = max_price

    def apply(self, statement: Select) -> Select:
        if self.name is not None:
            statement = statement.where(Stock.name == self.name)  # stored upper-case, like `name` now
        if self.is_active is not None:
            statement = statement.where(Stock.is_active == self.is_active)
        if self.min_price is not None:
            statement = statement.where(Stock.price >= self.min_price)
        if self.max_price is not None:
            statement = statement.where(Stock.price <= self.max_price)
        return statement


async def stock_filters(
    name: Annotated[Symbol | None, Query(description="Symbol, case-insensitive: `aapl` finds AAPL.")] = None,
    is_active: Annotated[bool | None, Query(description="Only active (true) or inactive (false) stocks.")] = None,
    min_price: Annotated[PriceBound | None, Query(description="Price at least this.")] = None,
    max_price: Annotated[PriceBound | None, Query(description="Price at most this.")] = None,
) -> StockFilters:
    return StockFilters(name, is_active, min_price, max_price)


StockFiltersDep = Annotated[StockFilters, Depends(stock_filters)]
