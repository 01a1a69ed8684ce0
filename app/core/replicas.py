"""Read replicas (DATABASE_REPLICA_URLS): which are fit to read from, how far behind each is, and who reads where.

Each worker checks every replica every REPLICA_CHECK_SECONDS in the
background, so no read pays a statement to learn where to go. A check asks
the primary where its WAL ends (`pg_current_wal_lsn()`) and remembers when
it asked; then asks each replica whether it is still a standby
(`pg_is_in_recovery()`) and how far it has replayed
(`pg_last_wal_replay_lsn()`). A replica that has replayed past a position
the primary had at time T holds every commit made before T, so its lag is
at most now - T: measured on this worker's clock alone, and not fooled by a
primary that has written nothing for a while (which
`pg_last_xact_replay_timestamp()` would take for a replica falling behind).

A replica is `healthy` (reads go to it) when it answers, is a standby, and
lags at most REPLICA_MAX_LAG_SECONDS; otherwise it is `lagging`, `down` or
`not a replica` (promoted, or a primary named by mistake) and gets no reads
until a check finds it well again. A request that finds it down sooner
(app/http/read_routing.py) marks it so at once.

Read-your-writes: a write's answer carries the primary's WAL position after
it (X-Read-After). A read that sends it back goes to a healthy replica whose
last check saw it replayed that far, else to the primary.
"""

import asyncio
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url
from starlette.requests import HTTPConnection

from app.core.config import Settings
from app.core.database import Database, create_engine

logger = logging.getLogger(__name__)

ReplicaState = Literal["unknown", "healthy", "lagging", "down", "not a replica"]

