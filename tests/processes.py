"""Run `python -m app` as a user would: a real process on a free loopback port."""

import os
import signal
import socket
import subprocess
import sys
from typing import IO

import httpx

from app.core.config import PROJECT_ROOT
from tests.helpers import wait_until

STARTUP_GUARD_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_app(env: dict[str, str], *arguments: str, output: IO[str] | int = subprocess.PIPE) -> subprocess.Popen:
    """Start `python -m app` with `env` added to ours; its output goes to a pipe unless told otherwise."""
    return subprocess.Popen(
        [sys.executable, "-m", "app", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_serving(base_url: str, process: subprocess.Popen) -> httpx.Response:
    """The first answer of `GET /`, once the app listens; fails if the app exits first."""

    def answer() -> httpx.Response | None:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"the API exited with {process.returncode}: {output}")
        try:
            return httpx.get(base_url + "/", timeout=2)
        except httpx.TransportError:
            return None

    return wait_until(answer, f"the API to listen on {base_url}", every=0.1)


def stop(process: subprocess.Popen, signum: int = signal.SIGTERM) -> str:
    """Signal the app, wait for it to exit, and return what it printed (if piped)."""
    process.send_signal(signum)
    output, _ = process.communicate(timeout=STARTUP_GUARD_SECONDS)
    return output or ""
