"""One log line per request, and the request's id on its answer and on every log line written for it.

`RequestLog` is a pure ASGI middleware, the outermost of the app's own:

- It takes the client's `X-Request-ID` when it is a sane value (1 to 128
  characters of letters, digits and `._:@+=/-`), or makes one up, and sends
  it back on every answer, 413, 503 and 500 included.
- While the request runs, the id sits in a context variable; `RequestIdFilter`
  (on the process's log handler, see `configure_logging`) copies it onto every
  log record, so an error logged deep inside carries the id of its request.
- When the request is done it writes one line (logger `app.request`, INFO):
  method, route template and path, status, duration in ms, the signed-in user
  (whatever the authentication puts in `request.state.user_id`; nothing yet)
  and the client's address (app/http/client_address.py: an IP address or
  "unknown", never the text of X-Forwarded-For). Never a header, a cookie,
  a query string or a body: that is where passwords and tokens travel.
- An exception nothing else handled is logged here once, with its traceback
  and request id, and answered with the app's own 500 (errors.py), carrying
  the id, instead of reaching the server's anonymous "Exception in ASGI application".

`ACCESS_LOG=false` turns the line off; ids and error logs stay.

Hand-written rather than asgi-correlation-id: this one middleware already
holds the request's clock, its log line, the metrics' observer and the last
word on errors, so the id is a header read and a context variable more here,
where that library would be a second middleware on every request (each layer
a coroutine per request on the hot path) and a second place for the id's rules.
"""

import inspect
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.http.client_address import client_address
from app.http.problems import INTERNAL_ERROR, problem_response

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_HEADER = REQUEST_ID_HEADER.lower().encode("ascii")
# Long enough for a UUID, a trace id or a proxy's own scheme; nothing that
# could break a log line (spaces, quotes, newlines, control characters).
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@+=/-]{1,128}")

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

logger = logging.getLogger("app.request")

# Told of every request when it is done: method, route template (None: no route), status, seconds taken.
RequestObserver = Callable[[str, str | None, int, float], None]


def _request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == _REQUEST_ID_HEADER:
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return str(uuid.uuid4())


class RequestLog:
    """Request ids in and out, one log line per request, and the last word on unhandled errors."""

    def __init__(self, app: ASGIApp, *, log_requests: bool, observe: RequestObserver | None = None) -> None:
        self.app = app
        self.log_requests = log_requests
        # The metrics (app/ops/metrics.py), which count and time requests with this one clock.
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id_from(scope["headers"])
        token = _request_id.set(request_id)
        id_header = (_REQUEST_ID_HEADER, request_id.encode("ascii"))
        # Shared with every copy of the scope further in, so that what the
        # authentication puts in request.state (user_id) is seen here too.
        scope.setdefault("state", {})
        status = 0

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # A new list: some answers are prebuilt and sent many times.
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as error:
            if status:  # the answer had begun: all that is left is to drop the connection
                logger.exception("Unhandled error after the answer had started")
                status = 500
                raise
            logger.exception("Unhandled error")
            response = await _internal_error_response(scope, error)
            await response(scope, receive, send_with_request_id)
        finally:
            seconds = time.perf_counter() - started
            if self.log_requests and logger.isEnabledFor(logging.INFO):
                _log_request(scope, status or 500, seconds * 1000)
            if self.observe is not None:
                self.observe(scope["method"], _route_template(scope), status or 500, seconds)
            _request_id.reset(token)


async def _internal_error_response(scope: Scope, error: Exception) -> Response:
    """The app's own answer to an unforeseen error (errors.py), as Starlette's last resort would give it."""
    app = scope.get("app")
    handlers = getattr(app, "exception_handlers", {})
    handler = handlers.get(Exception) or handlers.get(500)
    if handler is None:
        return problem_response("internal_error", INTERNAL_ERROR, root=scope.get("root_path", ""))
    response = handler(Request(scope), error)
    return await response if inspect.isawaitable(response) else response


