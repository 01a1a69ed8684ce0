"""The database: engine, sessions, transactions, and the per-request session dependencies.

With DATABASE_REPLICA_URLS set, a read-only request may be given a replica's
`Database` instead of the primary's (app/core/replicas.py decides, per
request, and app/http/read_routing.py keeps the choice on the request);
`get_session` and `get_session_opener` hand out sessions of whichever the
request was given, `get_primary_session_opener` always the primary's.
"""

import asyncio
import select
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection

from app.core.config import Settings


def server_options(settings: Settings, url: str, *, read_only: bool = False) -> str:
    """libpq `options` for every connection: UTC timestamps and the statement time limit (and, to a replica, read-only).

    Options already in the URL (`?options=...`) are kept and come first.
    """
    ours = f"-c TimeZone=UTC -c statement_timeout={settings.db_statement_timeout_ms}"
    if read_only:
        # A standby refuses writes anyway; this keeps refusing them should the server be promoted
        # while we still take it for a replica, so nothing meant for the primary lands there.
        ours += " -c default_transaction_read_only=on"
    theirs = make_url(url).query.get("options")
    return f"{theirs} {ours}" if isinstance(theirs, str) else ours


def create_engine(settings: Settings, url: str | None = None, *, read_only: bool = False) -> AsyncEngine:
    """One engine per process and server: a small pool, checked on checkout, with bounded waits.

    `url`: a replica's (DATABASE_REPLICA_URLS), whose sessions are then read-only; unset, DATABASE_URL's.
    """
    url = url or settings.database_url
    if url is None:
        raise RuntimeError(
            "DATABASE_URL is not set. Start with `make run` or `python -m app` to get an "
            "embedded PostgreSQL, or set DATABASE_URL (see .env.example)."
        )
    engine = create_async_engine(
        url,
        echo=settings.sql_echo,
        # A failed statement's error text names its bound values, and those can
        # be a password hash or an email: the error is logged, the values never.
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        # Most requests are one statement, which PostgreSQL runs atomically on
        # its own: in autocommit there is no BEGIN before it and no COMMIT or
        # ROLLBACK after, two round trips saved. The few writes of several
        # statements that must land together ask for a transaction
        # (`Database.transaction()`), and pay those two round trips alone.
        isolation_level="AUTOCOMMIT",
        connect_args={
            "connect_timeout": settings.db_connect_timeout,
            "options": server_options(settings, url, read_only=read_only),
            # psycopg prepares a statement after 5 runs; None never does, which
            # is what PgBouncer in transaction mode needs (a prepared statement
            # lives on one server connection, the next transaction may get another).
            "prepare_threshold": 5 if settings.db_prepared_statements else None,
        },
    )
    event.listen(engine.sync_engine, "checkout", _ping_if_the_server_spoke)
    return engine


