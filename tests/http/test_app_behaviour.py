"""Cross-cutting behaviour: unforeseen errors, CORS, 405 with Allow, HEAD."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from app.core.config import Settings
from app.main import create_app
from tests.helpers import problem


async def test_an_unforeseen_error_is_a_bare_json_500_without_a_traceback(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["detail"] == "Internal server error"
    assert "hunter2" not in response.text


@pytest.fixture
def cors_client_for():
    async def make(origins: str | None) -> AsyncIterator[AsyncClient]:
        extra: dict[str, Any] = {} if origins is None else {"cors_origins": origins}
        app = create_app(Settings(_env_file=None, database_url="postgresql://unused/db", **extra))
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            yield client

    return make


def _preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST"}


async def test_cors_allows_any_origin_without_credentials_by_default(cors_client_for) -> None:
    async for client in cors_client_for(None):
        response = await client.options("/users/", headers=_preflight("https://anywhere.example"))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


async def test_cors_origins_narrow_the_allowed_origins_and_allow_credentials(cors_client_for) -> None:
    async for client in cors_client_for("https://app.example, https://admin.example"):
        allowed = await client.options("/users/", headers=_preflight("https://admin.example"))
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://admin.example"
        assert allowed.headers["access-control-allow-credentials"] == "true"

        refused = await client.options("/users/", headers=_preflight("https://evil.example"))
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


async def test_a_page_on_another_origin_may_read_the_apis_own_response_headers(client: AsyncClient) -> None:
    created = await client.post("/users/", json={"name": "John Doe", "age": 30})
    await client.post("/users/", json={"name": "Jane Doe", "age": 31})
    response = await client.get("/users/?limit=1", headers={"Origin": "https://app.example", "Prefer": "count=exact"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert exposed == {
        "etag",
        "location",
        "link",
        "x-total-count",
        "preference-applied",
        "retry-after",
        "x-request-id",
        "idempotent-replayed",
        "x-read-after",
    }
    assert {"link", "x-total-count", "preference-applied"} <= set(response.headers)
    one = await client.get(f"/users/{created.json()['id']}", headers={"Origin": "https://app.example"})
    assert "etag" in one.headers
    assert one.headers["access-control-expose-headers"] == response.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/users/1", "DELETE, GET, HEAD, PATCH, PUT"),
        ("DELETE", "/users/", "GET, HEAD, POST"),
        ("PUT", "/users/1/stocks/", "GET, HEAD, POST"),
        ("POST", "/stocks/7", "DELETE, GET, HEAD, PATCH, PUT"),
        ("PATCH", "/", "GET, HEAD"),
    ],
)
async def test_a_wrong_method_is_a_405_whose_allow_names_every_method_of_that_path(
    client: AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.json() == problem("method_not_allowed", f"{method} is not served at this URL; it serves {allowed}")
    assert response.headers["allow"] == allowed


async def test_head_answers_the_headers_of_a_get_without_its_body(client: AsyncClient) -> None:
    user = (await client.post("/users/", json={"name": "John Doe", "age": 30})).json()
    body = {"name": "AAPL", "price": 175.5, "quantity": 10}
    stock = (await client.post(f"/users/{user['id']}/stocks/", json=body)).json()

    get = await client.get(f"/stocks/{stock['id']}")
    head = await client.head(f"/stocks/{stock['id']}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"] == '"1"'
    assert head.headers["content-length"] == str(len(get.content))
    assert head.headers["content-type"] == "application/json"

    missing = await client.head("/stocks/999999")
    assert (missing.status_code, missing.content) == (404, b"")
    assert (await client.head("/")).status_code == 200
    listed = await client.head("/stocks/", params={"limit": 1})
    assert (listed.status_code, listed.content) == (200, b"")
