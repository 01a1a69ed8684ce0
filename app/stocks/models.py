"""The `stocks` table (holdings) and the API schemas built on it (the SQLModel pattern: see app/kit/fields.py)."""

from datetime import datetime
from typing import Annotated

from pydantic import MISSING
from pydantic import Field as Rules
from sqlalchemy import CheckConstraint, String, Table, text
from sqlmodel import Field, SQLModel

from app.kit.fields import (
    INT32_MAX,
    STORED_SYMBOL_PATTERN,
    SYMBOL_MAX_LENGTH,
    Flag,
    Identified,
    JsonNumber,
    NotNull,
    PastDay,
    Price,
    Schema,
    Symbol,
    row_version,
    server_timestamp,
)

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
    """POST: a new holding, recorded in its ledger as its opening buy (docs/reference/ledger.md)."""

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