def _ping_if_the_server_spoke(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """`pool_pre_ping` without a round trip per request.

    PostgreSQL sends nothing to an idle connection unless it is going away (a
    restart or shutdown writes a FATAL message and closes the socket). So a
    pooled connection with nothing to read is alive, and one with something
    to read is pinged; if the ping fails, the pool discards it and hands out a
    fresh connection, and the request never sees the dead one.
    """
    driver_connection = dbapi_connection.driver_connection
    if not driver_connection.closed:
        if not _has_something_to_read(driver_connection.pgconn.socket):
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
            return
        except Exception:  # whatever the failure, the connection is gone
            pass
        finally:
            cursor.close()
    raise DisconnectionError("the server closed this pooled connection")


def _has_something_to_read(fd: int) -> bool:
    """Whether the socket has data (or a hang-up) waiting, without blocking."""
    if hasattr(select, "poll"):  # select.select() cannot take descriptors past 1023, which a busy server has
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # Windows: no poll(), and no such limit
    return bool(readable)


class Database:
    """The engine, its sessions, and a first-come, first-served line for connections.

    The line is there because SQLAlchemy's async pool hands a returned
    connection to whoever asks next, not to whoever has waited longest: under
    load a request can lose that race again and again, and the slowest 1% of
    GET /users/{id} took 1.9 s where the median took 18 ms (bench/, pool of 8,
    32 clients). asyncio.Semaphore hands each freed place to the longest
    waiter, so with the line as long as the pool nobody waits on the pool
    itself, and a request that waits longer than DB_POOL_TIMEOUT gets a 503.
    """

    def __init__(self, settings: Settings, url: str | None = None, *, replica: bool = False) -> None:
        """The primary (DATABASE_URL); with `url` and `replica=True`, one of DATABASE_REPLICA_URLS."""
        self.engine = create_engine(settings, url, read_only=replica)
        self.replica = replica
        if replica:
            event.listen(self.engine.sync_engine, "handle_error", _replica_failed, retval=True)
        # expire_on_commit=False: a commit never marks anything for a reload,
        # which in async would be implicit I/O (an error) rather than a lazy load.
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self.capacity = settings.db_pool_size + settings.db_max_overflow
        self._line = asyncio.Semaphore(self.capacity)
        self._patience = settings.db_pool_timeout
        # Requests in line for a place now (app/ops/metrics.py reads it); counted on the waiting path only.
        self.waiting = 0
        self.opener = SessionOpener(self.session, self.transaction)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait in line for a connection (at most DB_POOL_TIMEOUT seconds), and hold a place until done."""
        if self._line.locked():  # others are waiting: join the line, for a while
            self.waiting += 1
            try:
                async with asyncio.timeout(self._patience):
                    await self._line.acquire()
            except TimeoutError:
                if self.replica:  # a busy replica is no reason to refuse a read the primary can serve
                    raise ReplicaUnavailable("no connection to the replica free in time", down=False) from None
                raise PoolTimeoutError(f"no database connection free within {self._patience} s") from None
            finally:
                self.waiting -= 1
        else:  # a place is free and nobody waits: take it, no timer needed
            await self._line.acquire()
        try:
            yield
        finally:
            self._line.release()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A place in the line and a session whose statements each commit on their own (autocommit).

        Closing it returns the connection and the place. Nothing here commits:
        a statement is durable once it has run, so repositories never commit.
        """
        async with self.turn(), self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose statements land together or not at all: committed at the end, rolled back on any exception.

        For writes that must hold together (a new password and the end of
        every login made with the old one). The connection runs READ COMMITTED
        for this block only, so PostgreSQL gets a BEGIN before the first
        statement and a COMMIT after the last; the pool sets it back to
        autocommit when it returns, so the next request on it pays nothing.
        """
        async with self.session() as session:
            await session.connection(execution_options={"isolation_level": "READ COMMITTED"})
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    @property
    def in_use(self) -> int:
        """Connections checked out of the pool now (requests, health checks, housekeeping)."""
        return int(self.engine.pool.checkedout())  # type: ignore[attr-defined]  # QueuePool's, typed on Pool as absent

    async def dispose(self) -> None:
        await self.engine.dispose()


def database_of(connection: HTTPConnection) -> Database:
    """The app's database (the primary), which its lifespan opens at start-up and keeps on its state."""
    database: Database = connection.app.state.database
    return database


# Where app/http/read_routing.py puts the replica a read-only request reads from.
READS_FROM = "portfolio.reads_from"


def database_for(connection: HTTPConnection) -> Database:
    """The database this request's statements run on: the replica it was given, else the primary."""
    replica: Database | None = connection.scope.get(READS_FROM)
    return replica if replica is not None else database_of(connection)


class ReplicaUnavailable(Exception):
    """A replica failed a read-only request's statement (down, shutting down, conflicting with recovery, busy).

    Not a database error the handlers answer (app/http/errors.py): it goes past
    them to app/http/read_routing.py, which runs the request again on the
    primary. `down`: whether to give the replica no more reads until its next
    health check.
    """

    def __init__(self, reason: str, *, down: bool = True) -> None:
        super().__init__(reason)
        self.down = down


# SQLSTATEs a replica answers that the primary would not: a write refused by a read-only
# server (the request should not have written; it runs again where it may), and a statement
# cancelled because the replay needed what it was reading.
_REPLICA_ONLY_FAILURES = {"25006", "40001"}


def _replica_failed(context: ExceptionContext) -> BaseException | None:
    """`handle_error` on a replica's engine: what the primary may not share becomes ReplicaUnavailable."""
    error = context.original_exception
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if getattr(error, "sqlstate", None) in _REPLICA_ONLY_FAILURES:  # the replica is well; this read was unlucky
        return ReplicaUnavailable(reason, down=False)
    if context.is_disconnect or (
        isinstance(error, psycopg.OperationalError) and not isinstance(error, psycopg.errors.QueryCanceled)
    ):  # refused, reset, shutting down, starting up, out of connections
        return ReplicaUnavailable(reason, down=True)
    return None  # a statement timeout, a bad value: the primary would answer the same


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for the whole request, whose statements each commit on their own."""
    async with database_for(request).session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

OpenSession = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True, slots=True)
class SessionOpener:
    """Opens a session for as long as an `async with` lasts: `opener()` autocommits, `opener.transaction()` does not.

    A service that writes more than one statement for one change writes them
    in `transaction()`; any other statement runs in `opener()`, where it is
    durable as soon as it has run.
    """

    session: OpenSession
    transaction: OpenSession

    def __call__(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.session()


async def get_session_opener(request: Request) -> SessionOpener:
    """For a request that waits on something else between its statements (hashing a password).

    It opens a session, and so takes a place in the line, only around its
    statements: a flood of sign-ins queues for the CPU, not for connections
    every other request needs.
    """
    return database_for(request).opener


SessionOpenerDep = Annotated[SessionOpener, Depends(get_session_opener)]


async def get_primary_session_opener(request: Request) -> SessionOpener:
    """As `get_session_opener`, on the primary whatever the request: for services that write on any method.

    Signing in, refreshing and signing out write (a web page's GET refreshes
    an expired token), and must read what the last write left, not a replica's copy.
    """
    return database_of(request).opener


PrimarySessionOpenerDep = Annotated[SessionOpener, Depends(get_primary_session_opener)]
