"""Statements per request are fixed, whatever the number of rows: no N+1 can come back unnoticed.

These run on the app's own engine (committed_client), so they count exactly
what production sends, BEGIN and COMMIT included if there were any.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kit.fields import today
from tests.helpers import create_user

pytestmark = pytest.mark.usefixtures("committed_client")


@contextmanager
def statements_sent(app: FastAPI) -> Iterator[list[str]]:
    """The first word of every SQL statement the app sends meanwhile: SELECT, INSERT, ..."""
    statements: list[str] = []

    def log(conn, cursor, statement, *_) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    engine = app.state.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", log)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", log)


async def user_holding(client: AsyncClient, engine: AsyncEngine, stocks: int) -> int:
    """A new user's id, with `stocks` stocks inserted directly (fast, and not counted)."""
    user_id = (await create_user(client))["id"]
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO stocks (name, price, quantity, user_id) "
            f"SELECT 'S' || n, n, n, {int(user_id)} FROM generate_series(1, {int(stocks)}) AS n"
        )
    return user_id


@pytest.mark.parametrize("stocks", [0, 1, 150])
async def test_a_user_with_their_stocks_is_one_statement(
    app: FastAPI, committed_client: AsyncClient, engine: AsyncEngine, stocks: int
) -> None:
    user_id = await user_holding(committed_client, engine, stocks)
    with statements_sent(app) as statements:
        response = await committed_client.get(f"/users/{user_id}")
    assert response.status_code == 200
    assert len(response.json()["stocks"]) == stocks
    assert statements == ["SELECT"]


@pytest.mark.parametrize("stocks", [1, 150])
async def test_a_page_of_stocks_is_one_statement_and_counting_is_one_more(
    app: FastAPI, committed_client: AsyncClient, engine: AsyncEngine, stocks: int
) -> None:
    await user_holding(committed_client, engine, stocks)
    with statements_sent(app) as statements:
        response = await committed_client.get("/stocks/", params={"limit": 100})
    assert len(response.json()) == min(stocks, 100)
    assert statements == ["SELECT"]

    with statements_sent(app) as statements:
        response = await committed_client.get("/stocks/", params={"limit": 100}, headers={"Prefer": "count=exact"})
    assert response.headers["X-Total-Count"] == str(stocks)
    assert statements == ["SELECT", "SELECT"]


@pytest.mark.parametrize("stocks", [1, 150])
async def test_a_page_of_a_users_stocks_checks_the_user_then_reads_the_page(
    app: FastAPI, committed_client: AsyncClient, engine: AsyncEngine, stocks: int
) -> None:
    user_id = await user_holding(committed_client, engine, stocks)
    with statements_sent(app) as statements:
        response = await committed_client.get(f"/users/{user_id}/stocks/", params={"limit": 100})
    assert len(response.json()) == min(stocks, 100)
    assert statements == ["SELECT", "SELECT"]


async def test_a_page_of_users_is_one_statement(app: FastAPI, committed_client: AsyncClient) -> None:
    for _ in range(3):
        await create_user(committed_client)
    with statements_sent(app) as statements:
        response = await committed_client.get("/users/", params={"limit": 2})
    assert len(response.json()) == 2
    assert statements == ["SELECT"]


async def test_writes_are_one_statement_each(app: FastAPI, committed_client: AsyncClient) -> None:
    user = await create_user(committed_client)
    body = {"name": "AAPL", "price": 175.5, "quantity": 10}

    # A holding's writes carry their ledger entry (the opening buy, an adjustment) in the same
    # statement, a data-modifying CTE: `WITH s AS (INSERT/UPDATE ...), t AS (INSERT INTO transactions ...)`.
    with statements_sent(app) as statements:
        stock = (await committed_client.post(f"/users/{user['id']}/stocks/", json=body)).json()
    assert statements == ["WITH"]

    with statements_sent(app) as statements:
        assert (await committed_client.put(f"/stocks/{stock['id']}", json=body)).status_code == 200
    assert statements == ["WITH"]

    with statements_sent(app) as statements:
        assert (await committed_client.patch(f"/stocks/{stock['id']}", json={"quantity": 5})).status_code == 200
    assert statements == ["WITH"]

    with statements_sent(app) as statements:  # neither quantity nor price: no entry possible, the plain UPDATE
        assert (await committed_client.patch(f"/stocks/{stock['id']}", json={"is_active": False})).status_code == 200
    assert statements == ["UPDATE"]

    with statements_sent(app) as statements:  # a PATCH that changes nothing reads the row
        assert (await committed_client.patch(f"/stocks/{stock['id']}", json={})).status_code == 200
    assert statements == ["SELECT"]

    with statements_sent(app) as statements:
        assert (await committed_client.delete(f"/stocks/{stock['id']}")).status_code == 204
    assert statements == ["DELETE"]


