"""Stocks: a user's holdings, and the guide's /stocks/ endpoints, plus one stock, PATCH and filters."""

from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, Query, Response, status
from sqlalchemy.exc import IntegrityError

from app.crud import create, delete_or_404, patch_or_404, read_or_404, replace_or_404
from app.db import SessionDep, TransactionDep
from app.dependencies import ExistingUserId, StockFiltersDep, StockId, UserId, VersioningDep, user_not_found
from app.errors import NOT_FOUND_RESPONSE
from app.etags import ETAG_HEADER, ETAG_RESPONSE, IF_MATCH_FROM_ETAG, PRECONDITION_FAILED_RESPONSE, set_etag
from app.listing import LIST_RESPONSE_HEADERS, ListingDep, parse_sort, rows_of
from app.models import INT32_MAX, Stock, StockCreate, StockPublic, StockUpdate

router = APIRouter(tags=["stocks"])

# OpenAPI links from a new stock to what can be done with it (see users.py).
_NEW_STOCK_ID = {"stock_id": "$response.body#/id"}
_CHANGES = [("ReplaceStock", "replace_stock"), ("UpdateStock", "update_stock"), ("DeleteStock", "delete_stock")]
NEW_STOCK_LINKS = {
    name: {"operationId": operation, "parameters": _NEW_STOCK_ID}
    for name, operation in [("ReadStock", "read_stock"), *_CHANGES]
} | {
    f"{name}IfUnchanged": {"operationId": operation, "parameters": {**_NEW_STOCK_ID, **IF_MATCH_FROM_ETAG}}
    for name, operation in _CHANGES
}

ONE_STOCK = {**NOT_FOUND_RESPONSE, **ETAG_RESPONSE}
CHANGE_STOCK = {**ONE_STOCK, **PRECONDITION_FAILED_RESPONSE}

StockSort = Literal["id", "-id", "name", "-name", "price", "-price", "created_at", "-created_at"]
SortParameter = Annotated[StockSort, Query(description="Field to sort by; `-` in front for descending.")]


@router.post(
    "/users/{user_id}/stocks/",
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND_RESPONSE, 201: {"links": NEW_STOCK_LINKS, "headers": ETAG_HEADER}},
)
async def create_stock_for_user(
    user_id: UserId, payload: StockCreate, session: SessionDep, response: Response
) -> StockPublic:
    """Add a holding to a user: `name` (symbol), `price` > 0, `quantity` > 0, `is_active`."""
    try:
        stock = await create(session, Stock, payload, user_id=user_id)
    except IntegrityError as error:
        # The foreign key, not a prior SELECT, decides whether the user exists:
        # a user deleted a moment ago cannot slip between a check and the insert.
        if isinstance(error.orig, psycopg.errors.ForeignKeyViolation):
            await session.rollback()
            raise user_not_found(user_id) from None
        raise
    return set_etag(response, stock)


@router.get("/stocks/", responses={200: {"headers": LIST_RESPONSE_HEADERS}})
async def read_stocks(
    listing: ListingDep,
    filters: StockFiltersDep,
    session: SessionDep,
    user_id: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Only this user's stocks.")] = None,
    sort: SortParameter = "id",
) -> list[StockPublic]:
    """List every user's stocks, filtered and sorted; follow `Link: rel="next"` for the next page."""
    statement = filters.apply(rows_of(Stock))
    if user_id is not None:
        statement = statement.where(Stock.user_id == user_id)
    return await listing.fetch(session, statement, parse_sort(sort, Stock))


@router.get("/users/{user_id}/stocks/", responses={**NOT_FOUND_RESPONSE, 200: {"headers": LIST_RESPONSE_HEADERS}})
async def read_user_stocks(
    user_id: ExistingUserId,
    listing: ListingDep,
    filters: StockFiltersDep,
    session: SessionDep,
    sort: SortParameter = "id",
) -> list[StockPublic]:
    """List one user's stocks, filtered and sorted; 404 when the user does not exist."""
    statement = filters.apply(rows_of(Stock).where(Stock.user_id == user_id))
    return await listing.fetch(session, statement, parse_sort(sort, Stock))


@router.get("/stocks/{stock_id}", responses=ONE_STOCK)
async def read_stock(stock_id: StockId, session: SessionDep, response: Response) -> StockPublic:
    """One stock."""
    return set_etag(response, await read_or_404(session, Stock, stock_id))


@router.put("/stocks/{stock_id}", responses=CHANGE_STOCK)
async def replace_stock(
    stock_id: StockId, payload: StockCreate, session: SessionDep, versioning: VersioningDep
) -> StockPublic:
    """Replace a stock's symbol, price, quantity and is_active (left out: `true`, as in the guide)."""
    return await replace_or_404(session, Stock, stock_id, payload, versioning)


@router.patch("/stocks/{stock_id}", responses=CHANGE_STOCK)
async def update_stock(
    stock_id: StockId, changes: StockUpdate, session: TransactionDep, versioning: VersioningDep
) -> StockPublic:
    """Change only the fields sent; none may be null."""
    return await patch_or_404(session, Stock, stock_id, changes, versioning)


@router.delete(
    "/stocks/{stock_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND_RESPONSE, **PRECONDITION_FAILED_RESPONSE},
)
async def delete_stock(stock_id: StockId, session: SessionDep, versioning: VersioningDep) -> None:
    """Delete one stock."""
    await delete_or_404(session, Stock, stock_id, versioning)
