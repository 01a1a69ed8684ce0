"""`make run` as a newcomer meets it: truthful messages, a taken port named at once, psql, reset, a clean stop is 0."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.core.config import PROJECT_ROOT
from tests.processes import STARTUP_GUARD_SECONDS, free_port, run_app, stop, wait_until_serving

pytestmark = pytest.mark.slow


@dataclass
class RunningApp:
    environment: dict[str, str]
    data_dir: Path
    base_url: str
    port: int


def _embedded_environment(data_dir: Path, port: int) -> dict[str, str]:
    return {"DATABASE_URL": "", "EMBEDDED_DATA_DIR": str(data_dir), "PORT": str(port), "HOST": "127.0.0.1"}


def _finish(*arguments: str, environment: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`python -m app ARGUMENTS` to the end, with `stdin` as its input (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "app", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, **environment},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=STARTUP_GUARD_SECONDS,
        check=False,
    )


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """`make run` with the embedded default, serving, for the tests to meet as a second terminal would."""
    data_dir = tmp_path_factory.mktemp("make-run") / "postgres"
    port = free_port()
    running = RunningApp(_embedded_environment(data_dir, port), data_dir, f"http://127.0.0.1:{port}", port)
    process = run_app(running.environment)
    try:
        wait_until_serving(running.base_url, process)
        assert httpx.post(running.base_url + "/users/", json={"name": "Ada Lovelace"}).status_code == 201
        yield running
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert "Embedded PostgreSQL stopped" in output


def test_a_second_make_run_names_the_taken_port_before_starting_anything(make_run: RunningApp) -> None:
    second = _finish(environment=make_run.environment)
    assert second.returncode == 1
    assert f"Cannot serve: port {make_run.port} is in use; set PORT to a free one, e.g. PORT=" in second.stderr
    assert "PostgreSQL" not in second.stderr  # neither started nor reused
    assert "Running upgrade" not in second.stderr


def test_a_second_process_says_it_reused_the_embedded_postgres_and_left_it_running(make_run: RunningApp) -> None:
    migrated = _finish("migrate", environment=make_run.environment)
    assert migrated.returncode == 0, migrated.stderr
    assert f"Using the embedded PostgreSQL already running in {make_run.data_dir}" in migrated.stderr
    assert "Embedded PostgreSQL left running" in migrated.stderr
    assert "Starting embedded PostgreSQL" not in migrated.stderr
    assert "Embedded PostgreSQL stopped" not in migrated.stderr
    assert httpx.get(make_run.base_url + "/health/ready").status_code == 200  # and it is still there


def test_psql_opens_on_the_database_make_run_uses(make_run: RunningApp) -> None:
    session = _finish("psql", environment=make_run.environment, stdin="SELECT name FROM users;\n")
    assert session.returncode == 0, session.stderr
    assert "Ada Lovelace" in session.stdout


def test_a_backup_of_the_embedded_database_is_taken_while_it_serves(make_run: RunningApp, tmp_path: Path) -> None:
    backup_file = tmp_path / "dev.dump"
    backed_up = _finish("backup", str(backup_file), environment=make_run.environment)
    assert backed_up.returncode == 0, backed_up.stderr
    assert backup_file.read_bytes().startswith(b"PGDMP")


def test_reset_refuses_while_the_embedded_postgres_runs(make_run: RunningApp) -> None:
    refused = _finish("reset", "--yes", environment=make_run.environment)
    assert refused.returncode == 1
    assert "The embedded PostgreSQL is running (pid " in refused.stderr
    assert "stop `make run` first" in refused.stderr
    assert (make_run.data_dir / "PG_VERSION").is_file()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_clean_stop_exits_0(tmp_path: Path, signum: int) -> None:
    port = free_port()
    process = run_app(_embedded_environment(tmp_path / "postgres", port))
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
    finally:
        output = stop(process, signum)
    assert process.returncode == 0, output
    assert "Application shutdown complete" in output
    assert "Embedded PostgreSQL stopped" in output


def test_reset_asks_then_deletes_the_embedded_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "postgres"
    environment = _embedded_environment(data_dir, free_port())
    assert _finish("migrate", environment=environment).returncode == 0
    assert (data_dir / "PG_VERSION").is_file()

    unasked = _finish("reset", environment=environment)  # stdin is no terminal: nobody to ask
    assert unasked.returncode == 1
    assert "Not deleting" in unasked.stderr and "pass --yes" in unasked.stderr
    assert data_dir.exists()

    deleted = _finish("reset", "--yes", environment=environment)
    assert deleted.returncode == 0, deleted.stderr
    assert f"Deleted {data_dir}" in deleted.stderr
    assert not data_dir.exists()


def test_reset_never_touches_a_database_named_by_database_url(database_url: str) -> None:
    refused = _finish("reset", "--yes", environment={"DATABASE_URL": database_url})
    assert refused.returncode == 1
    assert "DATABASE_URL is set; reset deletes only the embedded development data" in refused.stderr


def test_a_host_that_is_no_address_stops_start_up_naming_host() -> None:
    refused = _finish(environment={"HOST": "not a host"})
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "Invalid setting HOST: 'not a host' is neither an IP address nor a host name; try 127.0.0.1 or 0.0.0.0"
    )
