"""The SQLModel classes: the `users` and `stocks` tables and the API schemas built on them.

One layer, as SQLModel's docs teach it: a `...Base` holds the shared, validated
fields; the `table=True` class adds the key, server-set columns and
relationships; `...Create`, `...Update` and `...Public` are what the API reads
and writes. Table rows are built with `Model.model_validate(payload)`, because
a `table=True` class does not validate in `__init__`.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, PlainSerializer, field_validator
from sqlalchemy import CheckConstraint, DateTime, func, text
from sqlmodel import Field, Relationship, SQLModel

# Constraint names Alembic can see and diff; without them it writes
# `create_foreign_key(None, ...)`, which cannot be dropped by name later.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# PostgreSQL `integer`: every id and count column. Values outside it can never
# match a row, and must never reach the database as a parameter it rejects.
INT32_MAX = 2_147_483_647


def _storable_text(value: str) -> str:
    """Refuse NUL, which PostgreSQL text cannot hold, so it is a 422 and not a driver error.

    (Unpaired surrogates, the other unstorable case, Pydantic already refuses.)
    """
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


StorableText = Annotated[str, AfterValidator(_storable_text)]

# Money is NUMERIC(12, 4) in the database and Decimal in Python, so it is exact.
# It leaves as a JSON number (175.5, as the guide shows), not Pydantic's default
# string: 12 significant digits fit a double's 15, so the shortest repr of the
# float is exactly the stored decimal.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
PRICE_MAX_DIGITS = 12
PRICE_DECIMAL_PLACES = 4


def server_timestamp() -> Any:
    """A timestamptz column set by PostgreSQL's clock; SQLModel's default would be naive."""
    return Field(
        default=None,
        sa_type=DateTime(timezone=True),
        sa_column_kwargs={"server_default": func.now(), "nullable": False},
    )


class Identified(SQLModel):
    """A row's id, for the public schemas.

    Mixed in as the last base, so Pydantic (which orders fields by reversed
    MRO) puts `id` first in every response, as the guide shows them.
    """

    id: int


# ---------------------------------------------------------------- users


class UserBase(SQLModel):
    name: StorableText = Field(
        min_length=3,
        max_length=255,
        description="Full name: 3 to 255 characters, starting with a capital letter.",
        schema_extra={"examples": ["John Doe"]},
    )
    age: int | None = Field(
        default=None, ge=0, le=150, description="Age in years, 0 to 150.", schema_extra={"examples": [30]}
    )

    @field_validator("name")
    @classmethod
    def name_must_start_with_capital(cls, value: str) -> str:
        if not value[0].isupper():
            raise ValueError("Name must start with a capital letter")
        return value


class User(UserBase, table=True):
    __tablename__ = "users"
    # The rules hold in the database too, for writes that do not come through the API.
    __table_args__ = (
        CheckConstraint("char_length(name) >= 3", name="name_length"),
        CheckConstraint("age BETWEEN 0 AND 150", name="age_range"),
    )
    # Fetch server-set columns (signup_ts) in the INSERT's RETURNING, not by a lazy load.
    __mapper_args__ = {"eager_defaults": True}

    id: int | None = Field(default=None, primary_key=True)
    signup_ts: datetime | None = server_timestamp()

    # lazy="raise": every load of stocks is explicit (selectinload), so no N+1
    # can creep in. passive_deletes: the database's ON DELETE CASCADE removes
    # the rows, rather than the ORM loading and deleting them one by one.
    stocks: list["Stock"] = Relationship(
        back_populates="owner",
        cascade_delete=True,
        passive_deletes=True,
        sa_relationship_kwargs={"lazy": "raise", "order_by": "Stock.id"},
    )


class UserCreate(UserBase):
    pass


class UserUpdate(UserBase):
    """PUT replaces the user's fields, as in the guide."""


class UserPublic(UserBase, Identified):
    signup_ts: datetime


class UserWithStocks(UserPublic):
    stocks: list["StockPublic"] = []


# ---------------------------------------------------------------- stocks


class StockBase(SQLModel):
    name: StorableText = Field(
        min_length=1,
        max_length=10,
        index=True,
        description="Stock symbol, 1 to 10 characters.",
        schema_extra={"examples": ["AAPL"]},
    )
    price: Money = Field(
        gt=0,
        max_digits=PRICE_MAX_DIGITS,
        decimal_places=PRICE_DECIMAL_PLACES,
        description="Price per share: more than 0, at most 99999999.9999 (4 decimal places). Stored exactly.",
        schema_extra={"examples": [175.5]},
    )
    quantity: int = Field(
        gt=0, le=INT32_MAX, description="Number of shares, 1 to 2147483647.", schema_extra={"examples": [10]}
    )
    is_active: bool = Field(
        default=True,
        sa_column_kwargs={"server_default": text("true")},
        description="Whether the stock is actively tracked.",
    )


class Stock(StockBase, table=True):
    __tablename__ = "stocks"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: int | None = Field(default=None, primary_key=True)
    # NOT NULL and ON DELETE CASCADE: a stock never outlives its user.
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime | None = server_timestamp()

    owner: User | None = Relationship(back_populates="stocks", sa_relationship_kwargs={"lazy": "raise"})


class StockCreate(StockBase):
    pass


class StockUpdate(StockBase):
    """PUT replaces the stock's fields, as in the guide."""


class StockPublic(StockBase, Identified):
    user_id: int
    created_at: datetime
