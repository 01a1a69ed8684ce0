"""PUT /prices/{symbol}/{date} and GET /prices/{symbol}: the stocks' rules for symbols and closes, upserts, the list."""

import base64
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.prices.models import PRICES
from tests.helpers import error_locations


async def put(client: AsyncClient, symbol: str, day: str, close: object) -> dict:
    response = await client.put(f"/prices/{symbol}/{day}", json={"close": close})
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_a_new_close_is_201_and_a_replaced_one_200(client: AsyncClient) -> None:
    first = await client.put("/prices/AAPL/2024-01-02", json={"close": 185.64})
    assert first.status_code == 201
    assert first.json() == {"symbol": "AAPL", "date": "2024-01-02", "close": 185.64}
    again = await client.put("/prices/AAPL/2024-01-02", json={"close": 186})
    assert again.status_code == 200
    assert again.json() == {"symbol": "AAPL", "date": "2024-01-02", "close": 186.0}
    assert (await client.get("/prices/AAPL")).json() == [{"date": "2024-01-02", "close": 186.0}]


async def test_closes_are_stored_exactly_as_numeric(client: AsyncClient, session: AsyncSession) -> None:
    await put(client, "AAPL", "2024-01-02", 0.1)
    await put(client, "AAPL", "2024-01-03", 99999999.9999)
    stored = (await session.exec(select(PRICES.c.close).order_by(PRICES.c.date))).scalars().all()  # type: ignore[call-overload]
    assert stored == [Decimal("0.1000"), Decimal("99999999.9999")]


async def test_symbols_are_normalised_as_the_stocks_are(client: AsyncClient) -> None:
    assert (await put(client, " brk.b ", "2024-01-02", 1))["symbol"] == "BRK.B"
    assert (await client.get("/prices/Brk.B")).json() == [{"date": "2024-01-02", "close": 1.0}]


@pytest.mark.parametrize("symbol", [".A", "TOOLONGSYMBOL", "ß", "A%20B", "A_B"])
async def test_a_symbol_the_stocks_refuse_is_refused(client: AsyncClient, symbol: str) -> None:
    response = await client.put(f"/prices/{symbol}/2024-01-02", json={"close": 1})
    assert response.status_code == 422, response.text
    assert error_locations(response.json()) == [("path", "symbol")]
    assert (await client.get(f"/prices/{symbol}")).status_code == 422


@pytest.mark.parametrize("close", [0, -1, 0.00001, 1.00001, 100000000, 1e400, "1", True, None, [], {"close": 1}])
async def test_a_close_the_stocks_price_rules_refuse_is_refused(client: AsyncClient, close: object) -> None:
    content = '{"close": 1e400}' if close == 1e400 else None
    if content is None:
        response = await client.put("/prices/AAPL/2024-01-02", json={"close": close})
    else:
        response = await client.put(
            "/prices/AAPL/2024-01-02", content=content, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422, response.text
    assert error_locations(response.json()) == [("body", "close")]
    assert (await client.get("/prices/AAPL")).json() == []


async def test_a_body_without_close_or_with_more_is_refused(client: AsyncClient) -> None:
    assert (await client.put("/prices/AAPL/2024-01-02", json={})).status_code == 422
    response = await client.put("/prices/AAPL/2024-01-02", json={"close": 1, "symbol": "MSFT"})
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "symbol")]


@pytest.mark.parametrize("day", ["2024-02-30", "yesterday", "99999-01-01", "2024-1-2", "%00"])
async def test_a_date_that_is_no_day_is_refused(client: AsyncClient, day: str) -> None:
    response = await client.put(f"/prices/AAPL/{day}", json={"close": 1})
    assert response.status_code == 422, response.text
    assert error_locations(response.json()) == [("path", "date")]


async def test_the_list_is_oldest_first_and_from_and_to_are_included(client: AsyncClient) -> None:
    for day, close in [("2024-01-04", 3), ("2024-01-02", 1), ("2024-01-03", 2), ("2024-01-05", 4)]:
        await put(client, "AAPL", day, close)
    await put(client, "MSFT", "2024-01-03", 370.6)
    everything = (await client.get("/prices/AAPL")).json()
    assert [row["date"] for row in everything] == ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
    middle = (await client.get("/prices/AAPL", params={"from": "2024-01-03", "to": "2024-01-04"})).json()
    assert middle == [{"date": "2024-01-03", "close": 2.0}, {"date": "2024-01-04", "close": 3.0}]
    assert (await client.get("/prices/AAPL", params={"from": "2024-01-05"})).json() == [
        {"date": "2024-01-05", "close": 4.0}
    ]
    assert (await client.get("/prices/AAPL", params={"from": "2024-01-05", "to": "2024-01-02"})).json() == []


async def test_a_symbol_without_prices_is_an_empty_list(client: AsyncClient) -> None:
    response = await client.get("/prices/NOPE")
    assert response.status_code == 200
    assert response.json() == []
    assert "Link" not in response.headers


async def test_pages_follow_link_headers_through_every_close_once(client: AsyncClient) -> None:
    start = date(2024, 1, 1)
    days = [(start + timedelta(days=offset)).isoformat() for offset in range(7)]
    for offset, day in enumerate(days):
        await put(client, "AAPL", day, offset + 1)
    seen: list[str] = []
    url: str | None = "/prices/AAPL?limit=3&from=2024-01-02"
    pages = 0
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        seen += [row["date"] for row in response.json()]
        pages += 1
        link = response.headers.get("Link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert seen == days[1:]
    assert pages == 2  # 3 + 3, the last page says so by having no Link


async def test_the_list_counts_when_asked(client: AsyncClient) -> None:
    await put(client, "AAPL", "2024-01-02", 1)
    await put(client, "AAPL", "2024-01-03", 1)
    response = await client.get("/prices/AAPL?limit=1", headers={"Prefer": "count=exact"})
    assert response.headers["X-Total-Count"] == "2"


@pytest.mark.parametrize(
    "query",
    ["cursor=nonsense", "from=2024-02-30", "to=x", "limit=0", "colour=red", "date_from=2024-01-01"],
)
async def test_a_bad_list_query_is_a_422(client: AsyncClient, query: str) -> None:
    response = await client.get(f"/prices/AAPL?{query}")
    assert response.status_code == 422, response.text


async def test_a_cursor_with_an_id_for_a_key_is_refused(client: AsyncClient) -> None:
    # A stocks cursor carries an integer id, a prices cursor a date: neither passes for the other.
    token = base64.urlsafe_b64encode(json.dumps(["date", "2024-01-02", 7]).encode()).decode().rstrip("=")
    response = await client.get(f"/prices/AAPL?cursor={token}")
    assert response.status_code == 422, response.text
    assert error_locations(response.json()) == [("query", "cursor")]


# The last in full-width digits.
@pytest.mark.parametrize("day", ["0", "1700000000", "2024-01-02T00:00:00", "\uff12\uff10\uff12\uff14-01-02"])
async def test_only_an_iso_date_names_a_day(client: AsyncClient, day: str) -> None:
    # Pydantic alone would read 0 as 1970-01-01 (a Unix time).
    response = await client.put(f"/prices/AAPL/{day}", json={"close": 1})
    assert response.status_code == 422, response.text
    assert error_locations(response.json()) == [("path", "date")]
    assert (await client.get("/prices/AAPL", params={"from": day})).status_code == 422