def _log_request(scope: Scope, status: int, duration_ms: float) -> None:
    method, path = scope["method"], scope["path"]
    fields = {
        "method": method,
        "route": _route_template(scope),
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 2),
        "user_id": scope["state"].get("user_id"),
        "client": client_address(scope),
    }
    # The path arrives percent-decoded: a %0A in it must not start a forged line of text.
    shown = path if path.isprintable() else path.encode("unicode_escape").decode("ascii")
    # Not logger.info(): it would first walk the stack to find the caller's
    # file and line (always this function), a third of the line's cost.
    where = _log_request.__code__
    record = logger.makeRecord(
        logger.name, logging.INFO, where.co_filename, where.co_firstlineno,
        "%s %s %d %.1f ms", (method, shown, status, duration_ms), None, extra={"request_line": fields},
    )  # fmt: skip
    logger.handle(record)


def _route_template(scope: Scope) -> str | None:
    """`/users/{user_id}` for /users/42; None when no route was reached (an unknown path, a 413).

    HEAD is served as a GET on a copy of the scope (app/http/head.py), so the route
    the router noted is on that copy and a HEAD line has none.
    """
    route = scope.get("route")
    return None if route is None else getattr(route, "path", None)


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record (`record.request_id`, None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the request's fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        request_line = getattr(record, "request_line", None)
        if request_line is not None:
            entry.update(request_line)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-11-25T23:50:01.123Z INFO app.request [id] GET /users/42 200 2.1 ms route=... client=... user=...`"""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_timestamp(record)} {record.levelname:<7} {record.name} "
            f"[{getattr(record, 'request_id', None) or '-'}] {record.getMessage()}"
        )
        request_line = getattr(record, "request_line", None)
        if request_line is not None:
            line += (
                f" route={request_line['route'] or '-'} client={request_line['client'] or '-'}"
                f" user={'-' if request_line['user_id'] is None else request_line['user_id']}"
            )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class _StandardError(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is when it writes (as logging's last resort does)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_format(settings: Settings) -> str:
    """`json` or `text`: LOG_FORMAT, or with `auto`, text on a terminal and JSON otherwise."""
    if settings.log_format != "auto":
        return settings.log_format
    return "text" if sys.stderr.isatty() else "json"


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's `log_config`: its lines (and, in each worker it spawns, everyone's) in LOG_FORMAT on stderr.

    What `configure_logging` sets up, as a `logging.config.dictConfig`, which
    uvicorn applies in its own process and in every worker before the app
    starts, so even "Started server process" reads like the app's lines.
    """
    formatter = JsonFormatter if log_format(settings) == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"app": {"()": formatter}},
        "handlers": {"stderr": {"()": _StandardError, "formatter": "app", "filters": ["request_id"]}},
        "root": {"level": settings.log_level.upper(), "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # RequestLog writes the request line (see configure_logging).
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def configure_logging(settings: Settings) -> None:
    """Every log line of this process to stderr in LOG_FORMAT with its request id; uvicorn's access log off.

    Runs in each worker (uvicorn's workers are fresh processes). It replaces a
    plain `logging.basicConfig` handler and its own from an earlier call, and
    leaves any other handler (a test runner's) alone.
    """
    handler = _StandardError()
    handler.setFormatter(JsonFormatter() if log_format(settings) == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [
        existing
        for existing in root.handlers
        if type(existing) is not logging.StreamHandler and not isinstance(existing, _StandardError)
    ] + [handler]
    root.setLevel(settings.log_level.upper())
    # uvicorn's own lines (start-up, shutdown, its errors) go the same way.
    uvicorn = logging.getLogger("uvicorn")
    uvicorn.handlers.clear()
    uvicorn.propagate = True
    # RequestLog writes the request line; uvicorn writes its access line only
    # while this logger has a handler somewhere (checked per connection).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
