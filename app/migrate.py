"""Migrating when several instances start at once: one migrates, the others wait for it.

A PostgreSQL advisory lock, held on a connection of its own while Alembic
runs, serialises `upgrade head` across processes and machines. Whoever gets
the lock first applies the migrations; the others wait for it, then find
nothing left to do. The lock goes with the connection, so an instance that
dies mid-way releases it (and Alembic's own transaction rolls back).
"""

import logging

from sqlalchemy import create_engine, pool, text

from app.db import upgrade_to_head

logger = logging.getLogger(__name__)

# Any fixed 64-bit number would do, as long as nothing else on the database
# uses it; this one is "portfoli" in ASCII.
MIGRATION_LOCK = int.from_bytes(b"portfoli", "big")


def migrate(database_url: str) -> None:
    """`alembic upgrade head`, by one instance at a time."""
    engine = create_engine(database_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            # A role's statement_timeout (see README, PgBouncer) must not cut the wait short.
            connection.execute(text("SET statement_timeout = 0"))
            if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK}):
                logger.info("Another instance is migrating this database; waiting for it to finish")
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                upgrade_to_head(database_url)
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        engine.dispose()
