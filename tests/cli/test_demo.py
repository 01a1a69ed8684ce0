"""The demo command fills a database with realistic data, and refuses one that holds data.

Its holdings are their ledgers replayed (checked with the ledger's own replay), over two years of closes.
"""

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from app.cli.demo import SYMBOLS, DatabaseNotEmpty, DemoSize, fill_with_demo_data
from app.core.config import PROJECT_ROOT
from app.stocks.ledger.rules import Entry, Holding, replay
from tests.helpers import EMPTY_EVERY_TABLE, committed_connection


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
    _assert_every_holding_is_its_ledger_replayed(database)
    kinds = {row[0] for row in database.execute("SELECT DISTINCT type FROM transactions")}
    assert kinds == {"buy", "sell", "dividend", "fee"}
    sold_out = database.execute("SELECT count(*) FROM stocks WHERE quantity = 0").fetchone()
    assert sold_out is not None and sold_out[0] < 3609 / 10  # some, but few, holdings sold every share


def _assert_every_holding_is_its_ledger_replayed(connection: psycopg.Connection) -> None:
    """Each stock's quantity and price, and each sell's realized gain, as the ledger's replay gives them."""
    ledgers: dict[int, list[Entry]] = defaultdict(list)
    for row in connection.execute(
        "SELECT id, stock_id, type, occurred_on, quantity, price, fee, ratio, realized_gain "
        "FROM transactions ORDER BY stock_id, occurred_on, id"
    ):
        ledgers[row[1]].append(Entry(row[2], row[3], row[4], row[5], row[6], row[7], id=row[0], realized_gain=row[8]))
    stocks = connection.execute("SELECT id, quantity, price FROM stocks").fetchall()
    assert stocks
    for stock_id, quantity, price in stocks:
        ledger = ledgers.pop(stock_id)
        assert ledger[0].type == "buy"  # the opening buy comes first
        replayed = replay(ledger)
        assert replayed.holding == Holding(quantity, price), stock_id
        assert replayed.gains == [entry.realized_gain for entry in ledger], stock_id
    assert not ledgers  # no transaction without its stock


def _table(connection: psycopg.Connection, query: str) -> list[tuple[Any, ...]]:
    return connection.execute(query).fetchall()


def test_a_small_demo_writes_two_years_of_weekday_closes_and_holdings_that_are_their_ledgers(
    database: psycopg.Connection, database_url: str
) -> None:
    written = fill_with_demo_data(database_url, DemoSize(users=3, stocks_per_user=2), seed=11)
    assert _counts(database) == (3, 6)
    _assert_every_holding_is_its_ledger_replayed(database)

    today = datetime.now(UTC).date()
    closes: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    for symbol, day, close in _table(database, "SELECT symbol, date, close FROM prices ORDER BY symbol, date"):
        closes[symbol].append((day, close))
    assert set(closes) == set(SYMBOLS)  # every demo symbol, held or not
    for symbol, series in closes.items():
        days = [day for day, _ in series]
        assert 520 <= len(days) <= 524, symbol  # two years of weekdays, holidays not skipped
        assert all(day.weekday() < 5 for day in days)
        assert today - timedelta(days=3) <= days[-1] <= today
        assert days[0] >= today - timedelta(days=2 * 366)
        assert all(Decimal("0.0001") <= close <= 10 * SYMBOLS[symbol] for _, close in series), symbol
        assert all(close == close.quantize(Decimal("0.0001")) for _, close in series)
    assert written.closes == sum(len(series) for series in closes.values())
    assert (written.users, written.stocks) == (3, 6)
    assert written.transactions == _table(database, "SELECT count(*) FROM transactions")[0][0]

    # Each trade at its day's close; the opening buy on the stock's creation day, which is in the window.
    off_close = database.execute(
        "SELECT count(*) FROM transactions t JOIN stocks s ON s.id = t.stock_id "
        "LEFT JOIN prices p ON p.symbol = s.name AND p.date = t.occurred_on "
        "WHERE p.close IS NULL OR (t.type IN ('buy', 'sell') AND t.price <> p.close)"
    )
    assert off_close.fetchone() == (0,)
    opening_days = database.execute(
        "SELECT count(*) FROM stocks s WHERE (s.created_at AT TIME ZONE 'UTC')::date <> "
        "(SELECT occurred_on FROM transactions t WHERE t.stock_id = s.id ORDER BY occurred_on, id LIMIT 1)"
    )
    assert opening_days.fetchone() == (0,)
    negative = database.execute(
        "SELECT (SELECT count(*) FROM stocks WHERE quantity < 0 OR price <= 0) + (SELECT count(*) FROM transactions "
        "WHERE quantity < 0 OR price <= 0 OR fee < 0 OR amount <= 0 OR occurred_on > current_date)"
    )
    assert negative.fetchone() == (0,)


