"""Issue 18, the attack's findings replayed: each request as the attacker sent it, and the answer it must get now.

With AUTH=required. Sign-ins, password checks and sign-ups are throttled in
PostgreSQL; a refresh token presented twice within REFRESH_GRACE_SECONDS
keeps its login; a failed sign-in is a 401 and counted whatever the address.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.tokens import new_refresh_token, refresh_token_digest
from app.core.config import Settings
from app.main import create_app
from tests.conftest import client_in_transaction
from tests.helpers import (
    INVALID_GRANT,
    JOHN,
    PASSWORD,
    admin_token,
    bearer,
    libpq_url,
    problem,
    sign_in,
    sign_up,
    waiting_for_a_lock,
)

JANE = "jane@example.com"
WRONG = "wrong password!"
# What uvicorn hands on as the client with TRUSTED_PROXIES=* when X-Forwarded-For carries 65+ characters.
FORGED_ADDRESS = "203.0.113.7" + "x" * 60
# Longest a concurrency test waits for what it waits for, before it fails instead of hanging.
GUARD_SECONDS = 30


@pytest.fixture
async def forged_client(required_app: FastAPI, connection: AsyncConnection) -> AsyncIterator[AsyncClient]:
    """An AUTH=required client whose address is FORGED_ADDRESS, in the test's transaction."""
    async with client_in_transaction(required_app, connection, FORGED_ADDRESS) as client:
        yield client


# ---------------------------------------------------------------- a failed sign-in is always a 401, and counted


async def test_a_wrong_password_from_an_address_too_long_to_store_is_a_401_and_counted(
    forged_client: AsyncClient,
) -> None:
    await sign_up(forged_client, JANE)
    for _ in range(5):
        response = await forged_client.post("/auth/token", data={"username": JANE, "password": WRONG})
        assert (response.status_code, response.json()) == (400, INVALID_GRANT)
    throttled = await forged_client.post("/auth/token", data={"username": JANE, "password": PASSWORD})
    assert throttled.status_code == 429
    # ... and the address itself is counted too: 20 failures from it, over any emails, throttle it.
    for n in range(15):
        await forged_client.post("/auth/token", data={"username": f"u{n}@example.com", "password": WRONG})
    response = await forged_client.post("/auth/token", data={"username": "u99@example.com", "password": WRONG})
    assert response.status_code == 429


async def test_a_failure_that_cannot_be_recorded_is_still_a_401_and_is_logged(
    required_client: AsyncClient, connection: AsyncConnection, caplog: pytest.LogCaptureFixture
) -> None:
    await sign_up(required_client, JANE)
    # The database refuses every new failure row (rolled back with the test's transaction).
    await connection.execute(text("ALTER TABLE login_failures ADD CONSTRAINT refuse_all CHECK (false) NOT VALID"))
    with caplog.at_level(logging.WARNING, logger="app.auth.service"):
        response = await required_client.post("/auth/token", data={"username": JANE, "password": WRONG})
    assert (response.status_code, response.json()) == (400, INVALID_GRANT)
    (record,) = [record for record in caplog.records if record.name == "app.auth.service"]
    assert record.getMessage() == (
        "A wrong password was not recorded, so the sign-in throttle did not count it: IntegrityError: "
        'new row for relation "login_failures" violates check constraint "refuse_all"'
    )
    assert WRONG not in caplog.text and JANE not in caplog.text
    # The request goes on working: the right password still signs in.
    response = await required_client.post("/auth/token", data={"username": JANE, "password": PASSWORD})
    assert response.status_code == 200


# ---------------------------------------------------------------- the current password is throttled like sign-ins


async def change_password(client: AsyncClient, access_token: str, current: str) -> Response:
    body = {"current_password": current, "new_password": "a completely new passphrase"}
    return await client.put("/users/me/password", json=body, headers=bearer(access_token))


async def test_guessing_the_current_password_ends_in_a_429_with_retry_after(
    required_client: AsyncClient, connection: AsyncConnection
) -> None:
    await sign_up(required_client, JANE)
    token = (await sign_in(required_client, JANE))["access_token"]
    answers = [(await change_password(required_client, token, f"guess number {n}")).status_code for n in range(12)]
    assert answers == [403] * 5 + [429] * 7
    right = await change_password(required_client, token, PASSWORD)
    assert right.status_code == 429  # refused before the hash is checked, right or wrong
    assert right.json()["detail"] == "Too many wrong passwords for this account lately; try again later"
    assert 14 * 60 < int(right.headers["retry-after"]) <= 15 * 60
    # Five failures recorded, against the account's email; the throttled tries were never checked.
    recorded = await connection.scalar(text("SELECT count(*) FROM login_failures WHERE email = :e"), {"e": JANE})
    assert recorded == 5


