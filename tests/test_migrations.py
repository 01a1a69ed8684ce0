"""The migrations and the models describe the same schema, and both directions work."""

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app.db import alembic_config


def _table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_autogenerate_finds_nothing_to_change_after_upgrade_head(database_url: str) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_server_default": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_downgrade_base_drops_everything_and_upgrade_head_restores_it(database_url: str) -> None:
    config = alembic_config(database_url)
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        command.downgrade(config, "base")
        assert _table_names(engine) == {"alembic_version"}
        command.upgrade(config, "head")
        assert _table_names(engine) == {"alembic_version", "users", "stocks", "refresh_tokens", "login_failures"}
    finally:
        command.upgrade(config, "head")  # leave the shared test database usable whatever happened
        engine.dispose()
