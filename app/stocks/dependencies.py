"""Request dependencies of stocks: the `stock_id` path parameter, the repository, and a list's filters and sort."""

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Depends, Path, Query

from app.auth.access import ScopeDep
from app.core.database import SessionDep
from app.kit.fields import Symbol
from app.stocks.repository import StockFilters, StockRepository

# As UserId (app/users/dependencies.py): any integer; one that cannot exist is a 404 like any other.
StockId = Annotated[int, Path(description="The stock's id.", examples=[1])]


# The scope before the session, as app/users/dependencies.py explains.
async def stock_repository(scope: ScopeDep, session: SessionDep) -> StockRepository:
    return StockRepository(session, scope)


StockRepositoryDep = Annotated[StockRepository, Depends(stock_repository)]

StockSort = Literal["id", "-id", "name", "-name", "price", "-price", "created_at", "-created_at"]
SortParameter = Annotated[StockSort, Query(description="Field to sort by; `-` in front for descending.")]
# Price filters compare with NUMERIC; the bound keeps absurd values (1e400) out of the driver.
PriceBound = Annotated[Decimal, Query(ge=0, le=10**12)]


async def stock_filters(
    name: Annotated[Symbol | None, Query(description="Symbol, case-insensitive: `aapl` finds AAPL.")] = None,
    is_active: Annotated[bool | None, Query(description="Only active (true) or inactive (false) stocks.")] = None,
    min_price: Annotated[PriceBound | None, Query(description="Price at least this.")] = None,
    max_price: Annotated[PriceBound | None, Query(description="Price at most this.")] = None,
) -> StockFilters:
    return StockFilters(name=name, is_active=is_active, min_price=min_price, max_price=max_price)


StockFiltersDep = Annotated[StockFilters, Depends(stock_filters)]
