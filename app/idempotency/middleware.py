"""What keeps or releases a key's claim once the request's answer is known, and what replays a kept answer.

The claim is made by the route's dependency (app/idempotency/dependencies.py),
before the handler runs; only here, outside the route, is the whole answer
seen (status, headers and body, after the error handlers made theirs). So a
POST that sends `Idempotency-Key` has its answer held back until it is
decided: a 2xx is kept, then sent; anything else (an error the handler
raised, a validation 422, a 503, an exception on its way to being a 500)
releases the key, so the retry runs afresh, then is sent. Any other request
passes straight through: one look at the method, and at the headers of a POST.
"""

import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.database import SessionOpener
from app.core.reasons import one_line
from app.idempotency.repository import Claim, Held, IdempotencyRepository

logger = logging.getLogger(__name__)

# Where the dependency finds what to leave for this middleware, in the request's ASGI scope.
SLOT = "app.idempotency"
HEADER = b"idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
# The headers that are part of an answer a client acts on; the rest (X-Request-ID, CORS, ...) each request makes anew.
KEPT_HEADERS = frozenset({"content-type", "location", "etag", "link", "preference-applied"})


@dataclass
class Pending:
    """The claim a request made, if it made one, and how to reach the database to settle it."""

    claim: Claim | None = None
    open_session: SessionOpener | None = None

    async def keep(self, status_code: int, headers: list[tuple[str, str]], body: bytes) -> None:
        assert self.claim is not None and self.open_session is not None  # only called with a claim
        async with self.open_session() as session:
            kept = await IdempotencyRepository(session).keep(self.claim, status_code, headers, body)
        if not kept:
            logger.warning("An Idempotency-Key's claim expired before its request ended; its answer was not kept")

    async def release(self) -> None:
        assert self.claim is not None and self.open_session is not None
        async with self.open_session() as session:
            await IdempotencyRepository(session).release(self.claim)


class Replay(Exception):
    """Raised by the dependency when the key already holds this request's answer: the app answers it again."""

    def __init__(self, held: Held) -> None:
        super().__init__("replay")
        self.held = held


async def replay(request: Request, exc: Exception) -> Response:
    """The kept answer, byte for byte, marked as a replay (the exception handler for `Replay`)."""
    assert isinstance(exc, Replay)  # registered for Replay only
    held = exc.held
    assert held.status_code is not None  # a kept answer has its status
    response = Response(content=held.body, status_code=held.status_code)
    for name, value in held.headers:
        response.headers.append(name, value)
    response.headers[REPLAYED_HEADER] = "true"
    return response


@dataclass
class _HeldBack:
    """The answer as the app sends it, held until the claim is settled."""

    start: Message | None = None
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            self.complete = not message.get("more_body", False)

    @property
    def status(self) -> int:
        return self.start["status"] if self.start is not None else 0

    def kept_headers(self) -> list[tuple[str, str]]:
        assert self.start is not None
        return [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self.start.get("headers", [])
            if name.decode("latin-1").lower() in KEPT_HEADERS
        ]

    async def send_to(self, send: Send) -> None:
        if self.start is None:
            return
        await send(self.start)
        await send({"type": "http.response.body", "body": b"".join(self.chunks)})


class IdempotentPosts:
    """Settles the claim of each POST that sent `Idempotency-Key` (module docstring); lets every other request by."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _sends_a_key(scope):
            await self.app(scope, receive, send)
            return
        pending = scope[SLOT] = Pending()
        answer = _HeldBack()
        try:
            await self.app(scope, receive, answer.send)
        except BaseException:
            if pending.claim is not None:
                await _settle_quietly(pending.release())
            raise
        if pending.claim is not None:
            if 200 <= answer.status < 300 and answer.complete:
                await _settle_quietly(pending.keep(answer.status, answer.kept_headers(), b"".join(answer.chunks)))
            else:
                await _settle_quietly(pending.release())
        await answer.send_to(send)


def _sends_a_key(scope: Scope) -> bool:
    return any(name == HEADER for name, _ in scope["headers"])


async def _settle_quietly(settling: Awaitable[None]) -> None:
    """Keep or release, and if the database cannot, say so in the log: the answer is sent all the same.

    A claim left unsettled frees itself when its in-flight time is over
    (app/idempotency/dependencies.py, IN_FLIGHT_SECONDS).
    """
    try:
        await settling
    except Exception as error:
        logger.warning("Could not settle an Idempotency-Key: %s: %s", type(error).__name__, one_line(error))
