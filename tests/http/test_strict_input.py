"""Typos fail loudly: unknown body fields and query parameters are 422s naming them; a body not sent as JSON is a 415.

And a 422 never echoes more than a bounded slice of what it was sent.
"""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from httpx import AsyncClient

from app.http.paging import documented_query_parameters
from tests.helpers import AAPL, JOHN, create_stock, create_user


async def test_a_misspelt_field_in_a_put_is_a_422_naming_it_and_changes_nothing(client: AsyncClient) -> None:
    user = await create_user(client, name="John Doe", age=30)
    response = await client.put(f"/users/{user['id']}", json={"name": "Jane Doe", "agee": 31})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["type"], error["location"], error["input"]) == ("extra_forbidden", ["body", "agee"], 31)
    assert error["message"].startswith("Unknown field; this body takes name, age")
    assert (await client.get(f"/users/{user['id']}")).json()["age"] == 30


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users/", {**JOHN, "nickname": "JD"}),
        ("PUT", "/users/{user_id}", {**JOHN, "nickname": "JD"}),
        ("PATCH", "/users/{user_id}", {"nickname": "JD"}),
        ("POST", "/users/{user_id}/stocks/", {**AAPL, "nickname": "JD"}),
        ("PUT", "/stocks/{stock_id}", {**AAPL, "nickname": "JD"}),
        ("PATCH", "/stocks/{stock_id}", {"nickname": "JD"}),
    ],
)
async def test_every_body_refuses_a_field_it_does_not_have(
    client: AsyncClient, method: str, path: str, body: dict[str, Any]
) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    response = await client.request(method, path.format(user_id=user["id"], stock_id=stock["id"]), json=body)
    assert response.status_code == 422
    assert [(error["type"], error["location"]) for error in response.json()["errors"]] == [
        ("extra_forbidden", ["body", "nickname"])
    ]


async def test_every_request_body_schema_says_additional_properties_false(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    body_schemas = [
        operation["requestBody"]["content"]["application/json"]["schema"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    # A body of several shapes (a transaction, by its type) is a oneOf of them: each is closed.
    bodies = {
        reference["$ref"].rsplit("/", 1)[1] for schema in body_schemas for reference in schema.get("oneOf", [schema])
    }
    assert bodies >= {
        "UserCreate",
        "UserUpdate",
        "StockCreate",
        "StockReplace",
        "StockUpdate",
        "BuyCreate",
        "SplitCreate",
    }
    schemas = document["components"]["schemas"]
    assert {name: schemas[name].get("additionalProperties") for name in bodies} == dict.fromkeys(bodies, False)
    # The answers may gain fields; only what clients send is closed.
    assert "additionalProperties" not in schemas["UserPublic"]


# ---------------------------------------------------------------- query parameters


@pytest.mark.parametrize("path", ["/users/", "/stocks/", "/users/{user_id}/stocks/"])
async def test_an_unknown_query_parameter_on_a_list_is_a_422_naming_it(client: AsyncClient, path: str) -> None:
    user = await create_user(client)
    response = await client.get(path.format(user_id=user["id"]), params={"colour": "red", "limit": 5})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["type"], error["location"], error["input"]) == ("extra_forbidden", ["query", "colour"], "red")
    takes = {
        "/users/": "cursor, limit, name, skip, sort",
        "/stocks/": "cursor, is_active, limit, max_price, min_price, name, skip, sort, user_id",
        "/users/{user_id}/stocks/": "cursor, is_active, limit, max_price, min_price, name, skip, sort",
    }[path]
    assert error["message"] == f"Unknown query parameter; this list takes {takes}"


async def test_a_misspelt_filter_does_not_answer_the_whole_list(client: AsyncClient) -> None:
    user = await create_user(client)
    await create_stock(client, user["id"], is_active=True)
    response = await client.get("/stocks/?is_actve=false")
    assert response.status_code == 422
    assert [error["location"] for error in response.json()["errors"]] == [["query", "is_actve"]]


async def test_every_documented_query_parameter_is_accepted(client: AsyncClient) -> None:
    user = await create_user(client)
    query: dict[str, str | int] = {"skip": 0, "limit": 5, "name": "aapl", "is_active": "true", "min_price": 1}
    query |= {"max_price": 500, "user_id": user["id"], "sort": "-price"}
    assert (await client.get("/stocks/", params=query)).status_code == 200
    assert (await client.head("/stocks/", params=query)).status_code == 200
    assert (await client.get("/users/", params={"name": "doe", "sort": "name", "skip": 1})).status_code == 200


async def test_the_allowed_query_parameters_are_exactly_those_the_openapi_lists(app: FastAPI) -> None:
    document = app.openapi()
    routes = {route.name: route for route in _api_routes(app)}
    for operation_id in ("read_users", "read_stocks", "read_user_stocks"):
        (path, method) = next(
            (path, method)
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if operation["operationId"] == operation_id
        )
        listed = [p["name"] for p in document["paths"][path][method]["parameters"] if p["in"] == "query"]
        assert sorted(documented_query_parameters(routes[operation_id])) == sorted(listed)


def _api_routes(app: FastAPI) -> list[APIRoute]:
    from app.stocks.routes import router as stocks
    from app.users.routes import holdings_router
    from app.users.routes import router as users

    return [
        route for router in (users, holdings_router, stocks) for route in router.routes if isinstance(route, APIRoute)
    ]


# ---------------------------------------------------------------- content types


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/x-www-form-urlencoded"},  # curl -d without -H
        {"content-type": "text/plain"},
        {"content-type": "application/xml"},
        {"content-type": "multipart/form-data; boundary=x"},
        {},  # none at all
    ],
)
async def test_a_body_not_sent_as_json_is_a_415_that_says_what_to_send(
    client: AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/users/", content=b'{"name": "John Doe"}', headers=headers)
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert "`Content-Type: application/json`" in detail
    sent = headers.get("content-type")
    assert detail.endswith(f"it was sent as {sent}" if sent else "it was sent without a Content-Type")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/users/{user_id}"),
        ("PATCH", "/users/{user_id}"),
        ("POST", "/users/{user_id}/stocks/"),
        ("PUT", "/stocks/{stock_id}"),
        ("PATCH", "/stocks/{stock_id}"),
    ],
)
async def test_every_body_taking_route_answers_415_to_a_form(client: AsyncClient, method: str, path: str) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    url = path.format(user_id=user["id"], stock_id=stock["id"])
    response = await client.request(method, url, data={"name": "John Doe"})
    assert response.status_code == 415


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json"],
)
async def test_json_media_types_are_accepted(client: AsyncClient, content_type: str) -> None:
    response = await client.post("/users/", content=b'{"name": "John Doe"}', headers={"content-type": content_type})
    assert response.status_code == 201, response.text


