"""Every failure mapped to its HTTP answer: domain errors, invalid input, an unreachable database, the unforeseen.

Every answer is RFC 9457 problem details (`application/problem+json`), with
the stable `code` of app/http/problems.py's registry. (The two answers that
are not are made elsewhere, on purpose: OAuth2's refusals at /auth/token,
app/auth/routes.py, and the health report, app/ops/health.py.) Domain errors
(app/kit/errors.py `AppError`, and the resources' own subclasses) carry their
code, status, detail and headers, and one handler answers them all; this
module knows no resource.

The rule: what a client sent is never a 500. Bad input is a 4xx naming the
field; a database that cannot be reached (down, timed out, pool exhausted) is
a 503 the client may retry; anything unforeseen is a bare 500 whose traceback
goes to the log, never to the client.
"""

import email.message
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.core.reasons import one_line
from app.http.problems import (
    CODE_OF_STATUS,
    INTERNAL_ERROR,
    PROBLEM_MEDIA_TYPE,
    PROBLEMS,
    Problem,
    ProblemResponse,
    ValidationIssue,
    ValidationProblem,
    finite,
    problem_content,
    problem_response,
)
from app.kit.errors import AppError

logger = logging.getLogger(__name__)

Failure = TypeVar("Failure", bound=Exception)

DATABASE_UNAVAILABLE = "Database unavailable, please retry shortly"
RETRY_AFTER_SECONDS = "1"


# For OpenAPI: what the routes that take a token may answer (its headers are added by `_document_errors`).
UNAUTHORIZED_RESPONSE: dict[int | str, dict[str, Any]] = {
    401: {
        "model": Problem,
        "description": "No token where one is required (AUTH=required), or a token that is invalid or expired",
    }
}
# For OpenAPI: what routes that look a row up, or that reach the database, may answer.
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No row has that id"}}
# ... and what any route may answer.
APP_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "The request body is larger than MAX_BODY_BYTES"},
    500: {"model": Problem, "description": "An error no request should cause; logged under the X-Request-ID"},
    503: {"model": Problem, "description": "The database cannot be reached; retry after `Retry-After` seconds"},
}

# An echoed `input` longer than this, as text or as JSON, is cut: a 900 KB name
# must not come back as a 900 KB error.
ECHOED_INPUT_MAX_CHARACTERS = 200


def root_of(request: Request) -> str:
    """The path the API is served under behind a proxy (`root_path`): each problem's `type` starts with it."""
    return str(request.scope.get("root_path", ""))


def database_unavailable_response(request: Request) -> Response:
    return problem_response(
        "database_unavailable",
        DATABASE_UNAVAILABLE,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
        root=root_of(request),
    )


# Fields whose values no answer may echo: a 422 about a short password must not repeat it.
SECRET_FIELDS = frozenset({"password", "current_password", "new_password", "refresh_token", "access_token"})
HIDDEN = "[hidden]"


def _without_secrets(error: dict[str, Any]) -> dict[str, Any]:
    """A validation error whose `input` shows no secret: hidden where the error is about one, redacted inside."""
    if any(part in SECRET_FIELDS for part in error.get("loc", ())):
        return {**error, "input": HIDDEN}
    if isinstance(error.get("input"), dict | list):  # a list where an object was expected holds objects too
        return {**error, "input": _redact(error["input"])}
    return error


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: HIDDEN if key in SECRET_FIELDS else _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    if _body_is_not_json(request, errors):
        sent = request.headers.get("content-type")
        return problem_response("unsupported_media_type", _send_json_instead(sent), root=root_of(request))
    return validation_problem(request, [_readable(_without_secrets(error), request) for error in errors])


def validation_problem(request: Request, issues: list[dict[str, Any]]) -> Response:
    """A `validation_failed` listing `issues` under `errors`, summarised in a `detail` of one line naming the fields."""
    return problem_response("validation_failed", _summary(issues), extra={"errors": issues}, root=root_of(request))


def _summary(issues: list[dict[str, Any]]) -> str:
    """`body.name: String should have at most 100 characters`, or `3 invalid fields: body.name, body.age, query.x`."""
    if not issues:
        return "The request is invalid"
    places = [".".join(str(part) for part in issue["location"]) or "request" for issue in issues]
    if len(issues) == 1:
        return one_line(f"{places[0]}: {issues[0]['message']}") or places[0]
    unique = list(dict.fromkeys(places))
    return f"{len(issues)} invalid fields: {', '.join(unique)}"


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


