"""Stocks: every endpoint, every validation rule, exact money, and the 404 texts."""

from decimal import Decimal

import pytest
from httpx import AsyncClient
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.stocks.models import STOCKS, Stock
from tests.helpers import AAPL, create_stock, create_user, error_locations


async def test_is_active_defaults_to_true(client: AsyncClient) -> None:
    user = await create_user(client)
    response = await client.post(f"/users/{user['id']}/stocks/", json={"name": "AAPL", "price": 1, "quantity": 1})
    assert response.json()["is_active"] is True


async def test_creating_a_stock_for_a_missing_user_is_a_404_and_writes_nothing(
    client: AsyncClient, session: AsyncSession
) -> None:
    response = await client.post("/users/999999/stocks/", json=AAPL)
    assert response.status_code == 404
    assert response.json()["detail"] == "User with ID 999999 not found"
    assert (await session.exec(select(Stock))).all() == []


@pytest.mark.parametrize("user_id", ["0", "2147483648", "99999999999999999999"])
async def test_stock_routes_answer_404_for_user_ids_beyond_integer(client: AsyncClient, user_id: str) -> None:
    for response in (
        await client.post(f"/users/{user_id}/stocks/", json=AAPL),
        await client.get(f"/users/{user_id}/stocks/"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == f"User with ID {user_id} not found"


async def test_listing_a_missing_users_stocks_is_a_404(client: AsyncClient) -> None:
    response = await client.get("/users/999999/stocks/")
    assert response.status_code == 404
    assert response.json()["detail"] == "User with ID 999999 not found"


async def test_listing_a_users_stocks_shows_only_theirs_by_id(client: AsyncClient) -> None:
    alice = await create_user(client, name="Alice")
    bob = await create_user(client, name="Bob Smith")
    alices = [await create_stock(client, alice["id"], name=symbol) for symbol in ("AAPL", "MSFT", "GOOG")]
    await create_stock(client, bob["id"], name="TSLA")

    assert (await client.get(f"/users/{alice['id']}/stocks/")).json() == alices
    page = await client.get(f"/users/{alice['id']}/stocks/", params={"skip": 1, "limit": 1})
    assert page.json() == alices[1:2]
    assert (await client.get(f"/users/{bob['id']}/stocks/")).json()[0]["name"] == "TSLA"


async def test_a_user_with_no_stocks_lists_an_empty_array(client: AsyncClient) -> None:
    user = await create_user(client)
    response = await client.get(f"/users/{user['id']}/stocks/")
    assert response.status_code == 200
    assert response.json() == []


async def test_listing_all_stocks_pages_by_id_across_users(client: AsyncClient) -> None:
    alice = await create_user(client, name="Alice")
    bob = await create_user(client, name="Bob Smith")
    stocks = [
        await create_stock(client, alice["id"], name="AAPL"),
        await create_stock(client, bob["id"], name="MSFT"),
        await create_stock(client, alice["id"], name="GOOG"),
    ]
    assert (await client.get("/stocks/")).json() == stocks
    assert (await client.get("/stocks/", params={"skip": 2, "limit": 5})).json() == stocks[2:]
    assert (await client.get("/stocks/", params={"limit": 1})).json() == stocks[:1]


async def test_updating_a_stock_replaces_its_fields(client: AsyncClient) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    changes = {"name": "AAPL", "price": 180.25, "quantity": 12, "is_active": False}
    response = await client.put(f"/stocks/{stock['id']}", json=changes)
    assert response.status_code == 200
    assert response.json() == {**stock, **changes}
    assert (await client.get(f"/users/{user['id']}")).json()["stocks"] == [{**stock, **changes}]


async def test_updating_a_stock_applies_the_create_rules(client: AsyncClient) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    response = await client.put(f"/stocks/{stock['id']}", json={"name": "", "price": 0, "quantity": -5})
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "name"), ("body", "price"), ("body", "quantity")]


