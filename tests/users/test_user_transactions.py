"""GET /users/{user_id}/transactions: a user's transactions across holdings, filtered, oldest first."""

from httpx import AsyncClient

from tests.helpers import create_stock, create_user, error_locations


async def _world(client: AsyncClient) -> tuple[int, list[int]]:
    user = await create_user(client)
    aapl = await create_stock(client, user["id"], name="AAPL", acquired_on="2024-01-10")
    msft = await create_stock(client, user["id"], name="MSFT", acquired_on="2024-01-05")
    for stock_id, body in (
        (aapl["id"], {"type": "dividend", "occurred_on": "2024-02-01", "amount": 3}),
        (msft["id"], {"type": "sell", "occurred_on": "2024-03-01", "quantity": 1, "price": 200}),
    ):
        assert (await client.post(f"/stocks/{stock_id}/transactions", json=body)).status_code == 201
    other = await create_user(client, name="Ana Lima")
    await create_stock(client, other["id"], acquired_on="2024-01-01")
    return user["id"], [aapl["id"], msft["id"]]


def _days(response_json: list[dict]) -> list[tuple[str, str]]:
    return [(entry["type"], entry["occurred_on"]) for entry in response_json]


async def test_a_users_transactions_across_holdings_oldest_first(client: AsyncClient) -> None:
    user_id, _ = await _world(client)
    response = await client.get(f"/users/{user_id}/transactions")
    assert response.status_code == 200
    assert _days(response.json()) == [
        ("buy", "2024-01-05"), ("buy", "2024-01-10"), ("dividend", "2024-02-01"), ("sell", "2024-03-01"),
    ]  # fmt: skip


async def test_filters_by_type_symbol_and_days_combine(client: AsyncClient) -> None:
    user_id, _ = await _world(client)
    url = f"/users/{user_id}/transactions"
    assert _days((await client.get(url, params={"type": "buy"})).json()) == [
        ("buy", "2024-01-05"),
        ("buy", "2024-01-10"),
    ]
    assert _days((await client.get(url, params={"symbol": " msft "})).json()) == [
        ("buy", "2024-01-05"),
        ("sell", "2024-03-01"),
    ]
    assert _days((await client.get(url, params={"from": "2024-01-10", "to": "2024-02-01"})).json()) == [
        ("buy", "2024-01-10"), ("dividend", "2024-02-01"),
    ]  # fmt: skip
    assert _days((await client.get(url, params={"symbol": "AAPL", "type": "sell"})).json()) == []


async def test_paging_follows_link_with_the_filters(client: AsyncClient) -> None:
    user_id, _ = await _world(client)
    seen: list[tuple[str, str]] = []
    url: str | None = f"/users/{user_id}/transactions?limit=1&from=2024-01-06"
    while url:
        response = await client.get(url)
        seen += _days(response.json())
        url = response.links.get("next", {}).get("url")
    assert seen == [("buy", "2024-01-10"), ("dividend", "2024-02-01"), ("sell", "2024-03-01")]


async def test_bad_filters_are_422s_naming_them(client: AsyncClient) -> None:
    user_id, _ = await _world(client)
    response = await client.get(
        f"/users/{user_id}/transactions", params={"type": "gift", "from": "yesterday", "to": 20240101, "symbol": ".X"}
    )
    assert response.status_code == 422
    assert sorted(error_locations(response.json())) == [
        ("query", "from"),
        ("query", "symbol"),
        ("query", "to"),
        ("query", "type"),
    ]


async def test_a_user_that_does_not_exist_is_the_guides_404(client: AsyncClient) -> None:
    for user_id in (999999, 0, 2**40):
        response = await client.get(f"/users/{user_id}/transactions")
        assert response.json()["detail"] == f"User with ID {user_id} not found"
