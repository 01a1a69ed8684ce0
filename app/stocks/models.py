"""The `stocks` table (holdings) and the API schemas built on it (the SQLModel pattern: see app/kit/fields.py)."""

import re
from datetime import datetime
from typing import Annotated

from pydantic import MISSING, AfterValidator, WithJsonSchema
from pydantic import Field as Rules
from sqlalchemy import CheckConstraint, String, Table, text
from sqlmodel import Field, SQLModel

from app.kit.fields import (
    INT32_MAX,
    Flag,
    Identified,
    JsonNumber,
    Money,
    NotNull,
    PastDay,
    Schema,
    row_version,
    server_timestamp,
)

# Symbols are stored trimmed and upper-case, so " brk.b " and "BRK.B" are one
# symbol and filtering by symbol is an index lookup. Only ASCII is accepted
# (checked before upper-casing, which would turn "ß" into "SS").
SYMBOL_MAX_LENGTH = 10
_SYMBOL_WHITESPACE = " \t\n\r"
_SYMBOL = re.compile(r"[A-Za-z0-9.\-]+")
# A stored symbol, as the database's CHECK states it: `.` and `-` only after a letter or digit (BRK.B, RDS-A).
STORED_SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9.\-]*$"
# ... and as a client may send it, any case, before trimming.
_SYMBOL_CLIENT = rf"[A-Za-z0-9][A-Za-z0-9.\-]{{0,{SYMBOL_MAX_LENGTH - 1}}}"


def normalize_symbol(value: str) -> str:
    """`" brk.b "` -> `"BRK.B"`; refused: anything but A-Z, digits, `.` and `-`, and a first character of `.` or `-`."""
    symbol = value.strip(_SYMBOL_WHITESPACE)
    if not symbol:
        raise ValueError("Symbol must not be empty")
    if len(symbol) > SYMBOL_MAX_LENGTH:
        raise ValueError(f"Symbol must be at most {SYMBOL_MAX_LENGTH} characters")
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError("Symbol may contain only letters A-Z, digits, '.' and '-'")
    if not symbol[0].isalnum():
        raise ValueError("Symbol must start with a letter A-Z or a digit")
    return symbol.upper()


Symbol = Annotated[
    str,
    AfterValidator(normalize_symbol),
    # What clients may send: surrounding spaces and lower case are fine.
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^[{_SYMBOL_WHITESPACE}]*{_SYMBOL_CLIENT}[{_SYMBOL_WHITESPACE}]*$",
            "description": (
                "Stock symbol: 1 to 10 of A-Z, 0-9, '.' and '-', starting with a letter or digit; "
                "trimmed and upper-cased."
            ),
            "examples": ["AAPL"],
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": rf"^[A-Z0-9][A-Z0-9.\-]{{0,{SYMBOL_MAX_LENGTH - 1}}}$", "examples": ["AAPL"]},
        mode="serialization",
    ),
    NotNull,
]

PRICE_MAX_DIGITS = 12
PRICE_DECIMAL_PLACES = 4
PRICE_DESCRIPTION = "Price per share: more than 0, at most 99999999.9999, 4 decimal places at most. Stored exactly."
Price = Annotated[
    Money,
    Rules(gt=0, max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES),
    JsonNumber,
    # Pydantic would document a Decimal input as "number or any string"; it is a number.
    # The same rule as above, in JSON Schema's words: 4 decimal places is a
    # multiple of 0.0001, so the smallest price is 0.0001.
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0.0001,
            "maximum": 99999999.9999,
            "multipleOf": 0.0001,
            "description": PRICE_DESCRIPTION,
            "examples": [175.5],
        },
        mode="validation",
    ),
    WithJsonSchema({"type": "number", "description": PRICE_DESCRIPTION, "examples": [175.5]}, mode="serialization"),
    NotNull,
]

Quantity = Annotated[
    int,
    Rules(gt=0, le=INT32_MAX, description="Number of shares, 1 to 2147483647.", examples=[10]),
    JsonNumber,
    NotNull,
]


class StockBase(SQLModel):
    name: Symbol
    price: Price
    quantity: Quantity
    is_active: Flag = Field(
        default=True,
        sa_column_kwargs={"server_default": text("true")},
        description="Whether the stock is actively tracked; inactive stocks are left out of the portfolio.",
    )


class Stock(StockBase, table=True):
    __tablename__ = "stocks"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        # 0 once every share is sold (the ledger's sells); a client still sends more than 0 (Quantity).
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint(f"name ~ '{STORED_SYMBOL_PATTERN}'", name="symbol_format"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: Symbol = Field(sa_type=String(SYMBOL_MAX_LENGTH), index=True)
    # NOT NULL and ON DELETE CASCADE: a stock never outlives its user.
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime | None = server_timestamp()
    updated_at: datetime | None = server_timestamp(moves_on_update=True)
    version: int | None = row_version()


# The Core table behind the class, for the repositories' statements (see USERS in app/users/models.py).
STOCKS: Table = Stock.__table__  # type: ignore[attr-defined]


class StockReplace(StockBase, Schema):
    """PUT, which replaces every field as in the guide; a new quantity or price is recorded as an adjustment."""


class StockCreate(StockReplace):
    """POST: a new holding, recorded in its ledger as its opening buy (docs/ledger.md)."""

    acquired_on: PastDay | None = Field(
        default=None, description="The day of the opening buy, YYYY-MM-DD, not after today (UTC); today if left out."
    )


class StockUpdate(Schema):
    """PATCH: only the fields sent change; none of them may be null."""

    name: Symbol | MISSING = MISSING
    price: Price | MISSING = MISSING
    quantity: Quantity | MISSING = MISSING
    is_active: Flag | MISSING = MISSING


# What a holding may hold once sold out: 0 shares (a client never sends 0).
Held = Annotated[int, Rules(ge=0, le=INT32_MAX, description="Shares held: 0 once every share is sold.", examples=[10])]


class StockPublic(StockBase, Identified):
    quantity: Held  # wider than what a client sends: a sold-out holding holds 0
    user_id: int = Field(schema_extra={"examples": [1]})
    created_at: datetime
    updated_at: datetime