async def test_deleting_a_stock_answers_204_and_it_is_gone(client: AsyncClient) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    response = await client.delete(f"/stocks/{stock['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/users/{user['id']}/stocks/")).json() == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("stock_id", ["999999", "0", "-7", "2147483648", "123456789012345678901234567890"])
async def test_a_missing_stock_is_a_404_with_the_guides_text(client: AsyncClient, method: str, stock_id: str) -> None:
    response = await client.request(method, f"/stocks/{stock_id}", json=AAPL)
    assert response.status_code == 404
    assert response.json()["detail"] == f"Stock with ID {stock_id} not found"


@pytest.mark.parametrize(
    ("sent", "stored", "shown"),
    [
        (175.50, Decimal("175.5000"), 175.5),
        (0.1, Decimal("0.1000"), 0.1),
        (19.99, Decimal("19.9900"), 19.99),
        (0.0001, Decimal("0.0001"), 0.0001),
        (99999999.9999, Decimal("99999999.9999"), 99999999.9999),
        (1234567.8912, Decimal("1234567.8912"), 1234567.8912),
    ],
)
async def test_prices_are_stored_exactly_and_sent_as_json_numbers(
    client: AsyncClient, session: AsyncSession, sent: object, stored: Decimal, shown: float
) -> None:
    user = await create_user(client)
    response = await client.post(f"/users/{user['id']}/stocks/", json={**AAPL, "price": sent})
    assert response.status_code == 201
    assert response.json()["price"] == shown
    assert f'"price":{shown!r}' in response.text
    assert await session.scalar(select(STOCKS.c.price).where(STOCKS.c.id == response.json()["id"])) == stored


@pytest.mark.parametrize(
    ("change", "field", "error_type"),
    [
        ({"name": ""}, "name", "value_error"),
        ({"name": "TOOLONGSYMB"}, "name", "value_error"),
        ({"name": None}, "name", "null_forbidden"),
        ({"name": "AA\u0000PL"}, "name", "value_error"),
        ({"price": 0}, "price", "greater_than"),
        ({"price": -1.5}, "price", "greater_than"),
        ({"price": 0.00001}, "price", "decimal_max_places"),
        ({"price": 100000000}, "price", "decimal_whole_digits"),
        ({"price": 1e308}, "price", "decimal_max_digits"),
        ({"price": "abc"}, "price", "number_type"),
        # A JSON number is exact for every valid price (12 digits at most), so
        # a string is not needed, and the OpenAPI says number.
        ({"price": "19.99"}, "price", "number_type"),
        ({"price": True}, "price", "number_type"),
        ({"price": None}, "price", "null_forbidden"),  # not decimal_type, whose message says strings would do
        ({"quantity": 0}, "quantity", "greater_than"),
        ({"quantity": 2147483648}, "quantity", "less_than_equal"),
        ({"quantity": 10**40}, "quantity", "less_than_equal"),
        ({"quantity": 1.5}, "quantity", "int_from_float"),
        ({"quantity": "10"}, "quantity", "number_type"),
        ({"quantity": True}, "quantity", "number_type"),
        ({"is_active": "maybe"}, "is_active", "bool_type"),
        # Lax Pydantic would read these as booleans; the OpenAPI says boolean.
        ({"is_active": 0}, "is_active", "bool_type"),
        ({"is_active": "true"}, "is_active", "bool_type"),
        ({"is_active": None}, "is_active", "bool_type"),
    ],
)
async def test_invalid_stocks_are_422s_naming_the_field(
    client: AsyncClient, change: dict, field: str, error_type: str
) -> None:
    user = await create_user(client)
    response = await client.post(f"/users/{user['id']}/stocks/", json={**AAPL, **change})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(tuple(error["location"]), error["type"]) for error in errors] == [(("body", field), error_type)]


async def test_the_largest_quantity_integer_holds_is_accepted(client: AsyncClient) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"], quantity=2147483647)
    assert stock["quantity"] == 2147483647
