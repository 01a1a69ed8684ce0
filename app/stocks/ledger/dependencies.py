"""Request dependencies of the ledger: its path parameters, its repository and its service, for the caller's scope."""

from typing import Annotated

from fastapi import Depends, Path

from app.auth.access import ScopeDep
from app.core.database import SessionDep, SessionOpenerDep
from app.stocks.ledger.repository import TransactionRepository
from app.stocks.ledger.service import LedgerService

# As StockId and UserId: any integer; one that cannot exist is a 404 like any other.
# (The stock's own, as app/stocks/dependencies.py declares it: the ledger imports nothing of stocks above models.)
HoldingId = Annotated[int, Path(description="The stock's id.", examples=[1])]
TransactionId = Annotated[int, Path(description="The transaction's id.", examples=[1])]


# The scope before the session, as app/users/dependencies.py explains.
async def transaction_repository(scope: ScopeDep, session: SessionDep) -> TransactionRepository:
    return TransactionRepository(session, scope)


# The service opens its own transaction, around its statements only.
async def ledger_service(scope: ScopeDep, open_session: SessionOpenerDep) -> LedgerService:
    return LedgerService(open_session, scope)


TransactionRepositoryDep = Annotated[TransactionRepository, Depends(transaction_repository)]
LedgerServiceDep = Annotated[LedgerService, Depends(ledger_service)]
