"""Idempotency-Key with requests that commit for real: concurrent retries, a request that dies, pruning."""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response

from app.core.config import Settings
from app.core.database import Database
from app.idempotency.pruning import prune_expired_keys
from app.idempotency.repository import PRUNING_LOCK
from app.main import create_app
from app.ops.housekeeping import keep_house
from tests.helpers import AAPL, committed_connection, create_user, libpq_url, wait_until_async, waiting_for_a_lock
from tests.whole_api.test_query_counts import statements_sent

KEY = "retry-me-3f9a"
GUARD_SECONDS = 60


@pytest.fixture
def tables(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection in autocommit beside the app's; every table emptied after."""
    with committed_connection(database_url) as connection:
        yield connection


@pytest.fixture
async def observer(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as connection:
        yield connection


async def holding_the_users_row(database_url: str, user_id: int) -> psycopg.AsyncConnection[Any]:
    """A transaction that locks the user's row: a stock for them cannot be inserted (its foreign key) until it ends."""
    blocker = await psycopg.AsyncConnection.connect(libpq_url(database_url))
    await blocker.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", [user_id])
    return blocker


def stocks_of(connection: psycopg.Connection, user_id: int) -> int:
    (count,) = connection.execute("SELECT count(*) FROM stocks WHERE user_id = %s", [user_id]).fetchone() or (0,)
    return int(count)


def kept(connection: psycopg.Connection) -> list[tuple[Any, ...]]:
    return connection.execute("SELECT caller, key, status_code FROM idempotency_keys ORDER BY 1, 2").fetchall()


async def test_a_retry_while_the_first_still_runs_is_a_409_then_the_replay(
    committed_client: AsyncClient,
    tables: psycopg.Connection,
    observer: psycopg.AsyncConnection[Any],
    database_url: str,
) -> None:
    user = await create_user(committed_client)
    url = f"/users/{user['id']}/stocks/"
    blocker = await holding_the_users_row(database_url, user["id"])
    try:
        first = asyncio.create_task(committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY}))
        await waiting_for_a_lock(observer, 1)  # the first has claimed the key and is inserting
        meanwhile = await asyncio.wait_for(
            committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY}), GUARD_SECONDS
        )
        assert not first.done()  # the race happened: the retry was answered while the first was in flight
    finally:
        await blocker.rollback()
        await blocker.close()
    created = await asyncio.wait_for(first, GUARD_SECONDS)
    assert meanwhile.status_code == 409
    assert meanwhile.headers["retry-after"] == "1"
    assert "still being processed" in meanwhile.json()["detail"]
    assert created.status_code == 201
    replayed = await committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY})
    assert replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.content == created.content
    assert stocks_of(tables, user["id"]) == 1


async def test_many_at_once_with_one_key_create_exactly_once(
    committed_client: AsyncClient, tables: psycopg.Connection
) -> None:
    user = await create_user(committed_client)
    url = f"/users/{user['id']}/stocks/"
    answers: list[Response] = await asyncio.wait_for(
        asyncio.gather(*(committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY}) for _ in range(12))),
        GUARD_SECONDS,
    )
    fresh = [answer for answer in answers if answer.status_code == 201 and "idempotent-replayed" not in answer.headers]
    replays = [answer for answer in answers if answer.headers.get("idempotent-replayed") == "true"]
    refused = [answer for answer in answers if answer.status_code == 409]
    assert len(fresh) == 1
    assert len(fresh) + len(replays) + len(refused) == 12
    assert all(replay.content == fresh[0].content for replay in replays)
    assert stocks_of(tables, user["id"]) == 1


