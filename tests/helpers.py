"""Small builders the tests share, and waiting for a condition."""

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import app.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from app.users.models import USERS

# Empties every table the models define, for tests whose requests commit for real.
# Derived from the metadata, so a table added later is emptied too.
EMPTY_EVERY_TABLE = f"TRUNCATE {', '.join(sorted(SQLModel.metadata.tables))} RESTART IDENTITY CASCADE"

JOHN = {"name": "John Doe", "age": 30}
# Signs the tests' access tokens; tests/auth/test_auth.py makes others to show they are refused.
TEST_SECRET_KEY = "test-secret-key-long-enough-for-hs256-and-for-hs512-also-64-bytes"
AAPL = {"name": "AAPL", "price": 175.50, "quantity": 10, "is_active": True}

# Every operation that reaches the database, as (method, path, valid body).
EVERY_OPERATION = [
    ("POST", "/users/", JOHN),
    ("GET", "/users/", None),
    ("GET", "/users/1", None),
    ("PUT", "/users/1", JOHN),
    ("PATCH", "/users/1", {"age": 31}),
    ("DELETE", "/users/1", None),
    ("GET", "/users/1/portfolio", None),
    ("POST", "/users/1/stocks/", AAPL),
    ("GET", "/users/1/stocks/", None),
    ("GET", "/stocks/", None),
    ("GET", "/stocks/1", None),
    ("PUT", "/stocks/1", AAPL),
    ("PATCH", "/stocks/1", {"quantity": 1}),
    ("DELETE", "/stocks/1", None),
    ("PUT", "/prices/AAPL/2024-01-02", {"close": 185.64}),
    ("GET", "/prices/AAPL", None),
    # POST /prices/import takes CSV, not JSON: tests/http/test_database_unavailable.py sends it its own.
]


async def create_user(client: AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/users/", json={**JOHN, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def create_stock(client: AsyncClient, user_id: int, **fields: Any) -> dict[str, Any]:
    response = await client.post(f"/users/{user_id}/stocks/", json={**AAPL, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def error_locations(response_json: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The `location` of every entry of a 422's `errors`, e.g. [("body", "name")]."""
    return [tuple(error["location"]) for error in response_json["errors"]]


def libpq_url(url: str) -> str:
    """The same URL without SQLAlchemy's driver name, for psycopg.connect()."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def empty_every_table(database_url: str) -> None:
    """After a test whose requests committed for real: the tables as the other tests expect them."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(EMPTY_EVERY_TABLE)


@contextmanager
def committed_connection(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the tests' database in autocommit, for rows committed for real; every table emptied after."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        try:
            yield connection
        finally:
            connection.execute(EMPTY_EVERY_TABLE)


PASSWORD = "correct horse battery staple"


async def sign_up(client: AsyncClient, email: str, password: str = PASSWORD, **fields: Any) -> dict[str, Any]:
    """A new user with an account, by POST /users/ (as anyone may)."""
    response = await client.post("/users/", json={**JOHN, "email": email, "password": password, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def sign_in(client: AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """The token pair of a successful POST /auth/token."""
    response = await client.post("/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def admin_token(
    client: AsyncClient, app: FastAPI, session: AsyncSession, email: str = "admin@example.com"
) -> str:
    """An access token of a new user made admin in the database (as `python -m app create-admin` does).

    A token that merely claims admin is not enough: the database is asked (app/auth/access.py).
    """
    user = await sign_up(client, email)
    await session.exec(update(USERS).where(USERS.c.id == user["id"]).values(is_admin=True))
    token: str = app.state.access_tokens.issue(user["id"], is_admin=True)
    return token


T = TypeVar("T")
# How long something that should happen at once may take on a busy machine before a wait fails.
WAIT_GUARD_SECONDS = 30


def wait_until(condition: Callable[[], T | None], what: str, *, every: float = 0.05) -> T:
    """The first true answer of `condition()`, asked every `every` seconds; fails naming `what` after the guard."""
    deadline = time.monotonic() + WAIT_GUARD_SECONDS
    while not (answer := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_GUARD_SECONDS} s for {what}, in vain")
        time.sleep(every)
    return answer


async def wait_until_async(condition: Callable[[], object], what: str, *, every: float = 0.01) -> None:
    """As wait_until, without blocking the event loop; `condition` may be a coroutine function."""
    deadline = time.monotonic() + WAIT_GUARD_SECONDS
    while True:
        answer = condition()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_GUARD_SECONDS} s for {what}, in vain")
        await asyncio.sleep(every)


async def waiting_for_a_lock(observer: psycopg.AsyncConnection[Any], how_many: int) -> None:
    """Return once `how_many` other sessions of this database wait for a row lock."""

    async def enough_waiting() -> bool:
        cursor = await observer.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        (waiting,) = await cursor.fetchone() or (0,)
        return bool(waiting >= how_many)

    await wait_until_async(enough_waiting, f"{how_many} requests to wait for a row lock")


def problem(code: str, detail: str) -> dict[str, Any]:
    """The whole problem-details body an error of `code` answers with this `detail` (app/http/problems.py)."""
    from app.http.problems import problem_content

    return problem_content(code, detail)


# What POST /auth/token answers a wrong email or password, with 400 (RFC 6749, 5.2).
INVALID_GRANT = {"error": "invalid_grant", "error_description": "Incorrect email or password"}
