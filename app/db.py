"""The database engine and the per-request session dependency."""

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.config import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig


def server_options(settings: Settings, url: str) -> str:
    """libpq `options` for every connection: UTC timestamps and the statement time limit.

    Options already in the URL (`?options=...`) are kept and come first.
    """
    ours = f"-c TimeZone=UTC -c statement_timeout={settings.db_statement_timeout_ms}"
    theirs = make_url(url).query.get("options")
    return f"{theirs} {ours}" if isinstance(theirs, str) else ours


def create_engine(settings: Settings) -> AsyncEngine:
    """One engine per process: a small pool, checked on checkout, with bounded waits."""
    if settings.database_url is None:
        raise RuntimeError(
            "DATABASE_URL is not set. Start with `make run` or `python -m app` to get an "
            "embedded PostgreSQL, or set DATABASE_URL (see .env.example)."
        )
    return create_async_engine(
        settings.database_url,
        echo=settings.sql_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": settings.db_connect_timeout,
            "options": server_options(settings, settings.database_url),
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: routes return the objects they just committed,
    # and re-reading them after commit would be a lazy load (not allowed in async).
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for one request; closing it returns the connection to the pool."""
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def alembic_config(database_url: str) -> "AlembicConfig":
    """Alembic's configuration for `alembic.ini`, aimed at `database_url`."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every migration not yet applied (`alembic upgrade head`)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")
