"""Every failure mapped to its HTTP answer: domain errors, invalid input, an unreachable database, the unforeseen.

Domain errors (app/kit/errors.py `AppError`, and the resources' own
subclasses) carry their status, detail and headers, and one handler answers
them all; this module knows no resource.

The rule: what a client sent is never a 500. Bad input is a 4xx naming the
field; a database that cannot be reached (down, timed out, pool exhausted) is
a 503 the client may retry; anything unforeseen is a bare 500 whose traceback
goes to the log, never to the client.
"""

import email.message
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.core.reasons import one_line
from app.kit.errors import AppError

logger = logging.getLogger(__name__)

Failure = TypeVar("Failure", bound=Exception)

DATABASE_UNAVAILABLE = "Database unavailable, please retry shortly"
RETRY_AFTER_SECONDS = "1"


class ErrorDetail(BaseModel):
    """The body of every error answer except 422: `{"detail": "User with ID 7 not found"}`."""

    detail: str


# For OpenAPI: what the routes that take a token may answer.
UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorDetail,
        "description": "No token where one is required (AUTH=required), or a token that is invalid or expired",
        "headers": {
            "WWW-Authenticate": {
                "description": '`Bearer`, or `Bearer error="invalid_token"`',
                "schema": {"type": "string"},
            }
        },
    }
}
# For OpenAPI: what routes that look a row up, or that reach the database, may answer.
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {404: {"model": ErrorDetail, "description": "No row has that id"}}
# ... and what any route may answer.
APP_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorDetail, "description": "The request body is larger than MAX_BODY_BYTES"},
    503: {"model": ErrorDetail, "description": "The database cannot be reached; retry after `Retry-After` seconds"},
}
# ... and what a route taking a JSON body may answer (added to each such operation by `_document_json_bodies`).
UNSUPPORTED_MEDIA_TYPE_RESPONSE = {
    "description": "The body was not sent as JSON: `Content-Type: application/json` is missing or other",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
}

# An echoed `input` longer than this, as text or as JSON, is cut: a 900 KB name
# must not come back as a 900 KB error.
ECHOED_INPUT_MAX_CHARACTERS = 200


