"""The portfolio: what a user's active holdings are worth (GET /users/{user_id}/portfolio).

Above users and stocks: it reads both tables, in one statement (repository.py).
"""

from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.access import ScopeDep
from app.core.database import SessionDep
from app.http.errors import NOT_FOUND_RESPONSE
from app.portfolio.models import Portfolio
from app.portfolio.repository import PortfolioRepository
from app.users.dependencies import UserId

router = APIRouter(tags=["portfolio"])


# The scope before the session, as app/users/dependencies.py explains.
async def portfolio_repository(scope: ScopeDep, session: SessionDep) -> PortfolioRepository:
    return PortfolioRepository(session, scope)


PortfolioRepositoryDep = Annotated[PortfolioRepository, Depends(portfolio_repository)]


@router.get("/users/{user_id}/portfolio", responses=NOT_FOUND_RESPONSE)
async def read_portfolio(user_id: UserId, portfolios: PortfolioRepositoryDep) -> Portfolio:
    """The user's active stocks grouped by symbol, valued at their prices, largest position first.

    `value` is the sum of price x quantity, `average_price` is value / quantity
    (4 decimal places), `total_value` the sum of all values. All arithmetic is
    exact NUMERIC arithmetic in PostgreSQL: three lots at 0.1 and three at 0.2
    are worth exactly 0.9.
    """
    return await portfolios.portfolio(user_id)
