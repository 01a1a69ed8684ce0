"""Deleting keys whose 24 hours are over: the job app/main.py hands housekeeping beside auth's.

As auth's pruning (app/auth/pruning.py): batches of at most BATCH_SIZE rows,
each one short transaction behind an advisory lock of its own, so one
instance prunes at a time; no batch starts after PASS_SECONDS.
"""

import logging
import time

from app.core.database import Database
from app.idempotency.repository import PruningRepository

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
BATCH_STATEMENT_TIMEOUT_MS = 1000
PASS_SECONDS = 2.0


async def prune_expired_keys(
    database: Database, *, batch_size: int = BATCH_SIZE, seconds: float = PASS_SECONDS
) -> int | None:
    """One pass: how many expired keys it deleted, or None when another instance was pruning; errors raise."""
    deleted_in_all = 0
    deadline = time.monotonic() + seconds
    while True:
        async with database.session() as session:
            deleted = await PruningRepository(session, BATCH_STATEMENT_TIMEOUT_MS).prune(batch_size)
        if deleted is None:
            return None
        deleted_in_all += deleted
        if deleted < batch_size or time.monotonic() >= deadline:
            break
    if deleted_in_all:
        logger.info("Housekeeping: deleted expired idempotency keys: %d", deleted_in_all)
    return deleted_in_all
