"""Housekeeping: exactly what no rule counts any more goes (expired tokens, old failures, sign-ups), one at a time."""

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Coroutine, Iterator
from functools import partial
from typing import Any, cast

import psycopg
import pytest

from app.auth.pruning import Pruned, prune_expired, prune_once
from app.auth.repository import HOUSEKEEPING_LOCK
from app.core.config import Settings
from app.core.database import Database
from app.main import create_app
from app.ops.housekeeping import housekeeping_pass, keep_house
from tests.helpers import committed_connection, libpq_url, wait_until_async
from tests.processes import free_port

# (token_hash, expires_at, used_at, revoked_at): what a login leaves behind, in every state.
TOKENS = [
    ("expired", "now() - interval '1 second'", "NULL", "NULL"),
    ("expired-used", "now() - interval '1 day'", "now() - interval '20 days'", "NULL"),
    ("expired-revoked", "now() - interval '1 hour'", "NULL", "now() - interval '2 days'"),
    # Used or revoked but not yet expired: kept, so that a copied token presented again is still caught.
    ("live", "now() + interval '30 days'", "NULL", "NULL"),
    ("live-used", "now() + interval '1 day'", "now() - interval '1 day'", "NULL"),
    ("live-revoked", "now() + interval '1 day'", "NULL", "now() - interval '1 day'"),
]
# (name, expires_at) of personal access tokens: the expired go, whenever they were last used.
PERSONAL_TOKENS = [
    ("expired", "now() - interval '1 second'"),
    ("expired-long-ago", "now() - interval '90 days'"),
    ("live", "now() + interval '1 day'"),
]
# failed_at: the throttle counts the last 15 minutes.
FAILURES = [
    ("stale", "now() - interval '15 minutes 1 second'"),
    ("day-old", "now() - interval '1 day'"),
    ("counting", "now() - interval '14 minutes'"),
    ("just-now", "now()"),
]
# (client_address, signed_up_at): the sign-up limit counts the last hour.
SIGN_UPS = [
    ("198.51.100.1", "ARRAY[now() - interval '2 hours', now() - interval '61 minutes']"),  # quiet for an hour
    ("198.51.100.2", "ARRAY[now() - interval '2 hours', now() - interval '59 minutes']"),  # one still counts
]


@pytest.fixture
def tables(database_url: str) -> Iterator[psycopg.Connection]:
    """A user, the tokens and failures above, committed (housekeeping runs on its own connections); emptied after."""
    with committed_connection(database_url) as connection:
        (user_id,) = connection.execute("INSERT INTO users (name) VALUES ('Jane Doe') RETURNING id").fetchone() or ()
        for token_hash, expires_at, used_at, revoked_at in TOKENS:
            connection.execute(
                "INSERT INTO refresh_tokens (user_id, login_id, token_hash, expires_at, used_at, revoked_at)"
                f" VALUES (%s, gen_random_uuid(), %s, {expires_at}, {used_at}, {revoked_at})",
                [user_id, token_hash],
            )
        for name, expires_at in PERSONAL_TOKENS:
            connection.execute(
                "INSERT INTO personal_access_tokens (user_id, name, scopes, token_hash, prefix, expires_at)"
                f" VALUES (%s, %s, '{{read}}', %s, 'pat_', {expires_at})",
                [user_id, name, name],
            )
        for email, failed_at in FAILURES:
            connection.execute(
                f"INSERT INTO login_failures (email, client_address, failed_at) VALUES (%s, '192.0.2.1', {failed_at})",
                [email],
            )
        for client_address, signed_up_at in SIGN_UPS:
            connection.execute(
                f"INSERT INTO sign_ups_by_address (client_address, signed_up_at) VALUES (%s, {signed_up_at})",
                [client_address],
            )
        yield connection


def remaining(connection: psycopg.Connection) -> tuple[list[str], list[str], list[str], list[str]]:
    tokens = [row[0] for row in connection.execute("SELECT token_hash FROM refresh_tokens ORDER BY id")]
    failures = [row[0] for row in connection.execute("SELECT email FROM login_failures ORDER BY id")]
    sign_ups = [row[0] for row in connection.execute("SELECT client_address FROM sign_ups_by_address ORDER BY 1")]
    personal_tokens = [row[0] for row in connection.execute("SELECT name FROM personal_access_tokens ORDER BY id")]
    return tokens, failures, sign_ups, personal_tokens


LEFT = (["live", "live-used", "live-revoked"], ["counting", "just-now"], ["198.51.100.2"], ["live"])


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings)
    try:
        yield database
    finally:
        await database.dispose()


