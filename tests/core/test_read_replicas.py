"""Reads on a streaming replica, writes on the primary, read-your-writes by WAL position, and replicas that fail.

One primary and one replica for the module (tests/replication.py: the
embedded binaries, `pg_basebackup -R`), whatever TEST_DATABASE_URL names.
The checks run every 0.1 s and tolerate a minute of lag, so that a replica
whose replay is paused stays in use: what the tests show is routing, not the
lag limit (test_a_replica_beyond_the_lag_limit_gets_no_reads has its own).
"""

import asyncio
import re
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from app.core.config import Settings
from app.core.database import Database, ReplicaUnavailable
from app.core.replicas import ReplicaSet, parse_wal_position
from app.main import create_app
from tests.helpers import TEST_SECRET_KEY, wait_until_async
from tests.replication import Replicated, primary_with_replica

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    with primary_with_replica() as pair:
        yield pair


@pytest.fixture(scope="module")
def replica_settings(replicated: Replicated) -> Settings:
    return Settings(
        _env_file=None,
        database_url=replicated.primary_url,
        database_replica_urls=[replicated.replica.url],
        replica_max_lag_seconds=60,
        replica_check_seconds=0.1,
        secret_key=SecretStr(TEST_SECRET_KEY),
        housekeeping_interval_seconds=0,
        metrics_enabled=True,
    )


