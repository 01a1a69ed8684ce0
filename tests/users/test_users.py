"""Users: every endpoint, every validation rule, the 404 texts, paging and the cascade."""

import pytest
from httpx import AsyncClient
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.stocks.models import Stock
from tests.helpers import create_stock, create_user, error_locations


async def test_creating_a_user_without_age_stores_null(client: AsyncClient) -> None:
    user = await create_user(client, name="Ada Lovelace", age=None)
    assert user["age"] is None
    assert (await client.get(f"/users/{user['id']}")).json()["age"] is None


async def test_reading_a_user_without_stocks_gives_an_empty_list(client: AsyncClient) -> None:
    user = await create_user(client)
    assert (await client.get(f"/users/{user['id']}")).json() == {**user, "stocks": []}


async def test_a_users_stocks_are_listed_in_creation_order(client: AsyncClient) -> None:
    user = await create_user(client)
    created = [await create_stock(client, user["id"], name=symbol) for symbol in ("MSFT", "AAPL", "GOOG")]
    assert (await client.get(f"/users/{user['id']}")).json()["stocks"] == created


@pytest.mark.parametrize(
    ("path", "method"),
    [("/users/999999", "GET"), ("/users/999999", "PUT"), ("/users/999999", "DELETE")],
)
async def test_a_missing_user_is_a_404_with_the_guides_text(client: AsyncClient, path: str, method: str) -> None:
    response = await client.request(method, path, json={"name": "John Doe", "age": 30})
    assert response.status_code == 404
    assert response.json()["detail"] == "User with ID 999999 not found"


@pytest.mark.parametrize("user_id", ["0", "-1", "2147483648", "99999999999999999999999999"])
async def test_ids_no_integer_column_can_hold_are_404s_not_database_errors(client: AsyncClient, user_id: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, f"/users/{user_id}", json={"name": "John Doe"})
        assert response.status_code == 404, (method, response.text)
        assert response.json()["detail"] == f"User with ID {user_id} not found"


async def test_a_non_numeric_user_id_is_a_422_naming_the_path_parameter(client: AsyncClient) -> None:
    response = await client.get("/users/abc")
    assert response.status_code == 422
    assert error_locations(response.json()) == [("path", "user_id")]


async def test_listing_users_pages_by_id(client: AsyncClient) -> None:
    users = [await create_user(client, name=f"User {n}") for n in range(5)]
    ids = [user["id"] for user in users]

    everyone = (await client.get("/users/")).json()
    assert [user["id"] for user in everyone] == ids
    page = (await client.get("/users/", params={"skip": 1, "limit": 2})).json()
    assert page == users[1:3]
    assert (await client.get("/users/", params={"skip": 5})).json() == []


async def test_listing_users_defaults_to_100_per_page(client: AsyncClient) -> None:
    for n in range(101):
        await client.post("/users/", json={"name": f"User {n}"})
    assert len((await client.get("/users/")).json()) == 100
    assert len((await client.get("/users/", params={"skip": 100})).json()) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"skip": -1}, "skip"),
        ({"skip": 2147483648}, "skip"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_paging_parameters_out_of_bounds_are_422s(client: AsyncClient, params: dict, field: str) -> None:
    for path in ("/users/", "/stocks/"):
        response = await client.get(path, params=params)
        assert response.status_code == 422
        assert error_locations(response.json()) == [("query", field)]


async def test_updating_a_user_replaces_name_and_age(client: AsyncClient) -> None:
    user = await create_user(client)
    response = await client.put(f"/users/{user['id']}", json={"name": "Jane Doe", "age": 31})
    assert response.status_code == 200
    assert response.json() == {**user, "name": "Jane Doe", "age": 31}
    assert (await client.get(f"/users/{user['id']}")).json()["name"] == "Jane Doe"


async def test_updating_a_user_without_age_clears_it_as_the_guide_does(client: AsyncClient) -> None:
    user = await create_user(client)
    response = await client.put(f"/users/{user['id']}", json={"name": "John Doe"})
    assert response.json()["age"] is None


async def test_updating_a_user_applies_the_create_rules(client: AsyncClient) -> None:
    user = await create_user(client)
    response = await client.put(f"/users/{user['id']}", json={"name": "jo", "age": 200})
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "name"), ("body", "age")]
    assert (await client.get(f"/users/{user['id']}")).json()["name"] == "John Doe"


