"""The guide's "Testing" section, request for request: a student must get the guide's answers."""

import re
from datetime import UTC, datetime, timedelta

from httpx import AsyncClient

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def assert_recent_utc(timestamp: str) -> None:
    assert ISO_UTC.match(timestamp), timestamp
    parsed = datetime.fromisoformat(timestamp)
    assert parsed.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - parsed) < timedelta(minutes=5)


async def test_the_guides_tutorial_flow_gets_the_guides_answers(client: AsyncClient) -> None:
    response = await client.post("/users/", json={"name": "John Doe", "age": 30})
    assert response.status_code == 201
    user = response.json()
    user_id = user["id"]
    # The guide's fields, plus updated_at (which starts equal to signup_ts) and the account's, unset.
    assert user == {
        "id": user_id,
        "name": "John Doe",
        "age": 30,
        "email": None,
        "is_admin": False,
        "signup_ts": user["signup_ts"],
        "updated_at": user["signup_ts"],
    }
    assert_recent_utc(user["signup_ts"])

    response = await client.post(
        f"/users/{user_id}/stocks/",
        json={"name": "AAPL", "price": 175.50, "quantity": 10, "is_active": True},
    )
    assert response.status_code == 201
    stock = response.json()
    assert stock == {
        "id": stock["id"],
        "name": "AAPL",
        "price": 175.5,
        "quantity": 10,
        "is_active": True,
        "user_id": user_id,
        "created_at": stock["created_at"],
        "updated_at": stock["created_at"],
    }
    assert_recent_utc(stock["created_at"])

    response = await client.get(f"/users/{user_id}")
    assert response.status_code == 200
    assert response.json() == {**user, "stocks": [stock]}

    # Keys in the guide's order, so the answers read the same side by side.
    assert list(response.json()) == ["id", "name", "age", "email", "is_admin", "signup_ts", "updated_at", "stocks"]
    assert list(stock) == ["id", "name", "price", "quantity", "is_active", "user_id", "created_at", "updated_at"]


async def test_health_check_answers_the_guides_body_after_a_database_round_trip(client: AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.json() == {
        "message": "FastAPI with PostgreSQL is running!",
        "status": "healthy",
        "database": "connected",
    }


async def test_interactive_docs_and_openapi_are_served(client: AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/redoc")).status_code == 200
    openapi = (await client.get("/openapi.json")).json()
    assert set(openapi["paths"]) == {
        "/",
        "/health/live",
        "/health/ready",
        "/auth/token",
        "/auth/refresh",
        "/auth/logout",
        "/users/me",
        "/users/me/password",
        "/users/me/tokens",
        "/users/me/tokens/{token_id}",
        "/users/",
        "/users/{user_id}",
        "/users/{user_id}/stocks/",
        "/users/{user_id}/portfolio",
        "/users/{user_id}/performance",
        "/stocks/",
        "/stocks/{stock_id}",
        "/prices/{symbol}/{date}",
        "/prices/import",
        "/prices/{symbol}",
        "/stocks/{stock_id}/transactions",
        "/users/{user_id}/transactions",
        "/transactions/{transaction_id}",
        "/problems/{code}",
    }
    # Money is a JSON number in responses, as the guide shows.
    assert openapi["components"]["schemas"]["StockPublic"]["properties"]["price"]["type"] == "number"
