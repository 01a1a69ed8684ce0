"""A client's address is a normalised IP address or "unknown", never the text a client put in X-Forwarded-For.

The finding: with TRUSTED_PROXIES=*, an X-Forwarded-For of 65 characters or
more did not fit the failure table's address column, so a wrong password
answered 422, was never counted and never logged: unlimited guessing. Here the
app sits behind uvicorn's ProxyHeadersMiddleware exactly as `python -m app`
installs it (uvicorn's own Config, loaded with our options), and each odd
header still gets a 401 that counts.
"""

import logging
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import LOGIN_FAILURES
from app.auth.repository import MAX_FAILURES_PER_EMAIL
from app.cli.server import uvicorn_options
from app.core.config import Settings
from app.http.client_address import UNKNOWN, client_address
from app.main import create_app
from tests.conftest import client_in_transaction
from tests.helpers import TEST_SECRET_KEY


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4 as an IPv6 socket sees it: the same client
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%" + "x" * 100, UNKNOWN),  # any text fits in a zone; too long to be an address anyway
        ("x" * 100, UNKNOWN),
        ("not an address", UNKNOWN),
        ("<script>alert(1)</script>", UNKNOWN),
        ("203.0.113.7 ", UNKNOWN),
        ("", UNKNOWN),
    ],
)
def test_a_client_is_a_normalised_ip_address_or_unknown(host: str, address: str) -> None:
    assert client_address({"type": "http", "client": (host, 0)}) == address


def test_without_a_client_the_address_is_unknown() -> None:
    assert client_address({"type": "http", "client": None}) == UNKNOWN
    assert client_address({"type": "http"}) == UNKNOWN


@pytest.fixture(scope="module")
async def app_trusting_every_proxy(database_url: str) -> AsyncIterator[FastAPI]:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        trusted_proxies=["*"],
        secret_key=SecretStr(TEST_SECRET_KEY),
        housekeeping_interval_seconds=0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def through_the_proxy_headers(
    app_trusting_every_proxy: FastAPI, connection: AsyncConnection
) -> AsyncIterator[AsyncClient]:
    """A client of the app as uvicorn serves it: X-Forwarded-For believed from anyone, in the test's transaction."""
    options = uvicorn_options(app_trusting_every_proxy.state.settings)
    # log_config=None: leave the test run's logging alone (uvicorn.run would configure its own).
    config = uvicorn.Config(app_trusting_every_proxy, **{**options, "log_config": None})
    config.load()  # wraps the app in ProxyHeadersMiddleware, as uvicorn.run does
    async with (
        client_in_transaction(app_trusting_every_proxy, connection),  # for its sessions in the transaction
        AsyncClient(transport=ASGITransport(app=config.loaded_app), base_url="http://test") as client,
    ):
        yield client


MANY_HOPS = ", ".join(f"10.{hop // 256}.{hop % 256}.1" for hop in range(1000))


@pytest.mark.parametrize(
    ("forwarded_for", "counted_as"),
    [
        pytest.param(["x" * 100], UNKNOWN, id="100 characters"),
        pytest.param(["not an address, 203.0.113.7"], UNKNOWN, id="garbage first"),
        pytest.param(["'; DROP TABLE users; --"], UNKNOWN, id="SQL"),
        pytest.param(["<script>alert(1)</script>"], UNKNOWN, id="markup"),
        pytest.param([MANY_HOPS], "10.0.0.1", id="1000 hops"),
        pytest.param(["x" * 100 + ", " + MANY_HOPS], UNKNOWN, id="1000 hops after 100 characters"),
        pytest.param(["garbage", "203.0.113.7"], UNKNOWN, id="two header lines, joined by uvicorn"),
        pytest.param(["[2001:DB8::1]:443"], "2001:db8::1", id="IPv6 with a port"),
        pytest.param(["203.0.113.7:51000"], "203.0.113.7", id="IPv4 with a port"),
    ],
)
async def test_a_wrong_password_with_any_forwarded_for_is_a_401_that_counts(
    through_the_proxy_headers: AsyncClient,
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
    forwarded_for: list[str],
    counted_as: str,
) -> None:
    headers = [("X-Forwarded-For", value) for value in forwarded_for]
    credentials = {"username": "ada@example.com", "password": "not her password"}
    with caplog.at_level(logging.INFO, logger="app.request"):
        for _ in range(MAX_FAILURES_PER_EMAIL):
            response = await through_the_proxy_headers.post("/auth/token", data=credentials, headers=headers)
            assert response.status_code == 400, response.text
        throttled = await through_the_proxy_headers.post("/auth/token", data=credentials, headers=headers)
    assert throttled.status_code == 429, throttled.text

    counted = (await session.exec(select(LOGIN_FAILURES.c.client_address))).all()
    assert counted == [counted_as] * MAX_FAILURES_PER_EMAIL
    logged = [record.__dict__["request_line"]["client"] for record in caplog.records if record.name == "app.request"]
    assert logged == [counted_as] * (MAX_FAILURES_PER_EMAIL + 1)
