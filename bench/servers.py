"""The servers a benchmark measures: a free port to start one on, waiting until it answers, its processes.

The bench's own (tests/ has its kind for tests, which fail where these raise).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.core.config import PROJECT_ROOT
from app.core.embedded_postgres import embedded_postgres
from app.core.migrations import upgrade_to_head

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def libpq_url(url: str) -> str:
    """The app's database URL as psycopg.connect() takes it: without SQLAlchemy's driver name."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def wait_until_serving(*servers: tuple[str, subprocess.Popen]) -> None:
    """Return once every (base URL, process) answers `GET /`; raise if one exits or is silent for STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    waiting = list(servers)
    while waiting:
        url, process = waiting[0]
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode} before answering")
        try:
            httpx.get(url + "/", timeout=2)
            waiting.pop(0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server for {url} did not answer within {STARTUP_SECONDS} s") from None
            time.sleep(0.1)


def process_tree(pid: int) -> list[psutil.Process]:
    """A server's processes still running: the server and its workers (uvicorn --workers), if any."""
    process = psutil.Process(pid)
    return [member for member in (process, *process.children(recursive=True)) if member.is_running()]


@contextmanager
def served_on_throwaway_postgres(prefix: str, auth: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m app serve` as production serves it (request log off) on a migrated throwaway embedded PostgreSQL.

    Yields the server's base URL and process, once it answers; stops both after.
    """
    with (
        tempfile.TemporaryDirectory(prefix=prefix) as scratch,
        embedded_postgres(Path(scratch) / "pgdata", "bench", keep_data=False) as database_url,
    ):
        upgrade_to_head(database_url)
        port = free_port()
        environment = {
            "DATABASE_URL": database_url, "PORT": str(port), "AUTH": auth, "ACCESS_LOG": "false",
            "SECRET_KEY": "bench-secret-key-long-enough-for-hs256", "PATH": "/usr/bin:/bin",
        }  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--no-migrate"],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_until_serving((base_url, server))
            yield base_url, server
        finally:
            server.terminate()
            server.wait(timeout=30)


@dataclass
class LoggedServer:
    """`python -m app` on a throwaway embedded PostgreSQL, its request log (JSON lines) in a file."""

    base_url: str
    log_path: Path

    def request_lines(self) -> list[dict[str, Any]]:
        """Every request's log line so far, in order: each has `method`, `route` and `duration_ms`."""
        text = self.log_path.read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"duration_ms"' in line]


@contextmanager
def app_with_request_log(app_dir: Path, prefix: str) -> Iterator[LoggedServer]:
    """Serve `app_dir`'s app as `make run` does (embedded PostgreSQL, AUTH=open), logging each request as JSON.

    Server time is then read from each request's own log line (`duration_ms`),
    not from the client, whose clock includes the network and its own queue.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        server = LoggedServer(f"http://127.0.0.1:{free_port()}", Path(scratch) / "app.log")
        env = {
            "DATABASE_URL": "",
            "EMBEDDED_DATA_DIR": str(Path(scratch) / "postgres"),
            "HOST": "127.0.0.1",
            "PORT": server.base_url.rsplit(":", 1)[1],
            "AUTH": "open",
            "LOG_FORMAT": "json",
            "ACCESS_LOG": "true",
        }
        with server.log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "app"],
                cwd=app_dir,
                env={**os.environ, **env, "PYTHONPATH": str(app_dir)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until_serving((server.base_url, process))
                yield server
            finally:
                process.terminate()
                process.wait(timeout=30)
