"""Stocks: a user's holdings, and the guide's /stocks/ endpoints."""

from collections.abc import Sequence

import psycopg
from fastapi import APIRouter, status
from sqlalchemy.exc import IntegrityError
from sqlmodel import delete, select, update

from app.db import SessionDep
from app.dependencies import (
    ExistingUserId,
    PageDep,
    StockId,
    UserId,
    stock_not_found,
    user_not_found,
)
from app.errors import NOT_FOUND_RESPONSE
from app.models import Stock, StockCreate, StockPublic, StockUpdate

router = APIRouter(tags=["stocks"])


@router.post(
    "/users/{user_id}/stocks/", status_code=status.HTTP_201_CREATED, responses=NOT_FOUND_RESPONSE
)
async def create_stock_for_user(user_id: UserId, payload: StockCreate, session: SessionDep) -> StockPublic:
    """Add a holding to a user: `name` (symbol), `price` > 0, `quantity` > 0, `is_active`."""
    stock = Stock.model_validate(payload, update={"user_id": user_id})
    session.add(stock)
    try:
        await session.commit()
    except IntegrityError as error:
        # The foreign key, not a prior SELECT, decides whether the user exists:
        # a user deleted a moment ago cannot slip between a check and the insert.
        if isinstance(error.orig, psycopg.errors.ForeignKeyViolation):
            await session.rollback()
            raise user_not_found(user_id) from None
        raise
    return stock


@router.get("/stocks/")
async def read_stocks(page: PageDep, session: SessionDep) -> Sequence[StockPublic]:
    """List every user's stocks by id, `limit` at a time from `skip`."""
    statement = select(Stock).order_by(Stock.id).offset(page.skip).limit(page.limit)
    return (await session.exec(statement)).all()


@router.get("/users/{user_id}/stocks/", responses=NOT_FOUND_RESPONSE)
async def read_user_stocks(user_id: ExistingUserId, page: PageDep, session: SessionDep) -> Sequence[StockPublic]:
    """List one user's stocks by id; 404 when the user does not exist."""
    statement = (
        select(Stock).where(Stock.user_id == user_id).order_by(Stock.id).offset(page.skip).limit(page.limit)
    )
    return (await session.exec(statement)).all()


@router.put("/stocks/{stock_id}", responses=NOT_FOUND_RESPONSE)
async def update_stock(stock_id: StockId, payload: StockUpdate, session: SessionDep) -> StockPublic:
    """Replace a stock's symbol, price, quantity and is_active."""
    statement = update(Stock).where(Stock.id == stock_id).values(payload.model_dump()).returning(Stock)
    stock = await session.scalar(statement)
    if stock is None:
        raise stock_not_found(stock_id)
    await session.commit()
    return stock


@router.delete("/stocks/{stock_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND_RESPONSE)
async def delete_stock(stock_id: StockId, session: SessionDep) -> None:
    """Delete one stock."""
    deleted = await session.scalar(delete(Stock).where(Stock.id == stock_id).returning(Stock.id))
    if deleted is None:
        raise stock_not_found(stock_id)
    await session.commit()
