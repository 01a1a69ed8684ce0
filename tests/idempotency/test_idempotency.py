"""Idempotency-Key on creating POSTs: replays, refusals, which answers are kept, and for whom (app/idempotency/)."""

import hashlib
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.conftest import client_in_transaction
from tests.helpers import AAPL, JOHN, admin_token, bearer, create_stock, create_user, sign_in, sign_up

KEY = "5b7c2a4e-0f7d-4c1e-9d8a-0f1e2d3c4b5a"


def keyed(key: str = KEY, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **headers}


async def kept_keys(session: AsyncSession) -> list[tuple[Any, ...]]:
    rows = await session.exec(text("SELECT caller, key, status_code FROM idempotency_keys ORDER BY caller, key"))  # type: ignore[call-overload]
    return [tuple(row) for row in rows]


async def count(session: AsyncSession, table: str) -> int:
    return (await session.exec(text(f"SELECT count(*) FROM {table}"))).scalar_one()  # type: ignore[call-overload]


async def test_the_same_post_with_the_same_key_creates_once_and_replays_the_first_answer(
    client: AsyncClient, session: AsyncSession
) -> None:
    first = await client.post("/users/", json=JOHN, headers=keyed())
    again = await client.post("/users/", json=JOHN, headers=keyed())
    assert first.status_code == again.status_code == 201
    assert again.content == first.content  # byte for byte
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["x-request-id"] != first.headers["x-request-id"]  # each request's own
    assert await count(session, "users") == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/users/{user_id}/stocks/", AAPL),
        ("/stocks/{stock_id}/transactions", {"type": "buy", "occurred_on": "2024-01-02", "quantity": 1, "price": 10}),
    ],
)
async def test_each_creating_post_of_a_holding_replays(
    client: AsyncClient, session: AsyncSession, path: str, body: dict[str, Any]
) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    url = path.format(user_id=user["id"], stock_id=stock["id"])
    first = await client.post(url, json=body, headers=keyed())
    again = await client.post(url, json=body, headers=keyed())
    assert first.status_code == again.status_code == 201, first.text
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    for header in ("location", "etag"):
        assert again.headers.get(header) == first.headers.get(header)
    # One holding made before, and one made or recorded by the keyed POSTs (each holding has its opening buy).
    assert (await count(session, "stocks"), await count(session, "transactions")) == (
        (1, 2) if url.endswith("transactions") else (2, 2)
    )


async def test_a_price_import_replays(client: AsyncClient, session: AsyncSession) -> None:
    csv = "Date,Close\n2024-01-02,185.64\n"
    headers = keyed(**{"Content-Type": "text/csv"})
    first = await client.post("/prices/import?symbol=AAPL", content=csv, headers=headers)
    again = await client.post("/prices/import?symbol=AAPL", content=csv, headers=headers)
    assert first.status_code == again.status_code == 200, first.text
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    # The same key on another symbol is another request.
    other = await client.post("/prices/import?symbol=MSFT", content=csv, headers=headers)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.text


async def test_the_same_key_with_another_body_is_a_422_naming_the_header(
    client: AsyncClient, session: AsyncSession
) -> None:
    assert (await client.post("/users/", json=JOHN, headers=keyed())).status_code == 201
    response = await client.post("/users/", json={**JOHN, "age": 31}, headers=keyed())
    assert response.status_code == 422
    assert "Idempotency-Key" in response.text
    assert await count(session, "users") == 1


async def test_the_same_key_on_another_path_is_a_422(client: AsyncClient) -> None:
    user = (await client.post("/users/", json=JOHN, headers=keyed())).json()
    response = await client.post(f"/users/{user['id']}/stocks/", json=JOHN, headers=keyed())
    assert response.status_code == 422
    assert "Idempotency-Key" in response.text


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there"])
async def test_a_key_that_is_not_1_to_255_printable_ascii_is_a_422_naming_the_header(
    client: AsyncClient, session: AsyncSession, key: str
) -> None:
    response = await client.post("/users/", json=JOHN, headers=[(b"Idempotency-Key", key.encode("latin-1"))])
    assert response.status_code == 422
    assert "Idempotency-Key" in response.text
    assert await count(session, "users") == 0


