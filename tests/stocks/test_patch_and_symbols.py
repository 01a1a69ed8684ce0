"""PATCH (partial updates, explicit nulls), GET of one stock, updated_at, and symbol normalisation."""

import asyncio
from datetime import datetime

import pytest
from httpx import AsyncClient

from tests.helpers import create_stock, create_user, error_locations


async def test_patching_a_user_changes_only_the_fields_sent(client: AsyncClient) -> None:
    user = await create_user(client, name="John Doe", age=30)
    response = await client.patch(f"/users/{user['id']}", json={"age": 31})
    assert response.status_code == 200
    patched = response.json()
    assert {**patched, "updated_at": None} == {**user, "age": 31, "updated_at": None}
    response = await client.patch(f"/users/{user['id']}", json={"name": "Johnny Doe"})
    assert (response.json()["name"], response.json()["age"]) == ("Johnny Doe", 31)


async def test_patching_a_users_age_to_null_clears_it(client: AsyncClient) -> None:
    user = await create_user(client, age=30)
    response = await client.patch(f"/users/{user['id']}", json={"age": None})
    assert response.status_code == 200
    assert response.json()["age"] is None
    assert (await client.get(f"/users/{user['id']}")).json()["age"] is None


async def test_an_empty_patch_changes_nothing(client: AsyncClient) -> None:
    user = await create_user(client)
    response = await client.patch(f"/users/{user['id']}", json={})
    assert response.status_code == 200
    assert response.json() == user


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"name": "jo"}, "name"),
        ({"name": "lower"}, "name"),
        ({"age": 151}, "age"),
        ({"age": False}, "age"),
        ({"age": "30"}, "age"),
    ],
)
async def test_patching_a_user_refuses_null_names_and_applies_the_create_rules(
    client: AsyncClient, body: dict, field: str
) -> None:
    user = await create_user(client)
    response = await client.patch(f"/users/{user['id']}", json=body)
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", field)]
    assert (await client.get(f"/users/{user['id']}")).json()["name"] == user["name"]


async def test_patching_a_stock_changes_only_the_fields_sent(client: AsyncClient) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"], name="AAPL", price=175.5, quantity=10)
    response = await client.patch(f"/stocks/{stock['id']}", json={"quantity": 15, "is_active": False})
    assert response.status_code == 200
    patched = response.json()
    assert {**patched, "updated_at": None} == {**stock, "quantity": 15, "is_active": False, "updated_at": None}


@pytest.mark.parametrize("field", ["name", "price", "quantity", "is_active"])
async def test_patching_a_stock_field_to_null_is_a_422(client: AsyncClient, field: str) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    response = await client.patch(f"/stocks/{stock['id']}", json={field: None})
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", field)]
    assert (await client.get(f"/stocks/{stock['id']}")).json() == stock


async def test_patching_a_stock_applies_the_create_rules(client: AsyncClient) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    response = await client.patch(
        f"/stocks/{stock['id']}", json={"price": -1, "quantity": 0, "name": "A B", "is_active": 1}
    )
    assert response.status_code == 422
    assert error_locations(response.json()) == [
        ("body", "name"),
        ("body", "price"),
        ("body", "quantity"),
        ("body", "is_active"),
    ]


@pytest.mark.parametrize(("path", "text"), [("/users/{id}", "User"), ("/stocks/{id}", "Stock")])
@pytest.mark.parametrize("missing_id", ["999999", "0", "2147483648"])
async def test_patching_a_missing_row_is_a_404_with_the_guides_text(
    client: AsyncClient, path: str, text: str, missing_id: str
) -> None:
    response = await client.patch(path.format(id=missing_id), json={})
    assert response.status_code == 404
    assert response.json()["detail"] == f"{text} with ID {missing_id} not found"


async def test_reading_one_stock(client: AsyncClient) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    response = await client.get(f"/stocks/{stock['id']}")
    assert response.status_code == 200
    assert response.json() == stock


@pytest.mark.parametrize("missing_id", ["999999", "0", "-3", "2147483648"])
async def test_reading_a_missing_stock_is_a_404_with_the_guides_text(client: AsyncClient, missing_id: str) -> None:
    response = await client.get(f"/stocks/{missing_id}")
    assert response.status_code == 404
    assert response.json()["detail"] == f"Stock with ID {missing_id} not found"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/users/{user_id}", {"name": "Jane Doe"}),
        ("PATCH", "/users/{user_id}", {"age": 40}),
        ("PUT", "/stocks/{stock_id}", {"name": "MSFT", "price": 1, "quantity": 1}),
        ("PATCH", "/stocks/{stock_id}", {"price": 2}),
    ],
)
async def test_updated_at_moves_on_every_update_and_not_on_reads(
    committed_client: AsyncClient, method: str, path: str, body: dict
) -> None:
    user = await create_user(committed_client)
    stock = await create_stock(committed_client, user["id"])
    assert user["updated_at"] == user["signup_ts"]
    assert stock["updated_at"] == stock["created_at"]
    before = {"user_id": user, "stock_id": stock}["user_id" if "{user_id}" in path else "stock_id"]

    url = path.format(user_id=user["id"], stock_id=stock["id"])
    assert (await committed_client.get(url)).json()["updated_at"] == before["updated_at"]
    response = await committed_client.request(method, url, json=body)
    assert response.status_code == 200
    assert datetime.fromisoformat(response.json()["updated_at"]) > datetime.fromisoformat(before["updated_at"])
    assert (await committed_client.get(url)).json()["updated_at"] == response.json()["updated_at"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [(" brk.b ", "BRK.B"), ("aapl", "AAPL"), ("Rds-A", "RDS-A"), ("\tmsft\n", "MSFT"), ("0700", "0700")],
)
async def test_symbols_are_trimmed_and_upper_cased(client: AsyncClient, sent: str, stored: str) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"], name=sent)
    assert stock["name"] == stored
    patched = await client.patch(f"/stocks/{stock['id']}", json={"name": sent.lower()})
    assert patched.json()["name"] == stored


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ("BRK B", "Symbol may contain only letters A-Z, digits, '.' and '-'"),
        ("AAPL$", "Symbol may contain only letters A-Z, digits, '.' and '-'"),
        ("ÄPPL", "Symbol may contain only letters A-Z, digits, '.' and '-'"),
        ("straße", "Symbol may contain only letters A-Z, digits, '.' and '-'"),
        ("   ", "Symbol must not be empty"),
        ("ABCDEFGHIJK", "Symbol must be at most 10 characters"),
    ],
)
async def test_symbols_with_other_characters_are_refused_saying_why(
    client: AsyncClient, sent: str, message: str
) -> None:
    user = await create_user(client)
    response = await client.post(f"/users/{user['id']}/stocks/", json={"name": sent, "price": 1, "quantity": 1})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["location"], error["message"]) == (["body", "name"], f"Value error, {message}")


async def test_concurrent_patches_of_different_fields_both_apply(committed_client: AsyncClient) -> None:
    user = await create_user(committed_client, age=30)
    responses = await asyncio.gather(
        *(committed_client.patch(f"/users/{user['id']}", json=body) for body in ({"name": "Jane Doe"}, {"age": 44}))
    )
    assert [response.status_code for response in responses] == [200, 200]
    final = (await committed_client.get(f"/users/{user['id']}")).json()
    assert (final["name"], final["age"]) == ("Jane Doe", 44)
