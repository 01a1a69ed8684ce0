"""Users: the guide's /users/ endpoints, plus PATCH, filters, sorting and ETags, /users/me, and a user's holdings.

POST /users/ is also the sign-up (throttled per address, `RateLimit-*`
headers); /users/me is the caller, and PUT /users/me/password their new
password (a password sign-in only, never a personal access token, which it
revokes: app/auth/access.py). POST /users/ and POST /users/{user_id}/stocks/
take an `Idempotency-Key` (app/idempotency/). The personal access tokens
under /users/me/tokens are auth's (app/auth/routes.py).

POST and GET /users/{user_id}/stocks/ and GET /users/{user_id}/transactions
are here, not in app/stocks/: they need the user to exist in the caller's
scope (a user out of reach is a 404), and users sit above stocks, so only
this side may ask both.
"""

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status
from pydantic import AfterValidator

from app.auth.access import OWN_ACCOUNT_NEEDS_LOGIN, CallerDep, InsufficientScope, SignedInByLoginDep, SignedInDep
from app.auth.models import PasswordChange
from app.auth.routes import throttled
from app.http.client_address import client_address
from app.http.errors import NOT_FOUND_RESPONSE, RATE_LIMIT_HEADERS
from app.http.etags import (
    ETAG_HEADER,
    ETAG_RESPONSE,
    IF_MATCH_FROM_ETAG,
    PRECONDITION_FAILED_RESPONSE,
    IfMatchDep,
    answer_with_etag,
)
from app.http.openapi import location_header, send_location
from app.http.paging import LIST_RESPONSE_HEADERS, PageParamsDep, send_page, sort_query
from app.http.problems import Problem
from app.idempotency.dependencies import IDEMPOTENT
from app.kit.fields import Day, Symbol, storable_text
from app.kit.keyset import SortOrder
from app.stocks.dependencies import SortParameter, StockFiltersDep, StockRepositoryDep
from app.stocks.ledger.dependencies import TransactionRepositoryDep
from app.stocks.ledger.models import TransactionPublic, TransactionType
from app.stocks.ledger.repository import TransactionFilters
from app.stocks.models import StockCreate, StockPublic
from app.stocks.routes import NEW_STOCK_LINKS
from app.users.dependencies import SignUpServiceDep, UserId, UserRepositoryDep, UserServiceDep
from app.users.models import SIGN_UP_EXAMPLE, UserCreate, UserPublic, UserReplace, UserUpdate, UserWithStocks

router = APIRouter(prefix="/users", tags=["users"])
# A user's holdings: under /users/, but listed with the stocks; and their transactions, with the ledger.
holdings_router = APIRouter(prefix="/users", tags=["stocks"])
user_ledger_router = APIRouter(prefix="/users", tags=["transactions"])

# OpenAPI links: what a stateful client (or fuzzer) does next with a new user:
# read it, change or delete it only if nobody changed it since (its ETag in
# If-Match), and give it a stock. The other operations on the user take the
# same id; listing them all crowded Swagger's answer for a beginner.
_NEW_USER_ID = {"user_id": "$response.body#/id"}
_IF_UNCHANGED = {**_NEW_USER_ID, **IF_MATCH_FROM_ETAG}
NEW_USER_LINKS = {
    "ReadUser": {"operationId": "read_user", "parameters": _NEW_USER_ID},
    "UpdateUserIfUnchanged": {"operationId": "update_user", "parameters": _IF_UNCHANGED},
    "DeleteUserIfUnchanged": {"operationId": "delete_user", "parameters": _IF_UNCHANGED},
    "CreateStockForUser": {"operationId": "create_stock_for_user", "parameters": _NEW_USER_ID},
}
ONE_USER = {**NOT_FOUND_RESPONSE, **ETAG_RESPONSE}
FORBIDDEN: dict[int | str, dict[str, Any]] = {403: {"model": Problem, "description": "Not yours to do"}}
WRONG_PASSWORD: dict[int | str, dict[str, Any]] = {
    403: {
        "model": Problem,
        "description": "`current_password` is wrong (`wrong_current_password`): a failed sign-in of the account",
        "headers": RATE_LIMIT_HEADERS,
    }
}
# Sent with AUTH=required to anyone but an admin, whose sign-ups are not counted (SIGNUPS_PER_HOUR).
SIGN_UP_RATE_LIMIT_HEADERS = {
    name: {**header, "description": f"{header['description']}; AUTH=required, and not for an admin"}
    for name, header in RATE_LIMIT_HEADERS.items()
}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": Problem, "description": "The email is taken"}}
CHANGE_USER = {**ONE_USER, **PRECONDITION_FAILED_RESPONSE}
WRONG_PASSWORDS_THROTTLED = throttled("Too many wrong passwords or failed sign-ins for this account lately")
SIGN_UPS_THROTTLED = throttled("Too many sign-ups from this address in the last hour (SIGNUPS_PER_HOUR)")

