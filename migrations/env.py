"""Alembic environment: the app's Settings for the URL, SQLModel's metadata for autogenerate."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

# Imported for what importing does: every resource's tables registered on SQLModel.metadata.
import app.tables  # noqa: F401
from app.core.config import Settings

config = context.config
# `python -m app` and the tests pass the URL in attributes and have their own
# logging; the `alembic` command line does neither.
database_url = config.attributes.get("database_url")
if database_url is None:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    database_url = Settings().database_url
if database_url is None:
    raise SystemExit(
        "DATABASE_URL is not set. Set it, or use `python -m app migrate` / "
        '`python -m app revision "message"`, which start the embedded PostgreSQL.'
    )
DATABASE_URL: str = database_url

target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    context.configure(url=DATABASE_URL, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # psycopg 3 serves sync SQLAlchemy too, so migrations need no event loop.
    engine = create_engine(DATABASE_URL, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_server_default=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
