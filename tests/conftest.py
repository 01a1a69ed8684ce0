"""Fixtures: a real PostgreSQL for the whole run, one rolled-back transaction per test.

The database is a throwaway embedded PostgreSQL 18 cluster, or TEST_DATABASE_URL
when set (our CI also runs the suite against PostgreSQL 15 that way). Nothing
here reads DATABASE_URL or .env, so the tests never touch the development data.
"""

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from psycopg.pq import TransactionStatus
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings, normalize_database_url
from app.core.database import (
    SessionOpener,
    create_engine,
    get_primary_session_opener,
    get_session,
    get_session_opener,
)
from app.core.migrations import upgrade_to_head
from app.main import create_app
from tests.helpers import EMPTY_EVERY_TABLE, TEST_SECRET_KEY, libpq_url


def _drop_our_tables(url: str) -> None:
    # TEST_DATABASE_URL names a database the tests own; start it from empty.
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(
            f"DROP TABLE IF EXISTS {', '.join(sorted(SQLModel.metadata.tables))}, alembic_version CASCADE"
        )


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated PostgreSQL database for this test run."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        url = normalize_database_url(configured)
        _drop_our_tables(url)
        upgrade_to_head(url)
        yield url
        return
    from app.core.embedded_postgres import embedded_postgres

    with (
        tempfile.TemporaryDirectory(prefix="portfolio-test-") as scratch,
        embedded_postgres(Path(scratch) / "pgdata", "portfolio_test", keep_data=False) as url,
    ):
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # Housekeeping off: its background passes would race the tests that prune (tests/ops/test_housekeeping.py).
    return Settings(
        _env_file=None,
        database_url=database_url,
        secret_key=SecretStr(TEST_SECRET_KEY),
        housekeeping_interval_seconds=0,
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def required_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with AUTH=required: tokens needed, each user reaching only their own data."""
    app = create_app(settings.model_copy(update={"auth": "required"}))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
async def proxy_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app behind a proxy on its own machine (HOST and TRUSTED_PROXIES 127.0.0.1), AUTH unset.

    Exposed (Settings.exposed): the proxy passes on whatever reaches it, so accounts are required.
    """
    behind = settings.model_copy(update={"host": "127.0.0.1", "trusted_proxies": ["127.0.0.1"], "auth": None})
    behind = Settings.model_validate(behind.model_dump())  # the AUTH default, decided as at start-up
    assert behind.auth == "required"
    app = create_app(behind)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        # The app's engine autocommits; the test's connection must hold a transaction.
        await connection.execution_options(isolation_level="READ COMMITTED")
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session on the test's transaction, for looking at what the API wrote."""
    async with AsyncSession(bind=connection, expire_on_commit=False) as session:
        yield session


@pytest.fixture
async def client(app: FastAPI, connection: AsyncConnection) -> AsyncIterator[AsyncClient]:
    """An HTTP client for the app (AUTH=open, as on a loopback HOST), in the test's transaction."""
    async with client_in_transaction(app, connection) as client:
        yield client


@pytest.fixture
async def required_client(required_app: FastAPI, connection: AsyncConnection) -> AsyncIterator[AsyncClient]:
    """An HTTP client for the AUTH=required app, in the test's transaction."""
    async with client_in_transaction(required_app, connection) as client:
        yield client


@asynccontextmanager
async def client_in_transaction(
    app: FastAPI, connection: AsyncConnection, client_address: str = "127.0.0.1"
) -> AsyncIterator[AsyncClient]:
    """An HTTP client for `app`, whose sessions all run in the test's transaction, each in a savepoint of its own.

    `client_address`: the request's client, as uvicorn hands it on (from X-Forwarded-For behind a trusted proxy).
    """
    sessionmaker = async_sessionmaker(
        bind=connection,
        class_=AsyncSession,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )

    @asynccontextmanager
    async def session_in_test_transaction() -> AsyncIterator[AsyncSession]:
        """As the app's autocommit session: what ran stays, even when the request then fails."""
        async with sessionmaker() as session:
            try:
                yield session
            finally:
                if await _savepoint_aborted(session):  # a statement failed: only undoing it lets the test go on
                    await session.rollback()
                else:
                    await session.commit()  # releases the savepoint; the test's rollback undoes it all

    @asynccontextmanager
    async def transaction_in_test_transaction() -> AsyncIterator[AsyncSession]:
        """As `Database.transaction()`: a savepoint released at the end, rolled back on any exception."""
        async with sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def request_session() -> AsyncIterator[AsyncSession]:
        async with session_in_test_transaction() as session:
            yield session

    opener = SessionOpener(session_in_test_transaction, transaction_in_test_transaction)

    async def opener_in_test_transaction() -> SessionOpener:
        return opener

    app.dependency_overrides[get_session] = request_session
    app.dependency_overrides[get_session_opener] = opener_in_test_transaction
    app.dependency_overrides[get_primary_session_opener] = opener_in_test_transaction
    try:
        transport = ASGITransport(app=app, client=(client_address, 123))
        async with AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        app.dependency_overrides.clear()


@pytest.fixture
async def committed_client(app: FastAPI, engine: AsyncEngine) -> AsyncIterator[AsyncClient]:
    """A client whose requests commit for real, each in its own transaction, like production.

    For what one rolled-back transaction cannot show: clocks that move between
    requests, and concurrent requests. The tables are emptied afterwards.
    """
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            yield client
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(EMPTY_EVERY_TABLE)


@pytest.fixture
async def committed_required_client(required_app: FastAPI, engine: AsyncEngine) -> AsyncIterator[AsyncClient]:
    """As `committed_client`, for the AUTH=required app: concurrent sign-ups, refreshes, sign-outs."""
    try:
        async with AsyncClient(transport=ASGITransport(app=required_app), base_url="http://test") as client:
            yield client
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(EMPTY_EVERY_TABLE)


async def _savepoint_aborted(session: AsyncSession) -> bool:
    """Whether a statement failed in this session's savepoint, which PostgreSQL then refuses to release."""
    driver_connection = (await (await session.connection()).get_raw_connection()).driver_connection
    assert driver_connection is not None  # a checked-out connection always has one
    return bool(driver_connection.info.transaction_status == TransactionStatus.INERROR)
