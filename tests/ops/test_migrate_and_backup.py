"""Operations on a real database: instances that migrate together take turns; a backup restores every row."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from psycopg import sql
from sqlalchemy.engine import make_url

from app.core.embedded_postgres import client_program
from app.core.migrations import MIGRATION_LOCK, alembic_config
from app.ops import backup as backups
from app.ops.backup import libpq_connection
from app.ops.health import migration_head
from tests.helpers import libpq_url, wait_until
from tests.processes import STARTUP_GUARD_SECONDS, run_app
from tests.scratch import scratch_database

# Trust auth ignores the password; it is there to prove it never reaches a log line.
PASSWORD = "never-logged-pw"


def _with_password(url: str) -> str:
    return make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)


def _finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=STARTUP_GUARD_SECONDS)
    return output


def _succeed(url: str, *arguments: str) -> str:
    """Run `python -m app ARGUMENTS` on `url` to the end; its output, once it exited 0."""
    process = run_app({"DATABASE_URL": url}, *arguments)
    output = _finish(process)
    assert process.returncode == 0, output
    return output


def _waiting_for_the_lock(connection: psycopg.Connection[Any]) -> int:
    [(waiting,)] = connection.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND (classid::bigint << 32 | objid::bigint) = %s",
        [MIGRATION_LOCK],
    ).fetchall()
    return int(waiting)


@pytest.mark.slow
def test_three_instances_migrating_at_once_take_turns_and_one_applies_the_migrations(database_url: str) -> None:
    with scratch_database(database_url, "portfolio_migrate_together") as url:
        with psycopg.connect(libpq_url(url), autocommit=True) as holder:
            # Hold the lock ourselves, so all three are surely started and waiting before any migrates.
            holder.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
            instances = [run_app({"DATABASE_URL": url, "LOG_LEVEL": "info"}, "migrate") for _ in range(3)]

            def all_three_waiting() -> bool:
                assert all(instance.poll() is None for instance in instances), "an instance did not wait"
                return _waiting_for_the_lock(holder) == 3

            try:
                wait_until(all_three_waiting, "the three instances to wait for the lock", every=0.1)
            finally:
                holder.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
                outputs = [_finish(instance) for instance in instances]
            assert [instance.returncode for instance in instances] == [0, 0, 0], outputs
            applied = [output for output in outputs if "Running upgrade" in output]
            assert len(applied) == 1, outputs
            assert applied[0].count("Running upgrade") == len(list(Path("migrations/versions").glob("0*.py")))
            assert all("Another instance is migrating this database; waiting" in output for output in outputs)
            revision = holder.execute("SELECT version_num FROM alembic_version").fetchall()
        assert revision == [(migration_head(),)]


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a fixed order, and where every sequence stands."""
    with psycopg.connect(libpq_url(url)) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        ).fetchall()
        everything = {
            table: connection.execute(
                sql.SQL("SELECT * FROM {} AS row ORDER BY row::text").format(sql.Identifier(table))
            ).fetchall()
            for (table,) in tables
        }
        everything["sequences"] = connection.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        return everything


@pytest.mark.slow
def test_a_backup_restores_every_row_into_an_empty_database(database_url: str, tmp_path: Path) -> None:
    backup_file = tmp_path / "portfolio.dump"
    with scratch_database(database_url, "portfolio_backed_up") as source:
        _succeed(source, "demo", "--users", "30", "--stocks-per-user", "4", "--seed", "7")
        output = _succeed(_with_password(source), "backup", str(backup_file))
        assert f"to {backup_file} (" in output
        assert PASSWORD not in output
        expected = _rows(source)
    assert (len(expected["users"]), len(expected["stocks"])) == (30, 120)
    assert {"alembic_version", "users", "stocks", "transactions", "prices", "sequences"} <= expected.keys()
    assert expected["transactions"] and expected["prices"]  # the demo's history and closes go round too
    assert backup_file.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format

    with scratch_database(database_url, "portfolio_restored") as target:
        with psycopg.connect(libpq_url(target), autocommit=True) as connection:
            # Another schema in the same database, as a provider keeps its own: not ours to touch.
            connection.execute("CREATE SCHEMA provider; CREATE TABLE provider.accounts AS SELECT 1 AS id")
        output = _succeed(_with_password(target), "restore", str(backup_file))
        assert PASSWORD not in output
        assert _rows(target) == expected
        with psycopg.connect(libpq_url(target)) as connection:
            assert connection.execute("SELECT id FROM provider.accounts").fetchall() == [(1,)]

        refused = run_app({"DATABASE_URL": target}, "restore", str(backup_file))
        output = _finish(refused)
        assert refused.returncode == 1
        assert "already holds data (in prices, stocks, transactions, users); restoring would replace it" in output
        assert "--force" in output

        with psycopg.connect(libpq_url(target), autocommit=True) as connection:
            connection.execute("DELETE FROM stocks WHERE id > 10")
        _succeed(target, "restore", str(backup_file), "--force")
        assert _rows(target) == expected


