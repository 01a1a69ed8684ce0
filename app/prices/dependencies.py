"""Request dependencies of prices: the symbol and date path parameters, and the repository for readers and writers.

Who may call (app/auth/access.py): with AUTH=required anyone signed in
reads, only an admin writes; with AUTH=open, anyone does both.
"""

from typing import Annotated

from fastapi import Depends, Path, Query

from app.auth.access import AdminWhereRequiredDep, ScopeDep
from app.core.database import SessionDep
from app.kit.fields import Day, Symbol
from app.prices.repository import PriceRepository

PriceSymbol = Annotated[Symbol, Path(description="The symbol, case-insensitive: `aapl` is AAPL.")]
PriceDate = Annotated[Day, Path(description="The trading day, `YYYY-MM-DD`.", examples=["2024-01-02"])]
ImportSymbol = Annotated[Symbol, Query(description="The symbol every line of the file is a close of.")]
FromDate = Annotated[Day | None, Query(alias="from", description="Only closes on or after this day, `YYYY-MM-DD`.")]
ToDate = Annotated[Day | None, Query(alias="to", description="Only closes on or before this day, `YYYY-MM-DD`.")]


# Prices belong to nobody, so the scope only decides whether the caller may read at all (401 for
# anonymous with AUTH=required); it comes before the session, as app/users/dependencies.py explains.
async def price_reader(scope: ScopeDep, session: SessionDep) -> PriceRepository:
    return PriceRepository(session)


async def price_writer(caller: AdminWhereRequiredDep, session: SessionDep) -> PriceRepository:
    return PriceRepository(session)


PriceReaderDep = Annotated[PriceRepository, Depends(price_reader)]
PriceWriterDep = Annotated[PriceRepository, Depends(price_writer)]
