"""The servers a benchmark measures: a free port to start one on, waiting until it answers, its processes.

The bench's own (tests/ has its kind for tests, which fail where these raise).
"""

import socket
import subprocess
import time

import httpx
import psutil

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