def _snapshot(connection: psycopg.Connection) -> list[list[tuple[Any, ...]]]:
    """Every row the demo writes, but the timestamps (which follow the clock)."""
    return [
        _table(connection, "SELECT id, name, age FROM users ORDER BY id"),
        _table(connection, "SELECT id, user_id, name, price, quantity, is_active FROM stocks ORDER BY id"),
        _table(
            connection,
            "SELECT id, stock_id, user_id, type, occurred_on, quantity, price, fee, amount, realized_gain "
            "FROM transactions ORDER BY id",
        ),
        _table(connection, "SELECT symbol, date, close FROM prices ORDER BY symbol, date"),
    ]


def test_the_same_seed_gives_the_same_data(database: psycopg.Connection, database_url: str) -> None:
    fill_with_demo_data(database_url, DemoSize(users=5, stocks_per_user=3), seed=3)
    first = _snapshot(database)
    database.execute(EMPTY_EVERY_TABLE)
    fill_with_demo_data(database_url, DemoSize(users=5, stocks_per_user=3), seed=3)
    assert _snapshot(database) == first
    database.execute(EMPTY_EVERY_TABLE)
    fill_with_demo_data(database_url, DemoSize(users=5, stocks_per_user=3), seed=4)
    assert _snapshot(database)[1:] != first[1:]


def test_closes_already_there_are_kept_and_the_trades_use_them(database: psycopg.Connection, database_url: str) -> None:
    days = [datetime.now(UTC).date() - timedelta(days=n) for n in range(1, 60)]
    weekdays = [day for day in days if day.weekday() < 5]
    for day in weekdays:
        database.execute("INSERT INTO prices (symbol, date, close) VALUES ('KO', %s, 12.3456)", (day,))
    first = fill_with_demo_data(database_url, DemoSize(users=20, stocks_per_user=5), seed=2)
    per_symbol = database.execute("SELECT count(*) FROM prices WHERE symbol = 'AAPL'").fetchone()
    assert per_symbol is not None
    assert first.closes == first.symbols * per_symbol[0] - len(weekdays)
    kept = database.execute("SELECT count(*) FROM prices WHERE symbol = 'KO' AND close = 12.3456").fetchone()
    assert kept == (len(weekdays),)
    again = fill_with_demo_data(database_url, DemoSize(users=2, stocks_per_user=5), seed=9, force=True)
    assert again.closes == 0  # nothing replaced: the first run's trades still sit on their closes
    _assert_every_holding_is_its_ledger_replayed(database)
    off_close = database.execute(
        "SELECT count(*) FROM transactions t JOIN stocks s ON s.id = t.stock_id "
        "JOIN prices p ON p.symbol = s.name AND p.date = t.occurred_on "
        "WHERE t.type IN ('buy', 'sell') AND t.price <> p.close"
    )
    assert off_close.fetchone() == (0,)


def test_without_history_each_stock_has_its_opening_buy_only(database: psycopg.Connection, database_url: str) -> None:
    written = fill_with_demo_data(database_url, DemoSize(users=10, stocks_per_user=4), seed=1, history=False)
    assert written.transactions == 40
    per_stock = database.execute("SELECT DISTINCT type, count(*) OVER (PARTITION BY stock_id) FROM transactions")
    assert per_stock.fetchall() == [("buy", 1)]
    _assert_every_holding_is_its_ledger_replayed(database)


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
    counted = database.execute("SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM prices)").fetchone()
    assert counted is not None
    transactions, closes = counted
    said = f"Demo data written: 4 users, 8 stocks, {transactions} transactions, {closes:,} daily closes (20 symbols"
    assert said in first.stderr

    help_text = _demo_command(database_url, "--help")
    assert help_text.returncode == 0
    assert "transactions and two years of daily prices" in " ".join(help_text.stdout.split())
    assert "--no-history" in help_text.stdout

    refused = _demo_command(database_url, "--users", "4")
    assert refused.returncode == 1
    assert "holds 4 users; pass --force (make demo DEMO_FLAGS=--force) to add demo data anyway" in refused.stderr

    bad = _demo_command(database_url, "--users", "0")
    assert bad.returncode == 2
    assert "Invalid value for '--users'" in bad.stderr
    assert _counts(database) == (4, 8)