async def test_a_ledger_write_locks_the_holding_inserts_and_moves_it(
    app: FastAPI, committed_client: AsyncClient
) -> None:
    """In one transaction (BEGIN and COMMIT go by the driver, uncounted): lock the holding, then read its last day
    (a statement of its own, so a write that waited for the lock sees what the one before it wrote); a backdated
    one reads the ledger too."""
    user = await create_user(committed_client)
    body = {"name": "AAPL", "price": 10, "quantity": 10}
    stock = (await committed_client.post(f"/users/{user['id']}/stocks/", json=body)).json()
    url = f"/stocks/{stock['id']}/transactions"
    buy = {"type": "buy", "occurred_on": today().isoformat(), "quantity": 5, "price": 20}
    with statements_sent(app) as statements:
        assert (await committed_client.post(url, json=buy)).status_code == 201
    assert statements == ["SELECT", "SELECT", "INSERT", "UPDATE"]

    backdated = {**buy, "occurred_on": (today() - timedelta(days=400)).isoformat()}
    with statements_sent(app) as statements:
        assert (await committed_client.post(url, json=backdated)).status_code == 201
    assert statements == ["SELECT", "SELECT", "SELECT", "INSERT", "UPDATE"]


@pytest.mark.parametrize("stocks", [0, 1, 150])
async def test_a_valuation_and_a_performance_are_two_statements_whatever_the_holdings(
    app: FastAPI, committed_client: AsyncClient, stocks: int
) -> None:
    """The ledger (the user checked in the same statement), then the closes: never one statement per holding or day."""
    user = await create_user(committed_client)
    for number in range(stocks):
        body = {"name": f"S{number}", "price": 10, "quantity": 10}
        assert (await committed_client.post(f"/users/{user['id']}/stocks/", json=body)).status_code == 201
    # The ledger, then (when anything is held) the closes: a SELECT for the valuation, a WITH for every day's value.
    ledger = ["SELECT"]
    with statements_sent(app) as statements:
        response = await committed_client.get(f"/users/{user['id']}/portfolio", params={"as_of": today().isoformat()})
    assert len(response.json()["positions"]) == stocks
    assert statements == ledger + (["SELECT"] if stocks else [])
    with statements_sent(app) as statements:
        assert (await committed_client.get(f"/users/{user['id']}/performance")).status_code == 200
    assert statements == ledger + (["WITH"] if stocks else [])


@pytest.mark.parametrize(("users", "stocks"), [(1, 0), (1, 150), (20, 30)])
async def test_the_users_page_is_two_statements_whatever_the_users_hold(
    app: FastAPI, committed_client: AsyncClient, engine: AsyncEngine, users: int, stocks: int
) -> None:
    """A page of users, then every shown user's holdings and values at once: never a statement per user."""
    for _ in range(users):
        await user_holding(committed_client, engine, stocks)
    with statements_sent(app) as statements:
        response = await committed_client.get("/app/users")
    assert response.status_code == 200
    assert response.text.count("<tr data-user=") == users
    assert statements == ["SELECT", "SELECT"]


async def test_a_personal_token_costs_one_statement_and_a_jwt_none(
    app: FastAPI, committed_client: AsyncClient, engine: AsyncEngine
) -> None:
    """GET /users/{id}: a JWT is checked without the database; a personal token is one lookup (its use noted in it)."""
    user_id = await user_holding(committed_client, engine, 1)
    jwt = {"Authorization": f"Bearer {app.state.access_tokens.issue(user_id, is_admin=False)}"}
    created = await committed_client.post(
        "/users/me/tokens", json={"name": "bench", "scopes": ["read"], "expires_in_days": 1}, headers=jwt
    )
    assert created.status_code == 201
    personal = {"Authorization": f"Bearer {created.json()['token']}"}

    with statements_sent(app) as statements:
        assert (await committed_client.get(f"/users/{user_id}", headers=jwt)).status_code == 200
    assert statements == ["SELECT"]
    for _ in range(2):  # the first use notes it, the second (within the minute) does not: one statement either way
        with statements_sent(app) as statements:
            assert (await committed_client.get(f"/users/{user_id}", headers=personal)).status_code == 200
        assert statements == ["WITH", "SELECT"]
    async with engine.connect() as connection:
        noted = await connection.exec_driver_sql("SELECT last_used_at IS NOT NULL FROM personal_access_tokens")
        assert noted.scalar_one() is True
