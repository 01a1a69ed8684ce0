"""Housekeeping: a job run in the background about every HOUSEKEEPING_INTERVAL_SECONDS, that never stops a worker.

Every worker of every instance runs `keep_house` (started by the lifespan in
app/main.py, which hands it the jobs: auth's pruning, app/auth/pruning.py, and
the expired idempotency keys', app/idempotency/pruning.py).
Passes come about every interval, a fifth more or less at random, so
instances started together drift apart; the job itself sees to it that one
instance works at a time.

A pass that fails (PostgreSQL down, a batch timed out, no connection free)
is logged and tried again next time: housekeeping never stops a worker.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import psycopg
from sqlalchemy import exc as sa_exc

from app.core.reasons import one_line

logger = logging.getLogger(__name__)

Done = TypeVar("Done")

# Failures that say "the database cannot do this now", not "the code is wrong".
_OUTAGES = (sa_exc.DBAPIError, sa_exc.TimeoutError, psycopg.Error, OSError)


async def housekeeping_pass(job: Callable[[], Awaitable[Done]]) -> Done | None:
    """One pass that never raises: what the job answered, or None if it failed (and said why in the log)."""
    try:
        return await job()
    except _OUTAGES as error:
        logger.warning("Housekeeping skipped this time: %s: %s", type(error).__name__, one_line(error))
        return None
    except Exception:
        logger.exception("Housekeeping failed; it tries again next time")
        return None


async def keep_house(jobs: Sequence[Callable[[], Awaitable[object]]], interval_seconds: float) -> None:
    """A pass of each job about every `interval_seconds`, until cancelled (at shutdown); one failing stops no other."""
    # The first soon after start, but not by every worker at once.
    await asyncio.sleep(interval_seconds * random.uniform(0.1, 1.0))
    while True:
        for job in jobs:
            await housekeeping_pass(job)
        await asyncio.sleep(interval_seconds * random.uniform(0.8, 1.2))