@pytest.fixture
async def impatient_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with statements stopped after a moment: a statement that waits on a lock is a 503, as in an outage."""
    app = create_app(settings.model_copy(update={"db_statement_timeout_ms": 300}))
    async with app.router.lifespan_context(app):
        yield app


async def test_a_503_in_the_handler_is_not_kept_and_the_retry_creates_once(
    impatient_app: FastAPI, tables: psycopg.Connection, database_url: str
) -> None:
    async with AsyncClient(transport=ASGITransport(app=impatient_app), base_url="http://test") as client:
        user = await create_user(client)
        url = f"/users/{user['id']}/stocks/"
        blocker = await holding_the_users_row(database_url, user["id"])
        try:
            sent = client.post(url, json=AAPL, headers={"Idempotency-Key": KEY})
            failed = await asyncio.wait_for(sent, GUARD_SECONDS)
        finally:
            await blocker.rollback()
            await blocker.close()
        assert failed.status_code == 503
        assert kept(tables) == []  # the claim released: nothing holds the key
        retried = await client.post(url, json=AAPL, headers={"Idempotency-Key": KEY})
        again = await client.post(url, json=AAPL, headers={"Idempotency-Key": KEY})
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert stocks_of(tables, user["id"]) == 1


async def test_a_claim_left_by_a_request_that_died_holds_until_its_time_is_up(
    committed_client: AsyncClient, tables: psycopg.Connection
) -> None:
    user = await create_user(committed_client)
    url = f"/users/{user['id']}/stocks/"
    # What a worker killed between the claim and the answer leaves behind.
    tables.execute(
        "INSERT INTO idempotency_keys (caller, key, request_hash, claim_id, expires_at, locked_until)"
        " VALUES ('address:127.0.0.1', %s, 'x', 'dead', now() + interval '1 day', now() + interval '1 minute')",
        [KEY],
    )
    assert (await committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY})).status_code == 409
    tables.execute("UPDATE idempotency_keys SET locked_until = now() - interval '1 second'")
    taken_over = await committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY})
    assert taken_over.status_code == 201
    assert "idempotent-replayed" not in taken_over.headers
    assert kept(tables) == [("address:127.0.0.1", KEY, 201)]


async def test_a_request_whose_claim_was_taken_over_does_not_overwrite_the_new_answer(
    committed_client: AsyncClient,
    tables: psycopg.Connection,
    observer: psycopg.AsyncConnection[Any],
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = await create_user(committed_client)
    url = f"/users/{user['id']}/stocks/"
    blocker = await holding_the_users_row(database_url, user["id"])
    try:
        slow = asyncio.create_task(committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY}))
        await waiting_for_a_lock(observer, 1)
        # Its claim outlived (a request slower than IN_FLIGHT_SECONDS), then taken by another claim.
        tables.execute("UPDATE idempotency_keys SET claim_id = 'other', status_code = 201, body = 'theirs'")
    finally:
        await blocker.rollback()
        await blocker.close()
    with caplog.at_level(logging.WARNING, logger="app.idempotency.middleware"):
        answered = await asyncio.wait_for(slow, GUARD_SECONDS)
    assert answered.status_code == 201  # the client still gets what was done
    assert tables.execute("SELECT body FROM idempotency_keys").fetchone() == (b"theirs",)
    assert "claim expired" in caplog.text


# ---------------------------------------------------------------- pruning


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    try:
        yield database
    finally:
        await database.dispose()


def keys_expiring(connection: psycopg.Connection, *expires_at: str) -> None:
    for n, moment in enumerate(expires_at):
        connection.execute(
            "INSERT INTO idempotency_keys (caller, key, request_hash, claim_id, expires_at, status_code)"
            f" VALUES ('user:1', %s, 'x', 'c', {moment}, 201)",
            [f"key-{n}"],
        )


async def test_pruning_deletes_the_expired_keys_and_nothing_else(
    tables: psycopg.Connection, database: Database
) -> None:
    keys_expiring(tables, "now() - interval '1 second'", "now() - interval '3 days'", "now() + interval '1 hour'")
    assert await prune_expired_keys(database, batch_size=1) == 2
    assert [row[0] for row in tables.execute("SELECT key FROM idempotency_keys")] == ["key-2"]
    assert await prune_expired_keys(database) == 0


async def test_pruning_leaves_the_work_to_the_instance_already_at_it(
    tables: psycopg.Connection, database: Database, database_url: str
) -> None:
    keys_expiring(tables, "now() - interval '1 second'")
    with psycopg.connect(libpq_url(database_url)) as other_instance:
        other_instance.execute("SELECT pg_advisory_xact_lock(%s)", [PRUNING_LOCK])
        assert await prune_expired_keys(database) is None
    assert await prune_expired_keys(database) == 1


async def test_housekeeping_runs_every_job_even_when_one_fails() -> None:
    ran: list[str] = []

    async def failing() -> None:
        ran.append("failing")
        raise RuntimeError("a bug in one job")

    async def pruning() -> None:
        ran.append("pruning")

    housekeeping = asyncio.create_task(keep_house([failing, pruning], 0.001))
    try:
        await wait_until_async(lambda: ran.count("pruning") >= 2, "two passes of both jobs")
    finally:
        housekeeping.cancel()
    assert ran[:4] == ["failing", "pruning", "failing", "pruning"]


# ---------------------------------------------------------------- cost


async def test_a_key_costs_two_statements_and_no_key_costs_none(
    app: FastAPI, committed_client: AsyncClient, tables: psycopg.Connection
) -> None:
    user = await create_user(committed_client)
    url = f"/users/{user['id']}/stocks/"
    with statements_sent(app) as without_a_key:
        assert (await committed_client.post(url, json=AAPL)).status_code == 201
    with statements_sent(app) as first:
        assert (await committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY})).status_code == 201
    with statements_sent(app) as replay:
        assert (await committed_client.post(url, json=AAPL, headers={"Idempotency-Key": KEY})).status_code == 201
    # The claim (an INSERT ... ON CONFLICT in a WITH), the handler's own, then keeping the answer.
    assert first == ["WITH", *without_a_key, "UPDATE"]
    assert replay == ["WITH"]  # the claim finds the answer; the handler never runs
