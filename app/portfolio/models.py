"""What a portfolio answer holds: a user's active holdings, grouped by symbol and valued."""

import datetime
from typing import Literal

from sqlmodel import Field

from app.kit.fields import Money, Schema


class Position(Schema):
    """A user's active holdings of one symbol, added up."""

    name: str = Field(description="Stock symbol.", schema_extra={"examples": ["AAPL"]})
    quantity: int = Field(description="Shares held, summed over the active stocks.", schema_extra={"examples": [10]})
    value: Money = Field(description="Sum of price x quantity.", schema_extra={"examples": [1755.0]})
    average_price: Money = Field(
        description="value / quantity, rounded to 4 decimal places.", schema_extra={"examples": [175.5]}
    )


class Portfolio(Schema):
    user_id: int = Field(schema_extra={"examples": [1]})
    total_value: Money = Field(description="Sum of the positions' values.", schema_extra={"examples": [1755.0]})
    positions: list[Position] = Field(description="By value, largest first.")


# ---------------------------------------------------------------- ?as_of=: the valuation on a day


class ValuedPosition(Position):
    """A position as its ledger left it on `as_of`, at cost (`value`) and at the latest close on or before it."""

    market_price: Money | None = Field(
        description="The symbol's latest close on or before as_of; null when no close is known (then priced is false).",
        schema_extra={"examples": [190.0]},
    )
    priced: bool = Field(
        description="Whether a close was known; when false, market_value is the value at cost.",
        schema_extra={"examples": [True]},
    )
    market_value: Money = Field(
        description="quantity x market_price; the value at cost when no close is known.",
        schema_extra={"examples": [1900.0]},
    )
    unrealized_gain: Money = Field(description="market_value - value.", schema_extra={"examples": [145.0]})


class Valuation(Schema):
    """The portfolio on a day: every field of the portfolio as of that day, and what it was worth and earned."""

    user_id: int = Field(schema_extra={"examples": [1]})
    as_of: datetime.date = Field(description="The day valued (its end): the ledger up to and including it.")
    total_value: Money = Field(
        description="Sum of the positions' values (at cost).", schema_extra={"examples": [1755.0]}
    )
    market_value: Money = Field(description="Sum of the positions' market values.", schema_extra={"examples": [1900.0]})
    unrealized_gain: Money = Field(description="market_value - total_value.", schema_extra={"examples": [145.0]})
    realized_gain: Money = Field(
        description="Sum of the realized gains of the sells up to as_of (each net of its fee).",
        schema_extra={"examples": [61.8]},
    )
    dividends: Money = Field(description="Sum of the dividends up to as_of.", schema_extra={"examples": [12.5]})
    fees: Money = Field(
        description=(
            "Every fee paid up to as_of: the fee entries plus the buys' and sells' fees. The buys' fees are "
            "already in the cost (so in unrealized_gain), the sells' in realized_gain; only the fee entries are not."
        ),
        schema_extra={"examples": [10.0]},
    )
    positions: list[ValuedPosition] = Field(description="By value at cost, largest first.")


# ---------------------------------------------------------------- GET /users/{user_id}/performance

Interval = Literal["day", "week", "month"]


class PerformancePoint(Schema):
    """The portfolio at the end of one day of the series."""

    date: datetime.date
    value: Money = Field(description="Market value at the day's close.", schema_extra={"examples": [1980.0]})
    invested: Money = Field(
        description="start_value plus the net flows from `from` to this day: value - invested is the gain so far.",
        schema_extra={"examples": [2100.0]},
    )


class Performance(Schema):
    """How the portfolio did from the close before `from` to the close of `to` (docs/explanation/returns.md)."""

    date_from: datetime.date = Field(alias="from", description="The first day of the period.")
    date_to: datetime.date = Field(alias="to", description="The last day of the period.")
    start_value: Money = Field(description="Market value at the close of the day before `from`.")
    end_value: Money = Field(description="Market value at the close of `to`.")
    net_flows: Money = Field(description="Money put in (buys, fee entries) less money taken out (sells, dividends).")
    gain: Money = Field(description="end_value - start_value - net_flows.")
    twr: Money | None = Field(description="Time-weighted return, a fraction (0.1 is 10%); null when undefined.")
    xirr: Money | None = Field(description="Money-weighted return a year (XIRR), a fraction; null when undefined.")
    series: list[PerformancePoint] = Field(
        description="The day before `from`, the last day of each day, week (Sunday) or month of the interval, and `to`."
    )
