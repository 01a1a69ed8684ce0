"""The OpenAPI document states the rules the API enforces, in JSON Schema's own words.

Schemathesis (make fuzz) generates requests from it, and clients generate code
from it, so a rule it misstates is a bug even when the API behaves.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient

from app.core.config import PROJECT_ROOT


@pytest.fixture
async def schemas(client: AsyncClient) -> dict[str, Any]:
    return (await client.get("/openapi.json")).json()["components"]["schemas"]


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


async def test_no_schema_uses_pydantic_words_json_schema_does_not_know(schemas: dict[str, Any]) -> None:
    # Pydantic writes a bare "gt": 0 when it cannot translate a rule; JSON
    # Schema ignores it, so generated clients and fuzzers would not see it.
    assert not {"gt", "ge", "lt", "le", "max_digits", "decimal_places"} & set(_keys(schemas))


@pytest.mark.parametrize("schema", ["StockCreate", "StockUpdate"])
async def test_stock_bodies_state_every_bound(schemas: dict[str, Any], schema: str) -> None:
    properties = schemas[schema]["properties"]
    assert {key: properties["quantity"][key] for key in ("type", "exclusiveMinimum", "maximum")} == {
        "type": "integer",
        "exclusiveMinimum": 0,
        "maximum": 2147483647,
    }
    assert {key: properties["price"][key] for key in ("type", "minimum", "maximum", "multipleOf")} == {
        "type": "number",
        "minimum": 0.0001,
        "maximum": 99999999.9999,
        "multipleOf": 0.0001,
    }
    assert properties["is_active"]["type"] == "boolean"


@pytest.mark.parametrize("schema", ["UserCreate", "UserUpdate"])
async def test_user_bodies_state_every_bound(schemas: dict[str, Any], schema: str) -> None:
    name, age = schemas[schema]["properties"]["name"], schemas[schema]["properties"]["age"]
    assert (name["type"], name["minLength"], name["maxLength"]) == ("string", 3, 255)
    integer, null = age["anyOf"]
    assert {key: integer[key] for key in ("type", "minimum", "maximum")} == {
        "type": "integer",
        "minimum": 0,
        "maximum": 150,
    }
    assert null == {"type": "null"}


async def test_the_document_names_its_licence_and_contact(client: AsyncClient) -> None:
    info = (await client.get("/openapi.json")).json()["info"]
    assert info["license"] == {"name": "MIT", "identifier": "MIT"}
    assert info["contact"] == {"name": "Portfolio API maintainers"}
    assert (PROJECT_ROOT / "LICENSE").read_text().startswith("MIT License")
