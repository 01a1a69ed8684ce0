"""GET /metrics: scraped and parsed as Prometheus would, counts checked after known traffic."""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.config import Settings
from app.main import create_app
from tests.conftest import client_in_transaction
from tests.helpers import JOHN, PASSWORD, create_user, empty_every_table, libpq_url, sign_up
from tests.processes import free_port, run_app, stop, wait_until_serving

TOKEN = "a-metrics-token-long-enough"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a labelled series not seen yet (as Prometheus' increase() reads it)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


@asynccontextmanager
async def running(settings: Settings, **overrides: object) -> AsyncIterator[FastAPI]:
    app = create_app(settings.model_copy(update={"metrics_enabled": True, **overrides}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def metrics_app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running(settings) as app:
        yield app


@pytest.fixture
async def metrics_client(metrics_app: FastAPI, connection: AsyncConnection) -> AsyncIterator[AsyncClient]:
    async with client_in_transaction(metrics_app, connection) as client:
        yield client


async def test_requests_are_counted_and_timed_by_route_template_and_status(metrics_client: AsyncClient) -> None:
    user = await create_user(metrics_client)
    before = await scrape(metrics_client)
    for _ in range(3):
        assert (await metrics_client.get(f"/users/{user['id']}")).status_code == 200
    assert (await metrics_client.get("/users/999999")).status_code == 404
    assert (await metrics_client.get("/no/such/path")).status_code == 404
    after = await scrape(metrics_client)

    def increase(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    found = {"method": "GET", "route": "/users/{user_id}", "status": "200"}
    assert increase("http_requests_total", **found) == 3
    assert increase("http_request_duration_seconds_count", **found) == 3
    assert increase("http_request_duration_seconds_bucket", **found, le="+Inf") == 3
    assert increase("http_request_duration_seconds_sum", **found) > 0
    assert increase("http_requests_total", method="GET", route="/users/{user_id}", status="404") == 1
    assert increase("http_requests_total", method="GET", route="unmatched", status="404") == 1
    # The scrapes count themselves nowhere.
    assert not [key for key in after if ("route", "/metrics") in key[1]]


async def test_made_up_methods_share_one_label(metrics_client: AsyncClient) -> None:
    before = await scrape(metrics_client)
    for method in ("BREW", "WHEN"):
        await metrics_client.request(method, "/users/")
    after = await scrape(metrics_client)
    labels = {"method": "OTHER", "route": "/users/", "status": "405"}
    assert value(after, "http_requests_total", **labels) - value(before, "http_requests_total", **labels) == 2


async def test_wrong_and_throttled_sign_ins_are_counted(metrics_client: AsyncClient) -> None:
    await sign_up(metrics_client, "jane@example.com")
    before = await scrape(metrics_client)
    wrong = {"username": "jane@example.com", "password": "not the password"}
    assert (await metrics_client.post("/auth/token", data=wrong)).status_code == 400
    middle = await scrape(metrics_client)
    assert value(middle, "auth_login_failures_total") - value(before, "auth_login_failures_total") == 1
    assert value(middle, "auth_logins_throttled_total") == value(before, "auth_logins_throttled_total")
    for _ in range(4):  # five failures in all: the next try is throttled
        assert (await metrics_client.post("/auth/token", data=wrong)).status_code == 400
    right = {"username": "jane@example.com", "password": PASSWORD}
    assert (await metrics_client.post("/auth/token", data=right)).status_code == 429
    after = await scrape(metrics_client)
    assert value(after, "auth_login_failures_total") - value(before, "auth_login_failures_total") == 5
    assert value(after, "auth_logins_throttled_total") - value(before, "auth_logins_throttled_total") == 1


async def test_the_connection_line_is_shown(metrics_app: FastAPI, metrics_client: AsyncClient) -> None:
    samples = await scrape(metrics_client)
    assert value(samples, "db_pool_size") == 8
    assert value(samples, "db_pool_requests_waiting") == 0
    database = metrics_app.state.database
    async with database.session() as session:
        await session.connection()
        held = await scrape(metrics_client)
    # The test client's requests run on the test's own connection; this one is the pool's.
    assert value(held, "db_pool_connections_in_use") == value(samples, "db_pool_connections_in_use") + 1


@contextmanager
def row_locked(url: str, user_id: int) -> Iterator[None]:
    """Hold a lock on one user's row from another connection until the block ends."""
    with psycopg.connect(libpq_url(url)) as locker:
        locker.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", [user_id])
        yield


async def test_a_statement_timeout_is_counted(settings: Settings, engine: AsyncEngine) -> None:
    async with (
        running(settings, db_statement_timeout_ms=300) as app,
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        try:
            user = await create_user(client)
            before = await scrape(client)
            with row_locked(settings.database_url or "", user["id"]):
                # Blocked on the lock past 300 ms: PostgreSQL cancels the statement.
                assert (await client.delete(f"/users/{user['id']}")).status_code == 503
            after = await scrape(client)
        finally:
            async with engine.begin() as connection:
                await connection.exec_driver_sql("TRUNCATE users RESTART IDENTITY CASCADE")
    assert value(after, "db_statement_timeouts_total") - value(before, "db_statement_timeouts_total") == 1


async def test_off_unless_enabled(client: AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


async def test_metrics_are_not_in_the_openapi(metrics_client: AsyncClient) -> None:
    assert "/metrics" not in (await metrics_client.get("/openapi.json")).json()["paths"]


async def test_with_a_token_only_the_bearer_of_it_may_scrape(settings: Settings) -> None:
    async with (
        running(settings, metrics_token=SecretStr(TOKEN)) as app,
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}):
            refused = await client.get("/metrics", headers=headers)
            assert (refused.status_code, refused.headers["www-authenticate"]) == (401, 'Bearer realm="metrics"')
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 200


def test_reachable_from_other_machines_it_needs_a_token() -> None:
    base = {"_env_file": None, "metrics_enabled": True, "secret_key": SecretStr("k" * 32)}
    with pytest.raises(ValidationError, match=r"METRICS_ENABLED with HOST is 0\.0\.0\.0 needs METRICS_TOKEN"):
        Settings(**base, host="0.0.0.0")  # type: ignore[arg-type]  # _env_file is pydantic-settings' own
    with pytest.raises(ValidationError, match="METRICS_ENABLED with TRUSTED_PROXIES is set needs METRICS_TOKEN"):
        Settings(**base, trusted_proxies=["127.0.0.1"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(**base, host="0.0.0.0", metrics_token=SecretStr("short"))  # type: ignore[arg-type]
    assert Settings(**base, host="0.0.0.0", metrics_token=SecretStr(TOKEN)).exposed  # type: ignore[arg-type]
    assert not Settings(**base).exposed  # type: ignore[arg-type]


@pytest.mark.slow  # a real server with two worker processes
def test_with_two_workers_the_counts_add_up_across_them(database_url: str) -> None:
    port = free_port()
    environment = {
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "WORKERS": "2",
        "METRICS_ENABLED": "true",
        "LOG_LEVEL": "warning",
        "HOUSEKEEPING_INTERVAL_SECONDS": "0",
    }
    process = run_app(environment, "serve", "--no-migrate")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url, process)
        with httpx.Client(base_url=base_url, timeout=30) as client:
            user = client.post("/users/", json={**JOHN, "email": "jane@example.com", "password": PASSWORD}).json()
            requests = 40
            # A new connection each time, so that both workers serve some.
            for _ in range(requests):
                with httpx.Client(base_url=base_url, timeout=30) as fresh:
                    assert fresh.get(f"/users/{user['id']}").status_code == 200
            for _ in range(10):
                with httpx.Client(base_url=base_url, timeout=30) as fresh:
                    response = fresh.get("/metrics")
                assert response.status_code == 200
                samples = parse(response.text)
                labels = {"method": "GET", "route": "/users/{user_id}", "status": "200"}
                assert value(samples, "http_requests_total", **labels) == requests
                assert value(samples, "http_request_duration_seconds_count", **labels) == requests
                # Both workers' pools of DB_POOL_SIZE (8): each worker's gauge, summed.
                assert value(samples, "db_pool_size") == 16
            failed = client.post("/auth/token", data={"username": "jane@example.com", "password": "not it at all"})
            assert failed.status_code == 400
            assert value(parse(client.get("/metrics").text), "auth_login_failures_total") == 1
    finally:
        output = stop(process)
        empty_every_table(database_url)
    assert "Traceback" not in output, output
