"""The portfolio query: what a user's active stocks are worth, by symbol, in one statement."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import ARRAY, BigInteger, Boolean, Date, Integer, Numeric, String, and_, bindparam, func, select, text
from sqlmodel.ext.asyncio.session import AsyncSession

from app.kit.errors import NotFound
from app.kit.repository import can_exist
from app.kit.scope import EVERY_ROW, Scope, owner_matches
from app.portfolio.models import Portfolio, Position
from app.stocks.ledger.models import TRANSACTIONS
from app.stocks.ledger.rules import Entry
from app.stocks.models import STOCKS
from app.users.models import USERS

# A user's valuation: their active stocks grouped by symbol. Starting from
# users, a missing user is no row at all, and a user without active stocks is
# one row whose symbol is NULL. All arithmetic is exact NUMERIC in PostgreSQL.
# A sold-out holding (quantity 0, app/stocks/ledger/) is no position: left out, as
# it must be (a symbol held only so would divide by a quantity of 0).
_quantity = func.sum(STOCKS.c.quantity)
_value = func.sum(STOCKS.c.price * STOCKS.c.quantity)
_PORTFOLIO = (
    select(
        STOCKS.c.name,
        _quantity.label("quantity"),
        _value.label("value"),
        func.round(_value / _quantity, 4).label("average_price"),
        func.sum(_value).over().label("total_value"),
    )
    .select_from(
        USERS.outerjoin(STOCKS, and_(STOCKS.c.user_id == USERS.c.id, STOCKS.c.is_active, STOCKS.c.quantity > 0))
    )
    .where(USERS.c.id == bindparam("row_id"), owner_matches(USERS.c.id))
    .group_by(USERS.c.id, STOCKS.c.name)
    .order_by(_value.desc(), STOCKS.c.name)
)

# A user's ledger over their active holdings, up to a day, in replay order (by day, then as
# written: each holding's order, docs/reference/ledger.md). As above, starting from users: a missing
# user (or one out of scope) is no row, a user without entries one row of NULLs.
_LEDGER = (
    select(
        USERS.c.id.label("user_id"),
        STOCKS.c.name.label("symbol"),
        TRANSACTIONS.c.stock_id,
        TRANSACTIONS.c.id,
        TRANSACTIONS.c.type,
        TRANSACTIONS.c.occurred_on,
        TRANSACTIONS.c.quantity,
        TRANSACTIONS.c.price,
        TRANSACTIONS.c.fee,
        TRANSACTIONS.c.amount,
        TRANSACTIONS.c.ratio,
    )
    .select_from(
        USERS.outerjoin(
            STOCKS.join(
                TRANSACTIONS,
                and_(TRANSACTIONS.c.stock_id == STOCKS.c.id, TRANSACTIONS.c.occurred_on <= bindparam("until")),
            ),
            and_(STOCKS.c.user_id == USERS.c.id, STOCKS.c.is_active),
        )
    )
    .where(USERS.c.id == bindparam("row_id"), owner_matches(USERS.c.id))
    .order_by(TRANSACTIONS.c.occurred_on, TRANSACTIONS.c.id)
)

# Each symbol's latest close on or before a day: one index probe per symbol (prices' key is (symbol, date)).
_LATEST_CLOSES = text(
    """
    SELECT held.symbol, latest.close
    FROM unnest(CAST(:symbols AS varchar[])) AS held (symbol)
    LEFT JOIN LATERAL (
        SELECT close FROM prices WHERE prices.symbol = held.symbol AND prices.date <= :day
        ORDER BY prices.date DESC LIMIT 1
    ) AS latest ON true
    """
).bindparams(bindparam("symbols", type_=ARRAY(String)), bindparam("day", type_=Date))

# The users list's figures, for a page of users at once (one statement, whatever the number of users or
# holdings): each user's holdings (every row, as the portfolio page lists them), and their active,
# held holdings at cost and at each symbol's latest close on or before :day (at cost without one),
# as the valuation counts them. A holding's row equals its ledger replayed (app/stocks/ledger/), so
# these are GET /users/{id}/portfolio?as_of=:day's total_value and market_value for each user.
_USER_TOTALS = text(
    """
    SELECT stocks.user_id,
           count(*) AS holdings,
           coalesce(sum(stocks.price * stocks.quantity) FILTER (WHERE held), 0) AS cost,
           coalesce(sum(stocks.quantity * coalesce(latest.close, stocks.price)) FILTER (WHERE held), 0) AS market
    FROM stocks
    CROSS JOIN LATERAL (SELECT stocks.is_active AND stocks.quantity > 0 AS held) AS counted
    LEFT JOIN LATERAL (
        SELECT close FROM prices WHERE counted.held AND prices.symbol = stocks.name AND prices.date <= :day
        ORDER BY prices.date DESC LIMIT 1
    ) AS latest ON true
    WHERE stocks.user_id = ANY(CAST(:user_ids AS integer[])) AND (:any_owner OR stocks.user_id = :owner_id)
    GROUP BY stocks.user_id
    """
).bindparams(
    bindparam("user_ids", type_=ARRAY(Integer)),
    bindparam("day", type_=Date),
    bindparam("any_owner", type_=Boolean),
    bindparam("owner_id", type_=Integer),
)

# The portfolio's market value at the close of every day from :first to :last, in one statement.
# `held` is what the ledger's replay (app/portfolio/service.py) says each symbol held: `quantity`
# shares from `since` until the day before `until`, worth `at_cost` at their average cost. Each
# close is valid from its day until the next close (weekends, holidays: the latest close on or
# before the day). A stretch's worth is a step function: from `since`, quantity x the latest close
# on or before it (its cost if the symbol has no close yet), then quantity x each close within
# the stretch from its day, and nothing from `until`. Each stretch is read with index probes on
# prices' key (symbol, date) and turned into its steps (each level less the one before it); the
# steps are summed by day and the sums run over the days: the value on every day that has a step,
# exact NUMERIC throughout. The work is the held symbols' closes in the period, never days x
# symbols; a day without a step keeps the value before it (`daily_values` carries it over).
_DAILY_VALUES = text(
    """
    WITH held AS (
        SELECT * FROM unnest(
            CAST(:symbols AS varchar[]), CAST(:sinces AS date[]), CAST(:untils AS date[]),
            CAST(:quantities AS bigint[]), CAST(:at_costs AS numeric[])
        ) AS held (symbol, since, until, quantity, at_cost)
    ),
    steps AS (
        SELECT steps.day, steps.step
        FROM held
        CROSS JOIN LATERAL (
            SELECT levels.day, levels.level - lag(levels.level, 1, 0) OVER (ORDER BY levels.day) AS step
            FROM (
                SELECT held.since AS day, coalesce(held.quantity * (
                    SELECT close FROM prices WHERE prices.symbol = held.symbol AND prices.date <= held.since
                    ORDER BY prices.date DESC LIMIT 1
                ), held.at_cost) AS level
                UNION ALL
                SELECT prices.date, held.quantity * prices.close
                FROM prices
                WHERE prices.symbol = held.symbol AND prices.date > held.since AND prices.date < held.until
                UNION ALL
                SELECT held.until, 0
            ) AS levels
        ) AS steps
    )
    SELECT day, sum(sum(step)) OVER (ORDER BY day) AS value
    FROM steps
    WHERE day < :end
    GROUP BY day
    """
).bindparams(
    bindparam("symbols", type_=ARRAY(String)),
    bindparam("sinces", type_=ARRAY(Date)),
    bindparam("untils", type_=ARRAY(Date)),
    bindparam("quantities", type_=ARRAY(BigInteger)),
    bindparam("at_costs", type_=ARRAY(Numeric)),
    bindparam("end", type_=Date),
)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One entry of a user's ledger, with the holding and symbol it belongs to."""

    stock_id: int
    symbol: str
    entry: Entry
    amount: Decimal | None  # a dividend's or a fee entry's