UserSort = Literal["id", "-id", "name", "-name", "age", "-age", "signup_ts", "-signup_ts"]
NamePart = Annotated[str, AfterValidator(storable_text)]


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {
            "links": NEW_USER_LINKS,
            "headers": {**ETAG_HEADER, **location_header("user", "/users/{id}"), **SIGN_UP_RATE_LIMIT_HEADERS},
        },
        **FORBIDDEN,
        **CONFLICT,
        **SIGN_UPS_THROTTLED,
    },
    dependencies=[IDEMPOTENT],
)
async def create_user(
    payload: Annotated[UserCreate, Body(openapi_examples={"sign-up": {"value": SIGN_UP_EXAMPLE}})],
    users: SignUpServiceDep,
    request: Request,
    response: Response,
) -> UserPublic:
    """Create a user (sign up). `name`: 3 to 255 characters, starting with a capital; `age`: optional, 0 to 150.

    With AUTH=required, `email` and `password` are required; sign in with them at POST /auth/token.
    One address may sign up SIGNUPS_PER_HOUR times an hour (10 unless configured); an admin, any number.
    """
    created = await users.sign_up(payload, client_address(request.scope), lambda limit: limit.set_on(response))
    send_location(request, response, f"/users/{created.body.id}")
    return answer_with_etag(response, created)


@router.get("/", responses={200: {"headers": LIST_RESPONSE_HEADERS}})
async def read_users(
    users: UserRepositoryDep,
    page: PageParamsDep,
    request: Request,
    response: Response,
    name: Annotated[
        NamePart | None, Query(max_length=255, description="Part of the name, case-insensitive: `doe` finds John Doe.")
    ] = None,
    sort: Annotated[UserSort, sort_query(UserSort)] = "id",
) -> list[UserPublic]:
    """List users, `limit` at a time; follow the `Link: rel="next"` header for the next page."""
    return send_page(await users.list(name, SortOrder(sort), page), request, response)


@router.get("/me", responses=ONE_USER)
async def read_me(caller: SignedInDep, users: UserRepositoryDep, response: Response) -> UserWithStocks:
    """The signed-in user, with their stocks."""
    assert caller.user_id is not None  # SignedInDep makes sure
    return answer_with_etag(response, await users.read_with_stocks(caller.user_id))


@router.put(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    # 404: the token outlived its user (an ordinary user's token is checked without the database).
    responses={
        204: {"headers": RATE_LIMIT_HEADERS},
        **WRONG_PASSWORD,
        **NOT_FOUND_RESPONSE,
        **WRONG_PASSWORDS_THROTTLED,
    },
)
async def change_my_password(
    change: PasswordChange, caller: SignedInByLoginDep, users: UserServiceDep, request: Request, response: Response
) -> None:
    """Change your password: the current one, then the new one. Your logins and personal access tokens end.

    Not with a personal access token (403 `insufficient_scope`): sign in with your password.

    A wrong current password counts as a failed sign-in: after 5 of either in 15 minutes, a 429.
    """
    (await users.change_password(change, client_address(request.scope))).set_on(response)


@router.api_route("/me", methods=["PUT", "PATCH", "DELETE", "POST"], include_in_schema=False)
async def me_is_read_only() -> None:
    """`/users/me` is only read; without this, `PUT /users/me` would reach `/users/{user_id}` as a bad id (422)."""
    raise HTTPException(status.HTTP_405_METHOD_NOT_ALLOWED)


