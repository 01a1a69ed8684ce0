"""The portfolio query: what a user's active stocks are worth, by symbol, in one statement."""

from decimal import Decimal

from sqlalchemy import and_, bindparam, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.kit.errors import NotFound
from app.kit.repository import can_exist
from app.kit.scope import EVERY_ROW, Scope, owner_matches
from app.portfolio.models import Portfolio, Position
from app.stocks.models import STOCKS
from app.users.models import USERS

# A user's valuation: their active stocks grouped by symbol. Starting from
# users, a missing user is no row at all, and a user without active stocks is
# one row whose symbol is NULL. All arithmetic is exact NUMERIC in PostgreSQL.
# A sold-out holding (quantity 0, app/stocks/ledger/) is no position: left out, as
# it must be (a symbol held only so would divide by a quantity of 0).
_quantity = func.sum(STOCKS.c.quantity)
_value = func.sum(STOCKS.c.price * STOCKS.c.quantity)
_PORTFOLIO = (
    select(
        STOCKS.c.name,
        _quantity.label("quantity"),
        _value.label("value"),
        func.round(_value / _quantity, 4).label("average_price"),
        func.sum(_value).over().label("total_value"),
    )
    .select_from(
        USERS.outerjoin(STOCKS, and_(STOCKS.c.user_id == USERS.c.id, STOCKS.c.is_active, STOCKS.c.quantity > 0))
    )
    .where(USERS.c.id == bindparam("row_id"), owner_matches(USERS.c.id))
    .group_by(USERS.c.id, STOCKS.c.name)
    .order_by(_value.desc(), STOCKS.c.name)
)


class PortfolioRepository:
    """A user's portfolio, for one request's session and the rows the caller may reach (`scope`)."""

    def __init__(self, session: AsyncSession, scope: Scope = EVERY_ROW) -> None:
        self.session = session
        self.scope = scope

    async def portfolio(self, user_id: int) -> Portfolio:
        """What the user's active stocks are worth, by symbol, largest position first."""
        if not can_exist(user_id):
            raise NotFound("User", user_id)
        params = {"row_id": user_id, **self.scope.params()}
        # As in app/kit/repository.py: sqlmodel's exec() is typed for its own select() only.
        rows = (await self.session.exec(_PORTFOLIO, params=params)).all()  # type: ignore[call-overload]
        if not rows:
            raise NotFound("User", user_id)
        positions = [
            Position(name=row.name, quantity=row.quantity, value=row.value, average_price=row.average_price)
            for row in rows
            if row.name is not None
        ]
        return Portfolio(user_id=user_id, total_value=rows[0].total_value or Decimal(0), positions=positions)
