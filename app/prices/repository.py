"""Every SQL statement on prices: one close written, many closes written at once, and a symbol's closes by date.

No scope narrows these: prices are a reference table every caller reads
alike (who may write is decided before a statement runs, app/prices/dependencies.py).
"""

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import TypeAdapter
from sqlalchemy import ARRAY, Date, Numeric, String, Table, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert

from app.kit.keyset import Page, PageParams, SortOrder
from app.kit.repository import Repository
from app.prices.models import PRICES, DailyClose, MarketPricePublic

OLDEST_FIRST = SortOrder("date")

# PUT: one statement, new or replaced. `xmax = 0` holds for a row this statement
# inserted and not for one it updated (PostgreSQL's system column naming the
# deleting transaction, set by ON CONFLICT's update): 201 or 200 without a second statement.
_new = insert(PRICES).values(symbol=bindparam("symbol"), date=bindparam("date"), close=bindparam("close"))
UPSERT_ONE = _new.on_conflict_do_update(
    index_elements=[PRICES.c.symbol, PRICES.c.date], set_={"close": _new.excluded.close}
).returning(PRICES.c.symbol, PRICES.c.date, PRICES.c.close, literal_column("xmax = 0").label("inserted"))

# An import: every row in one statement, whatever their number, as two arrays
# unnested side by side (a VALUES list of bound parameters would meet the
# protocol's 65535-parameter limit at 21845 rows). One statement is atomic:
# all the rows land, or none does.
_rows = select(
    bindparam("symbol", type_=String),
    func.unnest(bindparam("dates", type_=ARRAY(Date))),
    func.unnest(bindparam("closes", type_=ARRAY(Numeric))),
)
_many = insert(PRICES).from_select(["symbol", "date", "close"], _rows)
UPSERT_MANY = _many.on_conflict_do_update(
    index_elements=[PRICES.c.symbol, PRICES.c.date], set_={"close": _many.excluded.close}
)


class PriceRepository(Repository[DailyClose]):
    table: ClassVar[Table] = PRICES
    key_column: ClassVar[str] = "date"
    resource: ClassVar[str] = "Price"
    public: ClassVar[TypeAdapter[Any]] = TypeAdapter(DailyClose)
    public_list: ClassVar[TypeAdapter[Any]] = TypeAdapter(list[DailyClose])

    async def put(self, symbol: str, day: date, close: Decimal) -> tuple[MarketPricePublic, bool]:
        """The close of `symbol` on `day`, written whether or not one was there; and whether it is new."""
        row = await self._first(UPSERT_ONE, symbol=symbol, date=day, close=close)
        assert row is not None  # an upsert returns its row, inserted or updated
        written = MarketPricePublic.model_validate(
            {"symbol": row["symbol"], "date": row["date"], "close": row["close"]}
        )
        return written, bool(row["inserted"])

    async def put_many(self, symbol: str, closes: dict[date, Decimal]) -> None:
        """Every close of `closes` written for `symbol`, new or replaced, in one statement."""
        await self._execute(UPSERT_MANY, {"symbol": symbol, "dates": list(closes), "closes": list(closes.values())})

    async def list(self, symbol: str, first: date | None, last: date | None, params: PageParams) -> Page[DailyClose]:
        """`symbol`'s closes from `first` to `last` (both included, either open), oldest first."""
        statement = select(PRICES.c.date, PRICES.c.close).where(PRICES.c.symbol == symbol)
        if first is not None:
            statement = statement.where(PRICES.c.date >= first)
        if last is not None:
            statement = statement.where(PRICES.c.date <= last)
        return await self._page(statement, OLDEST_FIRST, params)
