"""Concurrent writes through the real pool, each request its own transaction: nothing lost, no orphans."""

import asyncio

from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import create_user

GUARD_SECONDS = 60


async def test_two_hundred_concurrent_stock_creations_all_land(committed_client: AsyncClient) -> None:
    user = await create_user(committed_client)
    symbols = [f"S{n}" for n in range(200)]
    responses = await asyncio.wait_for(
        asyncio.gather(
            *(
                committed_client.post(f"/users/{user['id']}/stocks/", json={"name": symbol, "price": 1, "quantity": 1})
                for symbol in symbols
            )
        ),
        GUARD_SECONDS,
    )
    assert [response.status_code for response in responses] == [201] * 200
    listed = await committed_client.get(f"/users/{user['id']}/stocks/", params={"limit": 1000})
    assert sorted(stock["name"] for stock in listed.json()) == sorted(symbols)
    assert sorted(stock["id"] for stock in listed.json()) == sorted(r.json()["id"] for r in responses)


async def test_deleting_a_user_while_stocks_are_created_leaves_no_orphan(
    committed_client: AsyncClient, engine: AsyncEngine
) -> None:
    user = await create_user(committed_client)
    url = f"/users/{user['id']}/stocks/"

    answered: list[Response] = []
    first_landed = asyncio.Event()

    async def create(n: int) -> Response:
        response = await committed_client.post(url, json={"name": f"S{n}", "price": 1, "quantity": 1})
        answered.append(response)
        if response.status_code == 201:
            first_landed.set()
        return response

    async def delete_midway() -> tuple[Response, int]:
        await first_landed.wait()
        in_flight = 100 - len(answered)
        return await committed_client.delete(f"/users/{user['id']}"), in_flight

    creating = asyncio.gather(*(create(n) for n in range(100)))
    deletion, in_flight = await asyncio.wait_for(delete_midway(), GUARD_SECONDS)
    creations = await asyncio.wait_for(creating, GUARD_SECONDS)
    # The race happened: the deletion went out after a stock had landed and while others were still on their way.
    assert in_flight > 0
    assert deletion.status_code == 204
    assert {response.status_code for response in creations} <= {201, 404}
    for response in creations:
        if response.status_code == 404:
            assert response.json()["detail"] == f"User with ID {user['id']} not found"
    async with engine.connect() as connection:
        orphans = await connection.scalar(
            text("SELECT count(*) FROM stocks WHERE NOT EXISTS (SELECT 1 FROM users WHERE users.id = stocks.user_id)")
        )
    assert orphans == 0
    assert (await committed_client.get(url)).status_code == 404
