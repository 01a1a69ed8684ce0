"""/health/live answers without the database; /health/ready only when PostgreSQL answers at the migrations' head."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from alembic import command
from httpx import ASGITransport, AsyncClient

from app.core.config import PROJECT_ROOT, Settings
from app.core.migrations import alembic_config, upgrade_to_head
from app.main import create_app
from app.ops.health import migration_head
from tests.processes import free_port
from tests.scratch import scratch_database


@asynccontextmanager
async def _client_for(database_url: str) -> AsyncIterator[AsyncClient]:
    app = create_app(Settings(_env_file=None, database_url=database_url))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield client


def test_the_expected_migration_is_the_newest_in_migrations_versions() -> None:
    newest = max(path.name for path in (PROJECT_ROOT / "migrations" / "versions").glob("[0-9]*.py"))
    assert migration_head() == newest[:4]


async def test_live_and_ready_answer_200_on_a_migrated_database(client: AsyncClient) -> None:
    live = await client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "database": "connected",
        "migration": migration_head(),
        "expected_migration": migration_head(),
    }


async def test_with_the_database_down_live_is_200_and_ready_is_503() -> None:
    async with _client_for(f"postgresql://postgres@127.0.0.1:{free_port()}/portfolio") as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert (live.status_code, live.json()) == (200, {"status": "alive"})
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "1"
    assert ready.json() == {
        "status": "not ready",
        "database": "unavailable",
        "migration": None,
        "expected_migration": migration_head(),
    }


async def test_ready_is_503_until_the_database_is_migrated_to_head(database_url: str) -> None:
    with scratch_database(database_url, "portfolio_readiness") as url:
        async with _client_for(url) as client:
            unmigrated = await client.get("/health/ready")
            assert unmigrated.status_code == 503
            assert unmigrated.json() == {
                "status": "not ready",
                "database": "connected",
                "migration": None,
                "expected_migration": migration_head(),
            }

            command.upgrade(alembic_config(url), "0002")
            behind = await client.get("/health/ready")
            assert behind.status_code == 503
            assert behind.headers["retry-after"] == "1"
            assert behind.json() == {
                "status": "not ready",
                "database": "connected",
                "migration": "0002",
                "expected_migration": migration_head(),
            }

            upgrade_to_head(url)
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json()["migration"] == migration_head()
