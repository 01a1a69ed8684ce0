"""'Database unavailable' in the server log carries the driver's one-line reason."""

import logging

import pytest
from httpx import ASGITransport, AsyncClient

from app.core.config import Settings
from app.main import create_app
from tests.processes import free_port


async def test_the_log_says_why_the_database_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    app = create_app(Settings(_env_file=None, database_url=f"postgresql://postgres@127.0.0.1:{port}/portfolio"))
    with caplog.at_level(logging.WARNING, logger="app.http.errors"):
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
        ):
            assert (await client.get("/users/1")).status_code == 503
    [line] = [record.getMessage() for record in caplog.records if record.name == "app.http.errors"]
    assert line.startswith("Database unavailable: OperationalError: connection failed: "), line
    assert f'connection to server at "127.0.0.1", port {port} failed: Connection refused' in line, line
    assert "\n" not in line