@pytest.fixture(scope="module")
async def replicated_app(replica_settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(replica_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(replicated_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=replicated_app), base_url="http://test") as client:
        yield client


def replicas(app: FastAPI) -> ReplicaSet:
    replica_set: ReplicaSet = app.state.replicas
    return replica_set


async def reads_served(api: AsyncClient) -> dict[str, float]:
    """db_reads by database, from /metrics."""
    text = (await api.get("/metrics")).text
    return {name: float(count) for name, count in re.findall(r'^db_reads_total\{database="(\w+)"\} (\S+)$', text, re.M)}


async def served_by(api: AsyncClient, method: str, path: str, **kwargs: Any) -> tuple[Any, str]:
    """The answer to one request, and the database that served it (from the db_reads counter)."""
    before = await reads_served(api)
    response = await api.request(method, path, **kwargs)
    after = await reads_served(api)
    changed = [name for name in after if after[name] != before.get(name, 0)]
    assert len(changed) == 1, (before, after)
    return response, changed[0]


async def replayed(replicated: Replicated, position: str) -> bool:
    """Whether the replica has replayed the WAL up to `position`."""
    return bool(
        await asyncio.to_thread(replicated.replica.execute, f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn")
    )


async def test_reads_go_to_the_replica_and_writes_to_the_primary(api: AsyncClient, replicated: Replicated) -> None:
    before = await reads_served(api)
    created = await api.post("/users/", json={"name": "Ada", "age": 36})
    assert created.status_code == 201
    assert await reads_served(api) == before  # a write is no read
    position = created.headers["X-Read-After"]
    assert parse_wal_position(position) is not None
    await wait_until_async(lambda: replayed(replicated, position), "the replica to replay the sign-up")
    read, database = await served_by(api, "GET", f"/users/{created.json()['id']}")
    assert (read.status_code, read.json()["name"], database) == (200, "Ada", "replica1")
    head, database = await served_by(api, "HEAD", f"/users/{created.json()['id']}")
    assert (head.status_code, database) == (200, "replica1")


async def test_a_writer_reads_its_write_while_replay_is_paused_and_others_read_the_old_value(
    api: AsyncClient, replicated: Replicated, replicated_app: FastAPI
) -> None:
    created = await api.post("/users/", json={"name": "Before", "age": 40})
    user = created.json()
    await wait_until_async(lambda: replayed(replicated, created.headers["X-Read-After"]), "the sign-up replayed")
    await asyncio.to_thread(replicated.replica.execute, "SELECT pg_wal_replay_pause()")
    try:
        await wait_until_async(
            lambda: asyncio.to_thread(replicated.replica.execute, "SELECT pg_get_wal_replay_pause_state() = 'paused'"),
            "replay to pause",
        )
        updated = await api.put(f"/users/{user['id']}", json={"name": "After", "age": 41})
        assert updated.status_code == 200
        position = updated.headers["X-Read-After"]

        mine, database = await served_by(api, "GET", f"/users/{user['id']}", headers={"X-Read-After": position})
        assert (mine.json()["name"], database) == ("After", "primary")
        theirs, database = await served_by(api, "GET", f"/users/{user['id']}")
        assert (theirs.json()["name"], database) == ("Before", "replica1")
        assert replicas(replicated_app).replicas[0].state == "healthy"  # paused, within the lag allowed
    finally:
        await asyncio.to_thread(replicated.replica.execute, "SELECT pg_wal_replay_resume()")

    async def others_see_it() -> bool:
        return (await api.get(f"/users/{user['id']}")).json()["name"] == "After"

    await wait_until_async(others_see_it, "the replica to replay the update")

    async def writer_back_on_the_replica() -> bool:
        _, database = await served_by(api, "GET", f"/users/{user['id']}", headers={"X-Read-After": position})
        return database == "replica1"

    await wait_until_async(writer_back_on_the_replica, "a check to see the update replayed")


async def test_a_person_sees_the_user_they_added_on_the_page_they_are_sent_to(
    api: AsyncClient, replicated: Replicated
) -> None:
    created = await api.post("/users/", json={"name": "Cookie", "age": 30})
    assert "read_after" not in created.headers.get("set-cookie", "")  # the API answers with the header only
    page = await api.get("/app/users")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf is not None
    await asyncio.to_thread(replicated.replica.execute, "SELECT pg_wal_replay_pause()")
    try:
        posted = await api.post("/app/users", data={"csrf_token": csrf.group(1), "name": "Paged", "age": "30"})
        assert posted.status_code == 303
        assert re.search(
            r"read_after=[0-9A-F]+/[0-9A-F]+; Max-Age=62; Path=/app/; HttpOnly; SameSite=Lax",
            ",".join(posted.headers.get_list("set-cookie")),
        )
        shown, database = await served_by(api, "GET", posted.headers["location"])  # the cookie goes with it
        assert (shown.status_code, "Paged" in shown.text, database) == (200, True, "primary")
    finally:
        await asyncio.to_thread(replicated.replica.execute, "SELECT pg_wal_replay_resume()")


async def test_a_malformed_read_after_is_ignored(api: AsyncClient) -> None:
    user = (await api.post("/users/", json={"name": "Odd", "age": 30})).json()
    for value in ("not-a-position", "G/1", "1/2/3", "", "0/" + "F" * 40):
        response = await api.get(f"/users/{user['id']}", headers={"X-Read-After": value})
        assert response.status_code in (200, 404), value


async def test_ready_lists_the_replica_without_credentials(
    api: AsyncClient, replicated: Replicated, replicated_app: FastAPI
) -> None:
    await wait_until_async(lambda: replicas(replicated_app).replicas[0].state == "healthy", "a healthy replica")
    body = (await api.get("/health/ready")).json()
    assert body["status"] == "ready"
    [replica] = body["replicas"]
    assert replica["name"] == "replica1"
    assert replica["state"] == "healthy"
    assert (
        replica["url"] == f"postgresql://{replicated.replica.data_dir}:{replicated.replica.port}/portfolio_replicated"
    )
    assert "postgres@" not in replica["url"]


async def test_metrics_show_the_replica_lag(api: AsyncClient, replicated_app: FastAPI) -> None:
    await wait_until_async(lambda: replicas(replicated_app).replicas[0].state == "healthy", "a healthy replica")
    text = (await api.get("/metrics")).text
    assert re.search(r'^db_replica_lag_seconds\{replica="replica1"\} \d', text, re.M)
    assert re.search(r'^db_replica_healthy\{replica="replica1"\} 1\.0$', text, re.M)


async def test_stopping_the_replica_under_load_loses_no_request_and_promotes_nothing(
    api: AsyncClient, replicated: Replicated, replicated_app: FastAPI
) -> None:
    created = await api.post("/users/", json={"name": "Load", "age": 30})
    user = created.json()
    await wait_until_async(lambda: replayed(replicated, created.headers["X-Read-After"]), "the sign-up replayed")
    writes: list[tuple[int, str]] = []
    statuses: list[int] = []
    stopped = asyncio.Event()
    in_flight_when_stopped = 0

    async def reader() -> None:
        for _ in range(60):
            statuses.append((await api.get(f"/users/{user['id']}")).status_code)

    async def writer() -> None:
        for number in range(15):
            response = await api.post("/users/", json={"name": f"During {number}", "age": 30})
            statuses.append(response.status_code)
            writes.append((response.json()["id"], response.headers.get("X-Read-After", "")))

    async def stop_midway() -> None:
        nonlocal in_flight_when_stopped
        await wait_until_async(lambda: len(statuses) >= 40, "the load to be under way")
        in_flight_when_stopped = len(statuses)
        await asyncio.to_thread(replicated.replica.stop)
        stopped.set()

    await asyncio.gather(*(reader() for _ in range(4)), writer(), stop_midway())
    assert stopped.is_set() and in_flight_when_stopped < len(statuses)  # the stop came while requests ran
    assert statuses.count(200) + statuses.count(201) == len(statuses) == 4 * 60 + 15
    # The writer reads its writes with the replica gone: from the primary.
    for user_id, position in writes:
        read, database = await served_by(api, "GET", f"/users/{user_id}", headers={"X-Read-After": position})
        assert (read.status_code, database) == (200, "primary")
    assert replicas(replicated_app).replicas[0].state == "down"
    ready = (await api.get("/health/ready")).json()
    assert (ready["status"], ready["replicas"][0]["state"]) == ("ready", "down")

    await asyncio.to_thread(replicated.replica.start)
    await wait_until_async(lambda: replicas(replicated_app).replicas[0].state == "healthy", "the replica to recover")
    # Still a standby on the primary's timeline: nothing promoted it, nothing was written to it but the stream.
    assert await asyncio.to_thread(replicated.replica.execute, "SELECT pg_is_in_recovery()") is True
    assert await asyncio.to_thread(replicated.replica.execute, "SELECT timeline_id FROM pg_control_checkpoint()") == 1
    last_id, last_position = writes[-1]
    await wait_until_async(lambda: replayed(replicated, last_position), "the replica to catch up")
    read, database = await served_by(api, "GET", f"/users/{last_id}")
    assert (read.status_code, database) == (200, "replica1")


async def test_a_replica_beyond_the_lag_limit_gets_no_reads(replica_settings: Settings, replicated: Replicated) -> None:
    strict = replica_settings.model_copy(update={"replica_max_lag_seconds": 0.2})
    replica_set = ReplicaSet(strict)
    try:

        async def state() -> str:
            await replica_set.check()
            return replica_set.replicas[0].state

        await wait_until_async(lambda: _is(state(), "healthy"), "a healthy replica")
        await asyncio.to_thread(replicated.replica.execute, "SELECT pg_wal_replay_pause()")
        try:
            await asyncio.to_thread(replicated.on_primary, "CREATE TABLE lag_probe AS SELECT 1 AS x")

            await wait_until_async(lambda: _is(state(), "lagging"), "the paused replica to fall behind the limit")
            assert replica_set.choose(None) is None
        finally:
            await asyncio.to_thread(replicated.replica.execute, "SELECT pg_wal_replay_resume()")
            await asyncio.to_thread(replicated.on_primary, "DROP TABLE lag_probe")
    finally:
        await replica_set.dispose()


async def test_a_primary_named_as_a_replica_gets_no_reads(replica_settings: Settings, replicated: Replicated) -> None:
    mistaken = replica_settings.model_copy(update={"database_replica_urls": [replicated.primary_url]})
    replica_set = ReplicaSet(mistaken)
    try:
        await replica_set.check()
        assert replica_set.replicas[0].state == "not a replica"
        assert replica_set.choose(None) is None
    finally:
        await replica_set.dispose()


async def _is(state: Coroutine[Any, Any, str], expected: str) -> bool:
    return await state == expected


async def test_a_read_the_replica_fails_runs_again_on_the_primary(
    replica_settings: Settings, replicated: Replicated, caplog: pytest.LogCaptureFixture
) -> None:
    # Checked once, at start-up: the app still takes the replica for healthy when it stops.
    app = create_app(replica_settings.model_copy(update={"replica_check_seconds": 60}))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as api,
    ):
        created = await api.post("/users/", json={"name": "Retried", "age": 30})
        await wait_until_async(lambda: replayed(replicated, created.headers["X-Read-After"]), "the sign-up replayed")
        warm, database = await served_by(api, "GET", f"/users/{created.json()['id']}")  # a pooled replica connection
        assert (warm.status_code, database) == (200, "replica1")
        await asyncio.to_thread(replicated.replica.stop)
        try:
            assert replicas(app).replicas[0].state == "healthy"
            read, database = await served_by(api, "GET", f"/users/{created.json()['id']}")
            assert (read.status_code, read.json()["name"], database) == (200, "Retried", "primary")
            assert "runs again on the primary" in caplog.text
            assert replicas(app).replicas[0].state == "down"  # told by the request, before any check
            read, database = await served_by(api, "GET", f"/users/{created.json()['id']}")
            assert (read.status_code, database) == (200, "primary")
        finally:
            await asyncio.to_thread(replicated.replica.start)


async def test_a_replica_refusing_a_write_or_cancelling_a_slow_read_is_told_apart(
    replica_settings: Settings, replicated: Replicated
) -> None:
    replica = Database(replica_settings, replicated.replica.url, replica=True)
    try:
        async with replica.session() as session:
            # A write on a replica: the request goes to the primary; the replica is not down for it.
            with pytest.raises(ReplicaUnavailable) as refused:
                await (await session.connection()).execute(text("CREATE TABLE never_here (x int)"))
            assert refused.value.down is False
        async with replica.session() as session:
            # Its own statement timeout: the primary would cancel it too, so it is answered as there (a 503).
            await (await session.connection()).execute(text("SET statement_timeout = 10"))
            with pytest.raises(sa_exc.OperationalError):
                await (await session.connection()).execute(text("SELECT pg_sleep(1)"))
    finally:
        await replica.dispose()
    assert await asyncio.to_thread(replicated.replica.execute, "SELECT to_regclass('never_here')") is None


async def test_a_write_holding_the_last_free_connection_still_answers_its_position(
    replica_settings: Settings,
) -> None:
    # One connection per worker: the write's own session holds it until its answer is sent,
    # so its position must come from elsewhere than the line it is holding.
    app = create_app(replica_settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0}))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as api,
    ):
        user = (await api.post("/users/", json={"name": "Crowded", "age": 30})).json()
        added = await api.post(f"/users/{user['id']}/stocks/", json={"name": "AAPL", "price": 1, "quantity": 1})
        assert added.status_code == 201
        assert parse_wal_position(added.headers["X-Read-After"]) is not None