class SafeJSONResponse(JSONResponse):
    """JSON that survives any echoed input: non-finite floats and unpaired surrogates included.

    Starlette's JSONResponse refuses both (`allow_nan=False`, UTF-8 encoding),
    which would turn a 422 about `1e400` or `"\\ud800"` into a 500.
    """

    def render(self, content: Any) -> bytes:
        return json.dumps(_finite(content), ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def database_unavailable_response() -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": DATABASE_UNAVAILABLE},
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


# Fields whose values no answer may echo: a 422 about a short password must not repeat it.
SECRET_FIELDS = frozenset({"password", "current_password", "new_password", "refresh_token", "access_token"})
HIDDEN = "[hidden]"


def _without_secrets(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error whose `input` shows no secret: hidden where the error is about one, redacted inside."""
    if any(part in SECRET_FIELDS for part in error.get("loc", ())):
        return {**error, "input": HIDDEN}
    if isinstance(error.get("input"), dict):
        return {**error, "input": _redact(error["input"])}
    return error


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: HIDDEN if key in SECRET_FIELDS else _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if _body_is_not_json(request, errors):
        return JSONResponse(
            status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            content={"detail": _send_json_instead(request.headers.get("content-type"))},
        )
    return SafeJSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": [_readable(_without_secrets(error), request) for error in errors]},
    )


def _body_is_not_json(request: Request, errors: Sequence[Any]) -> bool:
    """Whether a route that reads a JSON body got a body of another media type (or none stated).

    FastAPI parses a body as JSON only under `application/json` or
    `application/*+json`; any other body reaches validation as raw bytes and
    fails as "Input should be a valid dictionary", which hides the real
    mistake (curl's `-d` without `-H 'Content-Type: application/json'` sends a
    form). A route whose body is a form (`Form(...)`) is not concerned.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None or isinstance(route.body_field.field_info, Form):
        return False
    if _is_json(request.headers.get("content-type")):
        return False
    return any(error["loc"][:1] == ("body",) and isinstance(error.get("input"), bytes) for error in errors)


def _is_json(content_type: str | None) -> bool:
    """`application/json` or `application/*+json`, parameters (`; charset=utf-8`) aside: what FastAPI parses."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _send_json_instead(content_type: str | None) -> str:
    sent = f"it was sent as {content_type}" if content_type else "it was sent without a Content-Type"
    return f"The body must be JSON, sent with `Content-Type: application/json`; {sent}"


def _readable(error: Any, request: Request) -> Any:
    """One validation error as the client gets it: a body's unknown field named with the known ones, input cut."""
    error = dict(error)
    unknown_field = error["type"] == "extra_forbidden" and len(error["loc"]) == 2 and error["loc"][0] == "body"
    if unknown_field and (fields := _body_fields(request)):
        error["msg"] = f"Unknown field; this body takes {', '.join(fields)}"
    if "input" in error:
        error["input"] = _cut(jsonable_encoder(error["input"]))
    return jsonable_encoder(error)


def _body_fields(request: Request) -> list[str]:
    route = request.scope.get("route")
    body = route.body_field.field_info.annotation if isinstance(route, APIRoute) and route.body_field else None
    fields = getattr(body, "model_fields", {})
    return [field.alias or name for name, field in fields.items()]


def _cut(value: Any) -> Any:
    """`value`, or when its text (a string's own, anything else's JSON) is over the limit, that text cut and marked.

    `"JJJ...J…[cut: 900000 characters in all]"`: the first 200 characters, then
    how long the whole was. A cut list or object becomes such a string too.
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict | list):
        text = json.dumps(_finite(value), ensure_ascii=False, separators=(",", ":"))
    else:
        return value
    if len(text) <= ECHOED_INPUT_MAX_CHARACTERS:
        return value
    return f"{text[:ECHOED_INPUT_MAX_CHARACTERS]}…[cut: {len(text)} characters in all]"


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        # Starlette's Allow names the methods of one route; a path such as
        # /users/{user_id} is served by several (GET, PUT, PATCH, DELETE).
        return JSONResponse(
            status_code=exc.status_code,
            content={"detail": exc.detail},
            headers={"Allow": ", ".join(_methods_serving(request))},
        )
    if exc.status_code == status.HTTP_400_BAD_REQUEST and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI's answer to a body that is not UTF-8; to a client it is
        # malformed JSON like any other, so it gets the same 422.
        return await _validation_error(
            request,
            RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {},
                  "ctx": {"error": "the body is not valid UTF-8"}}]
            ),
        )  # fmt: skip
    return await http_exception_handler(request, exc)


def _methods_serving(request: Request) -> list[str]:
    """The methods the OpenAPI lists for the requested path, e.g. DELETE, GET, PATCH, PUT."""
    path = request.url.path
    return next((methods for pattern, methods in _paths(request.app) if pattern.fullmatch(path)), [])


def _paths(app: FastAPI) -> list[tuple[re.Pattern[str], list[str]]]:
    # From the OpenAPI document, because routers included into the app are not
    # plain routes one can list; its path templates compile as Starlette's do.
    paths = app.openapi()["paths"]
    served = []
    for template, operations in paths.items():
        methods = {method.upper() for method in operations}
        if "GET" in methods:
            methods.add("HEAD")  # app/http/head.py answers HEAD wherever GET is served
        served.append((compile_path(template)[0], sorted(methods)))
    return served


async def _app_error(request: Request, exc: AppError) -> JSONResponse:
    if exc.location is not None:
        # About one field of the request: answered as FastAPI answers invalid input, a 422 naming it.
        return await _validation_error(
            request,
            RequestValidationError(
                [{"type": "value_error", "loc": exc.location, "msg": exc.detail, "input": exc.rejected}]
            ),
        )
    return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=exc.headers)


async def _pool_timeout(request: Request, exc: sa_exc.TimeoutError) -> JSONResponse:
    logger.warning("No database connection free within the pool timeout")
    return database_unavailable_response()


async def _database_error(
    request: Request, exc: sa_exc.DBAPIError, statement_timed_out: Callable[[], None] | None = None
) -> JSONResponse:
    if isinstance(exc.orig, psycopg.OperationalError) or exc.connection_invalidated:
        # Refused, dropped, shutting down, or a statement timeout (QueryCanceled).
        if isinstance(exc.orig, psycopg.errors.QueryCanceled) and statement_timed_out is not None:
            statement_timed_out()
        logger.warning("Database unavailable: %s: %s", type(exc.orig).__name__, one_line(exc.orig) or "no reason given")
        return database_unavailable_response()
    if isinstance(exc, sa_exc.DataError):
        # Validation should have caught this; still, the client sent it.
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": "A value is out of range or malformed for the database"},
        )
    if isinstance(exc, sa_exc.IntegrityError):
        return JSONResponse(
            status_code=status.HTTP_409_CONFLICT,
            content={"detail": "The request conflicts with existing data"},
        )
    # Nothing a client sent: a bug or a schema out of step. Logged here, with
    # the request's id, because a handled exception reaches no other log.
    logger.error("Unexpected database error", exc_info=exc)
    return await _unexpected_error(request, exc)


async def _connection_error(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
    # Raised by psycopg directly, outside SQLAlchemy (e.g. while the pool connects).
    logger.warning("Database unavailable: %s: %s", type(exc).__name__, one_line(exc) or "no reason given")
    return database_unavailable_response()


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # No logging here: for an exception no other handler took, Starlette
    # re-raises after this answer, and RequestLog logs it once with its id.
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "Internal server error"},
    )


def _handle(app: FastAPI, error: type[Failure], handler: Callable[[Request, Failure], Awaitable[Response]]) -> None:
    # Starlette types every handler as taking any Exception; it calls each only with the type registered.
    app.add_exception_handler(error, cast(Callable[[Request, Exception], Awaitable[Response]], handler))


def _document_json_bodies(app: FastAPI) -> None:
    """List the 415 in the OpenAPI of each operation whose body is JSON (a form body is never refused so)."""
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        document = build_openapi()  # built once, then FastAPI's cached copy, which this completes in place
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                if "application/json" in operation.get("requestBody", {}).get("content", {}):
                    operation["responses"].setdefault("415", UNSUPPORTED_MEDIA_TYPE_RESPONSE)
        return document

    # FastAPI's documented way to extend its OpenAPI ("Extending OpenAPI"): replace the method.
    app.openapi = openapi  # type: ignore[method-assign]


def register_error_handlers(app: FastAPI, *, statement_timed_out: Callable[[], None] | None = None) -> None:
    """Answer every failure as the module docstring says; `statement_timed_out` is told of each statement timeout.

    (The metrics count them, app/ops/metrics.py; told through a callback, so
    this HTTP plumbing does not depend on the operations above it.)
    """

    async def database_error(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        return await _database_error(request, exc, statement_timed_out)

    _document_json_bodies(app)
    _handle(app, AppError, _app_error)
    _handle(app, RequestValidationError, _validation_error)
    _handle(app, StarletteHTTPException, _http_error)
    _handle(app, sa_exc.TimeoutError, _pool_timeout)
    _handle(app, sa_exc.DBAPIError, database_error)
    _handle(app, psycopg.OperationalError, _connection_error)
    _handle(app, Exception, _unexpected_error)