async def test_guessing_through_either_door_counts_against_the_account(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    token = (await sign_in(required_client, JANE))["access_token"]
    for _ in range(3):
        assert (
            await required_client.post("/auth/token", data={"username": JANE, "password": WRONG})
        ).status_code == 400
    for n in range(2):
        assert (await change_password(required_client, token, f"guess number {n}")).status_code == 403
    assert (await change_password(required_client, token, PASSWORD)).status_code == 429
    signing_in = await required_client.post("/auth/token", data={"username": JANE, "password": PASSWORD})
    assert (signing_in.status_code, signing_in.json()["error_description"]) == (
        429,
        "Too many failed sign-ins; try again later",
    )


# ---------------------------------------------------------------- a refresh token's grace window


async def refresh(client: AsyncClient, refresh_token: str) -> Response:
    return await client.post("/auth/refresh", json={"refresh_token": refresh_token})


async def works(client: AsyncClient, pair: dict[str, Any]) -> bool:
    """Whether the pair's access token reaches /users/me and its refresh token gives another pair."""
    me = await client.get("/users/me", headers=bearer(pair["access_token"]))
    return me.status_code == 200 and (await refresh(client, pair["refresh_token"])).status_code == 200


@asynccontextmanager
async def required_client_with(
    settings: Settings, connection: AsyncConnection, **changes: Any
) -> AsyncIterator[AsyncClient]:
    """A client for an AUTH=required app with these settings changed, in the test's transaction."""
    app = create_app(settings.model_copy(update={"auth": "required", **changes}))
    async with app.router.lifespan_context(app), client_in_transaction(app, connection) as client:
        yield client


@pytest.fixture
async def no_grace_client(settings: Settings, connection: AsyncConnection) -> AsyncIterator[AsyncClient]:
    """An AUTH=required client with REFRESH_GRACE_SECONDS=0."""
    async with required_client_with(settings, connection, refresh_grace_seconds=0) as client:
        yield client


async def test_a_refresh_token_presented_twice_within_the_grace_window_keeps_the_login(
    required_client: AsyncClient,
) -> None:
    await sign_up(required_client, JANE)
    token = (await sign_in(required_client, JANE))["refresh_token"]
    first, second = await refresh(required_client, token), await refresh(required_client, token)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["refresh_token"] != second.json()["refresh_token"]
    assert await works(required_client, first.json())
    assert await works(required_client, second.json())


async def test_a_refresh_token_replayed_after_the_grace_window_revokes_the_whole_login(
    required_client: AsyncClient, connection: AsyncConnection
) -> None:
    await sign_up(required_client, JANE)
    token = (await sign_in(required_client, JANE))["refresh_token"]
    owners = (await refresh(required_client, token)).json()
    within = (await refresh(required_client, token)).json()
    await connection.execute(text("UPDATE refresh_tokens SET used_at = used_at - interval '11 seconds'"))
    replayed = await refresh(required_client, token)
    assert (replayed.status_code, replayed.json()) == (
        401,
        problem("invalid_refresh_token", "Invalid, expired, revoked or already used refresh token"),
    )
    assert (await refresh(required_client, owners["refresh_token"])).status_code == 401
    assert (await refresh(required_client, within["refresh_token"])).status_code == 401


async def test_the_grace_window_never_revives_a_revoked_login(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    token = (await sign_in(required_client, JANE))["refresh_token"]
    owners = (await refresh(required_client, token)).json()
    signed_out = await required_client.post("/auth/logout", json={"refresh_token": owners["refresh_token"]})
    assert signed_out.status_code == 204
    assert (await refresh(required_client, token)).status_code == 401  # used a moment ago, but its login ended


async def test_with_no_grace_window_a_second_refresh_revokes_the_login(no_grace_client: AsyncClient) -> None:
    await sign_up(no_grace_client, JANE)
    token = (await sign_in(no_grace_client, JANE))["refresh_token"]
    owners = (await refresh(no_grace_client, token)).json()
    assert (await refresh(no_grace_client, token)).status_code == 401
    assert (await refresh(no_grace_client, owners["refresh_token"])).status_code == 401


async def test_two_concurrent_refreshes_with_one_token_both_succeed_and_both_pairs_work(
    committed_required_client: AsyncClient, database_url: str
) -> None:
    client = committed_required_client
    await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["refresh_token"]
    async with (
        await psycopg.AsyncConnection.connect(libpq_url(database_url)) as holder,
        await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as observer,
    ):
        # Hold the token's row, so that both refreshes are surely in flight, waiting for it, before either runs.
        await holder.execute(
            "SELECT 1 FROM refresh_tokens WHERE token_hash = %s FOR UPDATE", [refresh_token_digest(token)]
        )
        both = asyncio.gather(refresh(client, token), refresh(client, token))
        await waiting_for_a_lock(observer, 2)
        await holder.rollback()
        first, second = await asyncio.wait_for(both, GUARD_SECONDS)
    assert (first.status_code, second.status_code) == (200, 200)
    assert await works(client, first.json())
    assert await works(client, second.json())


async def test_a_refresh_committing_while_its_login_is_signed_out_leaves_no_live_successor(
    committed_required_client: AsyncClient, database_url: str
) -> None:
    client = committed_required_client
    await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["refresh_token"]
    successor = new_refresh_token()
    async with (
        await psycopg.AsyncConnection.connect(libpq_url(database_url)) as refreshing,
        await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as observer,
    ):
        # A refresh in flight: the token consumed and its successor stored, not yet committed.
        await refreshing.execute(
            "WITH consumed AS (UPDATE refresh_tokens SET used_at = now() WHERE token_hash = %(token)s"
            " RETURNING user_id, login_id)"
            " INSERT INTO refresh_tokens (user_id, login_id, token_hash, expires_at)"
            " SELECT user_id, login_id, %(successor)s, now() + interval '1 day' FROM consumed",
            {"token": refresh_token_digest(token), "successor": refresh_token_digest(successor)},
        )
        signing_out = asyncio.ensure_future(client.post("/auth/logout", json={"refresh_token": token}))
        await waiting_for_a_lock(observer, 1)
        await refreshing.commit()
        assert (await asyncio.wait_for(signing_out, GUARD_SECONDS)).status_code == 204
    assert (await refresh(client, successor)).status_code == 401


# ---------------------------------------------------------------- sign-ups per address


def new_user(n: int) -> dict[str, Any]:
    return {**JOHN, "email": f"user{n}@example.com", "password": PASSWORD}


async def test_sign_ups_past_the_limit_from_one_address_get_a_429_with_retry_after(
    required_client: AsyncClient, required_app: FastAPI, connection: AsyncConnection, session: AsyncSession
) -> None:
    answers = [(await required_client.post("/users/", json=new_user(n))).status_code for n in range(11)]
    assert answers == [201] * 10 + [429]
    refused = await required_client.post("/users/", json=new_user(11))
    assert refused.json()["detail"] == "Too many sign-ups from this address in the last hour; try again later"
    assert 59 * 60 < int(refused.headers["retry-after"]) <= 60 * 60
    # What is wrong with a request is still said first, before it is counted.
    weak = await required_client.post("/users/", json={**new_user(12), "password": "user12 is me, really"})
    assert weak.status_code == 422
    # Another address signs up (an admin, here); the admin creates users from the limited address.
    # (Both clients share the app and the test's transaction; leaving the block clears the app's overrides.)
    async with client_in_transaction(required_app, connection, "198.51.100.9") as neighbour:
        admin = await admin_token(neighbour, required_app, session)
        assert (await required_client.post("/users/", json=new_user(13), headers=bearer(admin))).status_code == 201


async def test_signups_per_hour_0_is_no_limit(settings: Settings, connection: AsyncConnection) -> None:
    async with required_client_with(settings, connection, signups_per_hour=0) as client:
        answers = [(await client.post("/users/", json=new_user(n))).status_code for n in range(11)]
    assert answers == [201] * 11


async def test_creating_users_with_auth_open_is_not_limited(client: AsyncClient) -> None:
    answers = [(await client.post("/users/", json=JOHN)).status_code for _ in range(11)]
    assert answers == [201] * 11


async def test_forty_concurrent_sign_ups_from_one_address_let_exactly_the_limit_through(
    committed_required_client: AsyncClient, database_url: str
) -> None:
    client = committed_required_client
    assert (await client.post("/users/", json=new_user(0))).status_code == 201
    async with (
        await psycopg.AsyncConnection.connect(libpq_url(database_url)) as holder,
        await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as observer,
    ):
        # Hold the address's row, so that the other 39 are surely in flight together before any is counted.
        await holder.execute("SELECT 1 FROM sign_ups_by_address WHERE client_address = '127.0.0.1' FOR UPDATE")
        others = asyncio.gather(*(client.post("/users/", json=new_user(n)) for n in range(1, 40)))
        await waiting_for_a_lock(observer, 2)
        await holder.rollback()
        responses = await asyncio.wait_for(others, GUARD_SECONDS)
        users = await (await observer.execute("SELECT count(*) FROM users")).fetchone()
    assert sorted(response.status_code for response in responses) == [201] * 9 + [429] * 30
    assert all(0 < int(r.headers["retry-after"]) <= 60 * 60 for r in responses if r.status_code == 429)
    assert users == (10,)
