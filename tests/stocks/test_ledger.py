"""The ledger over HTTP: a holding's transactions, the holding always its ledger replayed (docs/reference/ledger.md).

Amounts in the comments are worked out by hand.
"""

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from httpx import AsyncClient

from app.kit.fields import today
from app.stocks.ledger.repository import TransactionRepository
from app.stocks.ledger.rules import Entry, replay
from tests.helpers import create_stock, create_user, error_locations, libpq_url, problem, waiting_for_a_lock

JAN_2 = "2024-01-02"


async def holding_with(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    """A new user's stock: 10 AAPL at 100 bought on 2024-01-02, unless told otherwise."""
    user = await create_user(client)
    return await create_stock(client, user["id"], **{"price": 100, "quantity": 10, "acquired_on": JAN_2, **fields})


async def record(client: AsyncClient, stock_id: int, **body: Any) -> Any:
    return await client.post(f"/stocks/{stock_id}/transactions", json=body)


async def ledger(client: AsyncClient, stock_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/stocks/{stock_id}/transactions")
    assert response.status_code == 200, response.text
    return response.json()


async def assert_row_is_its_ledger_replayed(client: AsyncClient, stock_id: int) -> dict[str, Any]:
    """The stock as answered equals its ledger replayed (rules.replay), and so does every sell's realized gain."""
    stock = (await client.get(f"/stocks/{stock_id}")).json()
    answered = await ledger(client, stock_id)
    entries = [
        Entry(
            type=entry["type"],
            occurred_on=date.fromisoformat(entry["occurred_on"]),
            quantity=entry["quantity"],
            price=None if entry["price"] is None else Decimal(str(entry["price"])),
            fee=None if entry["fee"] is None else Decimal(str(entry["fee"])),
            ratio=None if entry["ratio"] is None else Decimal(str(entry["ratio"])),
        )
        for entry in answered
    ]
    replayed = replay(entries)
    assert (stock["quantity"], Decimal(str(stock["price"]))) == (replayed.holding.quantity, replayed.holding.average)
    stored_gains = [None if e["realized_gain"] is None else Decimal(str(e["realized_gain"])) for e in answered]
    assert stored_gains == replayed.gains
    return stock


async def test_a_new_stock_records_its_opening_buy(client: AsyncClient) -> None:
    stock = await holding_with(client)
    [opening] = await ledger(client, stock["id"])
    assert opening == {
        **opening,
        "stock_id": stock["id"],
        "user_id": stock["user_id"],
        "type": "buy",
        "occurred_on": JAN_2,
        "quantity": 10,
        "price": 100.0,
        "fee": 0.0,
        "amount": None,
        "ratio": None,
        "realized_gain": None,
    }


async def test_the_opening_buy_is_dated_today_when_acquired_on_is_left_out(client: AsyncClient) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    assert [entry["occurred_on"] for entry in await ledger(client, stock["id"])] == [today().isoformat()]


async def test_acquired_on_in_the_future_is_a_422_naming_it(client: AsyncClient) -> None:
    user = await create_user(client)
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = await client.post(
        f"/users/{user['id']}/stocks/", json={"name": "AAPL", "price": 1, "quantity": 1, "acquired_on": tomorrow}
    )
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "acquired_on")]


async def test_a_buy_moves_quantity_and_average_cost_and_answers_with_location(client: AsyncClient) -> None:
    stock = await holding_with(client)
    # 10 at 100 (cost 1000) + 5 at 110 with fee 2: cost 1000 + 550 + 2 = 1552; 15 shares;
    # 1552 / 15 = 103.4666...: 103.4667.
    response = await record(client, stock["id"], type="buy", occurred_on="2024-02-01", quantity=5, price=110, fee=2)
    assert response.status_code == 201, response.text
    written = response.json()
    assert response.headers["Location"] == f"/transactions/{written['id']}"
    assert (await client.get(response.headers["Location"])).json() == written
    assert {key: written[key] for key in ("type", "quantity", "price", "fee", "realized_gain")} == {
        "type": "buy", "quantity": 5, "price": 110.0, "fee": 2.0, "realized_gain": None,
    }  # fmt: skip
    after = await assert_row_is_its_ledger_replayed(client, stock["id"])
    assert (after["quantity"], after["price"]) == (15, 103.4667)