async def test_deleting_a_user_answers_204_with_an_empty_body(client: AsyncClient) -> None:
    user = await create_user(client)
    response = await client.delete(f"/users/{user['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/users/{user['id']}")).status_code == 404
    assert (await client.delete(f"/users/{user['id']}")).status_code == 404


async def test_deleting_a_user_deletes_their_stocks(client: AsyncClient, session: AsyncSession) -> None:
    user = await create_user(client)
    other = await create_user(client, name="Other User")
    for symbol in ("AAPL", "MSFT"):
        await create_stock(client, user["id"], name=symbol)
    kept = await create_stock(client, other["id"])

    assert (await client.delete(f"/users/{user['id']}")).status_code == 204

    count = select(func.count()).select_from(Stock).where(Stock.user_id == user["id"])
    assert await session.scalar(count) == 0
    assert (await client.get("/stocks/")).json() == [kept]


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"age": 30}, "name", "missing"),
        ({"name": "Jo"}, "name", "string_too_short"),
        ({"name": "J" * 256}, "name", "string_too_long"),
        ({"name": "john Doe"}, "name", "value_error"),
        ({"name": "123 Main"}, "name", "value_error"),
        ({"name": None}, "name", "null_forbidden"),
        ({"name": 12345}, "name", "string_type"),
        ({"name": "John\u0000Doe"}, "name", "value_error"),
        ({"name": "John Doe", "age": -1}, "age", "greater_than_equal"),
        ({"name": "John Doe", "age": 151}, "age", "less_than_equal"),
        ({"name": "John Doe", "age": 30.5}, "age", "int_from_float"),
        ({"name": "John Doe", "age": "thirty"}, "age", "number_type"),
        ({"name": "John Doe", "age": "30"}, "age", "number_type"),
        ({"name": "John Doe", "age": False}, "age", "number_type"),
        ({"name": "John Doe", "age": 10**30}, "age", "less_than_equal"),
    ],
)
async def test_invalid_users_are_422s_naming_the_field(
    client: AsyncClient, body: dict, field: str, error_type: str
) -> None:
    response = await client.post("/users/", json=body)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(tuple(error["location"]), error["type"]) for error in errors] == [(("body", field), error_type)]


async def test_the_capital_letter_rule_says_so(client: AsyncClient) -> None:
    response = await client.post("/users/", json={"name": "john Doe"})
    assert response.json()["errors"][0]["message"] == "Value error, Name must start with a capital letter"


@pytest.mark.parametrize("name", ["Élodie", "Åsa Nilsson", "Ølav", "Zoë 🎉"])
async def test_names_in_any_alphabet_are_accepted_and_kept_exactly(client: AsyncClient, name: str) -> None:
    user = await create_user(client, name=name)
    assert (await client.get(f"/users/{user['id']}")).json()["name"] == name


async def test_client_supplied_ids_and_timestamps_are_refused_naming_them(client: AsyncClient) -> None:
    response = await client.post(
        "/users/", json={"name": "John Doe", "id": 424242, "signup_ts": "1999-01-01T00:00:00Z"}
    )
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "id"), ("body", "signup_ts")]


async def test_the_sign_up_example_is_one_person_and_what_anyone_may_send(client: AsyncClient) -> None:
    openapi = (await client.get("/openapi.json")).json()
    examples = openapi["paths"]["/users/"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    [example] = [example["value"] for example in examples.values()]
    assert "is_admin" not in example  # only an admin may send it
    assert example["email"].split("@")[0] == example["name"].split()[0].lower()
    assert (await client.post("/users/", json=example)).status_code == 201
    # The schemas' own examples, which Swagger UI composes responses from, agree too.
    properties = openapi["components"]["schemas"]["UserPublic"]["properties"]
    assert properties["name"]["examples"] == [example["name"]]
