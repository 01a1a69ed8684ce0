"""`python -m app` as a user runs it: a real process, a real port on loopback, real signals."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from sqlalchemy.engine import make_url

from app.config import PROJECT_ROOT

STARTUP_GUARD_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run_app(env: dict[str, str], *arguments: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_until_serving(base_url: str, process: subprocess.Popen) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_GUARD_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            return httpx.get(base_url + "/", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the API did not start listening")


def test_python_m_app_migrates_serves_and_stops_on_sigterm(database_url: str) -> None:
    port = _free_port()
    # Trust auth ignores the password; it is there to prove it never reaches the log.
    with_password = make_url(database_url).set(password="not-logged").render_as_string(hide_password=False)
    assert "not-logged" in with_password
    process = _run_app({"DATABASE_URL": with_password, "PORT": str(port), "HOST": "127.0.0.1"})
    try:
        health = _wait_until_serving(f"http://127.0.0.1:{port}", process)
        assert health.status_code == 200
        assert health.json()["database"] == "connected"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=STARTUP_GUARD_SECONDS)
    assert process.returncode in (0, 128 + signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "not-logged" not in output


def test_a_bad_database_url_stops_start_up_with_one_line() -> None:
    process = _run_app({"DATABASE_URL": "mysql://root@localhost/app"})
    output, _ = process.communicate(timeout=STARTUP_GUARD_SECONDS)
    assert process.returncode == 2
    assert output.strip() == "Invalid setting DATABASE_URL: must be a PostgreSQL URL (postgresql://...), not mysql://..."


def test_an_unreachable_database_stops_start_up_with_a_clear_error() -> None:
    process = _run_app({"DATABASE_URL": f"postgresql://u:pw-secret@127.0.0.1:{_free_port()}/app"})
    output, _ = process.communicate(timeout=STARTUP_GUARD_SECONDS)
    assert process.returncode == 1
    assert "Cannot reach the database at postgresql+psycopg://u:***@127.0.0.1:" in output
    assert "pw-secret" not in output


def _stop(process: subprocess.Popen, signum: int) -> str:
    process.send_signal(signum)
    output, _ = process.communicate(timeout=STARTUP_GUARD_SECONDS)
    return output


def test_without_database_url_an_embedded_postgres_serves_keeps_data_and_stops_with_the_api(tmp_path) -> None:
    data_dir = tmp_path / "pgdata"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": "", "EMBEDDED_DATA_DIR": str(data_dir), "PORT": str(port), "HOST": "127.0.0.1"}

    first = _run_app(env)
    try:
        assert _wait_until_serving(base_url, first).json()["database"] == "connected"
        created = httpx.post(base_url + "/users/", json={"name": "John Doe", "age": 30})
        assert created.status_code == 201
    finally:
        output = _stop(first, signal.SIGTERM)
    assert "Embedded PostgreSQL stopped" in output, output
    assert not (data_dir / "postmaster.pid").exists()  # PostgreSQL shut down, not orphaned

    second = _run_app(env)
    try:
        _wait_until_serving(base_url, second)
        assert httpx.get(base_url + "/users/").json() == [created.json()]
    finally:
        output = _stop(second, signal.SIGINT)
    assert "Embedded PostgreSQL stopped" in output, output
    assert not (data_dir / "postmaster.pid").exists()