async def test_a_sell_answers_its_realized_gain_and_keeps_the_average(client: AsyncClient) -> None:
    stock = await holding_with(client)
    # 10 at 100; sell 4 at 125, fee 1.5: 500 - 1.5 - 400 = 98.5. Left 6 at 100.
    response = await record(client, stock["id"], type="sell", occurred_on="2024-03-01", quantity=4, price=125, fee=1.5)
    assert response.status_code == 201, response.text
    assert response.json()["realized_gain"] == 98.5
    after = await assert_row_is_its_ledger_replayed(client, stock["id"])
    assert (after["quantity"], after["price"]) == (6, 100.0)


async def test_selling_more_than_is_held_is_a_422_naming_quantity_and_changes_nothing(client: AsyncClient) -> None:
    stock = await holding_with(client)
    response = await record(client, stock["id"], type="sell", occurred_on="2024-03-01", quantity=11, price=1)
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "sell", "quantity")]
    assert "10 held" in response.json()["errors"][0]["message"]
    assert len(await ledger(client, stock["id"])) == 1
    assert (await client.get(f"/stocks/{stock['id']}")).json()["quantity"] == 10


async def test_a_sell_dated_before_the_shares_were_bought_is_refused(client: AsyncClient) -> None:
    stock = await holding_with(client)  # bought on 2024-01-02
    response = await record(client, stock["id"], type="sell", occurred_on="2024-01-01", quantity=1, price=1)
    assert response.status_code == 422
    assert "0 held" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"type": "buy", "occurred_on": JAN_2, "quantity": 1, "price": 1, "amount": 5}, ("body", "buy", "amount")),
        ({"type": "dividend", "occurred_on": JAN_2, "amount": 5, "quantity": 1}, ("body", "dividend", "quantity")),
        ({"type": "split", "occurred_on": JAN_2, "ratio": 2, "price": 1}, ("body", "split", "price")),
        ({"type": "fee", "occurred_on": JAN_2, "amount": 5, "ratio": 2}, ("body", "fee", "ratio")),
        ({"type": "sell", "occurred_on": JAN_2, "quantity": 1}, ("body", "sell", "price")),
        ({"type": "buy", "occurred_on": JAN_2, "quantity": 1, "price": 0}, ("body", "buy", "price")),
        ({"type": "buy", "occurred_on": JAN_2, "quantity": 1, "price": 1, "fee": -1}, ("body", "buy", "fee")),
        ({"type": "dividend", "occurred_on": JAN_2, "amount": 0}, ("body", "dividend", "amount")),
        ({"type": "split", "occurred_on": JAN_2, "ratio": 0}, ("body", "split", "ratio")),
        ({"type": "dividend", "occurred_on": 0, "amount": 1}, ("body", "dividend", "occurred_on")),
        ({"type": "dividend", "occurred_on": "2024-02-30", "amount": 1}, ("body", "dividend", "occurred_on")),
        ({"type": "adjustment", "occurred_on": JAN_2, "quantity": 1, "price": 1}, ("body",)),
    ],
)
async def test_a_field_the_type_does_not_take_or_a_bad_value_is_a_422_naming_it(
    client: AsyncClient, body: dict[str, Any], location: tuple[str, ...]
) -> None:
    stock = await holding_with(client)
    response = await record(client, stock["id"], **body)
    assert response.status_code == 422
    assert error_locations(response.json()) == [location]


