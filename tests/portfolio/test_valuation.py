"""The portfolio on a day (?as_of=) and its performance over a period, end to end, on hand-worked examples.

Days: D1 = 2025-01-01 (a Wednesday), D2, D3, D4 the days after. docs/explanation/returns.md works
the performance examples by hand; the figures below are those.
"""

from datetime import date, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from app.kit.fields import today
from app.stocks.ledger.models import TRANSACTIONS
from tests.helpers import create_stock, create_user, error_locations

D0, D1, D2, D3, D4 = "2024-12-31", "2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"


async def close(client: AsyncClient, symbol: str, day: str, price: float) -> None:
    response = await client.put(f"/prices/{symbol}/{day}", json={"close": price})
    assert response.status_code in (200, 201), response.text


async def record(client: AsyncClient, stock_id: int, **entry: Any) -> dict[str, Any]:
    response = await client.post(f"/stocks/{stock_id}/transactions", json=entry)
    assert response.status_code == 201, response.text
    return response.json()


async def as_of(client: AsyncClient, user_id: int, day: str) -> dict[str, Any]:
    response = await client.get(f"/users/{user_id}/portfolio", params={"as_of": day})
    assert response.status_code == 200, response.text
    return response.json()


async def performance(client: AsyncClient, user_id: int, **params: str) -> dict[str, Any]:
    response = await client.get(f"/users/{user_id}/performance", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def buy_between_two_moves(client: AsyncClient) -> int:
    """10 bought at 100 on D1 (close 100); close 110 on D2; 10 more bought at 110 on D3, close 99."""
    user_id = (await create_user(client))["id"]
    for day, price in ((D1, 100), (D2, 110), (D3, 99)):
        await close(client, "XYZ", day, price)
    stock = await create_stock(client, user_id, name="XYZ", price=100, quantity=10, acquired_on=D1)
    await record(client, stock["id"], type="buy", occurred_on=D3, quantity=10, price=110)
    return user_id


async def test_each_day_is_valued_at_its_holdings_and_close(client: AsyncClient) -> None:
    user_id = await buy_between_two_moves(client)
    expected = {  # day: (quantity, value at cost, average, close, market value, unrealized gain)
        D1: (10, 1000, 100, 100, 1000, 0),
        D2: (10, 1000, 100, 110, 1100, 100),
        D3: (20, 2100, 105, 99, 1980, -120),
        D4: (20, 2100, 105, 99, 1980, -120),  # no close on D4: D3's
    }
    for day, (quantity, value, average, price, market_value, unrealized) in expected.items():
        answer = await as_of(client, user_id, day)
        assert answer == {
            "user_id": user_id,
            "as_of": day,
            "total_value": value,
            "market_value": market_value,
            "unrealized_gain": unrealized,
            "realized_gain": 0,
            "dividends": 0,
            "fees": 0,
            "positions": [
                {
                    "name": "XYZ",
                    "quantity": quantity,
                    "value": value,
                    "average_price": average,
                    "market_price": price,
                    "priced": True,
                    "market_value": market_value,
                    "unrealized_gain": unrealized,
                }
            ],
        }


async def test_before_the_first_buy_the_portfolio_is_empty(client: AsyncClient) -> None:
    user_id = await buy_between_two_moves(client)
    answer = await as_of(client, user_id, D0)
    assert answer == {
        "user_id": user_id,
        "as_of": D0,
        "total_value": 0,
        "market_value": 0,
        "unrealized_gain": 0,
        "realized_gain": 0,
        "dividends": 0,
        "fees": 0,
        "positions": [],
    }


async def test_sells_dividends_fees_and_a_symbol_without_closes(client: AsyncClient) -> None:
    user_id = (await create_user(client))["id"]
    unpriced = await create_stock(client, user_id, name="NOPX", price=100, quantity=10, acquired_on=D1)
    await record(client, unpriced["id"], type="buy", occurred_on=D2, quantity=10, price=120, fee=4)  # 2204 / 20
    sold = await record(client, unpriced["id"], type="sell", occurred_on=D3, quantity=5, price=130, fee=3)
    assert sold["realized_gain"] == 650 - 3 - 5 * 110.2  # 96
    await record(client, unpriced["id"], type="dividend", occurred_on=D3, amount=12.5)
    await record(client, unpriced["id"], type="fee", occurred_on=D3, amount=7)
    await create_stock(client, user_id, name="ZED", price=50, quantity=2, acquired_on=D1)
    await close(client, "ZED", D2, 60)

    on_d2 = await as_of(client, user_id, D2)
    assert (on_d2["realized_gain"], on_d2["dividends"], on_d2["fees"]) == (0, 0, 4)
    on_d3 = await as_of(client, user_id, D3)
    assert on_d3 == {
        "user_id": user_id,
        "as_of": D3,
        "total_value": 1753,  # 15 x 110.2 + 2 x 50
        "market_value": 1773,  # at cost + 2 x 60
        "unrealized_gain": 20,
        "realized_gain": 96,
        "dividends": 12.5,
        "fees": 14,  # 4 (buy) + 3 (sell) + 7 (fee entry)
        "positions": [
            {
                "name": "NOPX",
                "quantity": 15,
                "value": 1653,
                "average_price": 110.2,
                "market_price": None,
                "priced": False,
                "market_value": 1653,
                "unrealized_gain": 0,
            },
            {
                "name": "ZED",
                "quantity": 2,
                "value": 100,
                "average_price": 50,
                "market_price": 60,
                "priced": True,
                "market_value": 120,
                "unrealized_gain": 20,
            },
        ],
    }


async def test_as_of_today_keeps_the_portfolios_fields_and_meaning(client: AsyncClient) -> None:
    user_id = (await create_user(client))["id"]
    await create_stock(client, user_id, name="AAPL", price=175.5, quantity=10)
    await create_stock(client, user_id, name="aapl", price=180, quantity=5)
    await create_stock(client, user_id, name="TSLA", price=250, quantity=100, is_active=False)
    plain = (await client.get(f"/users/{user_id}/portfolio")).json()
    valued = await as_of(client, user_id, today().isoformat())
    assert {key: valued[key] for key in plain} | {
        "positions": [{key: position[key] for key in plain["positions"][0]} for position in valued["positions"]]
    } == plain


async def test_a_future_day_is_refused_naming_as_of(client: AsyncClient) -> None:
    user_id = (await create_user(client))["id"]
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = await client.get(f"/users/{user_id}/portfolio", params={"as_of": tomorrow})
    assert response.status_code == 422
    assert error_locations(response.json()) == [("query", "as_of")]


@pytest.mark.parametrize("path", ["portfolio?as_of=2025-01-01", "performance"])
async def test_a_missing_user_is_the_guides_404(client: AsyncClient, path: str) -> None:
    response = await client.get(f"/users/999999/{path}")
    assert response.status_code == 404
    assert response.json()["detail"] == "User with ID 999999 not found"


# ---------------------------------------------------------------- performance


async def test_a_buy_between_two_price_moves_is_not_performance(client: AsyncClient) -> None:
    user_id = await buy_between_two_moves(client)
    answer = await performance(client, user_id, **{"from": D2, "to": D3})
    assert answer == {
        "from": D2,
        "to": D3,
        "start_value": 1000,
        "end_value": 1980,
        "net_flows": 1100,
        "gain": -120,
        "twr": -0.01,  # 1.1 x 0.9 - 1
        "xirr": -0.9999999999,  # 0.88^(365/2) - 1 (docs/explanation/returns.md, example 2)
        "series": [
            {"date": D1, "value": 1000, "invested": 1000},
            {"date": D2, "value": 1100, "invested": 1000},
            {"date": D3, "value": 1980, "invested": 2100},
        ],
    }
    # From the day of the first buy: the opening close holds nothing, and the first buy is money put in.
    from_the_start = await performance(client, user_id, **{"from": D1, "to": D3})
    assert (from_the_start["start_value"], from_the_start["net_flows"], from_the_start["twr"]) == (0, 2100, -0.01)


async def test_a_year_held_returns_ten_percent_both_ways_and_thins_the_series(client: AsyncClient) -> None:
    user_id = (await create_user(client))["id"]
    await close(client, "YR", "2022-01-01", 100)
    await close(client, "YR", "2023-01-01", 110)
    await create_stock(client, user_id, name="YR", price=100, quantity=10, acquired_on="2022-01-01")
    period = {"from": "2022-01-01", "to": "2023-01-01"}
    daily = await performance(client, user_id, **period)
    # Cash flows: -1000 on 2022-01-01, +1100 on 2023-01-01, 365 days later: 1000 (1 + r) = 1100.
    assert (daily["twr"], daily["xirr"], daily["gain"], daily["net_flows"]) == (0.1, 0.1, 100, 1000)
    assert len(daily["series"]) == 367  # 2021-12-31 to 2023-01-01
    monthly = await performance(client, user_id, **period, interval="month")
    assert [point["date"] for point in monthly["series"]] == [
        "2021-12-31",
        *[(date(2022, month + 1, 1) - timedelta(days=1)).isoformat() for month in range(1, 12)],
        "2022-12-31",
        "2023-01-01",
    ]
    assert monthly["series"][1] == {"date": "2022-01-31", "value": 1000, "invested": 1000}
    assert monthly["series"][-1] == {"date": "2023-01-01", "value": 1100, "invested": 1000}
    figures = ("twr", "xirr", "gain")
    assert {key: monthly[key] for key in figures} == {key: daily[key] for key in figures}
    weekly = await performance(client, user_id, **period, interval="week")
    sundays = [date(2022, 1, 2) + timedelta(weeks=week) for week in range(53)]  # the last is 2023-01-01, `to`
    assert [point["date"] for point in weekly["series"]] == ["2021-12-31", *[day.isoformat() for day in sundays]]
    # `from` left out: the day after the same date a year before `to`, so the opening close is a year before.
    assert (await performance(client, user_id, to="2023-01-01"))["from"] == "2022-01-02"


async def test_a_dividend_is_performance_and_a_fee_entry_a_loss(client: AsyncClient) -> None:
    user_id = (await create_user(client))["id"]
    await close(client, "DIV", D1, 100)
    stock = await create_stock(client, user_id, name="DIV", price=100, quantity=10, acquired_on=D1)
    await record(client, stock["id"], type="dividend", occurred_on=D2, amount=20)
    answer = await performance(client, user_id, **{"from": D2, "to": D2})
    assert (answer["twr"], answer["gain"], answer["net_flows"]) == (0.02, 20, -20)  # 1020 / 1000
    await record(client, stock["id"], type="fee", occurred_on=D3, amount=10)
    answer = await performance(client, user_id, **{"from": D3, "to": D3})
    assert (answer["twr"], answer["gain"], answer["net_flows"]) == (-0.0099009901, -10, 10)  # 1000 / 1010


async def test_a_split_on_the_day_the_close_halves_changes_nothing(client: AsyncClient) -> None:
    user_id = (await create_user(client))["id"]
    await close(client, "SPL", D1, 100)
    await close(client, "SPL", D2, 50)
    stock = await create_stock(client, user_id, name="SPL", price=100, quantity=10, acquired_on=D1)
    await record(client, stock["id"], type="split", occurred_on=D2, ratio=2)
    position = (await as_of(client, user_id, D2))["positions"][0]
    assert (position["quantity"], position["average_price"], position["market_value"]) == (20, 50, 1000)
    answer = await performance(client, user_id, **{"from": D2, "to": D2})
    assert (answer["start_value"], answer["end_value"], answer["twr"], answer["net_flows"]) == (1000, 1000, 0, 0)


async def test_before_a_symbols_first_close_it_is_valued_at_cost(client: AsyncClient) -> None:
    user_id = (await create_user(client))["id"]
    await create_stock(client, user_id, name="LATE", price=100, quantity=10, acquired_on=D1)
    await close(client, "LATE", D3, 105)
    answer = await performance(client, user_id, **{"from": D1, "to": D3})
    assert [point["value"] for point in answer["series"]] == [0, 1000, 1000, 1050]
    assert (answer["twr"], answer["gain"]) == (0.05, 50)


async def test_an_adjustment_moves_the_money_invested_not_the_return(client: AsyncClient) -> None:
    """A guide-style PUT that doubles the quantity is money put in, not a gain of 100% (docs/explanation/returns.md)."""
    user_id = (await create_user(client))["id"]
    yesterday = today() - timedelta(days=1)
    await close(client, "ADJ", yesterday.isoformat(), 100)
    stock = await create_stock(client, user_id, name="ADJ", price=100, quantity=10, acquired_on=yesterday.isoformat())
    replaced = await client.put(f"/stocks/{stock['id']}", json={"name": "ADJ", "price": 100, "quantity": 20})
    assert replaced.status_code == 200, replaced.text
    answer = await performance(client, user_id, **{"from": yesterday.isoformat()})
    assert (answer["end_value"], answer["net_flows"], answer["gain"], answer["twr"]) == (2000, 2000, 0, 0)


@pytest.mark.parametrize(
    ("params", "location"),
    [
        ({"from": D3, "to": D2}, ("query", "from")),
        ({"to": (today() + timedelta(days=1)).isoformat()}, ("query", "to")),
        ({"from": (today() + timedelta(days=1)).isoformat()}, ("query", "from")),
        ({"from": "0001-01-01", "to": "0001-01-05"}, ("query", "from")),
        ({"from": "2000-01-01", "to": "2020-01-01"}, ("query", "from")),  # longer than 3653 days
        ({"interval": "year"}, ("query", "interval")),
    ],
)
async def test_a_period_that_cannot_be_computed_is_refused_naming_the_field(
    client: AsyncClient, params: dict[str, str], location: tuple[str, str]
) -> None:
    user_id = (await create_user(client))["id"]
    response = await client.get(f"/users/{user_id}/performance", params=params)
    assert response.status_code == 422, response.text
    assert error_locations(response.json()) == [location]


async def test_a_ledger_written_past_its_rules_is_a_409_naming_the_entry_not_a_500(
    client: AsyncClient, session: AsyncSession
) -> None:
    """A sell of more than was held, written straight into the table (the API refuses it): the replay cannot go on.

    The answer says which holding and which transaction, so someone can correct it; never a bare 500.
    """
    user = await create_user(client)
    stock = await create_stock(client, user["id"], quantity=2, price=10, acquired_on="2024-01-02")
    sell = {"type": "sell", "occurred_on": date(2024, 1, 3), "quantity": 5, "price": 10, "fee": 0}
    await session.exec(insert(TRANSACTIONS).values(stock_id=stock["id"], user_id=user["id"], **sell))
    for path in (f"/users/{user['id']}/portfolio?as_of=2024-01-04", f"/users/{user['id']}/performance?from=2024-01-02"):
        answer = await client.get(path)
        assert answer.status_code == 409, (path, answer.text)
        detail = answer.json()["detail"]
        assert detail.startswith(f"Stock with ID {stock['id']}: its ledger does not add up at the sell of 2024-01-03")
        assert detail.endswith("; correct or delete that transaction")
