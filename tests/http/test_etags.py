"""ETag and If-Match: safe read-modify-write; requests without If-Match behave as in the guide."""

import asyncio

import pytest
from httpx import AsyncClient

from tests.helpers import create_stock, create_user, problem


@pytest.fixture
async def user(client: AsyncClient) -> dict:
    return await create_user(client)


async def test_every_single_row_answer_carries_the_rows_version_as_etag(client: AsyncClient) -> None:
    created = await client.post("/users/", json={"name": "John Doe"})
    assert created.headers["etag"] == '"1"'
    user_id = created.json()["id"]
    assert (await client.get(f"/users/{user_id}")).headers["etag"] == '"1"'
    assert (await client.put(f"/users/{user_id}", json={"name": "Jane Doe"})).headers["etag"] == '"2"'
    assert (await client.patch(f"/users/{user_id}", json={"age": 3})).headers["etag"] == '"3"'
    assert (await client.get(f"/users/{user_id}")).headers["etag"] == '"3"'

    stock = await client.post(f"/users/{user_id}/stocks/", json={"name": "AAPL", "price": 1, "quantity": 1})
    assert stock.headers["etag"] == '"1"'
    stock_id = stock.json()["id"]
    assert (await client.patch(f"/stocks/{stock_id}", json={"price": 2})).headers["etag"] == '"2"'
    assert (await client.get(f"/stocks/{stock_id}")).headers["etag"] == '"2"'
    assert "etag" not in (await client.get("/stocks/")).headers


@pytest.mark.parametrize("if_match", ['"1"', "*", '"7", "1"', ' "1" '])
@pytest.mark.parametrize(("method", "body"), [("PUT", {"name": "Jane Doe"}), ("PATCH", {"age": 5}), ("DELETE", None)])
async def test_a_matching_if_match_lets_the_change_through(
    client: AsyncClient, user: dict, method: str, body: dict | None, if_match: str
) -> None:
    response = await client.request(method, f"/users/{user['id']}", json=body, headers={"If-Match": if_match})
    assert response.status_code == (204 if method == "DELETE" else 200), response.text


@pytest.mark.parametrize("if_match", ['"2"', 'W/"1"', '"01"', "1", "garbage", '""'])
@pytest.mark.parametrize(("method", "body"), [("PUT", {"name": "Jane Doe"}), ("PATCH", {"age": 5}), ("DELETE", None)])
async def test_a_stale_if_match_is_a_412_and_changes_nothing(
    client: AsyncClient, user: dict, method: str, body: dict | None, if_match: str
) -> None:
    response = await client.request(method, f"/users/{user['id']}", json=body, headers={"If-Match": if_match})
    assert response.status_code == 412
    assert response.headers["etag"] == '"1"'
    assert response.json() == problem(
        "version_mismatch", f'User with ID {user["id"]} has changed since you read it; its ETag is now "1"'
    )
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/users/{user['id']}")).json() == {**user, "stocks": []}


async def test_if_match_on_stocks(client: AsyncClient, user: dict) -> None:
    stock = await create_stock(client, user["id"])
    stale = await client.put(
        f"/stocks/{stock['id']}", json={"name": "X", "price": 1, "quantity": 1}, headers={"If-Match": '"9"'}
    )
    assert stale.status_code == 412
    assert stale.json()["detail"].startswith(f"Stock with ID {stock['id']} has changed")
    fresh = await client.delete(f"/stocks/{stock['id']}", headers={"If-Match": '"1"'})
    assert fresh.status_code == 204


async def test_if_match_on_a_missing_row_is_still_a_404(client: AsyncClient) -> None:
    response = await client.put("/users/999999", json={"name": "Jane Doe"}, headers={"If-Match": '"1"'})
    assert response.status_code == 404
    assert response.json()["detail"] == "User with ID 999999 not found"


async def test_writers_from_the_same_read_one_wins_the_others_are_told(committed_client: AsyncClient) -> None:
    user = await create_user(committed_client, age=30)
    read = await committed_client.get(f"/users/{user['id']}")
    tag = read.headers["etag"]
    responses = await asyncio.gather(
        *(
            committed_client.patch(f"/users/{user['id']}", json={"age": age}, headers={"If-Match": tag})
            for age in range(31, 41)
        )
    )
    assert sorted(response.status_code for response in responses) == [200] + [412] * 9
    (winner,) = [response for response in responses if response.status_code == 200]
    final = await committed_client.get(f"/users/{user['id']}")
    assert final.json()["age"] == winner.json()["age"]
    assert final.headers["etag"] == '"2"'


async def test_a_patch_and_a_delete_from_the_same_read_never_both_land(committed_client: AsyncClient) -> None:
    user = await create_user(committed_client)
    stock = await create_stock(committed_client, user["id"])
    url = f"/stocks/{stock['id']}"
    patch, delete = await asyncio.gather(
        committed_client.patch(url, json={"quantity": 2}, headers={"If-Match": '"1"'}),
        committed_client.delete(url, headers={"If-Match": '"1"'}),
    )
    after = await committed_client.get(url)
    if patch.status_code == 200:  # the PATCH went first: the DELETE named a version that is gone
        assert delete.status_code == 412
        assert after.json()["quantity"] == 2
    else:  # the DELETE went first: the PATCH finds no row
        assert (delete.status_code, patch.status_code) == (204, 404)
        assert after.status_code == 404