@dataclass(frozen=True, slots=True)
class UserTotals:
    """What one user holds, as the users list shows it: holdings listed, and their value at cost and at market."""

    holdings: int = 0
    cost: Decimal = Decimal(0)
    market_value: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Held:
    """A symbol's holdings over a stretch of days, from `since` to the day before `until`: shares and cost."""

    symbol: str
    since: date
    until: date
    quantity: int
    at_cost: Decimal


class PortfolioRepository:
    """A user's portfolio, for one request's session and the rows the caller may reach (`scope`)."""

    def __init__(self, session: AsyncSession, scope: Scope = EVERY_ROW) -> None:
        self.session = session
        self.scope = scope

    async def portfolio(self, user_id: int) -> Portfolio:
        """What the user's active stocks are worth, by symbol, largest position first."""
        if not can_exist(user_id):
            raise NotFound("User", user_id)
        params = {"row_id": user_id, **self.scope.params()}
        # As in app/kit/repository.py: sqlmodel's exec() is typed for its own select() only.
        rows = (await self.session.exec(_PORTFOLIO, params=params)).all()  # type: ignore[call-overload]
        if not rows:
            raise NotFound("User", user_id)
        positions = [
            Position(name=row.name, quantity=row.quantity, value=row.value, average_price=row.average_price)
            for row in rows
            if row.name is not None
        ]
        return Portfolio(user_id=user_id, total_value=rows[0].total_value or Decimal(0), positions=positions)

    async def ledger(self, user_id: int, until: date) -> list[LedgerEntry]:
        """The user's entries on their active holdings up to `until`, in replay order; `NotFound` for the user."""
        if not can_exist(user_id):
            raise NotFound("User", user_id)
        params = {"row_id": user_id, "until": until, **self.scope.params()}
        rows = (await self.session.exec(_LEDGER, params=params)).all()  # type: ignore[call-overload]
        if not rows:
            raise NotFound("User", user_id)
        return [
            LedgerEntry(
                row.stock_id,
                row.symbol,
                Entry(row.type, row.occurred_on, row.quantity, row.price, row.fee, row.ratio, row.id),
                row.amount,
            )
            for row in rows
            if row.id is not None
        ]

    async def latest_closes(self, symbols: Sequence[str], day: date) -> dict[str, Decimal | None]:
        """Each symbol's latest close on or before `day`; None for one with no close yet."""
        if not symbols:
            return {}
        params = {"symbols": list(symbols), "day": day}
        rows = (await self.session.exec(_LATEST_CLOSES, params=params)).all()  # type: ignore[call-overload]
        return {row.symbol: row.close for row in rows}

    async def user_totals(self, user_ids: Sequence[int], day: date) -> dict[int, UserTotals]:
        """Each user's totals on `day`: their holdings as they stand, at the closes up to it; none for one without."""
        if not user_ids:
            return {}
        params = {"user_ids": list(user_ids), "day": day, **self.scope.params()}
        rows = (await self.session.exec(_USER_TOTALS, params=params)).all()  # type: ignore[call-overload]
        return {row.user_id: UserTotals(row.holdings, row.cost, row.market) for row in rows}

    async def daily_values(self, held: Sequence[Held], first: date, last: date) -> dict[date, Decimal]:
        """The market value at each day's close from `first` to `last`; days before anything is held are left out."""
        if not held:
            return {}
        end = last + timedelta(days=1)
        params = {
            "symbols": [stretch.symbol for stretch in held],
            "sinces": [stretch.since for stretch in held],
            "untils": [stretch.until for stretch in held],
            "quantities": [stretch.quantity for stretch in held],
            "at_costs": [stretch.at_cost for stretch in held],
            "end": end,
        }
        rows = (await self.session.exec(_DAILY_VALUES, params=params)).all()  # type: ignore[call-overload]
        # The statement gives the days the value steps on; the days between keep the value before them.
        steps = {row.day: row.value for row in rows}
        values: dict[date, Decimal] = {}
        value = None
        day = min(steps, default=end)
        while day < end:
            value = steps.get(day, value)
            if value is not None and day >= first:
                values[day] = value
            day += timedelta(days=1)
        return values
