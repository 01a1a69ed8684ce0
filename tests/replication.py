"""A primary and a streaming replica of it, both from the embedded PostgreSQL's binaries, for the replica tests.

Always its own pair, whatever TEST_DATABASE_URL names: a replica needs a
primary we may base-backup, which a shared server is not. The primary is the
embedded PostgreSQL `make run` uses; the replica is `pg_basebackup -R` of it
(a standby.signal and primary_conninfo, so it streams from the primary), started
with `pg_ctl` on a Unix socket in its own directory. Run as root, both run as
the embedded library's own user, as PostgreSQL refuses root.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from app.core.embedded_postgres import client_program, embedded_postgres
from app.core.migrations import upgrade_to_head
from tests.helpers import libpq_url

# The library's user for servers started as root (embedded_postgres/postgres_server.py).
_SERVER_USER = "embedded_postgres"


def _as_server_user() -> dict[str, object]:
    return {"user": _SERVER_USER} if os.geteuid() == 0 else {}


@dataclass
class Standby:
    """The replica: a data directory, started and stopped with pg_ctl."""

    data_dir: Path
    port: int
    database: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/{self.database}?host={self.data_dir}&port={self.port}"

    def _pg_ctl(self, *arguments: str, check: bool = True) -> None:
        subprocess.run(
            [str(client_program("pg_ctl")), "-D", str(self.data_dir), *arguments],
            check=check,
            capture_output=True,
            timeout=60,
            **_as_server_user(),  # type: ignore[call-overload]  # user= only as root
        )

    def start(self) -> None:
        self._pg_ctl("-w", "-o", f"-h '' -k {self.data_dir} -p {self.port}", "-l", str(self.data_dir / "log"), "start")

    def stop(self, *, if_running: bool = False) -> None:
        """As a crash or a pulled plug would: no checkpoint, connections cut."""
        self._pg_ctl("-w", "-m", "immediate", "stop", check=not if_running)

    def execute(self, statement: str) -> object:
        with psycopg.connect(libpq_url(self.url), autocommit=True) as connection:
            cursor = connection.execute(statement)
            row = cursor.fetchone() if cursor.description else None
            return None if row is None else row[0]


@dataclass
class Replicated:
    primary_url: str
    replica: Standby

    def on_primary(self, statement: str) -> object:
        with psycopg.connect(libpq_url(self.primary_url), autocommit=True) as connection:
            cursor = connection.execute(statement)
            row = cursor.fetchone() if cursor.description else None
            return None if row is None else row[0]


@contextmanager
def primary_with_replica(database: str = "portfolio_replicated") -> Iterator[Replicated]:
    """A migrated primary and a streaming replica of it, started; both stopped and deleted on exit."""
    # Short: a Unix socket's path must fit in 107 bytes.
    scratch = Path(tempfile.mkdtemp(prefix="rr-", dir="/tmp"))
    scratch.chmod(0o755)
    if os.geteuid() == 0:
        account = pwd.getpwnam(_SERVER_USER)
        os.chown(scratch, account.pw_uid, account.pw_gid)
    try:
        with embedded_postgres(scratch / "primary", database, keep_data=False) as primary_url:
            upgrade_to_head(primary_url)
            parsed = make_url(primary_url)
            socket_dir, port = str(parsed.query["host"]), parsed.port or 5432
            replica = Standby(scratch / "replica", port, database)
            subprocess.run(
                [
                    str(client_program("pg_basebackup")),
                    *("-h", socket_dir, "-p", str(port), "-U", "postgres"),
                    *("-D", str(replica.data_dir), "-R", "-X", "stream", "--checkpoint=fast"),
                ],
                check=True,
                capture_output=True,
                timeout=120,
                **_as_server_user(),  # type: ignore[call-overload]  # user= only as root
            )
            # The primary's socket lives in its data directory, and the copy took its lock file along.
            for lock in replica.data_dir.glob(".s.PGSQL.*"):
                lock.unlink()
            replica.start()
            try:
                yield Replicated(primary_url, replica)
            finally:
                replica.stop(if_running=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
