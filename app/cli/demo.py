"""Demo data: realistic users and holdings over well-known symbols, in batched inserts.

python -m app demo --users 1000 --stocks-per-user 10
"""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import func, insert, select
from tqdm import tqdm

from app.stocks.models import Stock
from app.users.models import USERS, User

# Symbol and a plausible price to scatter lots around.
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


class DatabaseNotEmpty(Exception):
    """The database already holds users, and --force was not given."""


@dataclass(frozen=True)
class DemoSize:
    users: int
    stocks_per_user: int


def fill_with_demo_data(database_url: str, size: DemoSize, *, force: bool = False, seed: int | None = None) -> None:
    """Insert `size` worth of demo users and stocks, batch by batch, with a progress bar."""
    generator = random.Random(seed)
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            existing = connection.scalar(select(func.count()).select_from(User))
            if existing and not force:
                raise DatabaseNotEmpty(
                    f"The database already holds {existing} users; pass --force (make demo DEMO_FLAGS=--force) "
                    "to add demo data anyway."
                )
            with tqdm(total=size.users * size.stocks_per_user or size.users, unit=" rows", desc="demo data") as bar:
                for start in range(0, size.users, USERS_PER_BATCH):
                    batch = min(USERS_PER_BATCH, size.users - start)
                    _insert_batch(connection, generator, batch, size.stocks_per_user)
                    connection.commit()  # each batch lands whole, and progress is real
                    bar.update(batch * size.stocks_per_user or batch)
    finally:
        engine.dispose()


def _insert_batch(connection: sa.Connection, generator: random.Random, users: int, stocks_per_user: int) -> None:
    now = datetime.now(UTC)
    people = [_person(generator, now) for _ in range(users)]
    user_ids = connection.scalars(insert(User).returning(USERS.c.id, sort_by_parameter_order=True), people).all()
    stocks = [
        _lot(generator, user_id, person["signup_ts"], now)
        for user_id, person in zip(user_ids, people, strict=True)
        for _ in range(stocks_per_user)
    ]
    if stocks:
        connection.execute(insert(Stock), stocks)


def _person(generator: random.Random, now: datetime) -> dict:
    signup = now - timedelta(seconds=generator.randrange(3 * 365 * 24 * 3600))
    return {
        "name": f"{generator.choice(FIRST_NAMES)} {generator.choice(LAST_NAMES)}",
        "age": None if generator.random() < 0.1 else generator.randint(18, 85),
        "signup_ts": signup,
        "updated_at": signup,
    }


def _lot(generator: random.Random, user_id: int, signup: datetime, now: datetime) -> dict:
    symbol = generator.choice(list(SYMBOLS))
    price = Decimal(SYMBOLS[symbol] * generator.uniform(0.7, 1.3)).quantize(Decimal("0.01"))
    bought = signup + (now - signup) * generator.random()
    return {
        "user_id": user_id,
        "name": symbol,
        "price": price,
        "quantity": generator.randint(1, 500),
        "is_active": generator.random() < 0.9,
        "created_at": bought,
        "updated_at": bought,
    }
