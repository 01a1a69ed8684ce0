"""What a portfolio answer holds: a user's active holdings, grouped by symbol and valued."""

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
