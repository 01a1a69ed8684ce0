"""Demo data: realistic users and holdings over well-known symbols, two years of daily closes and each holding's ledger.

python -m app demo --users 1000 --stocks-per-user 10 [--no-history]

Prices: for every symbol of SYMBOLS, a close on every weekday (holidays are
not skipped) of the two years ending today (UTC), a geometric random walk from
the symbol's plausible price; closes already there are kept (ON CONFLICT DO
NOTHING: an imported close or an earlier demo's is never replaced), and the
trades below are made at the closes as stored.

Holdings: each is its ledger replayed (docs/reference/ledger.md). The ledger is an
opening buy at the close of its acquisition day, then (unless --no-history)
up to four later buys, sells, dividends and fees on other days; the holding's
quantity, average cost and each sell's realized gain come from the ledger's
own rules (app/stocks/ledger/rules.py). Everything is written in bulk, batch by
batch of 1,000 users, each batch committed whole.
"""

import random
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from math import exp
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import func, select
from tqdm import tqdm

from app.prices.models import PRICES
from app.stocks.ledger.models import TRANSACTIONS
from app.stocks.ledger.rules import PLACES, Entry, Holding, apply
from app.stocks.models import STOCKS
from app.users.models import USERS, User

# Symbol and a plausible price: where each symbol's walk starts, two years ago.
SYMBOLS = {
    "AAPL": 230, "MSFT": 420, "GOOG": 170, "AMZN": 190, "NVDA": 140,
    "META": 560, "TSLA": 250, "BRK.B": 460, "JPM": 220, "V": 290,
    "JNJ": 155, "WMT": 85, "XOM": 115, "KO": 70, "DIS": 95,
    "NFLX": 700, "AMD": 140, "PEP": 165, "COST": 900, "INTC": 22,
}  # fmt: skip
FIRST_NAMES = [
    "Ada", "Alan", "Amara", "Ben", "Chen", "Diego", "Elena", "Fatima", "Grace", "Hiro",
    "Ines", "Jamal", "John", "Kofi", "Lena", "Mateo", "Nadia", "Omar", "Priya", "Sofia",
]  # fmt: skip
LAST_NAMES = [
    "Doe", "Smith", "Garcia", "Kim", "Nguyen", "Okafor", "Rossi", "Novak", "Silva", "Tanaka",
    "Müller", "Haddad", "Johansson", "Patel", "Kowalski", "Dubois", "Mensah", "Cohen", "Lopez", "Ivanova",
]  # fmt: skip

USERS_PER_BATCH = 1000
PRICE_YEARS = 2
# The walk: daily log-returns of mean DRIFT and deviation VOLATILITY (about 8% a year, 29% a year).
DRIFT = 0.0003
VOLATILITY = 0.018
LOWEST_CLOSE = PLACES  # 0.0001: a close is more than 0 (the prices table's CHECK)
LATER_ENTRIES = 4  # at most, after the opening buy
DIVIDEND = Decimal("0.005")
TRADE_FEES = (Decimal(0), Decimal(0), Decimal("1.00"), Decimal("4.95"), Decimal("9.99"))

# Closes in one statement per run, as unnested arrays (app/prices/repository.py's import does the same),
# keeping any close already there.
_NEW_CLOSES = (
    pg_insert(PRICES)
    .from_select(
        ["symbol", "date", "close"],
        sa.select(
            func.unnest(sa.bindparam("symbols", type_=sa.ARRAY(sa.String))),
            func.unnest(sa.bindparam("dates", type_=sa.ARRAY(sa.Date))),
            func.unnest(sa.bindparam("closes", type_=sa.ARRAY(sa.Numeric))),
        ),
    )
    .on_conflict_do_nothing(index_elements=[PRICES.c.symbol, PRICES.c.date])
    .execution_options(preserve_rowcount=True)  # an INSERT's rowcount is kept only when asked: the new closes
)
_CLOSES = (
    sa.select(PRICES.c.symbol, PRICES.c.date, PRICES.c.close)
    .where(PRICES.c.symbol.in_(list(SYMBOLS)), PRICES.c.date.between(sa.bindparam("first"), sa.bindparam("last")))
    .order_by(PRICES.c.symbol, PRICES.c.date)
)


def _unnest_insert(table: sa.Table, names: tuple[str, ...]) -> sa.Insert:
    """All of a batch's rows of `table` in one statement: one array per column, unnested side by side."""
    arrays = (func.unnest(sa.bindparam(name, type_=sa.ARRAY(table.c[name].type))) for name in names)
    return sa.insert(table).from_select(list(names), sa.select(*arrays))


def _next_ids(table: sa.Table) -> sa.Select:
    """`count` new ids from the table's own sequence: the rows are written with them, so no RETURNING to match up."""
    next_id = func.nextval(func.pg_get_serial_sequence(table.name, "id"))
    return sa.select(next_id).select_from(func.generate_series(1, sa.bindparam("count")))


