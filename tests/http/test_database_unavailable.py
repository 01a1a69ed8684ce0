"""A database that is down or silent is a 503 with a JSON detail, soon, never a hang or a 500."""

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.core.config import Settings
from app.main import create_app
from tests.helpers import EVERY_OPERATION
from tests.processes import free_port

# Generous: only there so a regression shows up as a failure, not a stuck suite.
HANG_GUARD_SECONDS = 20


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word, like a hung server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


async def _client_for(database_url: str) -> AsyncIterator[AsyncClient]:
    app: FastAPI = create_app(Settings(_env_file=None, database_url=database_url))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


@pytest.fixture
async def refused_client() -> AsyncIterator[AsyncClient]:
    """A client for an app whose database port refuses connections (PostgreSQL stopped)."""
    async for client in _client_for(f"postgresql://postgres@127.0.0.1:{free_port()}/portfolio"):
        yield client


@pytest.mark.parametrize(("method", "path", "body"), EVERY_OPERATION)
async def test_every_endpoint_answers_503_when_the_database_refuses(
    refused_client: AsyncClient, method: str, path: str, body: dict | None
) -> None:
    response = await asyncio.wait_for(refused_client.request(method, path, json=body), HANG_GUARD_SECONDS)
    assert response.status_code == 503
    assert response.json()["detail"] == "Database unavailable, please retry shortly"
    assert response.headers["retry-after"] == "1"


async def test_a_price_import_answers_503_when_the_database_refuses(refused_client: AsyncClient) -> None:
    csv = "Date,Close\n2024-01-02,185.64\n"
    request = refused_client.post("/prices/import?symbol=AAPL", content=csv, headers={"Content-Type": "text/csv"})
    response = await asyncio.wait_for(request, HANG_GUARD_SECONDS)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


async def test_health_says_the_database_is_unavailable(refused_client: AsyncClient) -> None:
    response = await refused_client.get("/")
    assert response.status_code == 503
    assert response.json() == {
        "message": "FastAPI is running, but PostgreSQL is not answering",
        "status": "unhealthy",
        "database": "unavailable",
    }


async def test_validation_still_answers_422_while_the_database_is_down(refused_client: AsyncClient) -> None:
    response = await refused_client.post("/users/", json={"name": "jo"})
    assert response.status_code == 422


async def test_a_database_that_never_answers_is_a_503_after_the_connect_timeout(silent_server: int) -> None:
    async for client in _client_for(f"postgresql://postgres@127.0.0.1:{silent_server}/portfolio"):
        response = await asyncio.wait_for(client.get("/users/1"), HANG_GUARD_SECONDS)
        assert response.status_code == 503
        assert response.json()["detail"] == "Database unavailable, please retry shortly"
