"""Stocks: the guide's /stocks/ endpoints, plus one stock, PATCH, filters and sorting.

A user's holdings (POST and GET /users/{user_id}/stocks/) are served by
app/users/routes.py: they need the user to exist in the caller's scope, and
users sit above stocks.
"""

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.http.errors import NOT_FOUND_RESPONSE
from app.http.etags import ETAG_RESPONSE, IF_MATCH_FROM_ETAG, PRECONDITION_FAILED_RESPONSE, IfMatchDep, answer_with_etag
from app.http.paging import LIST_RESPONSE_HEADERS, PageParamsDep, send_page
from app.kit.fields import INT32_MAX
from app.kit.keyset import SortOrder
from app.stocks.dependencies import SortParameter, StockFiltersDep, StockId, StockRepositoryDep
from app.stocks.models import StockPublic, StockReplace, StockUpdate

router = APIRouter(tags=["stocks"])

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


@router.get("/stocks/{stock_id}", responses=ONE_STOCK)
async def read_stock(stock_id: StockId, stocks: StockRepositoryDep, response: Response) -> StockPublic:
    """One stock."""
    return answer_with_etag(response, await stocks.read(stock_id))


@router.put("/stocks/{stock_id}", responses=CHANGE_STOCK)
async def replace_stock(
    stock_id: StockId, payload: StockReplace, stocks: StockRepositoryDep, if_match: IfMatchDep, response: Response
) -> StockPublic:
    """Replace a stock's symbol, price, quantity and is_active (left out: `true`, as in the guide).

    A new quantity or price is recorded in the stock's ledger as an adjustment (see its transactions).
    """
    return answer_with_etag(response, await stocks.replace(stock_id, payload, if_match))


@router.patch("/stocks/{stock_id}", responses=CHANGE_STOCK)
async def update_stock(
    stock_id: StockId, changes: StockUpdate, stocks: StockRepositoryDep, if_match: IfMatchDep, response: Response
) -> StockPublic:
    """Change only the fields sent; none may be null. A new quantity or price is recorded as an adjustment."""
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
