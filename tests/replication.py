"""A primary and a streaming replica of it, both from the embedded PostgreSQL's binaries, for the replica tests.

Always its own pair, whatever TEST_DATABASE_URL names: a replica needs a
primary we may base-backup, which a shared server is not. The primary is the
embedded PostgreSQL `make run` uses; the replica is `pg_basebackup -R` of it
(app/core/embedded_postgres.py's `embedded_replica`).
"""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from app.core.embedded_postgres import EmbeddedStandby, embedded_postgres, embedded_replica
from app.core.migrations import upgrade_to_head
from tests.helpers import libpq_url


def _first_value(url: str, statement: str) -> object:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        cursor = connection.execute(statement)
        row = cursor.fetchone() if cursor.description else None
        return None if row is None else row[0]


class Standby(EmbeddedStandby):
    def execute(self, statement: str) -> object:
        """The first value `statement` answers on the replica (None if no row)."""
        return _first_value(self.url, statement)


@dataclass
class Replicated:
    primary_url: str
    replica: Standby

    def on_primary(self, statement: str) -> object:
        return _first_value(self.primary_url, statement)


@contextmanager
def primary_with_replica(database: str = "portfolio_replicated") -> Iterator[Replicated]:
    """A migrated primary and a streaming replica of it, started; both stopped and deleted on exit."""
    scratch = Path(tempfile.mkdtemp(prefix="rr-", dir="/tmp"))  # short: a socket's path must fit in 107 bytes
    try:
        with embedded_postgres(scratch / "primary", database, keep_data=False) as primary_url:
            upgrade_to_head(primary_url)
            with embedded_replica(primary_url, scratch / "replica") as standby:
                yield Replicated(primary_url, Standby(standby.data_dir, standby.port, standby.database))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
