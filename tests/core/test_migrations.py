"""The migrations and the models describe the same schema, and both directions work."""

import subprocess
import sys

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from app.core.config import PROJECT_ROOT
from app.core.migrations import alembic_config


def _table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_autogenerate_finds_nothing_to_change_after_upgrade_head(database_url: str) -> None:
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_server_default": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_app_tables_alone_registers_every_table_the_migrations_make(database_url: str) -> None:
    """What Alembic autogenerates against (migrations/env.py imports app.tables, nothing else of the models).

    In a fresh interpreter, so nothing the test run imported on the way can fill the gap: a table
    missing here would look, to `python -m app revision`, like one to drop.
    """
    registered = subprocess.run(
        [sys.executable, "-c", "import app.tables, sqlmodel; print(*sorted(sqlmodel.SQLModel.metadata.tables))"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    assert set(registered) == _table_names(engine) - {"alembic_version"}
    engine.dispose()


def test_downgrade_base_drops_everything_and_upgrade_head_restores_it(database_url: str) -> None:
    config = alembic_config(database_url)
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        command.downgrade(config, "base")
        assert _table_names(engine) == {"alembic_version"}
        command.upgrade(config, "head")
        assert _table_names(engine) == {
            "alembic_version",
            "users",
            "stocks",
            "transactions",
            "refresh_tokens",
            "login_failures",
            "sign_ups_by_address",
            "prices",
            "idempotency_keys",
            "personal_access_tokens",
        }
    finally:
        command.upgrade(config, "head")  # leave the shared test database usable whatever happened
        engine.dispose()


def test_upgrading_a_database_with_data_from_before_accounts_loses_nothing(database_url: str) -> None:
    """0003 -> head (0004 adds accounts): every user and stock survives, with no email, no password, no admin."""
    config = alembic_config(database_url)
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        command.downgrade(config, "0003")
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO users (name, age) VALUES ('John Doe', 30), ('Ana Lima', NULL)"))
            connection.execute(
                sa.text(
                    "INSERT INTO stocks (name, price, quantity, user_id, is_active) "
                    "SELECT 'AAPL', 175.5, 10, id, true FROM users "
                    "UNION ALL SELECT 'BRK.B', 0.0001, 1, id, false FROM users"
                )
            )
            users_before = connection.execute(sa.text("SELECT * FROM users ORDER BY id")).mappings().all()
            stocks_before = connection.execute(sa.text("SELECT * FROM stocks ORDER BY id")).all()

        command.upgrade(config, "head")
        with engine.begin() as connection:
            users_after = connection.execute(sa.text("SELECT * FROM users ORDER BY id")).mappings().all()
            assert connection.execute(sa.text("SELECT * FROM stocks ORDER BY id")).all() == stocks_before
        assert [{key: row[key] for key in before} for row, before in zip(users_after, users_before, strict=True)] == [
            dict(before) for before in users_before
        ]
        assert {(row["email"], row["password_hash"], row["is_admin"]) for row in users_after} == {(None, None, False)}
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE users, stocks RESTART IDENTITY CASCADE"))
        command.upgrade(config, "head")  # leave the shared test database usable whatever happened
        engine.dispose()


def test_upgrading_a_database_with_stocks_from_0007_gives_each_its_opening_buy(database_url: str) -> None:
    """0007 -> head (0008 adds the ledger): each stock gets a buy of its quantity at its price, on its creation day."""
    config = alembic_config(database_url)
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        command.downgrade(config, "0007")
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO users (name) VALUES ('John Doe'), ('Ana Lima')"))
            # 23:30 in New York on 2024-03-15 is 03:30 on the 16th in UTC: the day is the UTC one.
            connection.execute(
                sa.text(
                    "INSERT INTO stocks (name, price, quantity, user_id, created_at) VALUES "
                    "('AAPL', 175.5, 10, 1, '2024-03-15 23:30-04'), ('BRK.B', 0.0001, 1, 2, '2023-01-01 00:00Z')"
                )
            )
            stocks_before = connection.execute(sa.text("SELECT * FROM stocks ORDER BY id")).all()

        command.upgrade(config, "head")
        with engine.begin() as connection:
            assert connection.execute(sa.text("SELECT * FROM stocks ORDER BY id")).all() == stocks_before
            entries = connection.execute(
                sa.text(
                    "SELECT stock_id, user_id, type, occurred_on::text, quantity, price::text, fee::text, "
                    "realized_gain FROM transactions ORDER BY id"
                )
            ).all()
        assert [tuple(entry) for entry in entries] == [
            (1, 1, "buy", "2024-03-16", 10, "175.5000", "0.0000", None),
            (2, 2, "buy", "2023-01-01", 1, "0.0001", "0.0000", None),
        ]
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE users, stocks RESTART IDENTITY CASCADE"))
        command.upgrade(config, "head")  # leave the shared test database usable whatever happened
        engine.dispose()


def test_0010_adds_personal_access_tokens_keeping_every_row_and_downgrades_to_0009(database_url: str) -> None:
    """0009 -> 0010 -> 0009 -> head, with a user and a stock: the rows stay; a token dies with its user (cascade)."""
    config = alembic_config(database_url)
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        command.downgrade(config, "0009")
        assert "personal_access_tokens" not in _table_names(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO users (name) VALUES ('John Doe')"))
            connection.execute(sa.text("INSERT INTO stocks (name, price, quantity, user_id) VALUES ('AAPL', 1, 1, 1)"))
            rows_before = connection.execute(sa.text("SELECT * FROM users, stocks")).all()
        command.upgrade(config, "0010")
        with engine.begin() as connection:
            assert connection.execute(sa.text("SELECT * FROM users, stocks")).all() == rows_before
            connection.execute(
                sa.text(
                    "INSERT INTO personal_access_tokens (user_id, name, scopes, token_hash, prefix, expires_at) "
                    "VALUES (1, 'script', '{read}', repeat('a', 64), 'pat_aaaaaaaa', now() + interval '1 day')"
                )
            )
            connection.execute(sa.text("DELETE FROM users WHERE id = 1"))
            assert connection.execute(sa.text("SELECT count(*) FROM personal_access_tokens")).scalar_one() == 0
        command.downgrade(config, "0009")
        assert "personal_access_tokens" not in _table_names(engine)
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("TRUNCATE users, stocks RESTART IDENTITY CASCADE"))
        command.upgrade(config, "head")  # leave the shared test database usable whatever happened
        engine.dispose()