async def test_a_key_of_255_printable_characters_is_taken(client: AsyncClient) -> None:
    key = "!" + "".join(chr(32 + i % 95) for i in range(253)) + "~"  # every printable character, space inside
    assert (await client.post("/users/", json=JOHN, headers=keyed(key))).status_code == 201
    assert (await client.post("/users/", json=JOHN, headers=keyed(key))).headers["idempotent-replayed"] == "true"


async def test_without_a_key_nothing_is_kept_and_each_post_creates(client: AsyncClient, session: AsyncSession) -> None:
    await client.post("/users/", json=JOHN)
    await client.post("/users/", json=JOHN)
    assert await count(session, "users") == 2
    assert await kept_keys(session) == []


async def test_an_error_answer_is_not_kept_so_the_retry_runs_again(client: AsyncClient, session: AsyncSession) -> None:
    missing = await client.post("/users/1/stocks/", json=AAPL, headers=keyed())
    assert missing.status_code == 404
    assert await kept_keys(session) == []
    user = await create_user(client)
    retried = await client.post(f"/users/{user['id']}/stocks/", json=AAPL, headers=keyed())
    assert retried.status_code == 201  # a new request under the freed key
    assert "idempotent-replayed" not in retried.headers


async def test_a_validation_422_is_not_kept(client: AsyncClient, session: AsyncSession) -> None:
    invalid = await client.post("/users/", json={"name": "jo"}, headers=keyed())
    assert invalid.status_code == 422
    assert "name" in invalid.text
    assert await kept_keys(session) == []
    assert (await client.post("/users/", json={"name": "Jo Doe"}, headers=keyed())).status_code == 201


async def test_the_first_answer_is_kept_for_24_hours(client: AsyncClient, session: AsyncSession) -> None:
    await client.post("/users/", json=JOHN, headers=keyed())
    lifetime = (
        await session.exec(text("SELECT expires_at - created_at, locked_until FROM idempotency_keys"))  # type: ignore[call-overload]
    ).one()
    assert str(lifetime[0]) == "1 day, 0:00:00"
    assert lifetime[1] is None  # no longer in flight


async def test_an_expired_key_is_a_new_key(client: AsyncClient, session: AsyncSession) -> None:
    await client.post("/users/", json=JOHN, headers=keyed())
    await session.exec(text("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'"))  # type: ignore[call-overload]
    response = await client.post("/users/", json={**JOHN, "age": 40}, headers=keyed())
    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers
    assert await count(session, "users") == 2


# ---------------------------------------------------------------- per caller


async def test_anonymous_callers_keys_are_their_address_own(app: FastAPI, connection: AsyncConnection) -> None:
    async with (
        client_in_transaction(app, connection, "192.0.2.1") as here,
        client_in_transaction(app, connection, "192.0.2.2") as there,
    ):
        first = await here.post("/users/", json=JOHN, headers=keyed())
        elsewhere = await there.post("/users/", json=JOHN, headers=keyed())
        assert first.status_code == elsewhere.status_code == 201
        assert "idempotent-replayed" not in elsewhere.headers
        assert elsewhere.json()["id"] != first.json()["id"]


