"""The demo command fills a database with realistic data, and refuses one that holds data."""

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from app.cli.demo import SYMBOLS, DatabaseNotEmpty, DemoSize, fill_with_demo_data
from app.core.config import PROJECT_ROOT
from tests.helpers import committed_connection


@pytest.fixture
def database(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the test database; what the demo committed is removed afterwards."""
    with committed_connection(database_url) as connection:
        yield connection


def _counts(connection: psycopg.Connection) -> tuple[int, int]:
    row = connection.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM stocks)").fetchone()
    assert row is not None
    return row[0], row[1]


def test_demo_data_has_the_size_asked_for_and_plausible_values(database: psycopg.Connection, database_url: str) -> None:
    fill_with_demo_data(database_url, DemoSize(users=1203, stocks_per_user=3), seed=7)
    assert _counts(database) == (1203, 3609)
    symbols = {row[0] for row in database.execute("SELECT DISTINCT name FROM stocks")}
    assert symbols <= set(SYMBOLS)
    assert len(symbols) > 10
    per_user = database.execute("SELECT min(n), max(n) FROM (SELECT count(*) n FROM stocks GROUP BY user_id) c")
    assert per_user.fetchone() == (3, 3)
    bad_dates = database.execute(
        "SELECT count(*) FROM stocks JOIN users ON users.id = stocks.user_id "
        "WHERE stocks.created_at < users.signup_ts OR stocks.created_at > now()"
    )
    assert bad_dates.fetchone() == (0,)


def test_demo_refuses_a_database_with_users_unless_forced(database: psycopg.Connection, database_url: str) -> None:
    fill_with_demo_data(database_url, DemoSize(users=2, stocks_per_user=1))
    with pytest.raises(DatabaseNotEmpty, match=r"already holds 2 users; pass --force \(make demo DEMO_FLAGS=--force\)"):
        fill_with_demo_data(database_url, DemoSize(users=5, stocks_per_user=1))
    assert _counts(database) == (2, 2)
    fill_with_demo_data(database_url, DemoSize(users=5, stocks_per_user=0), force=True)
    assert _counts(database) == (7, 2)


def _demo_command(database_url: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", "demo", *arguments],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow  # runs `python -m app demo` in a process
def test_the_demo_command_line(database: psycopg.Connection, database_url: str) -> None:
    first = _demo_command(database_url, "--users", "4", "--stocks-per-user", "2", "--seed", "1")
    assert first.returncode == 0, first.stderr
    assert _counts(database) == (4, 8)

    refused = _demo_command(database_url, "--users", "4")
    assert refused.returncode == 1
    assert "holds 4 users; pass --force (make demo DEMO_FLAGS=--force) to add demo data anyway" in refused.stderr

    bad = _demo_command(database_url, "--users", "0")
    assert bad.returncode == 2
    assert "Invalid value for '--users'" in bad.stderr
    assert _counts(database) == (4, 8)