def _readable(error: Any, request: Request) -> dict[str, Any]:
    """One validation error as the client gets it (`location`, `message`, `type`, `input`): input cut, names known.

    A body's unknown field is named with the fields the body takes.
    """
    message = error["msg"]
    unknown_field = error["type"] == "extra_forbidden" and len(error["loc"]) == 2 and error["loc"][0] == "body"
    if unknown_field and (fields := _body_fields(request)):
        message = f"Unknown field; this body takes {', '.join(fields)}"
    issue: dict[str, Any] = {"location": list(error["loc"]), "message": message, "type": error["type"]}
    if "input" in error:
        issue["input"] = _cut(jsonable_encoder(error["input"]))
    return jsonable_encoder(issue)


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
        text = json.dumps(finite(value), ensure_ascii=False, separators=(",", ":"))
    else:
        return value
    if len(text) <= ECHOED_INPUT_MAX_CHARACTERS:
        return value
    return f"{text[:ECHOED_INPUT_MAX_CHARACTERS]}…[cut: {len(text)} characters in all]"


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        # Starlette's Allow names the methods of one route; a path such as
        # /users/{user_id} is served by several (GET, PUT, PATCH, DELETE).
        return problem_response(
            "method_not_allowed",
            f"{request.method} is not served at this URL; it serves {', '.join(_methods_serving(request))}",
            headers={"Allow": ", ".join(_methods_serving(request))},
            root=root_of(request),
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
    code = CODE_OF_STATUS.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
    detail = exc.detail if exc.status_code in CODE_OF_STATUS else PROBLEMS[code].title
    if exc.status_code == status.HTTP_404_NOT_FOUND and exc.detail == "Not Found":
        detail = f"Nothing is served at {request.url.path}; /openapi.json lists what is"
    response = ProblemResponse(
        problem_content(code, detail, status=exc.status_code, root=root_of(request)), status_code=exc.status_code
    )
    response.headers.update(exc.headers or {})
    return response


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


async def _app_error(request: Request, exc: AppError) -> Response:
    if exc.location is not None:
        # About one field of the request: answered as invalid input is, a 422 naming it, its code the entry's type.
        return await _validation_error(
            request,
            RequestValidationError(
                [{"type": exc.problem_code, "loc": exc.location, "msg": exc.detail, "input": exc.rejected}]
            ),
        )
    code = exc.problem_code
    if code not in PROBLEMS:  # a subclass whose code the registry lacks (tests/http/test_problems.py fails on it)
        logger.error("Error code %r is not in app/http/problems.py", code)
        content = {"type": "about:blank", "title": exc.title, "status": exc.status_code, "detail": exc.detail,
                   "code": code}  # fmt: skip
    else:
        content = problem_content(code, exc.detail, status=exc.status_code, root=root_of(request))
    return ProblemResponse(content, status_code=exc.status_code, headers=exc.headers)


async def _pool_timeout(request: Request, exc: sa_exc.TimeoutError) -> Response:
    logger.warning("No database connection free within the pool timeout")
    return database_unavailable_response(request)


async def _database_error(
    request: Request, exc: sa_exc.DBAPIError, statement_timed_out: Callable[[], None] | None = None
) -> Response:
    if isinstance(exc.orig, psycopg.OperationalError) or exc.connection_invalidated:
        # Refused, dropped, shutting down, or a statement timeout (QueryCanceled).
        if isinstance(exc.orig, psycopg.errors.QueryCanceled) and statement_timed_out is not None:
            statement_timed_out()
        logger.warning("Database unavailable: %s: %s", type(exc.orig).__name__, one_line(exc.orig) or "no reason given")
        return database_unavailable_response(request)
    if isinstance(exc, sa_exc.DataError):
        # Validation should have caught this; still, the client sent it.
        # Which field is not known here: the entry names the request as a whole.
        return validation_problem(
            request,
            [{"location": [], "message": "A value is out of range or malformed for the database",
              "type": "value_out_of_range"}]
        )  # fmt: skip
    if isinstance(exc, sa_exc.IntegrityError):
        return problem_response("conflict", "The request conflicts with existing data", root=root_of(request))
    # Nothing a client sent: a bug or a schema out of step. Logged here, with
    # the request's id, because a handled exception reaches no other log.
    logger.error("Unexpected database error", exc_info=exc)
    return await _unexpected_error(request, exc)


async def _connection_error(request: Request, exc: psycopg.OperationalError) -> Response:
    # Raised by psycopg directly, outside SQLAlchemy (e.g. while the pool connects).
    logger.warning("Database unavailable: %s: %s", type(exc).__name__, one_line(exc) or "no reason given")
    return database_unavailable_response(request)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # No logging here: for an exception no other handler took, Starlette
    # re-raises after this answer, and RequestLog logs it once with its id.
    # The 500: nothing of the failure, which only the log holds (under the request's id).
    return problem_response("internal_error", INTERNAL_ERROR, root=root_of(request))


def _handle(app: FastAPI, error: type[Failure], handler: Callable[[Request, Failure], Awaitable[Response]]) -> None:
    # Starlette types every handler as taking any Exception; it calls each only with the type registered.
    app.add_exception_handler(error, cast(Callable[[Request, Exception], Awaitable[Response]], handler))


_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_VALIDATION_PROBLEM = {"$ref": "#/components/schemas/ValidationProblem"}
_FASTAPI_422 = {"$ref": "#/components/schemas/HTTPValidationError"}
RETRY_AFTER_HEADER = {
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}
}
# The IETF draft's separate fields (draft-ietf-httpapi-ratelimit-headers), on every answer of a throttled operation.
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"description": "Tries allowed in the window (the limit closest to running out)",
                        "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Tries left before a 429", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until a try is given back", "schema": {"type": "integer"}},
}  # fmt: skip
# The headers each error status carries, wherever it is answered.
HEADERS_OF_STATUS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": '`Bearer`, or `Bearer error="invalid_token"` when the token sent was refused',
            "schema": {"type": "string"},
        }
    },
    "403": {
        "WWW-Authenticate": {
            "description": '`Bearer error="insufficient_scope"` when a personal access token may not do this',
            "schema": {"type": "string"},
        }
    },
    "412": {
        "ETag": {"description": "The row's current version: re-read, or retry with it", "schema": {"type": "string"}}
    },
    "429": {**RETRY_AFTER_HEADER, **RATE_LIMIT_HEADERS},
    "503": RETRY_AFTER_HEADER,
}
UNSUPPORTED_MEDIA_TYPE_RESPONSE = {
    "description": "The body was not sent as JSON: `Content-Type: application/json` is missing or other",
}


