"""Stocks: a user's holdings and the guide's /stocks/ endpoints, plus one stock, PATCH, filters and the portfolio."""

from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.dependencies import StockId, StockRepositoryDep, UserId, UserRepositoryDep
from app.errors import NOT_FOUND_RESPONSE
from app.etags import (
    ETAG_HEADER,
    ETAG_RESPONSE,
    IF_MATCH_FROM_ETAG,
    PRECONDITION_FAILED_RESPONSE,
    IfMatchDep,
    answer_with_etag,
)
from app.models import INT32_MAX, Portfolio, StockCreate, StockPublic, StockUpdate, Symbol
from app.paging import LIST_RESPONSE_HEADERS, PageParamsDep, SortOrder, send_page
from app.stocks.repository import StockFilters

router = APIRouter(tags=["stocks"])
portfolio_router = APIRouter(tags=["portfolio"])

# OpenAPI links from a new stock: read it, change or delete it if unchanged (see users/routes.py).
_NEW_STOCK_ID = {"stock_id": "$response.body#/id"}
_IF_UNCHANGED = {**_NEW_STOCK_ID, **IF_MATCH_FROM_ETAG}
NEW_STOCK_LINKS = {
    "ReadStock": {"operationId": "read_stock", "parameters": _NEW_STOCK_ID},
    "UpdateStockIfUnchanged": {"operationId": "update_stock", "parameters": _IF_UNCHANGED},
    "DeleteStockIfUnchanged": {"operationId": "delete_stock", "parameters": _IF_UNCHANGED},
}

ONE_STOCK = {**NOT_FOUND_RESPONSE, **ETAG_RESPONSE}
CHANGE_STOCK = {**ONE_STOCK, **PRECONDITION_FAILED_RESPONSE}

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


@router.post(
    "/users/{user_id}/stocks/",
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND_RESPONSE, 201: {"links": NEW_STOCK_LINKS, "headers": ETAG_HEADER}},
)
async def create_stock_for_user(
    user_id: UserId, payload: StockCreate, stocks: StockRepositoryDep, response: Response
) -> StockPublic:
    """Add a holding to a user: `name` (symbol), `price` > 0, `quantity` > 0, `is_active`."""
    return answer_with_etag(response, await stocks.create_for_user(user_id, payload))


@router.get("/stocks/", responses={200: {"headers": LIST_RESPONSE_HEADERS}})
async def read_stocks(
    page: PageParamsDep,
    filters: StockFiltersDep,
    stocks: StockRepositoryDep,
    request: Request,
    response: Response,
    user_id: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Only this user's stocks.")] = None,
    sort: SortParameter = "id",
) -> list[StockPublic]:
    """List every user's stocks, filtered and sorted; follow `Link: rel="next"` for the next page."""
    if user_id is not None:
        filters = replace(filters, user_id=user_id)
    return send_page(await stocks.list(filters, SortOrder(sort), page), request, response)


@router.get("/users/{user_id}/stocks/", responses={**NOT_FOUND_RESPONSE, 200: {"headers": LIST_RESPONSE_HEADERS}})
async def read_user_stocks(
    user_id: UserId,
    page: PageParamsDep,
    filters: StockFiltersDep,
    users: UserRepositoryDep,
    stocks: StockRepositoryDep,
    request: Request,
    response: Response,
    sort: SortParameter = "id",
) -> list[StockPublic]:
    """List one user's stocks, filtered and sorted; 404 when the user does not exist."""
    await users.require(user_id)
    filters = replace(filters, user_id=user_id)
    return send_page(await stocks.list(filters, SortOrder(sort), page), request, response)


@router.get("/stocks/{stock_id}", responses=ONE_STOCK)
async def read_stock(stock_id: StockId, stocks: StockRepositoryDep, response: Response) -> StockPublic:
    """One stock."""
    return answer_with_etag(response, await stocks.read(stock_id))


@router.put("/stocks/{stock_id}", responses=CHANGE_STOCK)
async def replace_stock(
    stock_id: StockId, payload: StockCreate, stocks: StockRepositoryDep, if_match: IfMatchDep, response: Response
) -> StockPublic:
    """Replace a stock's symbol, price, quantity and is_active (left out: `true`, as in the guide)."""
    return answer_with_etag(response, await stocks.replace(stock_id, payload, if_match))


@router.patch("/stocks/{stock_id}", responses=CHANGE_STOCK)
async def update_stock(
    stock_id: StockId, changes: StockUpdate, stocks: StockRepositoryDep, if_match: IfMatchDep, response: Response
) -> StockPublic:
    """Change only the fields sent; none may be null."""
    return answer_with_etag(response, await stocks.patch(stock_id, changes, if_match))


@router.delete(
    "/stocks/{stock_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    # No body, so no Content-Type either (FastAPI's default class would send application/json).
    response_class=Response,
    responses={**NOT_FOUND_RESPONSE, **PRECONDITION_FAILED_RESPONSE},
)
async def delete_stock(stock_id: StockId, stocks: StockRepositoryDep, if_match: IfMatchDep) -> None:
    """Delete one stock."""
    await stocks.delete(stock_id, if_match)


@portfolio_router.get("/users/{user_id}/portfolio", responses=NOT_FOUND_RESPONSE)
async def read_portfolio(user_id: UserId, stocks: StockRepositoryDep) -> Portfolio:
    """The user's active stocks grouped by symbol, valued at their prices, largest position first.

    `value` is the sum of price x quantity, `average_price` is value / quantity
    (4 decimal places), `total_value` the sum of all values. All arithmetic is
    exact NUMERIC arithmetic in PostgreSQL: three lots at 0.1 and three at 0.2
    are worth exactly 0.9.
    """
    return await stocks.portfolio(user_id)
