"""The access matrix's "behind a proxy" row: TRUSTED_PROXIES set and AUTH unset means accounts are required.

What an outside caller did through a proxy on the API's own machine (HOST and
TRUSTED_PROXIES both 127.0.0.1, AUTH unset, which used to mean open): list
every user with their email, delete a stock, change the admin's email. The
proxy passes on whatever reaches it, so such an app is exposed (Settings.exposed)
and answers anonymous callers as AUTH=required does.
"""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.stocks.models import STOCKS
from app.users.models import USERS
from tests.conftest import client_in_transaction


@pytest.fixture
async def caller_through_the_proxy(proxy_app: FastAPI, connection: AsyncConnection) -> AsyncIterator[AsyncClient]:
    async with client_in_transaction(proxy_app, connection) as client:
        yield client


async def test_behind_a_proxy_with_auth_unset_anonymous_callers_reach_no_account(
    caller_through_the_proxy: AsyncClient, session: AsyncSession
) -> None:
    admin_id = (
        await session.exec(
            insert(USERS)
            .values(name="Ada Admin", email="admin@example.com", password_hash="unused", is_admin=True)
            .returning(USERS.c.id)
        )
    ).scalar_one()
    stock_id = (
        await session.exec(
            insert(STOCKS).values(name="AAPL", price=1, quantity=1, user_id=admin_id).returning(STOCKS.c.id)
        )
    ).scalar_one()

    attempts = [
        ("GET", "/users/", None),
        ("GET", f"/users/{admin_id}", None),
        ("PATCH", f"/users/{admin_id}", {"email": "attacker@example.com"}),
        ("DELETE", f"/stocks/{stock_id}", None),
    ]
    for method, path, body in attempts:
        response = await caller_through_the_proxy.request(method, path, json=body)
        assert response.status_code == 401, (method, path, response.text)

    email = (await session.exec(select(USERS.c.email).where(USERS.c.id == admin_id))).one()
    stocks = (await session.exec(select(STOCKS.c.id).where(STOCKS.c.user_id == admin_id))).all()
    assert (email, stocks) == ("admin@example.com", [stock_id])
