"""Request dependencies of stocks: the `stock_id` path parameter, the repository, and a list's filters and sort."""

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Depends, Path, Query
from pydantic import WithJsonSchema

from app.auth.access import ScopeDep
from app.core.database import SessionDep
from app.http.paging import sort_query
from app.kit.fields import Symbol
from app.stocks.repository import StockFilters, StockRepository

# As UserId (app/users/dependencies.py): any integer; one that cannot exist is a 404 like any other.
StockId = Annotated[int, Path(description="The stock's id.", examples=[1])]


# The scope before the session, as app/users/dependencies.py explains.
async def stock_repository(scope: ScopeDep, session: SessionDep) -> StockRepository:
    return StockRepository(session, scope)


StockRepositoryDep = Annotated[StockRepository, Depends(stock_repository)]

StockSort = Literal["id", "-id", "name", "-name", "price", "-price", "created_at", "-created_at"]
SortParameter = Annotated[StockSort, sort_query(StockSort)]
# Price filters compare with NUMERIC; the bound keeps absurd values (1e400) out of the driver. A query
# value is text on the wire, read as an exact Decimal (`12.5`, `1e2`); the OpenAPI calls it a number,
# as a client means it (pydantic would say "number or string", which generators type as a union).
PRICE_BOUND_MAX = 10**12
PriceBound = Annotated[
    Decimal,
    Query(ge=0, le=PRICE_BOUND_MAX),
    WithJsonSchema({"type": "number", "minimum": 0, "maximum": PRICE_BOUND_MAX}),
]


async def stock_filters(
    name: Annotated[Symbol | None, Query(description="Symbol, case-insensitive: `aapl` finds AAPL.")] = None,
    is_active: Annotated[bool | None, Query(description="Only active (true) or inactive (false) stocks.")] = None,
    min_price: Annotated[PriceBound | None, Query(description="Price at least this.")] = None,
    max_price: Annotated[PriceBound | None, Query(description="Price at most this.")] = None,
) -> StockFilters:
    return StockFilters(name=name, is_active=is_active, min_price=min_price, max_price=max_price)


StockFiltersDep = Annotated[StockFilters, Depends(stock_filters)]