async def test_an_empty_body_without_a_content_type_is_still_a_422_for_the_missing_body(client: AsyncClient) -> None:
    response = await client.post("/users/")
    assert response.status_code == 422
    assert [error["location"] for error in response.json()["errors"]] == [["body"]]


async def test_the_openapi_lists_415_on_every_json_or_csv_body_and_nowhere_else(client: AsyncClient) -> None:
    # A form (sign-in) takes whatever a form is sent as; JSON and CSV bodies are refused under another media type.
    document = (await client.get("/openapi.json")).json()
    with_415 = {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "415" in operation["responses"]
    }
    with_body = {
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if {"application/json", "text/csv"} & set(operation.get("requestBody", {}).get("content", {}))
    }
    assert with_415 == with_body
    assert ("post", "/prices/import") in with_body
    assert with_body >= {
        ("post", "/users/"),
        ("put", "/users/{user_id}"),
        ("patch", "/users/{user_id}"),
        ("post", "/users/{user_id}/stocks/"),
        ("put", "/stocks/{stock_id}"),
        ("patch", "/stocks/{stock_id}"),
    }
    (operation,) = (document["paths"]["/users/"]["post"],)
    assert operation["responses"]["415"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


async def test_a_form_body_route_is_not_refused_for_being_a_form() -> None:
    """The accounts' `POST /auth/token` takes an OAuth2 form; the 415 rule concerns JSON bodies only."""
    from typing import Annotated

    from fastapi import Form
    from httpx import ASGITransport

    from app.http.errors import register_error_handlers

    app = FastAPI()
    register_error_handlers(app)

    @app.post("/token")
    async def token(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict[str, str]:
        return {"username": username}

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/token", data={"username": "jane", "password": "secret"})
        assert (response.status_code, response.json()) == (200, {"username": "jane"})
        missing = await client.post("/token", data={"username": "jane"})
        assert missing.status_code == 422
        assert "415" not in app.openapi()["paths"]["/token"]["post"]["responses"]


# ---------------------------------------------------------------- echoed input


async def test_a_long_input_is_echoed_cut_to_200_characters_and_marked(client: AsyncClient) -> None:
    name = "j" + "x" * 899_999
    response = await client.post("/users/", json={"name": name})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["input"] == name[:200] + "…[cut: 900000 characters in all]"
    assert len(response.content) < 1000


async def test_a_large_list_or_object_input_is_echoed_as_its_json_cut(client: AsyncClient) -> None:
    response = await client.post("/users/", json={"name": list(range(10_000))})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    text = "[" + ",".join(map(str, range(10_000))) + "]"
    assert error["input"] == text[:200] + f"…[cut: {len(text)} characters in all]"
    response = await client.post("/users/", json={"age": 30, "bio": "y" * 5000})
    assert response.status_code == 422
    inputs = [error.get("input") for error in response.json()["errors"]]
    assert all(isinstance(value, str) and "…[cut: " in value for value in inputs if not isinstance(value, int))
    assert len(response.content) < 2000


async def test_a_short_input_is_echoed_whole(client: AsyncClient) -> None:
    response = await client.post("/users/", json={"name": "x" * 200})
    (error,) = response.json()["errors"]
    assert error["input"] == "x" * 200
