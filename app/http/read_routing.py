"""Reads on replicas, writes on the primary, per request (DATABASE_REPLICA_URLS; docs/how-to/read-replicas.md).

Installed only with replicas configured. For each request:

- GET and HEAD (read-only by HTTP's own rules) are given a healthy replica
  (app/core/replicas.py chooses, from its last background check: no
  statement is added to the request). The session dependencies
  (app/core/database.py, `database_for`) then hand out that replica's
  sessions. A caller who sends `X-Read-After` (the web pages: the
  `read_after` cookie) is given only a replica that has replayed that far;
  none has, or none is healthy: the primary.
- If the replica fails the request (down, restarting, a statement cancelled
  by its replay), the request runs again, whole, on the primary: it only
  read, so running it twice is safe, and the caller gets the answer, never a
  503 or 500 for a replica's trouble. Not once the answer has started: a
  failure then is the primary's kind of failure too.
- Every other method runs on the primary, and a successful answer carries
  `X-Read-After`: the primary's WAL position after the request's writes
  committed (one `SELECT pg_current_wal_lsn()` on a connection kept for it,
  app/core/replicas.py: the only cost replicas add to a write). A page's
  write sets it as the `read_after` cookie as well, so the page the browser
  is sent to next shows what the person just did.

Why per request, not SQLAlchemy's per-statement routing session (a `Session`
whose `get_bind()` sends SELECTs to a replica): a request's statements must
see each other (a check, then the read it guards), a request holds one
connection, not one per server, and a read-only request can be retried
whole; the HTTP method says which requests only read before any statement
runs.
"""

import logging
from collections.abc import Callable
from math import ceil
from typing import Any

from fastapi import FastAPI
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.database import READS_FROM, ReplicaUnavailable
from app.core.replicas import ReplicaSet, parse_wal_position

logger = logging.getLogger(__name__)

READ_AFTER_HEADER = "X-Read-After"
READ_AFTER_COOKIE = "read_after"
# The pages (app/web/), whose browser keeps the position in a cookie rather than a header.
WEB_PREFIX = "/app/"
# The database label of a read served by the primary (the replicas' are their names, replica1, ...).
PRIMARY = "primary"
_READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_HEADER_KEY = READ_AFTER_HEADER.lower().encode()

READ_AFTER_DESCRIPTION = (
    "The primary database's WAL position once this write committed (e.g. `0/3000060`), sent only when the "
    "service reads from replicas (DATABASE_REPLICA_URLS). Send it back as `X-Read-After` on your following "
    "reads to see this write in them; without it a read may come from a replica a moment behind."
)


def document_read_after(app: FastAPI) -> None:
    """Declare X-Read-After on the successful answers of every write operation in the OpenAPI.

    Always, replicas or not: the contract is the same for every deployment,
    and a header a response may omit is what OpenAPI's response headers are.
    """
    build_openapi = app.openapi
    header = {"description": READ_AFTER_DESCRIPTION, "schema": {"type": "string", "examples": ["0/3000060"]}}

    def openapi() -> dict[str, Any]:
        document = build_openapi()  # FastAPI's cached copy after the first call, completed in place
        for operations in document.get("paths", {}).values():
            for method, operation in operations.items():
                if method.upper() not in _WRITE_METHODS:
                    continue
                for status, response in operation.get("responses", {}).items():
                    if status[:1] in ("2", "3"):
                        response.setdefault("headers", {}).setdefault(READ_AFTER_HEADER, header)
        return document

    # FastAPI's documented way to extend its OpenAPI ("Extending OpenAPI"), as app/http/errors.py does.
    app.openapi = openapi  # type: ignore[method-assign]


class ReadRouting:
    """Pure ASGI middleware: runs in every request once, as the innermost middleware (app/main.py)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        read_served_by: Callable[[str], None] | None = None,
        unrouted_paths: frozenset[str] = frozenset(),
    ) -> None:
        """`read_served_by` is told which database served each read; `unrouted_paths` (/metrics) are left alone."""
        self.app = app
        self.read_served_by = read_served_by
        self.unrouted_paths = unrouted_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The replicas the app's lifespan opened (app/main.py), which middleware, built before it, cannot be handed.
        replicas: ReplicaSet | None = getattr(scope["app"].state, "replicas", None) if "app" in scope else None
        if scope["type"] != "http" or replicas is None or scope["path"] in self.unrouted_paths:
            await self.app(scope, receive, send)
        elif scope["method"] in _READ_ONLY_METHODS:
            await self._read(replicas, scope, receive, send)
        elif scope["method"] in _WRITE_METHODS:
            await self._write(replicas, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _read(self, replicas: ReplicaSet, scope: Scope, receive: Receive, send: Send) -> None:
        replica = replicas.choose(_read_after(scope))
        if replica is None:
            self._served_by(PRIMARY)
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        started = False

        async def recording_receive() -> Message:
            message = await receive()
            received.append(message)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        scope[READS_FROM] = replica.database
        try:
            await self.app(scope, recording_receive, watching_send)
        except ReplicaUnavailable as failure:
            if started:
                raise
            if failure.down:
                replica.fails(str(failure))
            logger.info("A read failed on %s and runs again on the primary: %s", replica.name, failure)
        else:
            self._served_by(replica.name)
            return
        finally:
            scope.pop(READS_FROM, None)

        replayed = iter(received)

        async def replaying_receive() -> Message:
            return next(replayed, None) or await receive()

        self._served_by(PRIMARY)
        await self.app(scope, replaying_receive, send)

    async def _write(self, replicas: ReplicaSet, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                position = await replicas.primary_position()
                if position is not None:
                    headers = list(message.get("headers", []))
                    headers.append((_HEADER_KEY, position.encode()))
                    if scope["path"].startswith(WEB_PREFIX):
                        headers.append((b"set-cookie", _cookie(scope, position, replicas.read_after_lifetime)))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_position)

    def _served_by(self, database: str) -> None:
        if self.read_served_by is not None:
            self.read_served_by(database)


def _cookie(scope: Scope, position: str, lifetime: float) -> bytes:
    """The page's `read_after` cookie: only the pages read it (no script needs it), for as long as it can matter."""
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    return (
        f"{READ_AFTER_COOKIE}={position}; Max-Age={ceil(lifetime) + 1}; Path={WEB_PREFIX}; "
        f"HttpOnly; SameSite=Lax{secure}"
    ).encode()


def _read_after(scope: Scope) -> int | None:
    """The WAL position the caller must read at least: X-Read-After, or on a page the cookie; None if neither."""
    cookies = None
    for key, value in scope["headers"]:
        if key == _HEADER_KEY:
            return parse_wal_position(value.decode("latin-1"))
        if key == b"cookie":
            cookies = value
    if cookies is None or not scope["path"].startswith(WEB_PREFIX):
        return None
    cookie = cookie_parser(cookies.decode("latin-1")).get(READ_AFTER_COOKIE)
    return None if cookie is None else parse_wal_position(cookie)
