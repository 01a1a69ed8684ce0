"""Writes that belong together land together: on the real, committing engine, as production runs them.

The app's engine autocommits: each statement is durable once it has run.
Where a change takes several statements (a new password and the end of the
old logins; a sign-in's rehash, forgiven failures and new login), they run in
`Database.transaction()`. These tests make the second statement fail inside
PostgreSQL (a row or table lock held by another connection until the
statement time limit cancels it, as a slow database would) and show the first
did not stick, and that the client got a clean 503. Inside the suite's
rolled-back transaction autocommit could not be seen, so these use the real
engine; the last test shows the suite's stand-in for `transaction()` (a
nested savepoint, tests/conftest.py) undoes its statements as the real one does.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.repository import AuthRepository
from app.core.config import Settings
from app.core.database import Database
from app.http.errors import DATABASE_UNAVAILABLE
from app.main import create_app
from app.users.models import USERS
from tests.helpers import EMPTY_EVERY_TABLE, JOHN, PASSWORD, bearer, libpq_url, problem, sign_in, sign_up

JANE = "jane@example.com"
NEW_PASSWORD = "a completely new passphrase"
UNAVAILABLE = (503, problem("database_unavailable", DATABASE_UNAVAILABLE))
# Long enough for any statement on a busy machine, short enough to wait out a lock quickly.
STATEMENT_LIMIT_MS = 500


@pytest.fixture
async def emptied_afterwards(engine: AsyncEngine) -> AsyncIterator[None]:
    """What these tests commit is removed when each ends."""
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(EMPTY_EVERY_TABLE)


@pytest.fixture
async def committing(settings: Settings, emptied_afterwards: None) -> AsyncIterator[AsyncClient]:
    """A client for the AUTH=required app on its own committing engine, whose statements give up after 500 ms."""
    app: FastAPI = create_app(
        settings.model_copy(update={"auth": "required", "db_statement_timeout_ms": STATEMENT_LIMIT_MS})
    )
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        client.app = app  # type: ignore[attr-defined]  # for tests that mint tokens
        yield client


@contextmanager
def held(database_url: str, sql: str, *params: Any) -> Iterator[None]:
    """Run `sql` (a lock) on another connection and hold what it took until the block ends."""
    with psycopg.connect(libpq_url(database_url)) as connection:
        connection.execute(sql, params)
        yield
        connection.rollback()


def stored(database_url: str, sql: str, *params: Any) -> Any:
    """One value, read on a connection of its own: what is committed."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        row = connection.execute(sql, params).fetchone()
        return row[0] if row else None


def password_hash_of(database_url: str, email: str) -> str:
    value: str = stored(database_url, "SELECT password_hash FROM users WHERE email = %s", email)
    return value


# ---------------------------------------------------------------- the helper itself


async def test_a_transaction_keeps_nothing_when_its_second_statement_fails(
    app: FastAPI, database_url: str, emptied_afterwards: None
) -> None:
    database: Database = app.state.database
    with pytest.raises(DBAPIError):
        async with database.transaction() as session:
            await session.exec(insert(USERS).values(name="Jane Doe"))
            await session.exec(text("SELECT 1 / 0"))  # type: ignore[call-overload]
    assert stored(database_url, "SELECT count(*) FROM users") == 0


async def test_outside_a_transaction_each_statement_sticks_as_it_runs(
    app: FastAPI, database_url: str, emptied_afterwards: None
) -> None:
    """Autocommit, as every single-statement request runs: why several statements need `transaction()`."""
    database: Database = app.state.database
    with pytest.raises(DBAPIError):
        async with database.session() as session:
            await session.exec(insert(USERS).values(name="Jane Doe"))
            await session.exec(text("SELECT 1 / 0"))  # type: ignore[call-overload]
    assert stored(database_url, "SELECT count(*) FROM users") == 1


async def test_a_connection_goes_back_to_autocommit_after_a_transaction(settings: Settings) -> None:
    """The pool's one connection, used by a transaction and then by a plain session: no BEGIN on the hot path."""
    database = Database(settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0}))
    try:
        for opened, in_transaction in [(database.transaction, True), (database.session, False)]:
            async with opened() as session:
                assert (await session.exec(select(func.count()).select_from(USERS))).scalar_one() >= 0  # type: ignore[call-overload]
                driver = (await (await session.connection()).get_raw_connection()).driver_connection
                assert driver is not None
                assert driver.autocommit is not in_transaction
                status = psycopg.pq.TransactionStatus.INTRANS if in_transaction else psycopg.pq.TransactionStatus.IDLE
                assert driver.info.transaction_status == status
    finally:
        await database.dispose()


# ---------------------------------------------------------------- the services that use it


