"""Portfolio: a user's valuation, computed by PostgreSQL in one query."""

from decimal import Decimal

from fastapi import APIRouter
from sqlalchemy import and_, func
from sqlmodel import select

from app.db import SessionDep
from app.dependencies import UserId, user_not_found
from app.errors import NOT_FOUND_RESPONSE
from app.models import Portfolio, Position, Stock, User

router = APIRouter(tags=["portfolio"])


@router.get("/users/{user_id}/portfolio", responses=NOT_FOUND_RESPONSE)
async def read_portfolio(user_id: UserId, session: SessionDep) -> Portfolio:
    """The user's active stocks grouped by symbol, valued at their prices, largest position first.

    `value` is the sum of price x quantity, `average_price` is value / quantity
    (4 decimal places), `total_value` the sum of all values. All arithmetic is
    exact NUMERIC arithmetic in PostgreSQL: three lots at 0.1 and three at 0.2
    are worth exactly 0.9.
    """
    quantity = func.sum(Stock.quantity)
    value = func.sum(Stock.price * Stock.quantity)
    statement = (
        # Starting from users, a missing user is no row at all, and a user
        # without active stocks is one row whose symbol is NULL.
        select(
            Stock.name,
            quantity.label("quantity"),
            value.label("value"),
            func.round(value / quantity, 4).label("average_price"),
            func.sum(value).over().label("total_value"),
        )
        .select_from(User)
        .outerjoin(Stock, and_(Stock.user_id == User.id, Stock.is_active))
        .where(User.id == user_id)
        .group_by(User.id, Stock.name)
        .order_by(value.desc(), Stock.name)
    )
    rows = (await session.exec(statement)).all()
    if not rows:
        raise user_not_found(user_id)
    positions = [
        Position(name=row.name, quantity=row.quantity, value=row.value, average_price=row.average_price)
        for row in rows
        if row.name is not None
    ]
    return Portfolio(user_id=user_id, total_value=rows[0].total_value or Decimal(0), positions=positions)
