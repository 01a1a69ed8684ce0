"""Small builders the tests share."""

from typing import Any

from httpx import AsyncClient

JOHN = {"name": "John Doe", "age": 30}
AAPL = {"name": "AAPL", "price": 175.50, "quantity": 10, "is_active": True}


async def create_user(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/users/", json={**JOHN, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def create_stock(client: AsyncClient, user_id: int, **fields: Any) -> dict[str, Any]:
    response = await client.post(f"/users/{user_id}/stocks/", json={**AAPL, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def error_locations(response_json: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The `loc` of every validation error in a 422 body, e.g. [("body", "name")]."""
    return [tuple(error["loc"]) for error in response_json["detail"]]


def libpq_url(url: str) -> str:
    """The same URL without SQLAlchemy's driver name, for psycopg.connect()."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
