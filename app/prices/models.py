"""The `prices` table (a symbol's close on a date) and the API schemas built on it.

A reference table: no `user_id`, every user reads the same closes. The
symbol and the close follow the stocks' rules exactly (`Symbol`, `Price` in
app/kit/fields.py), so a stock's symbol always names the same prices.
"""

import datetime

from sqlalchemy import CheckConstraint, String, Table
from sqlmodel import Field, SQLModel

from app.kit.fields import (
    STORED_SYMBOL_PATTERN,
    SYMBOL_MAX_LENGTH,
    Price,
    Schema,
    Symbol,
)


class MarketPrice(SQLModel, table=True):
    """One symbol's close on one day; the key (symbol, date) is also the index every list walks."""

    __tablename__ = "prices"
    __table_args__ = (
        CheckConstraint("close > 0", name="close_positive"),
        CheckConstraint(f"symbol ~ '{STORED_SYMBOL_PATTERN}'", name="symbol_format"),
    )

    symbol: Symbol = Field(sa_type=String(SYMBOL_MAX_LENGTH), primary_key=True)
    date: datetime.date = Field(primary_key=True)
    close: Price  # NUMERIC(12, 4), from the type's rules, as the stocks' price


# The Core table behind the class, for the repository's statements (see STOCKS in app/stocks/models.py).
PRICES: Table = MarketPrice.__table__  # type: ignore[attr-defined]


class CloseCreate(Schema):
    """PUT /prices/{symbol}/{date}'s body: the close; the symbol and the date are the path's."""

    close: Price


class MarketPricePublic(Schema):
    """One close, as PUT answers it."""

    symbol: Symbol
    date: datetime.date
    close: Price


class DailyClose(Schema):
    """One close in a symbol's list (the symbol is the path's)."""

    date: datetime.date
    close: Price


class Imported(Schema):
    """POST /prices/import's answer: how many closes were written (new or replaced)."""

    imported: int = Field(schema_extra={"examples": [756]})
