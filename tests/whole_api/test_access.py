"""Who may call what: every operation in the OpenAPI, for every kind of caller, in both modes.

The table below is the access policy. An operation added to the API without a
row here fails `test_every_operation_has_a_decision`, so nobody can add an
endpoint without deciding who may call it.

Two callers hold a token that claims admin when the database no longer
agrees: a demoted admin (an ordinary user now) is decided exactly as another
user is, and a deleted admin's token names nobody, so it is refused (401)
wherever a caller is read and is anonymous's elsewhere.

Behind a proxy (TRUSTED_PROXIES set, AUTH unset) the app is exposed, and
every operation is decided for every caller exactly as with AUTH=required.

Callers with a personal access token have a table of their own (`TOKENS`):
the owner's read-only, read-write, revoked and expired tokens, one made
before the owner's password changed, and an admin's without and with the
"admin" scope. With AUTH=open a token gets what an admin gets, but for what
its own limits refuse: a dead token (401) and what its scopes do not reach
(403 `insufficient_scope`).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.passwords import hash_password
from app.auth.repository import PersonalTokenRepository
from app.auth.tokens import new_personal_token, personal_token_digest
from app.stocks.ledger.models import TRANSACTIONS
from app.stocks.models import STOCKS
from app.users.models import USERS
from tests.conftest import client_in_transaction
from tests.helpers import AAPL, JOHN, PASSWORD, bearer

CALLERS = ("anonymous", "other", "owner", "admin", "demoted admin", "deleted admin")
# Personal access tokens: the owner's first five, the admin's last two.
TOKEN_CALLERS = (
    "read token",
    "write token",
    "revoked token",
    "expired token",
    "token after new password",
    "admin token",
    "admin-scoped token",
)
DEAD_TOKENS = ("revoked token", "expired token", "token after new password")


@dataclass
class World:
    """An owner with one stock, another user, an admin, and a token for each."""

    owner_id: int
    stock_id: int
    transaction_id: int  # a dividend on the stock, which may be deleted (its opening buy may not: the only buy)
    token_id: int  # the owner's read token's
    tokens: dict[str, str | None]
    emails: dict[str, str]


# operationId -> (method, path, body, status for each of CALLERS), AUTH=required.
# A body may depend on the caller (their own password, a fresh refresh token); then it is named.
# "csv" is a quote CSV sent as text/csv.
Body = dict[str, Any] | str | None  # a str names a body made for the caller (resolve_body)
Statuses = tuple[int, ...]  # one for each of CALLERS
Policy = dict[str, tuple[str, str, Body, Statuses]]
DIVIDEND = {"type": "dividend", "occurred_on": "2024-03-15", "amount": 12.5}
REQUIRED: Policy = {
    #                                                          anon other owner admin demoted deleted
    "health": ("GET", "/", None, (200, 200, 200, 200, 200, 200)),
    "liveness": ("GET", "/health/live", None, (200, 200, 200, 200, 200, 200)),
    "readiness": ("GET", "/health/ready", None, (200, 200, 200, 200, 200, 200)),
    "read_problem": ("GET", "/problems/user_not_found", None, (200, 200, 200, 200, 200, 200)),
    "sign_in": ("POST", "/auth/token", "credentials", (200, 200, 200, 200, 200, 200)),
    "refresh": ("POST", "/auth/refresh", "refresh", (200, 200, 200, 200, 200, 200)),
    "sign_out": ("POST", "/auth/logout", "refresh", (204, 204, 204, 204, 204, 204)),
    "create_user": ("POST", "/users/", "sign-up", (201, 201, 201, 201, 201, 401)),
    "read_users": ("GET", "/users/", None, (401, 200, 200, 200, 200, 401)),
    "read_me": ("GET", "/users/me", None, (401, 200, 200, 200, 200, 401)),
    "change_my_password": ("PUT", "/users/me/password", "password", (401, 204, 204, 204, 204, 401)),
    "read_user": ("GET", "/users/{owner}", None, (401, 404, 200, 200, 404, 401)),
    "replace_user": ("PUT", "/users/{owner}", {"name": "Jane Doe"}, (401, 404, 200, 200, 404, 401)),
    "update_user": ("PATCH", "/users/{owner}", {"age": 31}, (401, 404, 200, 200, 404, 401)),
    "delete_user": ("DELETE", "/users/{owner}", None, (401, 404, 204, 204, 404, 401)),
    "create_stock_for_user": ("POST", "/users/{owner}/stocks/", AAPL, (401, 404, 201, 201, 404, 401)),
    "read_user_stocks": ("GET", "/users/{owner}/stocks/", None, (401, 404, 200, 200, 404, 401)),
    "read_portfolio": ("GET", "/users/{owner}/portfolio", None, (401, 404, 200, 200, 404, 401)),
    "read_performance": ("GET", "/users/{owner}/performance", None, (401, 404, 200, 200, 404, 401)),
    "read_stocks": ("GET", "/stocks/", None, (401, 200, 200, 200, 200, 401)),
    "read_stock": ("GET", "/stocks/{stock}", None, (401, 404, 200, 200, 404, 401)),
    "replace_stock": ("PUT", "/stocks/{stock}", AAPL, (401, 404, 200, 200, 404, 401)),
    "update_stock": ("PATCH", "/stocks/{stock}", {"quantity": 3}, (401, 404, 200, 200, 404, 401)),
    "delete_stock": ("DELETE", "/stocks/{stock}", None, (401, 404, 204, 204, 404, 401)),
    # Market prices belong to nobody: anyone signed in reads them, only an admin writes them.
    "put_price": ("PUT", "/prices/AAPL/2024-01-02", {"close": 185.64}, (401, 403, 403, 201, 403, 401)),
    "import_prices": ("POST", "/prices/import?symbol=AAPL", "csv", (401, 403, 403, 200, 403, 401)),
    "read_prices": ("GET", "/prices/AAPL", None, (401, 200, 200, 200, 200, 401)),
    "create_transaction": ("POST", "/stocks/{stock}/transactions", DIVIDEND, (401, 404, 201, 201, 404, 401)),
    "read_stock_transactions": ("GET", "/stocks/{stock}/transactions", None, (401, 404, 200, 200, 404, 401)),
    "read_transaction": ("GET", "/transactions/{transaction}", None, (401, 404, 200, 200, 404, 401)),
    "delete_transaction": ("DELETE", "/transactions/{transaction}", None, (401, 404, 204, 204, 404, 401)),
    "read_user_transactions": ("GET", "/users/{owner}/transactions", None, (401, 404, 200, 200, 404, 401)),
    # Personal access tokens: one's own, with a password sign-in; another's token is a 404.
    "create_my_token": ("POST", "/users/me/tokens", "new token", (401, 201, 201, 201, 201, 401)),
    "read_my_tokens": ("GET", "/users/me/tokens", None, (401, 200, 200, 200, 200, 401)),
    "revoke_my_token": ("DELETE", "/users/me/tokens/{token}", None, (401, 404, 204, 404, 404, 401)),
}
# operationId -> status for each of TOKEN_CALLERS, AUTH=required. A read token writes nothing (403); no token
# manages tokens, changes a password or deletes its own account (403); a dead token is a 401 wherever a caller is
# read; an admin's token is an admin's only with the admin scope.
TOKENS: dict[str, Statuses] = {
    #                           read  write revoked expired new-pw admin admin-scoped
    "health": (200, 200, 200, 200, 200, 200, 200),
    "liveness": (200, 200, 200, 200, 200, 200, 200),
    "readiness": (200, 200, 200, 200, 200, 200, 200),
    "read_problem": (200, 200, 200, 200, 200, 200, 200),
    "sign_in": (200, 200, 200, 200, 200, 200, 200),
    "refresh": (200, 200, 200, 200, 200, 200, 200),
    "sign_out": (204, 204, 204, 204, 204, 204, 204),
    "create_user": (403, 201, 401, 401, 401, 201, 201),
    "read_users": (200, 200, 401, 401, 401, 200, 200),
    "read_me": (200, 200, 401, 401, 401, 200, 200),
    "change_my_password": (403, 403, 401, 401, 401, 403, 403),
    "read_user": (200, 200, 401, 401, 401, 404, 200),
    "replace_user": (403, 200, 401, 401, 401, 404, 200),
    "update_user": (403, 200, 401, 401, 401, 404, 200),
    "delete_user": (403, 403, 401, 401, 401, 404, 204),
    "create_stock_for_user": (403, 201, 401, 401, 401, 404, 201),
    "read_user_stocks": (200, 200, 401, 401, 401, 404, 200),
    "read_portfolio": (200, 200, 401, 401, 401, 404, 200),
    "read_performance": (200, 200, 401, 401, 401, 404, 200),
    "read_stocks": (200, 200, 401, 401, 401, 200, 200),
    "read_stock": (200, 200, 401, 401, 401, 404, 200),
    "replace_stock": (403, 200, 401, 401, 401, 404, 200),
    "update_stock": (403, 200, 401, 401, 401, 404, 200),
    "delete_stock": (403, 204, 401, 401, 401, 404, 204),
    "put_price": (403, 403, 401, 401, 401, 403, 201),
    "import_prices": (403, 403, 401, 401, 401, 403, 200),
    "read_prices": (200, 200, 401, 401, 401, 200, 200),
    "create_transaction": (403, 201, 401, 401, 401, 404, 201),
    "read_stock_transactions": (200, 200, 401, 401, 401, 404, 200),
    "read_transaction": (200, 200, 401, 401, 401, 404, 200),
    "delete_transaction": (403, 204, 401, 401, 401, 404, 204),
    "read_user_transactions": (200, 200, 401, 401, 401, 404, 200),
    "create_my_token": (403, 403, 401, 401, 401, 403, 403),
    "read_my_tokens": (403, 403, 401, 401, 401, 403, 403),
    "revoke_my_token": (403, 403, 401, 401, 401, 403, 403),
}
# The 403s above that are not the token's own limit: writing market prices needs an admin, in this mode only.
ADMIN_ONLY = {"put_price", "import_prices"}
# With AUTH=open, everyone gets what an admin gets, as in the guide; "me" needs someone to be. A token that
# is sent is still checked: a deleted admin's is refused there too, as with AUTH=required.
SIGNED_IN_ONLY = {"read_me", "change_my_password"}
# A caller's own tokens are theirs in either mode: decided as with AUTH=required.
OWN_TOKENS = {"create_my_token", "read_my_tokens", "revoke_my_token"}
OPEN = {
    operation: (method, path, body, (401 if operation in SIGNED_IN_ONLY else admin, *[admin] * 4, deleted))
    for operation, (method, path, body, (_, _, _, admin, _, deleted)) in REQUIRED.items()
} | {operation: REQUIRED[operation] for operation in OWN_TOKENS}


def token_refused_by_its_limits(operation: str, caller: str) -> bool:
    """Whether AUTH=required's answer for this token is the token's own doing (dead, or out of its scopes)."""
    status = TOKENS[operation][TOKEN_CALLERS.index(caller)]
    return status == 401 or (status == 403 and not (operation in ADMIN_ONLY and "write" in TOKEN_SCOPES[caller]))


def open_status_for_token(operation: str, caller: str) -> int:
    """AUTH=open: what the token's limits refuse, refused as with AUTH=required; anything else, an admin's answer."""
    if token_refused_by_its_limits(operation, caller):
        return TOKENS[operation][TOKEN_CALLERS.index(caller)]
    return OPEN[operation][3][CALLERS.index("admin")]


def test_every_operation_has_a_decision(required_app: FastAPI, app: FastAPI, proxy_app: FastAPI) -> None:
    for served in (required_app, app, proxy_app):
        operations = {
            operation["operationId"] for methods in served.openapi()["paths"].values() for operation in methods.values()
        }
        assert operations == set(REQUIRED) == set(TOKENS)


@pytest.mark.parametrize("mode", ["required", "open", "behind a proxy"])
@pytest.mark.parametrize("operation", sorted(REQUIRED))
@pytest.mark.parametrize("caller", CALLERS + TOKEN_CALLERS)
async def test_who_may_call_what(
    mode: str,
    operation: str,
    caller: str,
    required_app: FastAPI,
    app: FastAPI,
    proxy_app: FastAPI,
    required_client: AsyncClient,
    client: AsyncClient,
    connection: AsyncConnection,
    session: AsyncSession,
) -> None:
    if mode == "behind a proxy":  # AUTH unset, TRUSTED_PROXIES set: exposed, so decided as AUTH=required
        async with client_in_transaction(proxy_app, connection) as through_the_proxy:
            await _decide(mode, operation, caller, proxy_app, through_the_proxy, REQUIRED, session)
        return
    served, http = (required_app, required_client) if mode == "required" else (app, client)
    await _decide(mode, operation, caller, served, http, REQUIRED if mode == "required" else OPEN, session)


async def _decide(
    mode: str,
    operation: str,
    caller: str,
    served: FastAPI,
    http: AsyncClient,
    policy: Policy,
    session: AsyncSession,
) -> None:
    method, path, body, statuses = policy[operation]
    if caller in TOKEN_CALLERS:
        open_mode = policy is OPEN
        expected = (
            open_status_for_token(operation, caller) if open_mode else TOKENS[operation][TOKEN_CALLERS.index(caller)]
        )
    else:
        expected = statuses[CALLERS.index(caller)]

    world = await build_world(session, served)
    token = world.tokens[caller]
    if caller == "token after new password":  # the owner changes it, as anyone would, after the token was made
        owner_login = bearer(world.tokens["owner"] or "")
        new_password = {"current_password": PASSWORD, "new_password": PASSWORD}
        assert (await http.put("/users/me/password", json=new_password, headers=owner_login)).status_code == 204
    request_body = await resolve_body(body, caller, world, http)
    url = path.format(
        owner=world.owner_id, stock=world.stock_id, transaction=world.transaction_id, token=world.token_id
    )
    response = await send(http, method, url, body, request_body, token)
    assert response.status_code == expected, (mode, operation, caller, response.text)
    if expected == 404:  # exactly as if it did not exist
        resource, row_id = next(
            (resource, row_id)
            for placeholder, resource, row_id in (
                ("{token}", "Personal access token", world.token_id),
                ("{transaction}", "Transaction", world.transaction_id),
                ("{stock}", "Stock", world.stock_id),
                ("{owner}", "User", world.owner_id),
            )
            if placeholder in path
        )
        assert response.json()["detail"] == f"{resource} with ID {row_id} not found"
    if operation == "read_stocks" and mode != "open" and caller in ("other", "demoted admin"):
        assert response.json() == []  # their own: none
    if expected == 403 and caller in TOKEN_CALLERS and token_refused_by_its_limits(operation, caller):
        assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'
    elif expected == 403:
        assert response.json()["detail"] == "Only an admin may change data every user shares"
    if operation == "read_users" and mode != "open" and caller in ("other", "owner", "demoted admin"):
        assert [user["email"] for user in response.json()] == [world.emails[caller]]
    if operation in ("read_users", "read_stocks") and mode != "open" and caller in ("read token", "admin token"):
        holder = "owner" if caller == "read token" else "admin"  # an ordinary user's rows: their own only
        if operation == "read_users":
            assert [user["email"] for user in response.json()] == [world.emails[holder]]
        else:
            assert len(response.json()) == (1 if holder == "owner" else 0)


async def send(http: AsyncClient, method: str, url: str, body: Body, request_body: Any, token: str | None) -> Response:
    """The request, its body sent as the operation takes it: a form to sign in, CSV to import, JSON otherwise."""
    headers = bearer(token) if token else {}
    if body == "credentials":
        return await http.post(url, data=request_body, headers=headers)
    if body == "csv":
        return await http.request(method, url, content=request_body, headers={"Content-Type": "text/csv", **headers})
    return await http.request(method, url, json=request_body, headers=headers)


async def build_world(session: AsyncSession, app: FastAPI) -> World:
    """Users written straight to the test's transaction (one hash for all of them), with tokens minted.

    The demoted admin's token was minted while she was an admin; the deleted admin's, for a user since deleted.
    """
    password_hash = await _password_hash()
    ids: dict[str, int] = {}
    emails: dict[str, str] = {}
    for name in ("other", "owner", "admin", "demoted admin", "deleted admin"):
        emails[name] = f"{name.replace(' ', '-')}@example.com"
        ids[name] = (
            await session.exec(
                insert(USERS)
                .values(name="John Doe", email=emails[name], password_hash=password_hash, is_admin=name == "admin")
                .returning(USERS.c.id)
            )
        ).scalar_one()
    await session.exec(delete(USERS).where(USERS.c.id == ids["deleted admin"]))
    del emails["deleted admin"]
    stock_id = (
        await session.exec(
            insert(STOCKS).values(name="AAPL", price=1, quantity=1, user_id=ids["owner"]).returning(STOCKS.c.id)
        )
    ).scalar_one()
    # Its ledger, as the API writes it: the opening buy, then a dividend.
    opening_buy = {"type": "buy", "occurred_on": date(2024, 1, 2), "quantity": 1, "price": 1, "fee": 0}
    await session.exec(insert(TRANSACTIONS).values(stock_id=stock_id, user_id=ids["owner"], **opening_buy))
    dividend = {"type": "dividend", "occurred_on": date(2024, 3, 15), "amount": 1}
    transaction_id = (
        await session.exec(
            insert(TRANSACTIONS)
            .values(stock_id=stock_id, user_id=ids["owner"], **dividend)
            .returning(TRANSACTIONS.c.id)
        )
    ).scalar_one()
    tokens: dict[str, str | None] = {"anonymous": None}
    for name in ("other", "owner", "admin", "demoted admin", "deleted admin"):
        tokens[name] = app.state.access_tokens.issue(ids[name], is_admin=name.endswith("admin"))
    # Personal access tokens, made by the statement POST /users/me/tokens runs; an expired one made to end at once.
    personal_tokens = PersonalTokenRepository(session)
    token_ids: dict[str, int] = {}
    for name in TOKEN_CALLERS:
        holder = ids["admin"] if name.startswith("admin") else ids["owner"]
        lifetime = timedelta(seconds=-1) if name == "expired token" else timedelta(days=30)
        tokens[name] = token = new_personal_token()
        made = await personal_tokens.create(
            holder, name, TOKEN_SCOPES[name], personal_token_digest(token), token[:12], lifetime
        )
        token_ids[name] = made.id
    await personal_tokens.revoke(ids["owner"], token_ids["revoked token"])
    return World(
        owner_id=ids["owner"],
        stock_id=stock_id,
        transaction_id=transaction_id,
        token_id=token_ids["read token"],
        tokens=tokens,
        emails=emails,
    )


TOKEN_SCOPES = {
    "read token": ["read"],
    "write token": ["read", "write"],
    "revoked token": ["read", "write"],
    "expired token": ["read", "write"],
    "token after new password": ["read", "write"],
    "admin token": ["read", "write"],
    "admin-scoped token": ["read", "write", "admin"],
}


_HASH: list[str] = []


async def _password_hash() -> str:
    if not _HASH:
        _HASH.append(await hash_password(PASSWORD))
    return _HASH[0]


async def resolve_body(body: Body, caller: str, world: World, http: AsyncClient) -> Any:
    """The request body for this caller: fixed, or made for them (their credentials, a live refresh token)."""
    email = world.emails.get(caller, world.emails["owner"])
    if body == "credentials":
        return {"username": email, "password": PASSWORD}
    if body == "refresh":
        response = await http.post("/auth/token", data={"username": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return {"refresh_token": response.json()["refresh_token"]}
    if body == "sign-up":
        return {**JOHN, "email": f"new-{caller.replace(' ', '-')}@example.com", "password": PASSWORD}
    if body == "password":
        return {"current_password": PASSWORD, "new_password": PASSWORD}
    if body == "csv":
        return "Date,Close\n2024-01-02,185.64\n"
    if body == "new token":
        return {"name": "script", "scopes": ["read"], "expires_in_days": 30}
    return body
