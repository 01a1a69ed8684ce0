"""Issue 18, the attack's findings replayed: each request as the attacker sent it, and the answer it must get now.

With AUTH=required. Sign-ins, password checks and sign-ups are throttled in
PostgreSQL; a refresh token presented twice within REFRESH_GRACE_SECONDS
keeps its login; a failed sign-in is a 401 and counted whatever the address.
"""

import logging
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import client_in_transaction
from tests.helpers import PASSWORD, bearer, sign_in, sign_up

JANE = "jane@example.com"
WRONG = "wrong password!"
# What uvicorn hands on as the client with TRUSTED_PROXIES=* when X-Forwarded-For carries 65+ characters.
FORGED_ADDRESS = "203.0.113.7" + "x" * 60


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
        assert (response.status_code, response.json()) == (401, {"detail": "Incorrect email or password"})
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
    assert (response.status_code, response.json()) == (401, {"detail": "Incorrect email or password"})
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
    assert right.json() == {"detail": "Too many wrong passwords for this account lately; try again later"}
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
        ).status_code == 401
    for n in range(2):
        assert (await change_password(required_client, token, f"guess number {n}")).status_code == 403
    assert (await change_password(required_client, token, PASSWORD)).status_code == 429
    signing_in = await required_client.post("/auth/token", data={"username": JANE, "password": PASSWORD})
    assert (signing_in.status_code, signing_in.json()["detail"]) == (429, "Too many failed sign-ins; try again later")
