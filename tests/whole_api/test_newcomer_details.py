"""Small things a newcomer notices: a 204 with no Content-Type, examples whose ids can exist, links Swagger can show."""

from typing import Any

import pytest
from httpx import AsyncClient

from tests.helpers import create_stock, create_user


@pytest.fixture
async def openapi(client: AsyncClient) -> dict[str, Any]:
    return (await client.get("/openapi.json")).json()


@pytest.mark.parametrize("path", ["/stocks/{stock_id}", "/users/{user_id}"])
async def test_a_delete_answers_204_with_no_body_and_no_content_type(client: AsyncClient, path: str) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    response = await client.delete(path.format(user_id=user["id"], stock_id=stock["id"]))
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers


async def test_the_openapi_says_a_204_has_no_content(openapi: dict[str, Any]) -> None:
    for path in ("/stocks/{stock_id}", "/users/{user_id}"):
        assert "content" not in openapi["paths"][path]["delete"]["responses"]["204"]


@pytest.mark.parametrize(("schema", "field"), [("UserPublic", "id"), ("StockPublic", "id"), ("StockPublic", "user_id")])
async def test_response_examples_show_ids_that_can_exist(openapi: dict[str, Any], schema: str, field: str) -> None:
    assert openapi["components"]["schemas"][schema]["properties"][field]["examples"] == [1]


async def test_a_new_user_links_to_what_a_stateful_client_does_next(openapi: dict[str, Any]) -> None:
    links = openapi["paths"]["/users/"]["post"]["responses"]["201"]["links"]
    assert {name: link["operationId"] for name, link in links.items()} == {
        "ReadUser": "read_user",
        "UpdateUserIfUnchanged": "update_user",
        "DeleteUserIfUnchanged": "delete_user",
        "CreateStockForUser": "create_stock_for_user",
    }
    assert links["UpdateUserIfUnchanged"]["parameters"] == {
        "user_id": "$response.body#/id",
        "header.if-match": "$response.header.ETag",
    }


async def test_a_new_stock_links_to_read_update_and_delete_it(openapi: dict[str, Any]) -> None:
    links = openapi["paths"]["/users/{user_id}/stocks/"]["post"]["responses"]["201"]["links"]
    assert {name: link["operationId"] for name, link in links.items()} == {
        "ReadStock": "read_stock",
        "UpdateStockIfUnchanged": "update_stock",
        "DeleteStockIfUnchanged": "delete_stock",
    }
