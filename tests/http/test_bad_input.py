"""Whatever a client sends, the answer is a 4xx that says what is wrong, never a 500."""

import pytest
from httpx import AsyncClient

from tests.helpers import create_user


@pytest.fixture
async def user_id(client: AsyncClient) -> int:
    return (await create_user(client))["id"]


# Raw bodies, sent as application/json to each write endpoint.
MALFORMED_BODIES = [
    b"",
    b"{",
    b"not json",
    b"[]",
    b"null",
    b"42",
    b'"John Doe"',
    b'{"name": "John Doe", "age": 30',
    b"\xff\xfe\xfa",  # not UTF-8
    b'{"name": "John\\ud800 Doe"}',  # unpaired surrogate, legal JSON, unstorable text
    b'{"name": {"first": "John"}, "age": [30]}',
]
NON_FINITE_PRICES = [
    b'{"name": "AAPL", "price": 1e400, "quantity": 1}',  # parses to infinity
    b'{"name": "AAPL", "price": -1e400, "quantity": 1}',
    b'{"name": "AAPL", "price": NaN, "quantity": 1}',
    b'{"name": "AAPL", "price": Infinity, "quantity": 1}',
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (method, path, body)
        for method, path in [("POST", "/users/"), ("PUT", "/users/{user_id}"), ("POST", "/users/{user_id}/stocks/")]
        for body in MALFORMED_BODIES
    ]
    + [(method, "/users/{user_id}/stocks/", body) for method in ("POST",) for body in NON_FINITE_PRICES],
)
async def test_malformed_bodies_are_4xx_with_a_json_detail(
    client: AsyncClient, user_id: int, method: str, path: str, body: bytes
) -> None:
    response = await client.request(
        method, path.format(user_id=user_id), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


async def test_an_unpaired_surrogate_is_named_as_a_problem_with_the_field(client: AsyncClient) -> None:
    response = await client.post(
        "/users/", content=b'{"name": "John\\ud800 Doe"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["location"], error["type"]) == (["body", "name"], "string_unicode")


async def test_an_infinite_price_is_named_as_not_finite(client: AsyncClient, user_id: int) -> None:
    response = await client.post(
        f"/users/{user_id}/stocks/",
        content=b'{"name": "AAPL", "price": 1e400, "quantity": 1}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["location"], error["type"]) == (["body", "price"], "finite_number")


async def test_malformed_json_says_where(client: AsyncClient) -> None:
    response = await client.post("/users/", content=b'{"name": ', headers={"content-type": "application/json"})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["type"] == "json_invalid"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_a_body_that_is_not_json_is_refused(client: AsyncClient, content_type: str) -> None:
    response = await client.post("/users/", content=b'{"name": "John Doe"}', headers={"content-type": content_type})
    assert response.status_code == 415  # tests/http/test_strict_input.py has the details
    assert "application/json" in response.json()["detail"]


async def test_a_very_long_name_is_refused_without_a_database_error(client: AsyncClient) -> None:
    response = await client.post("/users/", json={"name": "J" + "x" * 100_000})
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "string_too_long"


async def test_unknown_routes_and_methods_are_404_and_405(client: AsyncClient) -> None:
    assert (await client.get("/nope")).status_code == 404
    assert (await client.patch("/stocks/")).status_code == 405