async def test_a_date_in_the_future_is_a_422_naming_it(client: AsyncClient) -> None:
    stock = await holding_with(client)
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = await record(client, stock["id"], type="dividend", occurred_on=tomorrow, amount=1)
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "dividend", "occurred_on")]


async def test_a_split_multiplies_quantity_and_divides_price(client: AsyncClient) -> None:
    stock = await holding_with(client, price=100.5)
    # 10 at 100.5, split 2-for-1: 20 at 50.25.
    response = await record(client, stock["id"], type="split", occurred_on="2024-06-01", ratio=2)
    assert response.status_code == 201, response.text
    after = await assert_row_is_its_ledger_replayed(client, stock["id"])
    assert (after["quantity"], after["price"]) == (20, 50.25)


async def test_a_split_into_fractions_is_a_422_naming_ratio(client: AsyncClient) -> None:
    stock = await holding_with(client, quantity=3)
    response = await record(client, stock["id"], type="split", occurred_on="2024-06-01", ratio=1.5)
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "split", "ratio")]


async def test_dividends_and_fees_leave_the_holding_alone(client: AsyncClient) -> None:
    stock = await holding_with(client)
    for body in ({"type": "dividend", "amount": 12.5}, {"type": "fee", "amount": 3, "note": "custody"}):
        response = await record(client, stock["id"], occurred_on="2024-06-01", **body)
        assert response.status_code == 201, response.text
    after = (await client.get(f"/stocks/{stock['id']}")).json()
    assert (after["quantity"], after["price"], after["updated_at"]) == (10, 100.0, stock["updated_at"])


async def test_selling_everything_leaves_quantity_0_listed_and_out_of_the_portfolio(client: AsyncClient) -> None:
    stock = await holding_with(client)
    response = await record(client, stock["id"], type="sell", occurred_on="2024-06-01", quantity=10, price=90)
    assert response.json()["realized_gain"] == -100.0  # 900 - 1000
    sold_out = await assert_row_is_its_ledger_replayed(client, stock["id"])
    assert (sold_out["quantity"], sold_out["price"]) == (0, 100.0)
    user = (await client.get(f"/users/{stock['user_id']}")).json()
    assert [held["quantity"] for held in user["stocks"]] == [0]
    assert [held["id"] for held in (await client.get(f"/users/{stock['user_id']}/stocks/")).json()] == [stock["id"]]
    portfolio = (await client.get(f"/users/{stock['user_id']}/portfolio")).json()
    assert (portfolio["positions"], portfolio["total_value"]) == ([], 0.0)
    # ... and it may be bought into again: 0 x 100 + 2 x 50 = 100; 2 shares at 50.
    await record(client, stock["id"], type="buy", occurred_on="2024-07-01", quantity=2, price=50)
    again = await assert_row_is_its_ledger_replayed(client, stock["id"])
    assert (again["quantity"], again["price"]) == (2, 50.0)


async def test_put_and_patch_record_an_adjustment_only_when_quantity_or_price_moves(client: AsyncClient) -> None:
    stock = await holding_with(client)
    same = {"name": "AAPL", "price": 100, "quantity": 10}
    assert (await client.put(f"/stocks/{stock['id']}", json=same)).status_code == 200
    assert (await client.patch(f"/stocks/{stock['id']}", json={"name": "MSFT"})).status_code == 200
    assert len(await ledger(client, stock["id"])) == 1
    assert (await client.patch(f"/stocks/{stock['id']}", json={"quantity": 7})).status_code == 200
    assert (await client.put(f"/stocks/{stock['id']}", json={**same, "price": 12.34, "quantity": 7})).status_code == 200
    entries = await ledger(client, stock["id"])
    assert [(e["type"], e["quantity"], e["price"], e["occurred_on"]) for e in entries] == [
        ("buy", 10, 100.0, JAN_2),
        ("adjustment", 7, 100.0, today().isoformat()),
        ("adjustment", 7, 12.34, today().isoformat()),
    ]
    await assert_row_is_its_ledger_replayed(client, stock["id"])


