"""`python -m app` as a user runs it: a real process, a real port on loopback, real signals."""

import signal

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.processes import STARTUP_GUARD_SECONDS, free_port, run_app, stop, wait_until_serving

# Each test here starts processes or PostgreSQL clusters: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow


def test_python_m_app_migrates_serves_and_stops_on_sigterm(database_url: str) -> None:
    port = free_port()
    # Trust auth ignores the password; it is there to prove it never reaches the log.
    with_password = make_url(database_url).set(password="not-logged").render_as_string(hide_password=False)
    assert "not-logged" in with_password
    process = run_app({"DATABASE_URL": with_password, "PORT": str(port), "HOST": "127.0.0.1"})
    try:
        health = wait_until_serving(f"http://127.0.0.1:{port}", process)
        assert health.status_code == 200
        assert health.json()["database"] == "connected"
    finally:
        output = stop(process)
    assert process.returncode in (0, 128 + signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "not-logged" not in output


def test_a_bad_database_url_stops_start_up_with_one_line() -> None:
    process = run_app({"DATABASE_URL": "mysql://root@localhost/app"})
    output, _ = process.communicate(timeout=STARTUP_GUARD_SECONDS)
    assert process.returncode == 2
    assert (
        output.strip() == "Invalid setting DATABASE_URL: must be a PostgreSQL URL (postgresql://...), not mysql://..."
    )


def test_an_unreachable_database_stops_start_up_with_a_clear_error() -> None:
    process = run_app({"DATABASE_URL": f"postgresql://u:pw-secret@127.0.0.1:{free_port()}/app"})
    output, _ = process.communicate(timeout=STARTUP_GUARD_SECONDS)
    assert process.returncode == 1
    assert "Cannot reach the database at postgresql+psycopg://u:***@127.0.0.1:" in output
    assert "pw-secret" not in output


def test_without_database_url_an_embedded_postgres_serves_keeps_data_and_stops_with_the_api(tmp_path) -> None:
    data_dir = tmp_path / "pgdata"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": "", "EMBEDDED_DATA_DIR": str(data_dir), "PORT": str(port), "HOST": "127.0.0.1"}

    first = run_app(env)
    try:
        assert wait_until_serving(base_url, first).json()["database"] == "connected"
        created = httpx.post(base_url + "/users/", json={"name": "John Doe", "age": 30})
        assert created.status_code == 201
    finally:
        output = stop(first, signal.SIGTERM)
    assert "Embedded PostgreSQL stopped" in output, output
    assert not (data_dir / "postmaster.pid").exists()  # PostgreSQL shut down, not orphaned

    second = run_app(env)
    try:
        wait_until_serving(base_url, second)
        assert httpx.get(base_url + "/users/").json() == [created.json()]
    finally:
        output = stop(second, signal.SIGINT)
    assert "Embedded PostgreSQL stopped" in output, output
    assert not (data_dir / "postmaster.pid").exists()
