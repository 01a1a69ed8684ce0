"""The database a command works on: DATABASE_URL's, or the embedded one in .data/postgres.

With no DATABASE_URL, a command starts the embedded PostgreSQL (or reuses the
one `make run` started) for as long as it runs, and stops what it started on
the way out, SIGTERM included. `reset` deletes only that embedded data, never
a database of DATABASE_URL's; `psql` opens on whichever one `make run` uses.
"""

import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from app.core.config import Settings, mask_password

logger = logging.getLogger("app")

EMBEDDED_DATABASE = "portfolio"


@contextmanager
def open_database(settings: Settings, *, announce: bool = True) -> Iterator[str]:
    """The URL of the database to work on, for as long as the block runs; the app factory reads it too.

    `announce=False`: the caller names the database itself (`serve`, in its banner).
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with _database_url(settings, announce=announce) as url:
        if announce:
            logger.info("Database: %s", mask_password(url))
        # The app factory (in this process or in uvicorn's workers) reads this.
        os.environ["DATABASE_URL"] = url
        yield url


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Before uvicorn takes over signals (and after it gives them back), turn
    # SIGTERM into an exception so `finally` blocks stop the embedded server.
    raise SystemExit(128 + signum)


@contextmanager
def _database_url(settings: Settings, *, announce: bool) -> Iterator[str]:
    """The configured DATABASE_URL, or an embedded PostgreSQL in .data/postgres for as long as we run."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    from app.core.embedded_postgres import embedded_postgres

    if announce:
        logger.info("DATABASE_URL is not set: using the embedded PostgreSQL")
    with embedded_postgres(settings.embedded_data_dir, EMBEDDED_DATABASE, keep_data=True) as url:
        yield url


def open_psql(url: str) -> int:
    """psql on `url`, interactive; Ctrl-C belongs to psql (it cancels the query), not to us. Its exit code."""
    from app.core.embedded_postgres import client_program
    from app.ops.backup import libpq_connection

    conninfo, environment = libpq_connection(url)
    interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.run([str(client_program("psql")), conninfo], env=environment, check=False).returncode
    finally:
        signal.signal(signal.SIGINT, interrupt)


def reset_embedded_data(settings: Settings, *, assume_yes: bool) -> int:
    """Delete the embedded development data, after asking; never a database of DATABASE_URL's. The exit code."""
    from app.core.embedded_postgres import running_server_pid

    if settings.database_url is not None:
        logger.error(
            "DATABASE_URL is set; reset deletes only the embedded development data and never touches "
            "your own database (unset DATABASE_URL to reset the embedded one)"
        )
        return 1
    data_dir = settings.embedded_data_dir.resolve()
    if not data_dir.exists():
        logger.info("Nothing to reset: %s does not exist", data_dir)
        return 0
    if not (data_dir / "PG_VERSION").is_file():
        logger.error("%s does not look like PostgreSQL's data; not deleting it", data_dir)
        return 1
    pid = running_server_pid(data_dir)
    if pid is not None:
        logger.error("The embedded PostgreSQL is running (pid %d): stop `make run` first", pid)
        return 1
    if not assume_yes:
        if not sys.stdin.isatty():
            logger.error(
                "Not deleting %s without asking; run it in a terminal, or pass --yes (make reset RESET_FLAGS=--yes)",
                data_dir,
            )
            return 1
        answer = input(f"Delete {data_dir}, with every user and stock in it? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            logger.info("Nothing deleted")
            return 1
    shutil.rmtree(data_dir)
    logger.info("Deleted %s; the next `make run` starts from an empty database", data_dir)
    return 0