async def test_a_stale_put_records_no_adjustment(client: AsyncClient) -> None:
    stock = await holding_with(client)
    response = await client.patch(f"/stocks/{stock['id']}", json={"quantity": 3}, headers={"If-Match": '"99"'})
    assert response.status_code == 412
    assert len(await ledger(client, stock["id"])) == 1


async def test_a_backdated_buy_replays_the_ledger_and_moves_a_later_sells_gain(client: AsyncClient) -> None:
    stock = await holding_with(client)  # 10 at 100 on Jan 2
    sell = (await record(client, stock["id"], type="sell", occurred_on="2024-03-01", quantity=5, price=120)).json()
    assert sell["realized_gain"] == 100.0  # 600 - 500
    # 10 at 80 on Feb 1, before the sell: (1000 + 800) / 20 = 90; the sell's gain 600 - 450 = 150; 15 left at 90.
    response = await record(client, stock["id"], type="buy", occurred_on="2024-02-01", quantity=10, price=80)
    assert response.status_code == 201, response.text
    assert (await client.get(f"/transactions/{sell['id']}")).json()["realized_gain"] == 150.0
    after = await assert_row_is_its_ledger_replayed(client, stock["id"])
    assert (after["quantity"], after["price"]) == (15, 90.0)
    assert [entry["occurred_on"] for entry in await ledger(client, stock["id"])] == [JAN_2, "2024-02-01", "2024-03-01"]


async def test_a_backdated_sell_that_leaves_a_later_sell_short_is_refused(client: AsyncClient) -> None:
    stock = await holding_with(client)
    await record(client, stock["id"], type="sell", occurred_on="2024-03-01", quantity=8, price=1)
    response = await record(client, stock["id"], type="sell", occurred_on="2024-02-01", quantity=5, price=1)
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "sell", "quantity")]
    assert "later sell of 2024-03-01" in response.json()["errors"][0]["message"]


async def test_deleting_a_transaction_replays_the_rest(client: AsyncClient) -> None:
    stock = await holding_with(client)
    buy = (await record(client, stock["id"], type="buy", occurred_on="2024-02-01", quantity=10, price=80)).json()
    sell = (await record(client, stock["id"], type="sell", occurred_on="2024-03-01", quantity=5, price=120)).json()
    assert sell["realized_gain"] == 150.0
    assert (await client.delete(f"/transactions/{buy['id']}")).status_code == 204
    # Without the buy at 80: 10 at 100, sell 5 at 120: gain 100; 5 left at 100.
    assert (await client.get(f"/transactions/{sell['id']}")).json()["realized_gain"] == 100.0
    after = await assert_row_is_its_ledger_replayed(client, stock["id"])
    assert (after["quantity"], after["price"]) == (5, 100.0)
    assert (await client.get(f"/transactions/{buy['id']}")).json() == problem(
        "transaction_not_found", f"Transaction with ID {buy['id']} not found"
    )


async def test_deleting_a_buy_a_later_sell_needs_is_a_422(client: AsyncClient) -> None:
    stock = await holding_with(client)
    buy = (await record(client, stock["id"], type="buy", occurred_on="2024-02-01", quantity=10, price=80)).json()
    await record(client, stock["id"], type="sell", occurred_on="2024-03-01", quantity=15, price=120)
    response = await client.delete(f"/transactions/{buy['id']}")
    assert response.status_code == 422
    assert error_locations(response.json()) == [("path", "transaction_id")]
    assert len(await ledger(client, stock["id"])) == 3


async def test_deleting_the_only_buy_is_a_422(client: AsyncClient) -> None:
    stock = await holding_with(client)
    [opening] = await ledger(client, stock["id"])
    response = await client.delete(f"/transactions/{opening['id']}")
    assert response.status_code == 422
    assert "only buy" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("row_id", [0, -1, 2**31, 10**20, 999999])
