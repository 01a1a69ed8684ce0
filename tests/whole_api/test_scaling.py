"""Past one process: several uvicorn workers, and PgBouncer in transaction mode in front of PostgreSQL."""

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.helpers import empty_every_table, libpq_url
from tests.processes import free_port, run_app, stop, wait_until_serving

PGBOUNCER = shutil.which("pgbouncer") or next(
    (path for path in ("/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer") if os.access(path, os.X_OK)), None
)

# Each test here starts processes or PostgreSQL clusters: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _empty_tables(database_url: str) -> Iterator[None]:
    yield
    empty_every_table(database_url)


async def exercise(base_url: str) -> None:
    """Every kind of statement, each well past psycopg's prepare threshold (5), some concurrently."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        user = (await client.post("/users/", json={"name": "John Doe", "age": 30})).json()
        stock_url = f"/users/{user['id']}/stocks/"
        created = await asyncio.gather(
            *(client.post(stock_url, json={"name": "AAPL", "price": 175.5, "quantity": n}) for n in range(1, 21))
        )
        assert [response.status_code for response in created] == [201] * 20
        stock_ids = [response.json()["id"] for response in created]

        reads = await asyncio.gather(
            *(client.get(f"/users/{user['id']}") for _ in range(20)),
            *(client.get("/stocks/", params={"limit": 5}) for _ in range(20)),
            *(client.get(f"/stocks/{stock_id}") for stock_id in stock_ids),
        )
        assert {response.status_code for response in reads} == {200}
        assert all(len(response.json()["stocks"]) == 20 for response in reads[:20])

        for stock_id in stock_ids[:10]:
            patched = await client.patch(f"/stocks/{stock_id}", json={"quantity": 7})
            assert (patched.status_code, patched.json()["quantity"]) == (200, 7)
            replaced = await client.put(f"/stocks/{stock_id}", json={"name": "MSFT", "price": 1, "quantity": 1})
            assert (replaced.status_code, replaced.json()["name"]) == (200, "MSFT")
            assert (await client.delete(f"/stocks/{stock_id}")).status_code == 204
        remaining = await client.get(f"/users/{user['id']}/stocks/")
        assert [stock["id"] for stock in remaining.json()] == sorted(stock_ids[10:])
        portfolio = await client.get(f"/users/{user['id']}/portfolio")
        held = sum(response.json()["quantity"] for response in created[10:])
        assert portfolio.json()["positions"][0]["quantity"] == held


def test_two_workers_serve_the_same_data(database_url: str) -> None:
    port = free_port()
    process = run_app({"DATABASE_URL": database_url, "PORT": str(port), "WORKERS": "2"})
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
        asyncio.run(exercise(f"http://127.0.0.1:{port}"))
        workers = {httpx.get(f"http://127.0.0.1:{port}/").status_code for _ in range(10)}
        assert workers == {200}
    finally:
        output = stop(process)
    assert output.count("Application startup complete") == 2, output


def pgbouncer_config(database_url: str, port: int, directory: Path) -> Path:
    """PgBouncer in transaction mode on 127.0.0.1:`port`, in front of the tests' database."""
    target = psycopg.conninfo.conninfo_to_dict(libpq_url(database_url))
    host = str(target.get("host") or "/tmp")
    server = " ".join(f"{key}={target[key]}" for key in ("port", "dbname", "user") if target.get(key))
    lines = [
        "[databases]",
        f"portfolio = host={host} {server}",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",
        # No authentication: the tests' server trusts loopback, and `user` is set above.
        "auth_type = any",
        "pool_mode = transaction",
        # Fewer server connections than the app's pool: transactions must share them.
        "default_pool_size = 2",
        # libpq `options` (our TimeZone and statement_timeout) cannot pass a
        # pooler; behind one they belong on the role (docs/explanation/scaling.md).
        "ignore_startup_parameters = options",
    ]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        socket_owner = Path(host).owner() if host.startswith("/") else "nobody"
        lines.append(f"user = {socket_owner}")
    config = directory / "pgbouncer.ini"
    config.write_text("\n".join(lines) + "\n")
    config.chmod(0o644)
    return config


@pytest.fixture
def pgbouncer() -> str:
    """PgBouncer's path; skipped where it is not installed, except in CI, which installs it (.ci/run)."""
    if PGBOUNCER is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed, and CI must run this test: .ci/run installs it")
        pytest.skip("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    return PGBOUNCER


def test_the_api_works_behind_pgbouncer_in_transaction_mode(database_url: str, pgbouncer: str) -> None:
    bouncer_port, app_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="portfolio-pgbouncer-") as scratch:
        os.chmod(scratch, 0o755)
        config = pgbouncer_config(database_url, bouncer_port, Path(scratch))
        bouncer = subprocess.Popen(
            [pgbouncer, str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        app = None
        try:
            bounced_url = f"postgresql://app@127.0.0.1:{bouncer_port}/portfolio"
            app = run_app({"DATABASE_URL": bounced_url, "PORT": str(app_port), "DB_PREPARED_STATEMENTS": "false"})
            wait_until_serving(f"http://127.0.0.1:{app_port}", app)
            asyncio.run(exercise(f"http://127.0.0.1:{app_port}"))
        finally:
            app_output = stop(app) if app is not None else ""
            bouncer.terminate()
            bouncer_output, _ = bouncer.communicate(timeout=10)
    assert "Traceback" not in app_output, app_output
    assert "ERROR" not in app_output, app_output
    assert "login failed" not in bouncer_output, bouncer_output
