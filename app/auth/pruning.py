"""Pruning what no rule needs any more: expired refresh and personal access tokens, old login failures, quiet sign-ups.

The job housekeeping runs (app/ops/housekeeping.py runs it about every
HOUSEKEEPING_INTERVAL_SECONDS; app/main.py hands it over). One pass is
batches of at most BATCH_SIZE rows, each one short transaction that takes a
PostgreSQL advisory lock first and gives up at once if another instance
holds it (the SQL is in app/auth/repository.py). So one instance prunes at a
time and the rest do nothing; a batch holds a place in the connection line
(app/core/database.py) for one statement, waiting its turn like any request,
and never longer than BATCH_STATEMENT_TIMEOUT_MS; a pass starts no batch
after PASS_SECONDS. Whatever is left waits for the next pass.
"""

import logging
import time
from dataclasses import dataclass

from app.auth.repository import PruningRepository
from app.core.database import Database

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
BATCH_STATEMENT_TIMEOUT_MS = 1000
PASS_SECONDS = 2.0


@dataclass
class Pruned:
    """What one pass deleted; `skipped` when another instance was pruning."""

    refresh_tokens: int = 0
    personal_tokens: int = 0
    login_failures: int = 0
    sign_ups: int = 0  # addresses whose sign-ups have all left SIGNUPS_PER_HOUR's hour
    skipped: bool = False


async def prune_once(database: Database, *, batch_size: int = BATCH_SIZE, seconds: float = PASS_SECONDS) -> Pruned:
    """One pass: batches until nothing is left or time is up, each table at least one batch; errors raise."""
    pruned = Pruned()
    deadline = time.monotonic() + seconds
    for table in ("refresh_tokens", "personal_tokens", "login_failures", "sign_ups"):
        while True:
            async with database.session() as session:
                repository = PruningRepository(session, BATCH_STATEMENT_TIMEOUT_MS)
                if table == "refresh_tokens":
                    deleted = await repository.prune_refresh_tokens(batch_size)
                elif table == "personal_tokens":
                    deleted = await repository.prune_personal_tokens(batch_size)
                elif table == "login_failures":
                    deleted = await repository.prune_login_failures(batch_size)
                else:
                    deleted = await repository.prune_sign_ups(batch_size)
            if deleted is None:
                pruned.skipped = True
                return pruned
            setattr(pruned, table, getattr(pruned, table) + deleted)
            if deleted < batch_size or time.monotonic() >= deadline:
                break
    return pruned


async def prune_expired(database: Database) -> Pruned:
    """One pass, and what it deleted in the log (nothing when it deleted nothing); errors raise."""
    pruned = await prune_once(database)
    if pruned.refresh_tokens or pruned.personal_tokens or pruned.login_failures or pruned.sign_ups:
        logger.info(
            "Housekeeping: deleted expired refresh tokens: %d, expired personal access tokens: %d, "
            "old login failures: %d, sign-ups of quiet addresses: %d",
            pruned.refresh_tokens,
            pruned.personal_tokens,
            pruned.login_failures,
            pruned.sign_ups,
        )
    return pruned