@router.get("/{user_id}", responses=ONE_USER)
async def read_user(user_id: UserId, users: UserRepositoryDep, response: Response) -> UserWithStocks:
    """One user, with their stocks."""
    return answer_with_etag(response, await users.read_with_stocks(user_id))


@router.put("/{user_id}", responses=CHANGE_USER)
async def replace_user(
    user_id: UserId, payload: UserReplace, users: UserServiceDep, if_match: IfMatchDep, response: Response
) -> UserPublic:
    """Replace a user's name and age (an `age` left out becomes null, as in the guide)."""
    return answer_with_etag(response, await users.replace(user_id, payload, if_match))


@router.patch("/{user_id}", responses={**CHANGE_USER, **FORBIDDEN, **CONFLICT})
async def update_user(
    user_id: UserId, changes: UserUpdate, users: UserServiceDep, if_match: IfMatchDep, response: Response
) -> UserPublic:
    """Change only the fields sent. `age` and `email` may be set to null; `name` may not.

    `password` sets one on a user without (an admin may reset any); `is_admin` only an admin may set.
    """
    return answer_with_etag(response, await users.update(user_id, changes, if_match))


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    # No body, so no Content-Type either (FastAPI's default class would send application/json).
    response_class=Response,
    responses={**FORBIDDEN, **NOT_FOUND_RESPONSE, **PRECONDITION_FAILED_RESPONSE},
)
async def delete_user(user_id: UserId, caller: CallerDep, users: UserRepositoryDep, if_match: IfMatchDep) -> None:
    """Delete a user and, by ON DELETE CASCADE, all their stocks. Not your own with a personal access token."""
    if caller.by_personal_token and caller.user_id == user_id:  # a stolen script token must not end the account
        raise InsufficientScope(OWN_ACCOUNT_NEEDS_LOGIN)
    await users.delete(user_id, if_match)


@holdings_router.post(
    "/{user_id}/stocks/",
    status_code=status.HTTP_201_CREATED,
    responses={
        **NOT_FOUND_RESPONSE,
        201: {"links": NEW_STOCK_LINKS, "headers": {**ETAG_HEADER, **location_header("stock", "/stocks/{id}")}},
    },
    dependencies=[IDEMPOTENT],
)
async def create_stock_for_user(
    user_id: UserId, payload: StockCreate, stocks: StockRepositoryDep, request: Request, response: Response
) -> StockPublic:
    """Add a holding to a user: `name` (symbol), `price` > 0, `quantity` > 0, `is_active`."""
    created = await stocks.create_for_user(user_id, payload)
    send_location(request, response, f"/stocks/{created.body.id}")
    return answer_with_etag(response, created)


@holdings_router.get("/{user_id}/stocks/", responses={**NOT_FOUND_RESPONSE, 200: {"headers": LIST_RESPONSE_HEADERS}})
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


@user_ledger_router.get(
    "/{user_id}/transactions", responses={**NOT_FOUND_RESPONSE, 200: {"headers": LIST_RESPONSE_HEADERS}}
)
async def read_user_transactions(
    user_id: UserId,
    page: PageParamsDep,
    users: UserRepositoryDep,
    transactions: TransactionRepositoryDep,
    request: Request,
    response: Response,
    type: Annotated[TransactionType | None, Query(description="Only transactions of this type.")] = None,
    symbol: Annotated[Symbol | None, Query(description="Only the holdings of this symbol, any case.")] = None,
    since: Annotated[Day | None, Query(alias="from", description="From this day on, YYYY-MM-DD (included).")] = None,
    until: Annotated[Day | None, Query(alias="to", description="Up to this day, YYYY-MM-DD (included).")] = None,
) -> list[TransactionPublic]:
    """One user's transactions across their holdings, oldest first; 404 when the user does not exist."""
    await users.require(user_id)
    filters = TransactionFilters(user_id=user_id, type=type, symbol=symbol, since=since, until=until)
    return send_page(await transactions.list_for_user(filters, page), request, response)
