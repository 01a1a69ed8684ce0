"""The portfolio: positions by symbol over active stocks, exact money, one query."""

import pytest
from httpx import AsyncClient

from tests.helpers import create_stock, create_user


async def test_positions_group_active_stocks_by_symbol_largest_first(client: AsyncClient) -> None:
    user = await create_user(client)
    await create_stock(client, user["id"], name="AAPL", price=175.5, quantity=10)
    await create_stock(client, user["id"], name="aapl", price=180, quantity=5)
    await create_stock(client, user["id"], name="MSFT", price=400, quantity=10)
    await create_stock(client, user["id"], name="TSLA", price=250, quantity=100, is_active=False)
    other = await create_user(client, name="Other One")
    await create_stock(client, other["id"], name="AAPL", price=1, quantity=1)

    response = await client.get(f"/users/{user['id']}/portfolio")
    assert response.status_code == 200
    assert response.json() == {
        "user_id": user["id"],
        "total_value": 6655.0,
        "positions": [
            {"name": "MSFT", "quantity": 10, "value": 4000.0, "average_price": 400.0},
            {"name": "AAPL", "quantity": 15, "value": 2655.0, "average_price": 177.0},
        ],
    }


async def test_money_adds_up_exactly(client: AsyncClient) -> None:
    user = await create_user(client)
    for price in (0.1, 0.1, 0.1, 0.2, 0.2, 0.2):
        await create_stock(client, user["id"], name="PENNY", price=price, quantity=1)
    response = await client.get(f"/users/{user['id']}/portfolio")
    assert '"total_value":0.9' in response.text
    assert response.json()["positions"] == [{"name": "PENNY", "quantity": 6, "value": 0.9, "average_price": 0.15}]


async def test_average_price_is_rounded_to_four_places(client: AsyncClient) -> None:
    user = await create_user(client)
    await create_stock(client, user["id"], name="X", price=1, quantity=2)
    await create_stock(client, user["id"], name="X", price=2, quantity=1)
    position = (await client.get(f"/users/{user['id']}/portfolio")).json()["positions"][0]
    assert (position["value"], position["quantity"], position["average_price"]) == (4.0, 3, 1.3333)


async def test_equal_values_are_ordered_by_symbol(client: AsyncClient) -> None:
    user = await create_user(client)
    for symbol in ("ZZZ", "AAA", "MMM"):
        await create_stock(client, user["id"], name=symbol, price=10, quantity=1)
    positions = (await client.get(f"/users/{user['id']}/portfolio")).json()["positions"]
    assert [position["name"] for position in positions] == ["AAA", "MMM", "ZZZ"]


async def test_large_holdings_do_not_overflow(client: AsyncClient) -> None:
    user = await create_user(client)
    for _ in range(3):
        await create_stock(client, user["id"], name="BIG", price=99999999.9999, quantity=2147483647)
    position = (await client.get(f"/users/{user['id']}/portfolio")).json()["positions"][0]
    assert position["quantity"] == 3 * 2147483647  # beyond integer: summed as bigint
    assert position["average_price"] == 99999999.9999


@pytest.mark.parametrize("inactive", [False, True])
async def test_a_user_without_active_stocks_is_worth_zero(client: AsyncClient, inactive: bool) -> None:
    user = await create_user(client)
    if inactive:
        await create_stock(client, user["id"], is_active=False)
    response = await client.get(f"/users/{user['id']}/portfolio")
    assert response.status_code == 200
    assert response.json() == {"user_id": user["id"], "total_value": 0.0, "positions": []}


@pytest.mark.parametrize("user_id", ["999999", "0", "2147483648"])
async def test_a_missing_users_portfolio_is_a_404(client: AsyncClient, user_id: str) -> None:
    response = await client.get(f"/users/{user_id}/portfolio")
    assert response.status_code == 404
    assert response.json()["detail"] == f"User with ID {user_id} not found"
