"""The ledger's endpoints: a holding's transactions (record, list), and one transaction (read, delete).

A user's transactions across holdings (GET /users/{user_id}/transactions) are
served by app/users/routes.py, beside the user's holdings: they need the user
to exist in the caller's scope.
"""

from fastapi import APIRouter, Request, Response, status

from app.http.errors import NOT_FOUND_RESPONSE
from app.http.openapi import location_header, send_location
from app.http.paging import LIST_RESPONSE_HEADERS, PageParamsDep, send_page
from app.idempotency.dependencies import IDEMPOTENT
from app.stocks.ledger.dependencies import HoldingId, LedgerServiceDep, TransactionId, TransactionRepositoryDep
from app.stocks.ledger.models import TransactionCreate, TransactionPublic

router = APIRouter(tags=["transactions"])

_NEW_TRANSACTION_ID = {"transaction_id": "$response.body#/id"}
NEW_TRANSACTION_LINKS = {
    "ReadTransaction": {"operationId": "read_transaction", "parameters": _NEW_TRANSACTION_ID},
    "DeleteTransaction": {"operationId": "delete_transaction", "parameters": _NEW_TRANSACTION_ID},
}
LOCATION_HEADER = location_header("transaction", "/transactions/{id}")


@router.post(
    "/stocks/{stock_id}/transactions",
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND_RESPONSE, 201: {"links": NEW_TRANSACTION_LINKS, "headers": LOCATION_HEADER}},
    dependencies=[IDEMPOTENT],
)
async def create_transaction(
    stock_id: HoldingId, payload: TransactionCreate, ledger: LedgerServiceDep, request: Request, response: Response
) -> TransactionPublic:
    """Record a buy, sell, dividend, fee or split; the stock's quantity and price (average cost) follow.

    A date before the holding's later entries replays its whole ledger. 422 naming the field: a field the
    type does not take, a date after today, selling more than held on that day, a split into fractions.
    """
    written = await ledger.record(stock_id, payload)
    send_location(request, response, f"/transactions/{written.id}")
    return written


@router.get(
    "/stocks/{stock_id}/transactions", responses={**NOT_FOUND_RESPONSE, 200: {"headers": LIST_RESPONSE_HEADERS}}
)
async def read_stock_transactions(
    stock_id: HoldingId,
    page: PageParamsDep,
    transactions: TransactionRepositoryDep,
    request: Request,
    response: Response,
) -> list[TransactionPublic]:
    """A stock's ledger, oldest first (by day, then as recorded); follow `Link: rel="next"` for more."""
    return send_page(await transactions.list_for_holding(stock_id, page), request, response)


@router.get("/transactions/{transaction_id}", responses=NOT_FOUND_RESPONSE)
async def read_transaction(transaction_id: TransactionId, transactions: TransactionRepositoryDep) -> TransactionPublic:
    """One transaction."""
    return await transactions.read_one(transaction_id)


@router.delete(
    "/transactions/{transaction_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=NOT_FOUND_RESPONSE,
)
async def delete_transaction(transaction_id: TransactionId, ledger: LedgerServiceDep) -> None:
    """Delete a transaction; the stock is its remaining ledger replayed. 422 if the rest would sell more than held."""
    await ledger.remove(transaction_id)