# Byte positions in the WAL, as numbers: `pg_lsn - '0/0'` is the position in bytes.
_PRIMARY_POSITION = text("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
_REPLICA_POSITION = text("SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint")


def parse_wal_position(value: str) -> int | None:
    """`0/3000060` (as PostgreSQL writes a pg_lsn, and X-Read-After carries it) as a number; None if malformed."""
    high, slash, low = value.strip().partition("/")
    if not slash or not 1 <= len(high) <= 8 or not 1 <= len(low) <= 8:
        return None
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        return None


def format_wal_position(position: int) -> str:
    """A WAL position as PostgreSQL writes it: `0/3000060`."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def shown_url(url: str) -> str:
    """A replica's URL as /health/ready shows it: scheme, host, port and database; no user, password or options."""
    parsed = make_url(url)

    def query(key: str) -> str:  # a Unix socket's directory and port come as ?host=...&port=...
        value = parsed.query.get(key) or ""
        return value if isinstance(value, str) else value[0]

    host = parsed.host or query("host")
    port = parsed.port or query("port")
    return f"postgresql://{host}{f':{port}' if port else ''}/{parsed.database}"


@dataclass(slots=True)
class Replica:
    """One replica: its database (read-only sessions, a line of its own) and what the last check found."""

    name: str
    url: str
    database: Database
    state: ReplicaState = "unknown"
    lag_seconds: float | None = None
    replayed: int | None = None  # WAL position replayed, as of the last check
    reason: str | None = None  # why it is not healthy, for /health/ready and the log

    def fails(self, reason: str) -> None:
        """Down from now until a check finds it well (a request found it failing)."""
        if self.state != "down":
            logger.warning("Replica %s is down, reads go elsewhere: %s", self.name, reason)
        self.state, self.reason = "down", reason


class ReplicaSet:
    """The replicas of one worker's primary, checked in the background; chooses the replica a read goes to."""

    def __init__(self, settings: Settings) -> None:
        self.replicas = [
            Replica(f"replica{number}", shown_url(url), Database(settings, url, replica=True))
            for number, url in enumerate(settings.database_replica_urls, start=1)
        ]
        self.max_lag = settings.replica_max_lag_seconds
        self.check_seconds = settings.replica_check_seconds
        # How long a caller's X-Read-After is worth keeping: past it, every healthy replica has replayed it.
        self.read_after_lifetime = self.max_lag + self.check_seconds
        self._check_timeout = settings.db_connect_timeout + settings.db_pool_timeout + 1
        # (when, position): where the primary's WAL ended at recent checks, oldest first.
        self._primary_positions: deque[tuple[float, int]] = deque()
        self._turns = itertools.count()
        # One connection to the primary for WAL positions (a write's, a check's), outside its line.
        self._position_engine = create_engine(settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0}))
        self._position_lock = asyncio.Lock()
        self._latest: tuple[float, int] | None = None  # (asked at, position): the last answer

    # -- routing (every read-only request; no I/O)

    def choose(self, read_after: int | None) -> Replica | None:
        """A healthy replica that has replayed `read_after` (if given), taken in turn; None: read from the primary."""
        fit = [
            replica
            for replica in self.replicas
            if replica.state == "healthy"
            and (read_after is None or (replica.replayed is not None and replica.replayed >= read_after))
        ]
        if not fit:
            return None
        return fit[next(self._turns) % len(fit)]

    async def primary_position(self) -> str | None:
        """Where the primary's WAL ends, asked after this moment, for a write's X-Read-After; None if it cannot say."""
        position = await self._primary_position_after(time.monotonic())
        return None if position is None else format_wal_position(position)

    async def _primary_position_after(self, moment: float) -> int | None:
        """The primary's WAL end, from a question asked at `moment` or later: it then covers every commit before.

        On a connection of its own, one at a time: a write asks while its
        request still holds its place in the primary's line (FastAPI closes
        the request's session after the answer is sent), so asking in that
        line would wait on itself once the line is full. Writes that queue
        here meanwhile share the next answer: one statement for all of them.
        """
        async with self._position_lock:
            if self._latest is not None and self._latest[0] >= moment:
                return self._latest[1]
            asked_at = time.monotonic()
            try:
                async with asyncio.timeout(self._check_timeout), self._position_engine.connect() as connection:
                    position = await connection.scalar(_PRIMARY_POSITION)
            except (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError) as error:
                logger.warning("The primary did not say where its WAL ends: %s", type(error).__name__)
                return None
            if position is None:
                return None
            self._latest = (asked_at, int(position))
            return self._latest[1]

    # -- checking (in the background)

    async def keep_checking(self) -> None:
        """Check every REPLICA_CHECK_SECONDS until cancelled."""
        while True:
            await asyncio.sleep(self.check_seconds)
            await self.check()

    async def check(self) -> None:
        """Ask the primary where its WAL ends, then every replica how far it has replayed; update their states."""
        # A replica that replayed the answer holds every commit made before this moment.
        asked_at = time.monotonic()
        position = await self._primary_position_after(asked_at)
        if position is not None:  # else the primary is down: the replicas' lags grow from the last position
            self._primary_positions.append((asked_at, position))
        horizon = time.monotonic() - 2 * (self.max_lag + self.check_seconds)
        while len(self._primary_positions) > 1 and self._primary_positions[0][0] < horizon:
            self._primary_positions.popleft()
        await asyncio.gather(*(self._check(replica) for replica in self.replicas))

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(self._check_timeout), replica.database.engine.connect() as connection:
                row = (await connection.execute(_REPLICA_POSITION)).one()
        except sa_exc.TimeoutError:
            return  # its pool is busy serving reads: busy is not down; the next check will tell
        except Exception as error:  # refused, reset, timed out, ReplicaUnavailable: whatever it is, it is down
            replica.lag_seconds = None
            replica.fails(_first_line(error))
            return
        in_recovery, replayed = row
        now = time.monotonic()
        if not in_recovery:
            if replica.state != "not a replica":
                logger.error("%s is not a standby (promoted?): it gets no reads", replica.name)
            replica.state, replica.reason, replica.lag_seconds = "not a replica", "pg_is_in_recovery() is false", None
            return
        replica.replayed = None if replayed is None else int(replayed)
        replica.lag_seconds = self._lag(replica.replayed, now)
        if replica.lag_seconds is not None and replica.lag_seconds <= self.max_lag:
            if replica.state != "healthy":
                logger.info("Replica %s is healthy (lag %.1f s): it takes reads", replica.name, replica.lag_seconds)
            replica.state, replica.reason = "healthy", None
        else:
            if replica.state == "healthy":
                logger.warning("Replica %s lags more than %s s: reads go elsewhere", replica.name, self.max_lag)
            replica.state, replica.reason = "lagging", f"more than {self.max_lag:g} s behind the primary"

    def _lag(self, replayed: int | None, now: float) -> float | None:
        """How far behind the replica is at most: since the newest primary position it has replayed; None: unknown."""
        if replayed is None or not self._primary_positions:
            return None
        for asked_at, position in reversed(self._primary_positions):
            if position <= replayed:
                return max(0.0, now - asked_at)
        # Behind every position remembered: at least as old as the oldest.
        return now - self._primary_positions[0][0]

    async def dispose(self) -> None:
        await self._position_engine.dispose()
        for replica in self.replicas:
            await replica.database.dispose()


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def replicas_of(connection: HTTPConnection) -> ReplicaSet | None:
    """The app's replicas, or None without DATABASE_REPLICA_URLS (`create_app` keeps them on its state)."""
    replicas: ReplicaSet | None = getattr(connection.app.state, "replicas", None)
    return replicas