async def test_a_pass_deletes_expired_tokens_stale_failures_and_quiet_sign_ups_and_nothing_else(
    tables: psycopg.Connection, database: Database
) -> None:
    assert await prune_once(database) == Pruned(refresh_tokens=3, personal_tokens=2, login_failures=2, sign_ups=1)
    assert remaining(tables) == LEFT
    assert await prune_once(database) == Pruned()  # nothing left to do
    assert database.in_use == 0  # every batch gave its connection back


async def test_a_pass_works_in_batches_until_its_time_is_up(tables: psycopg.Connection, database: Database) -> None:
    # Out of time at once: one batch of each table, the rest left for the next pass.
    assert await prune_once(database, batch_size=2, seconds=0) == Pruned(
        refresh_tokens=2, personal_tokens=2, login_failures=2, sign_ups=1
    )
    assert len(remaining(tables)[0]) == 4
    # With time, batch after batch until none is full.
    assert await prune_once(database, batch_size=1) == Pruned(refresh_tokens=1)
    assert remaining(tables) == LEFT


async def test_a_pass_does_nothing_while_another_instance_prunes(
    tables: psycopg.Connection, database: Database, database_url: str
) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as other_instance:
        other_instance.execute("SELECT pg_advisory_lock(%s)", [HOUSEKEEPING_LOCK])
        assert await prune_once(database) == Pruned(skipped=True)
        assert len(remaining(tables)[0]) == len(TOKENS)
        assert len(remaining(tables)[1]) == len(FAILURES)
        assert len(remaining(tables)[2]) == len(SIGN_UPS)
        assert len(remaining(tables)[3]) == len(PERSONAL_TOKENS)
        # Released before the connection closes: a closed connection's backend lets go of its locks
        # only once it has exited, a moment after the client's close returns (seen flaky under load).
        other_instance.execute("SELECT pg_advisory_unlock(%s)", [HOUSEKEEPING_LOCK])
    # Its lock gone, the next pass prunes.
    assert await prune_once(database) == Pruned(refresh_tokens=3, personal_tokens=2, login_failures=2, sign_ups=1)


async def test_an_outage_is_logged_and_the_pass_returns(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = settings.model_copy(update={"database_url": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"})
    database = Database(nowhere)
    try:
        with caplog.at_level(logging.WARNING, logger="app.ops.housekeeping"):
            assert await housekeeping_pass(partial(prune_expired, database)) is None
    finally:
        await database.dispose()
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("Housekeeping skipped this time: OperationalError: ")
    assert record.exc_info is None  # one line, not a traceback


async def test_a_pass_logs_what_it_deleted(
    tables: psycopg.Connection, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.auth.pruning"):
        assert await housekeeping_pass(partial(prune_expired, database)) == Pruned(
            refresh_tokens=3, personal_tokens=2, login_failures=2, sign_ups=1
        )
    assert [record.getMessage() for record in caplog.records] == [
        "Housekeeping: deleted expired refresh tokens: 3, expired personal access tokens: 2, "
        "old login failures: 2, sign-ups of quiet addresses: 1"
    ]


def housekeeping_tasks() -> list[asyncio.Task[Any]]:
    """The tasks of this event loop running keep_house."""
    return [task for task in asyncio.all_tasks() if getattr(task.get_coro(), "cr_code", None) is keep_house.__code__]


async def test_each_worker_runs_it_from_start_to_shutdown(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"housekeeping_interval_seconds": 10}))
    async with app.router.lifespan_context(app):
        [running] = housekeeping_tasks()
        coroutine = cast(Coroutine[Any, Any, None], running.get_coro())  # keep_house's, as found above
        await wait_until_async(
            lambda: inspect.getcoroutinestate(coroutine) == inspect.CORO_SUSPENDED,
            "housekeeping to start and wait for its first pass",
        )
    assert running.cancelled()  # by shutdown, which ended without an error
    assert housekeeping_tasks() == []


async def test_with_an_interval_of_0_no_worker_runs_it(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"housekeeping_interval_seconds": 0}))
    async with app.router.lifespan_context(app):
        assert housekeeping_tasks() == []


@pytest.mark.parametrize("interval", [-1, 1, 9, 86401])
def test_the_interval_is_0_or_10_seconds_to_a_day(interval: int) -> None:
    with pytest.raises(ValueError, match="must be 0 \\(off\\) or from 10 to 86400"):
        Settings(_env_file=None, housekeeping_interval_seconds=interval)
