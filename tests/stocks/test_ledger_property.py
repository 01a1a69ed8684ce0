"""A property: whatever a client does (guide writes, transactions, deletes, in any order and on any day),
the holding equals its ledger replayed, nothing is ever negative, and no answer is a 500."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.kit.fields import today
from tests.helpers import create_user
from tests.stocks.test_ledger import assert_row_is_its_ledger_replayed, ledger

days_ago = st.integers(min_value=0, max_value=60)
quantities = st.integers(min_value=1, max_value=40)
prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1000), places=4)
fees = st.sampled_from([Decimal(0), Decimal("0.0001"), Decimal("1.5"), Decimal(7)])

operations = st.one_of(
    st.tuples(st.just("buy"), quantities, prices, fees, days_ago),
    st.tuples(st.just("sell"), quantities, prices, fees, days_ago),
    st.tuples(st.just("split"), st.sampled_from([Decimal(2), Decimal(3), Decimal("0.5"), Decimal("1.5")]), days_ago),
    st.tuples(st.just("dividend"), days_ago),
    st.tuples(st.just("put"), quantities, prices),
    st.tuples(
        st.just("patch"), st.one_of(st.tuples(st.just("quantity"), quantities), st.tuples(st.just("price"), prices))
    ),
    st.tuples(st.just("delete"), st.integers(min_value=0, max_value=20)),
)


async def _apply(client: AsyncClient, stock_id: int, operation: tuple[Any, ...]) -> int:
    kind = operation[0]
    transactions = f"/stocks/{stock_id}/transactions"
    if kind in ("buy", "sell"):
        _, quantity, price, fee, ago = operation
        day = (today() - timedelta(days=ago)).isoformat()
        body = {"type": kind, "occurred_on": day, "quantity": quantity, "price": float(price), "fee": float(fee)}
        return (await client.post(transactions, json=body)).status_code
    if kind == "split":
        _, ratio, ago = operation
        body = {"type": "split", "occurred_on": (today() - timedelta(days=ago)).isoformat(), "ratio": float(ratio)}
        return (await client.post(transactions, json=body)).status_code
    if kind == "dividend":
        body = {"type": "dividend", "occurred_on": (today() - timedelta(days=operation[1])).isoformat(), "amount": 1}
        return (await client.post(transactions, json=body)).status_code
    if kind == "put":
        _, quantity, price = operation
        body = {"name": "AAPL", "quantity": quantity, "price": float(price)}
        return (await client.put(f"/stocks/{stock_id}", json=body)).status_code
    if kind == "patch":
        field, value = operation[1]
        return (
            await client.patch(f"/stocks/{stock_id}", json={field: float(value) if field == "price" else value})
        ).status_code
    entries = await ledger(client, stock_id)
    return (await client.delete(f"/transactions/{entries[operation[1] % len(entries)]['id']}")).status_code


_user: dict[str, int] = {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opening=st.tuples(quantities, prices, days_ago), steps=st.lists(operations, max_size=12))
async def test_a_holding_is_always_its_ledger_replayed(
    client: AsyncClient, opening: tuple[int, Decimal, int], steps: list[tuple[Any, ...]]
) -> None:
    # One user for every example (sign-ups are throttled per address); each example its own holding.
    if "id" not in _user or (await client.get(f"/users/{_user['id']}")).status_code != 200:
        _user["id"] = (await create_user(client))["id"]
    quantity, price, ago = opening
    body = {"name": "AAPL", "quantity": quantity, "price": float(price)}
    body["acquired_on"] = (today() - timedelta(days=ago)).isoformat()
    response = await client.post(f"/users/{_user['id']}/stocks/", json=body)
    assert response.status_code == 201, response.text
    stock_id = response.json()["id"]
    for operation in steps:
        status = await _apply(client, stock_id, operation)
        assert status in (200, 201, 204, 422), (operation, status)
        stock = await assert_row_is_its_ledger_replayed(client, stock_id)
        assert stock["quantity"] >= 0 and stock["price"] > 0
        for entry in await ledger(client, stock_id):
            assert all(entry[field] is None or entry[field] >= 0 for field in ("quantity", "price", "fee", "amount"))
