"""What the pages take as dependencies: repositories and services for the visitor, as each resource's own for a caller.

The API's providers read the Bearer token's caller; a page's visitor comes
from the session cookie, so the repositories here are made for the visitor's
scope (`Visitor.scope()` decides as `caller_scope` does) and the sign-up
and ledger services act for the visitor. The `Authenticator` needs no caller: pages take
app/auth/dependencies.py's `AuthenticatorDep` itself.

The scope before the session, as in app/users/dependencies.py: the visitor (whose
admin rights are a lookup on a session of its own) is settled before the
request's session takes its place in the line.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.core.config import settings_of
from app.core.database import SessionDep, SessionOpenerDep
from app.kit.fields import today
from app.kit.scope import EVERY_ROW, Scope
from app.portfolio.models import Performance, Valuation
from app.portfolio.repository import PortfolioRepository, UserTotals
from app.portfolio.service import performance, valuation
from app.stocks.ledger.repository import TransactionRepository
from app.stocks.ledger.service import LedgerService
from app.stocks.repository import StockRepository
from app.users.repository import UserRepository
from app.users.service import UserService
from app.web.ranges import Range, period_of
from app.web.visitor import VisitorDep


async def visitor_scope(visitor: VisitorDep) -> Scope:
    """The rows the visitor may reach; an anonymous visitor with AUTH=required is sent to sign in."""
    return visitor.scope()


VisitorScopeDep = Annotated[Scope, Depends(visitor_scope)]


async def user_repository(scope: VisitorScopeDep, session: SessionDep) -> UserRepository:
    return UserRepository(session, scope)


async def stock_repository(scope: VisitorScopeDep, session: SessionDep) -> StockRepository:
    return StockRepository(session, scope)


async def transaction_repository(scope: VisitorScopeDep, session: SessionDep) -> TransactionRepository:
    return TransactionRepository(session, scope)


async def ledger_service(scope: VisitorScopeDep, open_session: SessionOpenerDep) -> LedgerService:
    """As the ledger's POST and DELETE (app/stocks/ledger/dependencies.py): the service opens its own transaction."""
    return LedgerService(open_session, scope)


UserRepositoryDep = Annotated[UserRepository, Depends(user_repository)]
StockRepositoryDep = Annotated[StockRepository, Depends(stock_repository)]
TransactionRepositoryDep = Annotated[TransactionRepository, Depends(transaction_repository)]
LedgerServiceDep = Annotated[LedgerService, Depends(ledger_service)]


@dataclass(frozen=True, slots=True)
class PortfolioView:
    """What a portfolio page reads besides its holdings: the user with their stocks, the valuation and performance;
    and the users list's figures.

    The figures are the portfolio service's, as GET /users/{id}/portfolio?as_of= and
    GET /users/{id}/performance compute them; the pages add no formula of their own.
    """

    users: UserRepository
    portfolios: PortfolioRepository

    async def valuation(self, user_id: int) -> Valuation:
        """As GET /users/{id}/portfolio?as_of=today: at cost and at the latest closes, with the gains."""
        return await valuation(self.portfolios, user_id, today())

    async def user_totals(self, user_ids: Sequence[int]) -> dict[int, UserTotals]:
        """The users list's figures for these users today, in one statement: holdings, at cost and at market."""
        return await self.portfolios.user_totals(user_ids, today())

    async def performance(self, user_id: int, chosen: Range) -> Performance | None:
        """As GET /users/{id}/performance over the chosen range; None when the user has no transaction yet."""
        day = today()
        ledger = await self.portfolios.ledger(user_id, day)  # NotFound for a user out of reach
        if not ledger:
            return None
        first, last, interval = period_of(chosen, day, ledger[0].entry.occurred_on)
        return await performance(self.portfolios, user_id, first, last, interval)


async def portfolio_view(users: UserRepositoryDep, scope: VisitorScopeDep, session: SessionDep) -> PortfolioView:
    return PortfolioView(users, PortfolioRepository(session, scope))


PortfolioViewDep = Annotated[PortfolioView, Depends(portfolio_view)]


async def sign_up_service(request: Request, open_session: SessionOpenerDep, visitor: VisitorDep) -> UserService:
    """As POST /users/ (app/users/dependencies.py's `sign_up_service`): no scope needed; the service decides."""
    return UserService(open_session, EVERY_ROW, visitor.caller, settings_of(request))


SignUpServiceDep = Annotated[UserService, Depends(sign_up_service)]


async def user_service(
    request: Request, scope: VisitorScopeDep, open_session: SessionOpenerDep, visitor: VisitorDep
) -> UserService:
    """As PATCH /users/{id} (app/users/dependencies.py's `user_service`): the visitor's scope and rights."""
    return UserService(open_session, scope, visitor.caller, settings_of(request))


UserServiceDep = Annotated[UserService, Depends(user_service)]