async def test_a_password_change_whose_revocation_fails_leaves_the_old_password(
    committing: AsyncClient, database_url: str
) -> None:
    user = await sign_up(committing, JANE)
    pair = await sign_in(committing, JANE)
    before = password_hash_of(database_url, JANE)
    # The second statement (ending every login) waits on this lock until PostgreSQL cancels it.
    with held(database_url, "SELECT 1 FROM refresh_tokens WHERE user_id = %s FOR UPDATE", user["id"]):
        response = await committing.put(
            "/users/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(pair["access_token"]),
        )
    assert (response.status_code, response.json()) == UNAVAILABLE
    assert password_hash_of(database_url, JANE) == before  # the first statement did not stick
    assert (await committing.post("/auth/token", data={"username": JANE, "password": NEW_PASSWORD})).status_code == 400
    refreshed = await committing.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200  # nothing half done: the old login goes on, with the old password
    # Tried again without the lock, the change lands whole.
    retried = await committing.put(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(refreshed.json()["access_token"]),
    )
    assert retried.status_code == 204
    assert password_hash_of(database_url, JANE) != before
    stale = await committing.post("/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]})
    assert stale.status_code == 401


async def test_a_password_change_whose_token_revocation_fails_leaves_the_password_and_the_tokens(
    committing: AsyncClient, database_url: str
) -> None:
    """The third statement (revoking personal access tokens) fails: the new hash and the ended logins roll back."""
    user = await sign_up(committing, JANE)
    pair = await sign_in(committing, JANE)
    created = await committing.post(
        "/users/me/tokens",
        json={"name": "script", "scopes": ["read"], "expires_in_days": 1},
        headers=bearer(pair["access_token"]),
    )
    assert created.status_code == 201
    before = password_hash_of(database_url, JANE)
    with held(database_url, "SELECT 1 FROM personal_access_tokens WHERE user_id = %s FOR UPDATE", user["id"]):
        response = await committing.put(
            "/users/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(pair["access_token"]),
        )
    assert (response.status_code, response.json()) == UNAVAILABLE
    assert password_hash_of(database_url, JANE) == before  # the first statement did not stick
    refreshed = await committing.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200  # nor the second: the login goes on
    still = await committing.get("/users/me", headers=bearer(created.json()["token"]))
    assert still.status_code == 200  # and the token was not revoked


async def test_an_admins_password_reset_whose_revocation_fails_leaves_the_old_password(
    committing: AsyncClient, database_url: str
) -> None:
    admin = await sign_up(committing, "admin@example.com")
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("UPDATE users SET is_admin = true WHERE id = %s", [admin["id"]])
    admin_token = committing.app.state.access_tokens.issue(admin["id"], is_admin=True)  # type: ignore[attr-defined]
    user = await sign_up(committing, JANE)
    pair = await sign_in(committing, JANE)
    before = password_hash_of(database_url, JANE)
    with held(database_url, "SELECT 1 FROM refresh_tokens WHERE user_id = %s FOR UPDATE", user["id"]):
        response = await committing.patch(
            f"/users/{user['id']}", json={"password": NEW_PASSWORD, "age": 31}, headers=bearer(admin_token)
        )
    assert (response.status_code, response.json()) == UNAVAILABLE
    assert password_hash_of(database_url, JANE) == before
    assert stored(database_url, "SELECT age FROM users WHERE id = %s", user["id"]) == JOHN["age"]
    refreshed = await committing.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200


async def test_a_demotion_whose_revocation_fails_leaves_the_admin_an_admin(
    committing: AsyncClient, database_url: str
) -> None:
    admin = await sign_up(committing, "admin@example.com")
    jane = await sign_up(committing, JANE)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("UPDATE users SET is_admin = true WHERE id = ANY(%s)", [[admin["id"], jane["id"]]])
    admin_token = committing.app.state.access_tokens.issue(admin["id"], is_admin=True)  # type: ignore[attr-defined]
    pair = await sign_in(committing, JANE)
    with held(database_url, "SELECT 1 FROM refresh_tokens WHERE user_id = %s FOR UPDATE", jane["id"]):
        response = await committing.patch(f"/users/{jane['id']}", json={"is_admin": False}, headers=bearer(admin_token))
    assert (response.status_code, response.json()) == UNAVAILABLE
    assert stored(database_url, "SELECT is_admin FROM users WHERE id = %s", jane["id"]) is True
    assert (await committing.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 200


async def test_a_sign_in_whose_login_cannot_be_stored_rehashes_and_forgives_nothing(
    committing: AsyncClient, database_url: str
) -> None:
    await sign_up(committing, JANE)
    older_hash = Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("UPDATE users SET password_hash = %s WHERE email = %s", [older_hash, JANE])
    wrong = await committing.post("/auth/token", data={"username": JANE, "password": "wrong password!"})
    assert wrong.status_code == 400
    failures = "SELECT count(*) FROM login_failures WHERE email = %s"
    # Rehash, forgive, then store the login: the last waits on this lock until PostgreSQL cancels it.
    with held(database_url, "LOCK TABLE refresh_tokens IN SHARE MODE"):
        response = await committing.post("/auth/token", data={"username": JANE, "password": PASSWORD})
    assert (response.status_code, response.json()) == UNAVAILABLE
    assert password_hash_of(database_url, JANE) == older_hash
    assert stored(database_url, failures, JANE) == 1
    assert stored(database_url, "SELECT count(*) FROM refresh_tokens") == 0
    # Without the lock the sign-in lands whole: rehashed, forgiven, a login.
    assert (await sign_in(committing, JANE))["token_type"] == "bearer"
    assert password_hash_of(database_url, JANE) != older_hash
    assert stored(database_url, failures, JANE) == 0
    assert stored(database_url, "SELECT count(*) FROM refresh_tokens") == 1


async def test_in_the_suites_transaction_a_failed_transaction_is_undone_too(
    required_client: AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixtures' `transaction()` is a savepoint of its own: the same answer, and the same nothing kept."""
    user = await sign_up(required_client, JANE)
    pair = await sign_in(required_client, JANE)
    hash_of_jane = select(USERS.c.password_hash).where(USERS.c.id == user["id"])
    before = (await session.exec(hash_of_jane)).scalar_one()  # type: ignore[call-overload]

    async def cut_off(self: AuthRepository, user_id: int) -> None:
        raise OperationalError("UPDATE refresh_tokens ...", {}, psycopg.OperationalError("the server closed"))

    monkeypatch.setattr(AuthRepository, "revoke_user", cut_off)
    response = await required_client.put(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(pair["access_token"]),
    )
    assert (response.status_code, response.json()) == UNAVAILABLE
    assert (await session.exec(hash_of_jane)).scalar_one() == before  # type: ignore[call-overload]