@pytest.mark.slow
def test_an_older_backup_restores_into_a_database_the_release_step_has_migrated(
    database_url: str, tmp_path: Path
) -> None:
    backup_file = tmp_path / "portfolio.dump"
    with scratch_database(database_url, "portfolio_backed_up") as source:
        # A backup from before the newest migrations, with a user and a stock.
        command.upgrade(alembic_config(source), "0003")
        with psycopg.connect(libpq_url(source), autocommit=True) as connection:
            connection.execute("INSERT INTO users (name, age) VALUES ('Ada Lovelace', 36)")
            connection.execute("INSERT INTO stocks (name, price, quantity, user_id) VALUES ('AAPL', 175.5, 10, 1)")
        _succeed(source, "backup", str(backup_file))
        expected = _rows(source)
    with scratch_database(database_url, "portfolio_restored") as target:
        _succeed(target, "migrate")  # a fresh deploy: migrated to head, no rows
        _succeed(target, "restore", str(backup_file))  # empty tables are no data to protect
        assert _rows(target) == expected  # as the backup was, revision 0003 included
        _succeed(target, "migrate")
        with psycopg.connect(libpq_url(target)) as connection:
            assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(migration_head(),)]
            assert connection.execute(
                "SELECT u.name, s.name FROM users u JOIN stocks s ON s.user_id = u.id"
            ).fetchall() == [("Ada Lovelace", "AAPL")]


# Stands in for pg_dump: notes what it was handed to write into, and every
# file beside it with its mode, before the real pg_dump writes a byte.
_PG_DUMP_THAT_LOOKS_FIRST = """\
import json, os, stat, sys
directory = os.environ["BACKUP_DIRECTORY"]
seen = {
    "output": {"mode": stat.S_IMODE(os.fstat(1).st_mode), "size": os.fstat(1).st_size},
    "files": {name: stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) for name in os.listdir(directory)},
}
with open(os.environ["SEEN_BY_PG_DUMP"], "w") as notes:
    json.dump(seen, notes)
os.execv(os.environ["REAL_PG_DUMP"], [os.environ["REAL_PG_DUMP"], *sys.argv[1:]])
"""


def test_a_backup_is_readable_by_its_owner_alone_from_the_moment_it_exists(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "backups"
    directory.mkdir()
    backup_file = directory / "portfolio.dump"
    backup_file.write_bytes(b"an older backup, made world-readable")
    backup_file.chmod(0o644)
    seen = tmp_path / "seen-by-pg-dump.json"
    looking_pg_dump = tmp_path / "pg_dump"
    looking_pg_dump.write_text(f"#!{sys.executable}\n{_PG_DUMP_THAT_LOOKS_FIRST}")
    looking_pg_dump.chmod(0o755)
    monkeypatch.setattr(
        "app.ops.backup.client_program", lambda name: looking_pg_dump if name == "pg_dump" else client_program(name)
    )
    monkeypatch.setenv("BACKUP_DIRECTORY", str(directory))
    monkeypatch.setenv("SEEN_BY_PG_DUMP", str(seen))
    monkeypatch.setenv("REAL_PG_DUMP", str(client_program("pg_dump")))

    umask = os.umask(0o022)  # the usual one, under which a plain open() makes -rw-r--r--
    try:
        backups.backup(database_url, backup_file)
    finally:
        os.umask(umask)

    before_writing = json.loads(seen.read_text())
    # pg_dump was handed an empty file that was already 0600, and the only other file was the old backup.
    assert before_writing["output"] == {"mode": 0o600, "size": 0}
    [partial] = set(before_writing["files"]) - {backup_file.name}
    assert before_writing["files"] == {backup_file.name: 0o644, partial: 0o600}
    # Renamed onto the old backup: its wider mode went with it, and nothing is left over.
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    assert backup_file.read_bytes().startswith(b"PGDMP")
    assert [path.name for path in directory.iterdir()] == [backup_file.name]


def test_a_failed_backup_leaves_no_partial_file_and_the_old_backup_untouched(tmp_path: Path) -> None:
    backup_file = tmp_path / "portfolio.dump"
    backup_file.write_bytes(b"the last good backup")
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:9/nowhere?connect_timeout=2"
    with pytest.raises(backups.BackupError, match="pg_dump could not back up"):
        backups.backup(unreachable, backup_file)
    assert [path.name for path in tmp_path.iterdir()] == [backup_file.name]
    assert backup_file.read_bytes() == b"the last good backup"


def test_the_password_reaches_pg_dump_in_its_environment_never_its_arguments() -> None:
    conninfo, environment = libpq_connection(
        "postgresql+psycopg://app:s3cret@db.example:5432/portfolio?sslmode=require"
    )
    assert conninfo == "host=db.example port=5432 user=app dbname=portfolio sslmode=require"
    assert environment["PGPASSWORD"] == "s3cret"


@pytest.mark.slow
def test_restore_refuses_a_file_that_is_not_a_backup(database_url: str, tmp_path: Path) -> None:
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    refused = run_app({"DATABASE_URL": database_url}, "restore", str(not_a_backup))
    output = _finish(refused)
    assert refused.returncode == 1
    assert f"{not_a_backup} is not a backup made by pg_dump --format=custom" in output