_USER_COLUMNS = ("id", "name", "age", "signup_ts", "updated_at")
_STOCK_COLUMNS = ("id", "user_id", "name", "price", "quantity", "is_active", "created_at", "updated_at")
_LEDGER_COLUMNS = ("stock_id", "user_id", "type", "occurred_on", "quantity", "price", "fee", "amount", "realized_gain")
_NEW_USERS = _unnest_insert(USERS, _USER_COLUMNS)
_NEW_STOCKS = _unnest_insert(STOCKS, _STOCK_COLUMNS)
_NEW_TRANSACTIONS = _unnest_insert(TRANSACTIONS, _LEDGER_COLUMNS)
_NEXT_USER_IDS = _next_ids(USERS)
_NEXT_STOCK_IDS = _next_ids(STOCKS)
# The later entries' kinds, drawn with these odds (a sell on nothing held becomes a buy).
_KINDS = ("buy",) * 4 + ("sell",) * 3 + ("dividend",) * 2 + ("fee",)
_SYMBOL_LIST = list(SYMBOLS)


class DatabaseNotEmpty(Exception):
    """The database already holds users, and --force was not given."""


@dataclass(frozen=True)
class DemoSize:
    users: int
    stocks_per_user: int


@dataclass(frozen=True)
class DemoWritten:
    """What a fill wrote: rows of each table (closes: the new ones, those already there kept) and the days covered."""

    users: int
    stocks: int
    transactions: int
    closes: int
    symbols: int
    first_day: date
    last_day: date

    def __str__(self) -> str:
        return (
            f"Demo data written: {self.users:,} users, {self.stocks:,} stocks, {self.transactions:,} transactions, "
            f"{self.closes:,} daily closes ({self.symbols} symbols, weekdays {self.first_day} to {self.last_day})"
        )


# A symbol's closes, oldest first: the trading days (shared by every symbol) and the close of each.
Closes = dict[str, list[Decimal]]


def fill_with_demo_data(
    database_url: str, size: DemoSize, *, force: bool = False, seed: int | None = None, history: bool = True
) -> DemoWritten:
    """Insert `size` worth of demo users and stocks with their ledgers, and the symbols' closes; a progress bar."""
    generator = random.Random(seed)
    now = datetime.now(UTC)
    days = trading_days(now.date())
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            existing = connection.scalar(select(func.count()).select_from(User))
            if existing and not force:
                raise DatabaseNotEmpty(
                    f"The database already holds {existing} users; pass --force (make demo DEMO_FLAGS=--force) "
                    "to add demo data anyway."
                )
            new_closes = _write_closes(connection, generator, days)
            closes = _read_closes(connection, days)
            connection.commit()
            transactions = 0
            with tqdm(total=size.users * size.stocks_per_user or size.users, unit=" rows", desc="demo data") as bar:
                for start in range(0, size.users, USERS_PER_BATCH):
                    batch = min(USERS_PER_BATCH, size.users - start)
                    transactions += _insert_batch(
                        connection, generator, batch, size.stocks_per_user, days, closes, now, history=history
                    )
                    connection.commit()  # each batch lands whole, and progress is real
                    bar.update(batch * size.stocks_per_user or batch)
    finally:
        engine.dispose()
    return DemoWritten(
        users=size.users,
        stocks=size.users * size.stocks_per_user,
        transactions=transactions,
        closes=new_closes,
        symbols=len(SYMBOLS),
        first_day=days[0],
        last_day=days[-1],
    )


def trading_days(today: date) -> list[date]:
    """The weekdays of the PRICE_YEARS years ending `today` (included if a weekday), oldest first; no holidays."""
    try:
        first = today.replace(year=today.year - PRICE_YEARS)
    except ValueError:  # 29 February
        first = today.replace(year=today.year - PRICE_YEARS, day=28)
    span = (today - first).days
    return [day for day in (first + timedelta(days=n) for n in range(1, span + 1)) if day.weekday() < 5]


def random_walk(generator: random.Random, start: float, steps: int) -> list[Decimal]:
    """`steps` closes of a geometric random walk from `start`, quantized to 4 places, never below 0.0001."""
    closes = []
    price = float(start)
    for _ in range(steps):
        price *= exp(generator.gauss(DRIFT, VOLATILITY))
        closes.append(max(Decimal(price).quantize(PLACES), LOWEST_CLOSE))
    return closes


def _write_closes(connection: sa.Connection, generator: random.Random, days: list[date]) -> int:
    """Every symbol's walk over `days`, in one statement; how many closes were new."""
    symbols: list[str] = []
    closes: list[Decimal] = []
    for symbol, start in SYMBOLS.items():
        symbols += [symbol] * len(days)
        closes += random_walk(generator, start, len(days))
    written = connection.execute(
        _NEW_CLOSES, {"symbols": symbols, "dates": days * len(SYMBOLS), "closes": closes}
    ).rowcount
    return int(written)


