"""`python -m app` as a user runs it: a real process, a real port on loopback, real signals."""

import re
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


# `2026-11-25T23:50:01.123Z INFO    app [-] ...`: app/http/request_log.py's TextFormatter.
TEXT_LINE = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+ \[[^\]]+\] .*"
)


def test_start_up_says_where_who_and_which_database_once_and_every_line_has_one_format(database_url: str) -> None:
    port = free_port()
    with_password = make_url(database_url).set(password="not-logged").render_as_string(hide_password=False)
    process = run_app({"DATABASE_URL": with_password, "PORT": str(port), "HOST": "127.0.0.1", "LOG_FORMAT": "text"})
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
    finally:
        output = stop(process)
    lines = output.splitlines()
    assert [line for line in lines if not TEXT_LINE.fullmatch(line)] == [], output
    messages = [line.split("] ", 1)[1] for line in lines]
    base = f"http://127.0.0.1:{port}"
    assert f"Portfolio API: {base}/  pages: {base}/app/  docs: {base}/docs" in messages
    assert "Auth: open (no accounts: anyone who reaches it reaches everything)" in messages
    masked = make_url(with_password).set(drivername="postgresql+psycopg").render_as_string(hide_password=True)
    assert f"Database: {masked}" in messages
    assert sum(message.startswith("Database:") for message in messages) == 1
    assert "not-logged" not in output
    assert not any("garbage collector" in message for message in messages)  # internal: at debug
    assert any(line.split()[2] == "uvicorn.error" for line in lines)  # uvicorn's own, in the same format
