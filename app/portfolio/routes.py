"""The portfolio: what a user's active holdings are worth (GET /users/{user_id}/portfolio), on a day
(`?as_of=`), and how they did over a period (GET /users/{user_id}/performance).

Above users and stocks: it reads both tables, and the ledger and the prices
(repository.py); service.py replays the ledger and feeds returns.py.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from app.auth.access import ScopeDep
from app.core.database import SessionDep
from app.http.errors import NOT_FOUND_RESPONSE
from app.http.problems import Problem
from app.kit.fields import PastDay, today
from app.portfolio.models import Interval, Performance, Portfolio, Valuation
from app.portfolio.repository import PortfolioRepository
from app.portfolio.service import default_period, performance, valuation
from app.users.dependencies import UserId

router = APIRouter(tags=["portfolio"])


# The scope before the session, as app/users/dependencies.py explains.
async def portfolio_repository(scope: ScopeDep, session: SessionDep) -> PortfolioRepository:
    return PortfolioRepository(session, scope)


PortfolioRepositoryDep = Annotated[PortfolioRepository, Depends(portfolio_repository)]
AsOf = Annotated[
    PastDay | None,
    Query(description="Value the portfolio as it stood at the end of this day, YYYY-MM-DD, not after today (UTC)."),
]
From = Annotated[
    PastDay | None,
    Query(alias="from", description="The first day of the period (its flows count); a year before `to` if left out."),
]
To = Annotated[PastDay | None, Query(alias="to", description="The last day of the period; today (UTC) if left out.")]
IntervalQuery = Annotated[Interval, Query(description="The series' spacing; the figures always use every day.")]


# A ledger its own rules refuse on replay (rows written past the ledger's writes): which entry, in a 409.
LEDGER_DOES_NOT_ADD_UP: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "A holding's ledger does not add up: which transaction to correct"}
}


@router.get("/users/{user_id}/portfolio", responses={**NOT_FOUND_RESPONSE, **LEDGER_DOES_NOT_ADD_UP})
async def read_portfolio(
    user_id: UserId, portfolios: PortfolioRepositoryDep, as_of: AsOf = None
) -> Portfolio | Valuation:
    """The user's active stocks grouped by symbol, valued at their prices, largest position first.

    `value` is the sum of price x quantity, `average_price` is value / quantity
    (4 decimal places), `total_value` the sum of all values. All arithmetic is
    exact NUMERIC arithmetic in PostgreSQL: three lots at 0.1 and three at 0.2
    are worth exactly 0.9.

    With `as_of` (today included), the holdings as their ledgers stood at the end
    of that day, each also at the symbol's latest close on or before it
    (`market_price`, `market_value`, `unrealized_gain`; at cost and `priced: false`
    when no close is known), and the portfolio's `market_value`,
    `unrealized_gain`, `realized_gain`, `dividends` and `fees` up to that day.
    """
    if as_of is None:
        return await portfolios.portfolio(user_id)
    return await valuation(portfolios, user_id, as_of)


@router.get("/users/{user_id}/performance", responses={**NOT_FOUND_RESPONSE, **LEDGER_DOES_NOT_ADD_UP})
async def read_performance(
    user_id: UserId,
    portfolios: PortfolioRepositoryDep,
    date_from: From = None,
    date_to: To = None,
    interval: IntervalQuery = "day",
) -> Performance:
    """How the active holdings did from the close before `from` to the close of `to`: gain, TWR and XIRR.

    Every day's value is the holdings of that day at the latest close on or before
    it (at cost before a symbol's first close); buys and fee entries are money put
    in, sells and dividends money taken out (docs/explanation/returns.md). TWR and XIRR are
    fractions (0.1 is 10%; XIRR a year), null when undefined. 422 naming `from`
    when it is after `to` or the period is longer than 3653 days.
    """
    first, last = default_period(date_from, date_to, today())
    return await performance(portfolios, user_id, first, last, interval)
