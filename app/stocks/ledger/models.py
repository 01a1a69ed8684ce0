"""The `transactions` table (a holding's ledger) and the API schemas built on it."""

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, WithJsonSchema
from pydantic import Field as Rules
from sqlalchemy import CheckConstraint, Date, Index, Numeric, String, Table
from sqlmodel import Field, SQLModel

from app.kit.fields import (
    PRICE_DECIMAL_PLACES,
    PRICE_MAX_DIGITS,
    Identified,
    JsonNumber,
    Money,
    NotNull,
    PastDay,
    Price,
    Schema,
    server_timestamp,
    storable_text,
)
from app.stocks.models import Quantity

# What a client may record; `adjustment` is written by a guide-style PUT or PATCH of the stock only.
RecordedType = Literal["buy", "sell", "dividend", "fee", "split"]
TransactionType = Literal["buy", "sell", "dividend", "fee", "split", "adjustment"]
TRANSACTION_TYPES: tuple[str, ...] = ("buy", "sell", "dividend", "fee", "split", "adjustment")

# Amounts (a fee, a dividend) may exceed a share's price: NUMERIC(14,4), up to 9999999999.9999.
AMOUNT_MAX_DIGITS = 14
AMOUNT_MAX = Decimal("9999999999.9999")
# A split's ratio: 2 is two-for-one, 0.5 one-for-two; NUMERIC(12,6).
RATIO_MAX_DIGITS = 12
RATIO_DECIMAL_PLACES = 6
RATIO_MAX = Decimal("999999.999999")
# A sell's realized gain: quantity x price fits in 19 digits before the point.
GAIN_MAX_DIGITS = 24
NOTE_MAX_LENGTH = 500


FEE_DESCRIPTION = "Costs of the buy or sell, 0 or more, 4 decimal places at most; counted in the cost. Default 0."
Fee = Annotated[
    Money,
    Rules(ge=0, max_digits=AMOUNT_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES),
    JsonNumber,
    WithJsonSchema(
        {"type": "number", "minimum": 0, "maximum": float(AMOUNT_MAX), "multipleOf": 0.0001,
         "description": FEE_DESCRIPTION, "examples": [1.5]},
        mode="validation",
    ),
    WithJsonSchema({"type": "number"}, mode="serialization"),
    NotNull,
]  # fmt: skip
AMOUNT_DESCRIPTION = "The money received or paid: more than 0, at most 9999999999.9999, 4 decimal places at most."
Amount = Annotated[
    Money,
    Rules(gt=0, max_digits=AMOUNT_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES),
    JsonNumber,
    WithJsonSchema(
        {"type": "number", "minimum": 0.0001, "maximum": float(AMOUNT_MAX), "multipleOf": 0.0001,
         "description": AMOUNT_DESCRIPTION, "examples": [12.5]},
        mode="validation",
    ),
    WithJsonSchema({"type": "number"}, mode="serialization"),
    NotNull,
]  # fmt: skip
Ratio = Annotated[
    Money,
    Rules(gt=0, max_digits=RATIO_MAX_DIGITS, decimal_places=RATIO_DECIMAL_PLACES),
    JsonNumber,
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0.000001,
            "maximum": float(RATIO_MAX),
            "multipleOf": 0.000001,
            "description": "Shares per old share: 2 is two-for-one, 0.5 one-for-two; quantity x ratio must be whole.",
            "examples": [2],
        },
        mode="validation",
    ),
    WithJsonSchema({"type": "number"}, mode="serialization"),
    NotNull,
]
Note = Annotated[
    str, Rules(max_length=NOTE_MAX_LENGTH, description="Free text, for you."), AfterValidator(storable_text)
]


class Transaction(SQLModel, table=True):
    """One entry of a holding's ledger; which of quantity, price, fee, amount and ratio it has depends on its type."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint(f"type IN ({', '.join(repr(kind) for kind in TRANSACTION_TYPES)})", name="known_type"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("fee >= 0", name="fee_not_negative"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("ratio > 0", name="ratio_positive"),
        # A holding's ledger in replay order, and a user's across holdings (both lists, and the replay).
        Index("ix_transactions_stock_id_occurred_on_id", "stock_id", "occurred_on", "id"),
        Index("ix_transactions_user_id_occurred_on_id", "user_id", "occurred_on", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # ON DELETE CASCADE: a ledger goes with its holding, and with its user.
    stock_id: int = Field(foreign_key="stocks.id", ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    type: str = Field(sa_type=String(10))
    occurred_on: date = Field(sa_type=Date)
    quantity: int | None = None
    price: Decimal | None = Field(default=None, sa_type=Numeric(PRICE_MAX_DIGITS, PRICE_DECIMAL_PLACES))
    fee: Decimal | None = Field(default=None, sa_type=Numeric(AMOUNT_MAX_DIGITS, PRICE_DECIMAL_PLACES))
    amount: Decimal | None = Field(default=None, sa_type=Numeric(AMOUNT_MAX_DIGITS, PRICE_DECIMAL_PLACES))
    ratio: Decimal | None = Field(default=None, sa_type=Numeric(RATIO_MAX_DIGITS, RATIO_DECIMAL_PLACES))
    realized_gain: Decimal | None = Field(default=None, sa_type=Numeric(GAIN_MAX_DIGITS, PRICE_DECIMAL_PLACES))
    note: str | None = Field(default=None, sa_type=String(NOTE_MAX_LENGTH))
    created_at: datetime | None = server_timestamp()


TRANSACTIONS: Table = Transaction.__table__  # type: ignore[attr-defined]


# ---------------------------------------------------------------- what a client sends: one schema per type


class _Recorded(Schema):
    occurred_on: PastDay
    note: Note | None = None


class _Trade(_Recorded):
    quantity: Quantity
    price: Price
    fee: Fee = Decimal(0)


class BuyCreate(_Trade):
    """Shares bought: quantity at price per share, plus fee; the holding's average cost moves."""

    type: Literal["buy"]


class SellCreate(_Trade):
    """Shares sold: at most the quantity held on that day; answers its realized gain."""

    type: Literal["sell"]


class DividendCreate(_Recorded):
    """Money received on the holding; the holding's quantity and cost do not move."""

    type: Literal["dividend"]
    amount: Amount


class FeeCreate(_Recorded):
    """Money paid on the holding (custody, say); the holding's quantity and cost do not move."""

    type: Literal["fee"]
    amount: Amount


class SplitCreate(_Recorded):
    """A split: quantity times ratio (must come out whole), average cost divided by it."""

    type: Literal["split"]
    ratio: Ratio


TransactionCreate = Annotated[
    BuyCreate | SellCreate | DividendCreate | FeeCreate | SplitCreate, Rules(discriminator="type")
]


class TransactionPublic(Identified):
    """An entry as answered: the fields its type has, the others null."""

    stock_id: int = Field(schema_extra={"examples": [1]})
    user_id: int = Field(schema_extra={"examples": [1]})
    type: TransactionType
    occurred_on: date
    quantity: int | None = Field(default=None, description="buy, sell, adjustment: shares.")
    price: Money | None = Field(default=None, description="buy, sell, adjustment: per share.")
    fee: Money | None = Field(default=None, description="buy, sell: costs.")
    amount: Money | None = Field(default=None, description="dividend, fee: money received or paid.")
    ratio: Money | None = Field(default=None, description="split: new shares per old share.")
    realized_gain: Money | None = Field(
        default=None, description="sell: quantity x (price - average cost) - fee, at the average cost of its day."
    )
    note: str | None = None
    created_at: datetime