async def test_a_users_kept_answer_is_never_replayed_to_another_caller(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    admin = bearer(await admin_token(required_client, required_app, session))
    admin_id = (await required_client.get("/users/me", headers=admin)).json()["id"]
    alice = await sign_up(required_client, "alice@example.com")
    alice_token = bearer((await sign_in(required_client, "alice@example.com"))["access_token"])
    url = f"/users/{alice['id']}/stocks/"
    mine = await required_client.post(url, json=AAPL, headers={**keyed(), **alice_token})
    # The admin, the same key and the same request: theirs is another key, so it creates.
    theirs = await required_client.post(url, json=AAPL, headers={**keyed(), **admin})
    anonymous = await required_client.post(url, json=AAPL, headers=keyed())
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert anonymous.status_code == 401
    assert {caller for caller, _, _ in await kept_keys(session)} == {f"user:{alice['id']}", f"user:{admin_id}"}


async def test_a_refreshed_token_is_the_same_caller(required_client: AsyncClient, session: AsyncSession) -> None:
    alice = await sign_up(required_client, "alice@example.com")
    pair = await sign_in(required_client, "alice@example.com")
    url = f"/users/{alice['id']}/stocks/"
    first = await required_client.post(url, json=AAPL, headers={**keyed(), **bearer(pair["access_token"])})
    refreshed = (await required_client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).json()
    again = await required_client.post(url, json=AAPL, headers={**keyed(), **bearer(refreshed["access_token"])})
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert await count(session, "stocks") == 1


async def test_a_sign_up_replays_to_the_same_address_in_auth_required(
    required_client: AsyncClient, session: AsyncSession
) -> None:
    body = {**JOHN, "email": "jo@example.com", "password": "correct horse battery staple"}
    first = await required_client.post("/users/", json=body, headers=keyed())
    again = await required_client.post("/users/", json=body, headers=keyed())
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert "password" not in again.text
    assert await kept_keys(session) == [("address:127.0.0.1", KEY, 201)]


async def test_a_sign_ups_kept_fingerprint_cannot_be_recomputed_from_its_password(
    required_client: AsyncClient, session: AsyncSession
) -> None:
    """The fingerprint of a body holding a password is keyed: a copy of the table alone is no fast hash to guess at."""
    body = b'{"name": "John Doe", "email": "jo@example.com", "password": "correct horse battery staple"}'
    headers = keyed(**{"Content-Type": "application/json"})
    assert (await required_client.post("/users/", content=body, headers=headers)).status_code == 201
    kept = (await session.exec(text("SELECT request_hash FROM idempotency_keys"))).scalar_one()  # type: ignore[call-overload]
    unkeyed = hashlib.sha256()
    for part in (b"POST", b"/users/", b""):
        unkeyed.update(len(part).to_bytes(8, "big") + part)
    unkeyed.update(body)
    assert kept != unkeyed.hexdigest()
    assert b"correct horse" not in bytes.fromhex(kept)
    assert (await required_client.post("/users/", content=body, headers=headers)).headers[
        "idempotent-replayed"
    ] == "true"


# ---------------------------------------------------------------- OpenAPI


async def test_the_openapi_lists_the_header_the_409_and_the_replay_header_on_each_creating_post(
    client: AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    # Not POST /users/me/tokens: a kept answer is stored in the table, and its answer holds the token itself.
    creating = {
        ("/users/", "post"),
        ("/users/{user_id}/stocks/", "post"),
        ("/stocks/{stock_id}/transactions", "post"),
        ("/prices/import", "post"),
    }
    with_the_header = {
        (path, method)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if any(parameter["name"] == "Idempotency-Key" for parameter in operation.get("parameters", []))
    }
    assert with_the_header == creating
    for path, method in creating:
        operation = paths[path][method]
        [parameter] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert parameter["in"] == "header" and not parameter.get("required", False)
        key_schema = parameter["schema"]  # a string, never null (a generated client would send None)
        assert (key_schema["type"], key_schema["minLength"], key_schema["maxLength"]) == ("string", 1, 255)
        assert "Retry-After" in operation["responses"]["409"]["headers"]
        assert "Idempotency-Key" in operation["responses"]["409"]["description"]
        success = next(answer for status, answer in operation["responses"].items() if status.startswith("2"))
        assert "Idempotent-Replayed" in success["headers"]


async def test_with_auth_required_the_same_key_with_another_body_is_a_422_and_the_first_is_replayed(
    required_client: AsyncClient, session: AsyncSession
) -> None:
    alice = await sign_up(required_client, "alice@example.com")
    token = bearer((await sign_in(required_client, "alice@example.com"))["access_token"])
    url = f"/users/{alice['id']}/stocks/"
    first = await required_client.post(url, json=AAPL, headers={**keyed(), **token})
    other = await required_client.post(url, json={**AAPL, "quantity": 11}, headers={**keyed(), **token})
    again = await required_client.post(url, json=AAPL, headers={**keyed(), **token})
    assert first.status_code == 201
    assert other.status_code == 422
    assert "Idempotency-Key" in other.text
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(session, "stocks") == 1