def _read_closes(connection: sa.Connection, days: list[date]) -> Closes:
    """The closes as stored (new or kept) on every one of `days`, by symbol."""
    stored: dict[str, dict[date, Decimal]] = {symbol: {} for symbol in SYMBOLS}
    for symbol, day, close in connection.execute(_CLOSES, {"first": days[0], "last": days[-1]}):
        stored[symbol][day] = close
    return {symbol: [by_day[day] for day in days] for symbol, by_day in stored.items()}


def _insert_batch(
    connection: sa.Connection,
    generator: random.Random,
    users: int,
    stocks_per_user: int,
    days: list[date],
    closes: Closes,
    now: datetime,
    *,
    history: bool,
) -> int:
    """A batch of users, their stocks and the stocks' ledgers, a statement each; how many transactions it wrote."""
    # A user signs up before her first trade: at the latest, on the last trading day.
    latest_signup = min(now, datetime.combine(days[-1], time(), UTC))
    user_ids = connection.scalars(_NEXT_USER_IDS, {"count": users}).all()
    people = _columns(_USER_COLUMNS)
    stocks = _columns(_STOCK_COLUMNS)
    ledgers = _columns(_LEDGER_COLUMNS)
    stock_ids = iter(connection.scalars(_NEXT_STOCK_IDS, {"count": users * stocks_per_user}).all())
    for user_id in user_ids:
        signup = min(now - timedelta(seconds=generator.randrange(3 * 365 * 24 * 3600)), latest_signup)
        _add(people, user_id, _name(generator), None if generator.random() < 0.1 else generator.randint(18, 85),
             signup, signup)  # fmt: skip
        for _ in range(stocks_per_user):
            _add_lot(stocks, ledgers, generator, next(stock_ids), user_id, signup, now, days, closes, history=history)
    connection.execute(_NEW_USERS, people)
    if stocks_per_user:
        connection.execute(_NEW_STOCKS, stocks)
        connection.execute(_NEW_TRANSACTIONS, ledgers)
    return len(ledgers["stock_id"])


def _columns(names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {name: [] for name in names}


def _add(columns: dict[str, list[Any]], *values: Any) -> None:
    """One row, its values in the columns' order."""
    for column, value in zip(columns.values(), values, strict=True):
        column.append(value)


def _name(generator: random.Random) -> str:
    return f"{generator.choice(FIRST_NAMES)} {generator.choice(LAST_NAMES)}"


def _add_lot(
    stocks: dict[str, list[Any]],
    ledgers: dict[str, list[Any]],
    generator: random.Random,
    stock_id: int,
    user_id: int,
    signup: datetime,
    now: datetime,
    days: list[date],
    closes: Closes,
    *,
    history: bool,
) -> None:
    """A stock and its ledger, oldest first: the stock is the ledger replayed, by the ledger's own rules."""
    symbol = generator.choice(_SYMBOL_LIST)
    close = closes[symbol]
    # The acquisition day: a trading day of the window, not before the signup (never after the last one).
    opened = generator.randrange(bisect_left(days, signup.date()), len(days))
    count = generator.randint(0, min(LATER_ENTRIES, len(days) - opened - 1)) if history else 0
    later = sorted(generator.sample(range(opened + 1, len(days)), count))

    holding = Holding()
    # The ledger's columns, in _LEDGER_COLUMNS' order (appended to directly: this runs for every entry).
    columns = tuple(ledgers.values())

    def record(entry: Entry, amount: Decimal | None = None) -> None:
        nonlocal holding
        holding, gain = apply(holding, entry)
        row = (stock_id, user_id, entry.type, entry.occurred_on, entry.quantity, entry.price, entry.fee, amount, gain)
        for column, value in zip(columns, row, strict=True):
            column.append(value)

    # The opening buy, as a new stock records it (docs/reference/ledger.md): its quantity at the day's close, no fee.
    record(Entry("buy", days[opened], quantity=generator.randint(10, 500), price=close[opened], fee=Decimal(0)))
    for index in later:
        day, price = days[index], close[index]
        kind = generator.choice(_KINDS)
        if kind == "sell" and holding.quantity == 0:
            kind = "buy"
        if kind in ("buy", "sell"):
            most = 300 if kind == "buy" else holding.quantity
            record(Entry(kind, day, quantity=generator.randint(1, most), price=price, fee=generator.choice(TRADE_FEES)))
        elif kind == "dividend" and holding.quantity:
            # About 0.5% of the holding's worth: a quarterly dividend of a 2% yield.
            record(Entry("dividend", day), max((holding.quantity * price * DIVIDEND).quantize(PLACES), PLACES))
        else:  # a custody fee (or a dividend on nothing held, which becomes one)
            record(Entry("fee", day), Decimal(generator.randrange(100, 2500)) / 100)

    assert holding.average is not None  # the opening buy set it
    acquired = datetime.combine(days[opened], time(), UTC) + timedelta(seconds=generator.randrange(24 * 3600))
    created = min(max(acquired, signup), now)
    _add(stocks, stock_id, user_id, symbol, holding.average, holding.quantity, generator.random() < 0.9, created,
         created)  # fmt: skip
