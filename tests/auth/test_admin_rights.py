"""Admin rights come from the database on every request, not from the token (issue 18).

Each attack is replayed as it was found, request by request, with the answer
it must now get: a demoted admin's old token, a deleted admin's old token, a
deleted user's old token. Then what it costs: nothing for an ordinary user's
request, one primary-key lookup for an admin's, and never a request that waits
on itself for a second connection.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.main import create_app
from app.users.models import USERS
from app.web import session as cookies
from tests.helpers import AAPL, EMPTY_EVERY_TABLE, JOHN, PASSWORD, admin_token, bearer, sign_in, sign_up
from tests.whole_api.test_access import (
    CALLERS,
    REQUIRED,
    TOKEN_CALLERS,
    TOKENS,
    build_world,
    resolve_body,
    send,
)
from tests.whole_api.test_query_counts import statements_sent

JANE = "jane@example.com"
JOE = "joe@example.com"
ANOTHER_PASSWORD = "another passphrase entirely"


async def is_admin_in_the_database(session: AsyncSession, user_id: int) -> bool | None:
    return (await session.exec(select(USERS.c.is_admin).where(USERS.c.id == user_id))).scalar_one_or_none()  # type: ignore[call-overload]


async def make_admin(session: AsyncSession, user_id: int) -> None:
    await session.exec(update(USERS).where(USERS.c.id == user_id).values(is_admin=True))


async def refreshed(client: AsyncClient, pair: dict[str, Any]) -> int:
    """The status of POST /auth/refresh with this pair's refresh token."""
    return (await client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code


async def signed_in_admin(client: AsyncClient, session: AsyncSession, email: str) -> tuple[int, dict[str, Any]]:
    """A user made admin in the database, then signed in: their id and token pair (the token claims admin)."""
    user = await sign_up(client, email)
    await make_admin(session, user["id"])
    pair = await sign_in(client, email)
    return user["id"], pair


# ---------------------------------------------------------------- the attacks, replayed


async def test_a_demoted_admins_old_token_cannot_make_her_admin_again(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    jane_id, jane = await signed_in_admin(required_client, session, JANE)
    other_admin = await admin_token(required_client, required_app, session)
    demoted = await required_client.patch(f"/users/{jane_id}", json={"is_admin": False}, headers=bearer(other_admin))
    assert (demoted.status_code, demoted.json()["is_admin"]) == (200, False)

    # The attack: her old token, which still says `adm: true`, sets is_admin on herself.
    own_token = bearer(jane["access_token"])
    again = await required_client.patch(f"/users/{jane_id}", json={"is_admin": True}, headers=own_token)
    assert (again.status_code, again.json()["detail"]) == (403, "Only an admin may set is_admin")
    assert await is_admin_in_the_database(session, jane_id) is False
    # With it she is an ordinary user: she sees herself only.
    listed = await required_client.get("/users/", headers=own_token)
    assert [user["id"] for user in listed.json()] == [jane_id]
    # Demotion ended her logins: no new token, with or without the claim.
    assert await refreshed(required_client, jane) == 401


async def test_a_deleted_admins_old_token_creates_no_admin_and_changes_no_password(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    jane_id, jane = await signed_in_admin(required_client, session, JANE)
    joe = await sign_up(required_client, JOE)
    other_admin = await admin_token(required_client, required_app, session)
    assert (await required_client.delete(f"/users/{jane_id}", headers=bearer(other_admin))).status_code == 204

    created = await required_client.post(
        "/users/",
        json={**JOHN, "email": "mallory@example.com", "password": PASSWORD, "is_admin": True},
        headers=bearer(jane["access_token"]),
    )
    assert created.status_code == 401
    assert created.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    reset = await required_client.patch(
        f"/users/{joe['id']}", json={"password": ANOTHER_PASSWORD}, headers=bearer(jane["access_token"])
    )
    assert reset.status_code == 401
    assert (await sign_in(required_client, JOE))["token_type"] == "bearer"  # Joe's password is his own still
    failed = await required_client.post("/auth/token", data={"username": JOE, "password": ANOTHER_PASSWORD})
    assert failed.status_code == 400
    # Deleting her took her logins along (ON DELETE CASCADE).
    assert await refreshed(required_client, jane) == 401


async def test_a_deleted_users_old_token_reaches_nothing(required_client: AsyncClient) -> None:
    jane = await sign_up(required_client, JANE)
    pair = await sign_in(required_client, JANE)
    token = bearer(pair["access_token"])
    assert (await required_client.post(f"/users/{jane['id']}/stocks/", json=AAPL, headers=token)).status_code == 201
    assert (await required_client.delete(f"/users/{jane['id']}", headers=token)).status_code == 204

    # Her token is checked by its signature alone (it claims no admin rights), but every statement
    # it reaches is scoped to her, and nothing is hers any more: the same 404s as for a stranger's row.
    expected: list[tuple[str, str, dict[str, Any] | None, int]] = [
        ("GET", "/users/me", None, 404),
        ("PUT", "/users/me/password", {"current_password": PASSWORD, "new_password": ANOTHER_PASSWORD}, 404),
        ("GET", f"/users/{jane['id']}", None, 404),
        ("PATCH", f"/users/{jane['id']}", {"age": 31}, 404),
        ("PATCH", f"/users/{jane['id']}", {"password": ANOTHER_PASSWORD}, 404),
        ("DELETE", f"/users/{jane['id']}", None, 404),
        ("POST", f"/users/{jane['id']}/stocks/", AAPL, 404),
        ("GET", f"/users/{jane['id']}/portfolio", None, 404),
        ("POST", "/users/", {**JOHN, "email": "mallory@example.com", "password": PASSWORD, "is_admin": True}, 403),
    ]
    for method, path, body, status in expected:
        response = await required_client.request(method, path, json=body, headers=token)
        assert response.status_code == status, (method, path, response.text)
    assert (await required_client.get("/users/", headers=token)).json() == []
    assert (await required_client.get("/stocks/", headers=token)).json() == []
    assert await refreshed(required_client, pair) == 401


async def test_in_open_mode_a_demoted_admins_token_makes_no_admin(
    client: AsyncClient, app: FastAPI, session: AsyncSession
) -> None:
    jane = await sign_up(client, JANE)
    token = bearer(app.state.access_tokens.issue(jane["id"], is_admin=True))  # minted while she was one
    body = {**JOHN, "email": "mallory@example.com", "is_admin": True}
    assert (await client.post("/users/", json=body, headers=token)).status_code == 403
    assert (await client.patch(f"/users/{jane['id']}", json={"is_admin": True}, headers=token)).status_code == 403
    await make_admin(session, jane["id"])
    assert (await client.post("/users/", json=body, headers=token)).status_code == 201


# ---------------------------------------------------------------- what ends logins, and what does not


async def test_demotion_ends_every_login_of_the_demoted_only(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    jane_id, jane = await signed_in_admin(required_client, session, JANE)
    await sign_up(required_client, JOE)
    joe = await sign_in(required_client, JOE)
    admin = bearer(await admin_token(required_client, required_app, session))
    demoted = await required_client.patch(f"/users/{jane_id}", json={"is_admin": False}, headers=admin)
    assert demoted.status_code == 200
    assert (await refreshed(required_client, jane), await refreshed(required_client, joe)) == (401, 200)
    # Signing in again gives her an ordinary user's token.
    again = await sign_in(required_client, JANE)
    assert (await required_client.get("/users/", headers=bearer(again["access_token"]))).json()[0]["id"] == jane_id


async def test_a_new_admin_is_one_from_their_next_token_on(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    """A token that does not claim admin never grants it: that is what spares ordinary users the lookup."""
    jane = await sign_up(required_client, JANE)
    before = await sign_in(required_client, JANE)
    admin = bearer(await admin_token(required_client, required_app, session))
    promoted = await required_client.patch(f"/users/{jane['id']}", json={"is_admin": True}, headers=admin)
    assert promoted.status_code == 200
    listed = await required_client.get("/users/", headers=bearer(before["access_token"]))
    assert [user["id"] for user in listed.json()] == [jane["id"]]
    after = (await required_client.post("/auth/refresh", json={"refresh_token": before["refresh_token"]})).json()
    listed = await required_client.get("/users/", headers=bearer(after["access_token"]))
    assert len(listed.json()) == 2


# ---------------------------------------------------------------- the web page's visitor


def with_cookie(client: AsyncClient, app: FastAPI, access_token: str, refresh_token: str) -> str:
    """Put a signed-in browser session (this token pair) in the client's cookie jar; its CSRF token."""
    browser = cookies.BrowserSession(cookies.new_session().csrf, access_token, refresh_token)
    client.cookies.set(cookies.COOKIE_NAME, cookies.encode(browser, app.state.web_cookie_key), path="/app")
    return browser.csrf


async def test_the_web_page_asks_the_database_too(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    jane_id, jane = await signed_in_admin(required_client, session, JANE)
    with_cookie(required_client, required_app, jane["access_token"], jane["refresh_token"])
    assert (await required_client.get("/app/users")).status_code == 200  # an admin: everyone

    await session.exec(update(USERS).where(USERS.c.id == jane_id).values(is_admin=False))
    demoted = await required_client.get("/app/users", follow_redirects=False)
    assert (demoted.status_code, demoted.headers["location"]) == (303, f"/app/users/{jane_id}")

    await make_admin(session, jane_id)
    await session.exec(USERS.delete().where(USERS.c.id == jane_id))
    deleted = await required_client.get("/app/users", follow_redirects=False)
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/app/sign-in")
    signed_out = cookies.decode(deleted.cookies[cookies.COOKIE_NAME], required_app.state.web_cookie_key)
    assert signed_out is not None and signed_out.refresh_token is None


async def test_a_deleted_users_cookie_reaches_no_page(required_client: AsyncClient, required_app: FastAPI) -> None:
    jane = await sign_up(required_client, JANE)
    pair = await sign_in(required_client, JANE)
    deleted = await required_client.delete(f"/users/{jane['id']}", headers=bearer(pair["access_token"]))
    assert deleted.status_code == 204
    csrf = with_cookie(required_client, required_app, pair["access_token"], pair["refresh_token"])
    assert (await required_client.get(f"/app/users/{jane['id']}")).status_code == 404
    holding = {"name": "AAPL", "price": "1", "quantity": "1", "is_active": "on", "csrf_token": csrf}
    assert (await required_client.post(f"/app/users/{jane['id']}/stocks", data=holding)).status_code == 404


# ---------------------------------------------------------------- what it costs


async def test_an_ordinary_token_costs_no_statement_and_an_admins_one_lookup(
    app: FastAPI, committed_client: AsyncClient, engine: AsyncEngine
) -> None:
    jane = await sign_up(committed_client, JANE)
    ordinary = bearer(app.state.access_tokens.issue(jane["id"], is_admin=False))
    claims_admin = bearer(app.state.access_tokens.issue(jane["id"], is_admin=True))
    async with engine.begin() as connection:
        await connection.execute(update(USERS).where(USERS.c.id == jane["id"]).values(is_admin=True))
    for headers, expected in [({}, ["SELECT"]), (ordinary, ["SELECT"]), (claims_admin, ["SELECT", "SELECT"])]:
        with statements_sent(app) as statements:
            assert (await committed_client.get(f"/users/{jane['id']}", headers=headers)).status_code == 200
        assert statements == expected


@pytest.fixture
async def one_connection(settings: Settings, engine: AsyncEngine) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """The AUTH=required app with a pool and a line of one connection, committing for real."""
    app = create_app(
        settings.model_copy(update={"auth": "required", "db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout": 1})
    )
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield app, client
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(EMPTY_EVERY_TABLE)


async def test_an_admins_request_never_waits_on_itself_for_a_second_connection(
    one_connection: tuple[FastAPI, AsyncClient], engine: AsyncEngine
) -> None:
    """Every operation, as an admin, with one connection: the lookup's is closed before the request's is taken.

    Were it the other way round, each would wait for the other until the pool's timeout: a 503.
    """
    app, client = one_connection
    # An admin's access token, whose rights are a lookup; an admin's personal token, which is one itself.
    for caller in ("admin", "admin-scoped token"):
        for operation, (method, path, body, statuses) in REQUIRED.items():
            if caller in TOKEN_CALLERS:
                expected = TOKENS[operation][TOKEN_CALLERS.index(caller)]
            else:
                expected = statuses[CALLERS.index(caller)]
            async with engine.begin() as connection:
                await connection.exec_driver_sql(EMPTY_EVERY_TABLE)
            async with AsyncSession(engine) as session:
                world = await build_world(session, app)
            request_body = await resolve_body(body, caller, world, client)
            url = path.format(
                owner=world.owner_id, stock=world.stock_id, transaction=world.transaction_id, token=world.token_id
            )
            response = await send(client, method, url, body, request_body, world.tokens[caller])
            assert response.status_code == expected, (caller, operation, response.text)
    with_cookie(client, app, world.tokens["admin"] or "", "a refresh token it will not need")
    for page in ("/app/users", f"/app/users/{world.owner_id}"):
        assert (await client.get(page)).status_code == 200, page