async def test_a_transaction_or_stock_that_cannot_exist_is_the_guides_404(client: AsyncClient, row_id: int) -> None:
    assert (await client.get(f"/transactions/{row_id}")).json()["detail"] == f"Transaction with ID {row_id} not found"
    assert (await client.delete(f"/transactions/{row_id}")).status_code == 404
    assert (await client.get(f"/stocks/{row_id}/transactions")).json() == problem(
        "stock_not_found", f"Stock with ID {row_id} not found"
    )
    response = await record(client, row_id, type="dividend", occurred_on=JAN_2, amount=1)
    assert response.json()["detail"] == f"Stock with ID {row_id} not found"


async def test_a_ledger_is_paged_oldest_first_with_link(client: AsyncClient) -> None:
    stock = await holding_with(client)
    for day in ("2024-05-01", "2024-03-01", "2024-04-01"):
        await record(client, stock["id"], type="dividend", occurred_on=day, amount=1)
    seen: list[str] = []
    url: str | None = f"/stocks/{stock['id']}/transactions?limit=3"
    while url:
        response = await client.get(url)
        seen += [entry["occurred_on"] for entry in response.json()]
        url = response.links.get("next", {}).get("url")
    assert seen == [JAN_2, "2024-03-01", "2024-04-01", "2024-05-01"]


async def test_the_entry_and_the_holding_land_together_or_not_at_all(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    stock = await holding_with(client)

    async def fail(*args: Any) -> None:
        raise RuntimeError("the holding's UPDATE fails")

    monkeypatch.setattr(TransactionRepository, "move_holding", fail)
    response = await record(client, stock["id"], type="buy", occurred_on="2024-02-01", quantity=1, price=1)
    assert response.status_code == 500
    monkeypatch.undo()
    assert len(await ledger(client, stock["id"])) == 1  # the INSERT before it did not stick


async def test_a_backdated_write_that_waited_for_the_holding_is_replayed_against_what_the_first_wrote(
    committed_client: AsyncClient, database_url: str
) -> None:
    """Two ledger writes on one holding at once: the second must see the first's entry once it holds the lock.

    One share bought on 2024-03-02. A buys 7 more, dated 2026-06-01; B sells 5, dated 2025-01-01,
    when only the one share was held. Queued behind A, B once read the last day as it was before A
    (2024-03-02), took its entry for the latest, and sold from A's 8 shares: 201, and a ledger
    that no longer replays.
    """
    user = await create_user(committed_client)
    stock = await create_stock(committed_client, user["id"], quantity=1, price=100, acquired_on="2024-03-02")
    path = f"/stocks/{stock['id']}/transactions"
    buy = {"type": "buy", "occurred_on": "2026-06-01", "quantity": 7, "price": 100}
    sell = {"type": "sell", "occurred_on": "2025-01-01", "quantity": 5, "price": 100}
    async with (
        await psycopg.AsyncConnection.connect(libpq_url(database_url)) as holder,
        await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as observer,
    ):
        await holder.execute("SELECT 1 FROM stocks WHERE id = %s FOR UPDATE", (stock["id"],))
        first = asyncio.ensure_future(committed_client.post(path, json=buy))
        await waiting_for_a_lock(observer, 1)
        second = asyncio.ensure_future(committed_client.post(path, json=sell))
        await waiting_for_a_lock(observer, 2)
        await holder.rollback()
        bought, sold = await asyncio.wait_for(asyncio.gather(first, second), 30)
    assert bought.status_code == 201, bought.text
    assert sold.status_code == 422, sold.text
    assert error_locations(sold.json()) == [("body", "sell", "quantity")]
    row = (await committed_client.get(f"/stocks/{stock['id']}")).json()
    assert row["quantity"] == 8
    assert (await committed_client.get(f"/users/{user['id']}/portfolio?as_of=2026-06-01")).status_code == 200
