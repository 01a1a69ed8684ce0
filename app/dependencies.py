"""Request dependencies shared by the routers: ids, pagination and "load or 404"."""

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, status
from sqlalchemy.orm import selectinload
from sqlmodel import select

from app.db import SessionDep
from app.models import INT32_MAX, User

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

def user_not_found(user_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"User with ID {user_id} not found")


def stock_not_found(stock_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Stock with ID {stock_id} not found")


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


class Page:
    """`skip` and `limit` query parameters, as in the guide; lists are ordered by id."""

    def __init__(
        self,
        skip: Annotated[int, Query(ge=0, le=INT32_MAX, description="Rows to skip.")] = 0,
        limit: Annotated[
            int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Rows to return, 1 to {MAX_PAGE_SIZE}.")
        ] = DEFAULT_PAGE_SIZE,
    ) -> None:
        self.skip = skip
        self.limit = limit


PageDep = Annotated[Page, Depends()]


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


UserWithStocksDep = Annotated[User, Depends(user_with_stocks_or_404)]
ExistingUserId = Annotated[int, Depends(existing_user_id)]
