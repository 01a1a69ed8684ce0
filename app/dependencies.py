"""Request dependencies shared by the routers: ids, "load or 404", and the stock filters."""

from decimal import Decimal
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query
from sqlalchemy.orm import selectinload
from sqlmodel import select
from sqlmodel.sql.expression import SelectOfScalar

from app.crud import not_found
from app.db import SessionDep
from app.etags import Versioning
from app.models import INT32_MAX, Stock, Symbol, User


def user_not_found(user_id: int) -> HTTPException:
    return not_found(User, user_id)


def stock_not_found(stock_id: int) -> HTTPException:
    return not_found(Stock, stock_id)


def _can_exist(row_id: int) -> bool:
    # Ids are PostgreSQL `integer` from 1 up; any other number names no row,
    # and sent as a parameter it would be a driver error, not a 404.
    return 1 <= row_id <= INT32_MAX


def _user_id(user_id: Annotated[int, Path(description="The user's id.", examples=[1])]) -> int:
    if not _can_exist(user_id):
        raise user_not_found(user_id)
    return user_id


def _stock_id(stock_id: Annotated[int, Path(description="The stock's id.", examples=[1])]) -> int:
    if not _can_exist(stock_id):
        raise stock_not_found(stock_id)
    return stock_id


UserId = Annotated[int, Depends(_user_id)]
StockId = Annotated[int, Depends(_stock_id)]


async def user_with_stocks_or_404(user_id: UserId, session: SessionDep) -> User:
    """The user and their stocks, in two statements whatever the number of stocks."""
    user = await session.scalar(select(User).where(User.id == user_id).options(selectinload(User.stocks)))
    if user is None:
        raise user_not_found(user_id)
    return user


async def existing_user_id(user_id: UserId, session: SessionDep) -> int:
    """The id of a user that exists, or a 404."""
    if await session.scalar(select(User.id).where(User.id == user_id)) is None:
        raise user_not_found(user_id)
    return user_id


async def stock_or_404(stock_id: StockId, session: SessionDep) -> Stock:
    stock = await session.get(Stock, stock_id)
    if stock is None:
        raise stock_not_found(stock_id)
    return stock


VersioningDep = Annotated[Versioning, Depends()]
UserWithStocksDep = Annotated[User, Depends(user_with_stocks_or_404)]
ExistingUserId = Annotated[int, Depends(existing_user_id)]
StockDep = Annotated[Stock, Depends(stock_or_404)]

# Price filters compare with NUMERIC; the bound keeps absurd values (1e400) out of the driver.
PriceBound = Annotated[Decimal, Query(ge=0, le=10**12)]


class StockFilters:
    """The filters a list of stocks takes; all optional, all combined with AND."""

    def __init__(
        self,
        name: Annotated[Symbol | None, Query(description="Symbol, case-insensitive: `aapl` finds AAPL.")] = None,
        is_active: Annotated[bool | None, Query(description="Only active (true) or inactive (false) stocks.")] = None,
        min_price: Annotated[PriceBound | None, Query(description="Price at least this.")] = None,
        max_price: Annotated[PriceBound | None, Query(description="Price at most this.")] = None,
    ) -> None:
        self.name = name
        self.is_active = is_active
        self.min_price = min_price
        self.max_price = max_price

    def apply(self, statement: SelectOfScalar[Stock]) -> SelectOfScalar[Stock]:
        if self.name is not None:
            statement = statement.where(Stock.name == self.name)  # stored upper-case, like `name` now
        if self.is_active is not None:
            statement = statement.where(Stock.is_active == self.is_active)
        if self.min_price is not None:
            statement = statement.where(Stock.price >= self.min_price)
        if self.max_price is not None:
            statement = statement.where(Stock.price <= self.max_price)
        return statement


StockFiltersDep = Annotated[StockFilters, Depends()]
