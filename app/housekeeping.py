"""Housekeeping: expired refresh tokens, old login failures and sign-ups pruned in the background, a little at a time.

Every worker of every instance runs `keep_house` (started by the lifespan in
app/main.py). About every HOUSEKEEPING_INTERVAL_SECONDS (a fifth more or
less at random, so instances started together drift apart) it makes one
pass: batches of at most BATCH_SIZE rows, each one short transaction that
takes a PostgreSQL advisory lock first and gives up at once if another
instance holds it (the SQL is in app/auth/repository.py). So one instance
prunes at a time and the rest do nothing; a batch holds a place in the
connection line (app/db.py) for one statement, waiting its turn like any
request, and never longer than BATCH_STATEMENT_TIMEOUT_MS; a pass starts no
batch after PASS_SECONDS. Whatever is left waits for the next pass.

A pass that fails (PostgreSQL down, a batch timed out, no connection free)
is logged and tried again next time: housekeeping never stops a worker.
"""

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import psycopg
from sqlalchemy import exc as sa_exc

from app.auth.repository import PruningRepository
from app.db import Database
from app.reasons import one_line

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
BATCH_STATEMENT_TIMEOUT_MS = 1000
PASS_SECONDS = 2.0
# Failures that say "the database cannot do this now", not "the code is wrong".
_OUTAGES = (sa_exc.DBAPIError, sa_exc.TimeoutError, psycopg.Error, OSError)


@dataclass
class Pruned:
    """What one pass deleted; `skipped` when another instance was pruning."""

    refresh_tokens: int = 0
    login_failures: int = 0
    sign_ups: int = 0  # addresses whose sign-ups have all left SIGNUPS_PER_HOUR's hour
    skipped: bool = False


async def prune_once(database: Database, *, batch_size: int = BATCH_SIZE, seconds: float = PASS_SECONDS) -> Pruned:
    """One pass: batches until nothing is left or time is up, each table at least one batch; errors raise."""
    pruned = Pruned()
    deadline = time.monotonic() + seconds
    for table in ("refresh_tokens", "login_failures", "sign_ups"):
        while True:
            async with database.session() as session:
                repository = PruningRepository(session, BATCH_STATEMENT_TIMEOUT_MS)
                if table == "refresh_tokens":
                    deleted = await repository.prune_refresh_tokens(batch_size)
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


async def housekeeping_pass(database: Database) -> Pruned | None:
    """One pass that never raises: what it pruned, or None if it failed (and said why in the log)."""
    try:
        pruned = await prune_once(database)
    except _OUTAGES as error:
        logger.warning("Housekeeping skipped this time: %s: %s", type(error).__name__, one_line(error))
        return None
    except Exception:
        logger.exception("Housekeeping failed; it tries again next time")
        return None
    if pruned.refresh_tokens or pruned.login_failures or pruned.sign_ups:
        logger.info(
            "Housekeeping: deleted expired refresh tokens: %d, old login failures: %d, sign-ups of quiet addresses: %d",
            pruned.refresh_tokens,
            pruned.login_failures,
            pruned.sign_ups,
        )
    return pruned


async def keep_house(database: Database, interval_seconds: float) -> None:
    """A pass about every `interval_seconds`, until cancelled (at shutdown)."""
    # The first soon after start, but not by every worker at once.
    await asyncio.sleep(interval_seconds * random.uniform(0.1, 1.0))
    while True:
        await housekeeping_pass(database)
        await asyncio.sleep(interval_seconds * random.uniform(0.8, 1.2))