def _document_errors(app: FastAPI) -> None:
    """Make every error response of the OpenAPI say what is sent: problem+json, its schema, its headers.

    A route declares the statuses it can answer (`responses=`); this puts the
    one `Problem` schema (`ValidationProblem` for 422) under
    `application/problem+json` on each, lists the 415 of each operation whose
    body is JSON (a form body is never refused so), and adds the headers each
    status carries (`HEADERS_OF_STATUS`). A response declared with another
    schema (OAuth2's errors at /auth/token, the health report) keeps it.
    """
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        document = build_openapi()  # built once, then FastAPI's cached copy, which this completes in place
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "ValidationProblem" in schemas:
            return document
        for model in (Problem, ValidationProblem, ValidationIssue):
            schemas.update(model_json_schema_of(model))
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                responses = operation["responses"]
                if "application/json" in operation.get("requestBody", {}).get("content", {}):
                    responses.setdefault("415", dict(UNSUPPORTED_MEDIA_TYPE_RESPONSE))
                for status_code, response in responses.items():
                    if status_code.isdigit() and int(status_code) >= 400:
                        _as_problem(status_code, response)
        return document

    # FastAPI's documented way to extend its OpenAPI ("Extending OpenAPI"): replace the method.
    app.openapi = openapi  # type: ignore[method-assign]


def _as_problem(status_code: str, response: dict[str, Any]) -> None:
    content = response.get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema in (None, _PROBLEM, _FASTAPI_422):
        problem = _VALIDATION_PROBLEM if status_code == "422" else _PROBLEM
        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": problem}}
        if status_code == "422" and response.get("description") == "Validation Error":
            response["description"] = "A parameter or body field is missing or invalid: `errors` names each"
    if headers := HEADERS_OF_STATUS.get(status_code):
        response["headers"] = {**headers, **response.get("headers", {})}


def problem_declaration(status_code: str, description: str) -> dict[str, Any]:
    """For a pass over the OpenAPI that runs after `_document_errors`: an error response as that pass declares one."""
    response: dict[str, Any] = {"description": description}
    _as_problem(status_code, response)
    return response


def model_json_schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s schema and those it refers to, as OpenAPI components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    definitions = schema.pop("$defs", {})
    return {**definitions, model.__name__: schema}


def register_error_handlers(app: FastAPI, *, statement_timed_out: Callable[[], None] | None = None) -> None:
    """Answer every failure as the module docstring says; `statement_timed_out` is told of each statement timeout.

    (The metrics count them, app/ops/metrics.py; told through a callback, so
    this HTTP plumbing does not depend on the operations above it.)
    """

    async def database_error(request: Request, exc: sa_exc.DBAPIError) -> Response:
        return await _database_error(request, exc, statement_timed_out)

    _document_errors(app)
    _handle(app, AppError, _app_error)
    _handle(app, RequestValidationError, _validation_error)
    _handle(app, StarletteHTTPException, _http_error)
    _handle(app, sa_exc.TimeoutError, _pool_timeout)
    _handle(app, sa_exc.DBAPIError, database_error)
    _handle(app, psycopg.OperationalError, _connection_error)
    _handle(app, Exception, _unexpected_error)
