"""Every error code the API answers, and the RFC 9457 problem details that carry it.

`PROBLEMS` is the one list: each code's status, title, what it means and what
the client should do. It is the single source of what an error answer says
(`code`, `title`, `type`), of what the OpenAPI says of errors, of what
`GET /problems/{code}` serves, and of docs/reference/errors.md, which a test
holds to it (tests/http/test_problems.py): a code missing from the page, or a
page naming a code that does not exist, fails.

An error answer is `application/problem+json`, whatever the request's
`Accept`: `{"type": "/problems/user_not_found", "title": "User not found",
"status": 404, "detail": "User with ID 42 not found", "code": "user_not_found"}`.
`type` is a relative reference the API itself serves (`/problems/<code>`),
so it resolves against whatever origin the client called and never points at
a site that may move; `code` is the same name, for a client to branch on.

A validation error (`validation_failed`, 422) adds `errors`: one entry per
field at fault, each with its `location`, `message`, `type` and the (cut)
`input`. Some codes are only ever such a `type` inside `errors` (an invalid
cursor, a sell the ledger refuses): `field_error=True` below.
"""

import json
import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "/problems/"
INTERNAL_ERROR = "Internal server error"  # all a 500 says: the failure is in the log, under the request id


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """One error code: its status, its title, what it means and what a client should do about it."""

    code: str
    status: int
    title: str
    meaning: str
    what_to_do: str
    # Only ever the `type` of an entry in a `validation_failed`'s `errors`, never an answer's `code`.
    field_error: bool = False

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.code


_KINDS = (
    ProblemKind("bad_request", 400, "Bad request",
                "The request could not be read at all (a form body that does not parse, for one).",
                "Fix the request as `detail` says; retrying it unchanged fails again."),
    ProblemKind("not_authenticated", 401, "Not authenticated",
                "This operation needs a signed-in caller and the request carried no access token.",
                "Sign in at POST /auth/token and send `Authorization: Bearer <access_token>`."),
    ProblemKind("invalid_token", 401, "Invalid token",
                "The access token sent is malformed, expired, or names a user who no longer exists.",
                "Get a new access token (POST /auth/token with `grant_type=refresh_token`, or sign in again)."),
    ProblemKind("invalid_refresh_token", 401, "Invalid refresh token",
                "The refresh token sent to /auth/refresh or /auth/logout is unknown, expired, revoked or was "
                "already used (a used one presented again after the grace window ends its whole login).",
                "Sign in again with the email and password."),
    ProblemKind("forbidden", 403, "Forbidden",
                "The caller is known, and this is not theirs to do.",
                "Do not retry; `detail` says what is refused."),
    ProblemKind("admin_only", 403, "Only an admin may do this",
                "Setting `is_admin`, or changing data every user shares (market prices), is an admin's.",
                "Ask an admin, or sign in as one."),
    ProblemKind("insufficient_scope", 403, "Insufficient scope",
                "A personal access token may not do this: a `read` token writes nothing, and no token creates, "
                "lists or revokes tokens, sets a password or deletes its own account.",
                "Use a token with the `write` scope, or sign in with your password for what only a sign-in may do."),
    ProblemKind("admin_scope_refused", 403, "Admin scope refused",
                "Only an admin may create a personal access token with the `admin` scope.",
                "Leave `admin` out of `scopes`."),
    ProblemKind("current_password_required", 403, "Current password required",
                "This user has a password; a new one is set through PUT /users/me/password, which asks for the "
                "current one.", "Use PUT /users/me/password with `current_password` and `new_password`."),
    ProblemKind("wrong_current_password", 403, "Wrong current password",
                "`current_password` is not this user's password. It counts as a failed sign-in of the account.",
                "Send the right password; after 5 wrong ones in 15 minutes the account is `rate_limited`."),
    ProblemKind("not_found", 404, "Not found",
                "No operation is served at this URL.",
                "Check the path against the OpenAPI (`/openapi.json`)."),
    ProblemKind("user_not_found", 404, "User not found",
                "No user has this id, or none the caller may see (another's user is answered so, as if it did "
                "not exist).", "Check the id; list the users you may see with GET /users/."),
    ProblemKind("stock_not_found", 404, "Stock not found",
                "No stock has this id, or none the caller may see.",
                "Check the id; list your stocks with GET /stocks/."),
    ProblemKind("transaction_not_found", 404, "Transaction not found",
                "No transaction has this id, or none the caller may see.",
                "Check the id; list a holding's transactions with GET /stocks/{stock_id}/transactions."),
    ProblemKind("personal_access_token_not_found", 404, "Personal access token not found",
                "None of your personal access tokens has this id: a revoked one is gone, and another user's is "
                "answered so.", "List your tokens with GET /users/me/tokens."),
    ProblemKind("method_not_allowed", 405, "Method not allowed",
                "The URL exists, but not with this method.",
                "Use one of the methods the `Allow` header lists."),
    ProblemKind("email_taken", 409, "Email taken",
                "Another user already has this email.", "Choose another email, or sign in with this one."),
    ProblemKind("idempotency_key_in_use", 409, "Idempotency key in use",
                "The first request sent with this `Idempotency-Key` has not finished yet.",
                "Retry after `Retry-After` seconds: then you get its answer, replayed."),
    ProblemKind("too_many_tokens", 409, "Too many tokens",
                "You already hold the most live personal access tokens a user may (50).",
                "Revoke one you no longer use (DELETE /users/me/tokens/{id}), then create the new one."),
    ProblemKind("ledger_does_not_add_up", 409, "Ledger does not add up",
                "A holding's ledger breaks its own rules on replay (rows written past the API, by hand); "
                "`detail` names the holding and the transaction.",
                "Correct or delete the transaction `detail` names, then retry."),
    ProblemKind("conflict", 409, "Conflict",
                "The write conflicts with existing data (a row it refers to was deleted meanwhile, say).",
                "Re-read what you are changing, then retry."),
    ProblemKind("version_mismatch", 412, "Version mismatch",
                "`If-Match` named a version the row no longer has: someone changed it since you read it. "
                "The answer's `ETag` header is its current version.",
                "Re-read the row (or take the `ETag` given), reapply your change, and send it with the new "
                "`If-Match`."),
    ProblemKind("body_too_large", 413, "Body too large",
                "The request body is larger than the server's MAX_BODY_BYTES.",
                "Send a smaller body (import a long price history in several files)."),
    ProblemKind("unsupported_media_type", 415, "Unsupported media type",
                "The body was sent with a `Content-Type` this operation does not read.",
                "Send JSON with `Content-Type: application/json` (a price import: `text/csv`)."),
    ProblemKind("validation_failed", 422, "Validation failed",
                "A parameter or a body field is missing or invalid. `errors` lists each, with its `location`, "
                "`message`, `type` and the input (cut past 200 characters; secrets hidden).",
                "Fix the fields `errors` names; retrying unchanged fails again."),
    ProblemKind("rate_limited", 429, "Too many requests",
                "Too many of these lately: failed sign-ins for this email or from this address, wrong current "
                "passwords, or sign-ups from this address.",
                "Wait the `Retry-After` seconds before trying again; `RateLimit-Remaining` says how many tries "
                "are left before this happens."),
    ProblemKind("headers_too_large", 431, "Request headers too large",
                "The request's headers are larger than 64 KiB in all; the connection is closed.",
                "Send fewer or smaller headers (cookies, usually)."),
    ProblemKind("internal_error", 500, "Internal server error",
                "Something failed on the server that no request should cause; it is logged under the answer's "
                "`X-Request-ID`.",
                "Retry later; if it persists, report the `X-Request-ID` to the operator."),
    ProblemKind("database_unavailable", 503, "Database unavailable",
                "The database cannot be reached for the moment (down, restarting, overloaded or too slow).",
                "Retry after `Retry-After` seconds; the request changed nothing."),
    # The `type` of an entry in a validation_failed's `errors`, besides pydantic's own (`missing`, ...).
    ProblemKind("invalid_cursor", 422, "Invalid cursor",
                "The `cursor` was not made by this API, or was made for another sort.",
                "Follow the `Link: rel=next` URL the previous page gave, unchanged.", field_error=True),
    ProblemKind("ledger_refused", 422, "Ledger refused",
                "The transaction would break the ledger's rules (selling more than is held, a split into "
                "fractions, deleting the only buy).",
                "Change the field the entry names; docs/reference/ledger.md has the rules.", field_error=True),
    ProblemKind("period_refused", 422, "Period refused",
                "The period asked for cannot be computed (`from` after `to`, or too long).",
                "Change the `from` or `to` parameter the entry names.", field_error=True),
    ProblemKind("broken_csv", 422, "Broken CSV",
                "A line of the imported CSV cannot be read; `message` says which line and why.",
                "Fix that line; nothing of the file was imported.", field_error=True),
    ProblemKind("idempotency_key_reused", 422, "Idempotency key reused",
                "This `Idempotency-Key` was first sent, in the last 24 hours, with a different request (method, "
                "path or body).", "Send a new key for a new request; reuse a key only to retry the same request.",
                field_error=True),
    ProblemKind("value_out_of_range", 422, "Value out of range",
                "A value passed validation but the database refuses it as out of range or malformed.",
                "Send a smaller or plainer value.", field_error=True),
)  # fmt: skip

PROBLEMS: dict[str, ProblemKind] = {kind.code: kind for kind in _KINDS}
# What an HTTP error from Starlette or FastAPI (no route, wrong method, a form that does not parse) answers.
CODE_OF_STATUS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


class Problem(BaseModel):
    """An error, as RFC 9457 problem details: `code` is what a client branches on; `detail` is for people."""

    type: str = Field(description="`/problems/<code>`, a page describing the code (relative to the API's URL)")
    title: str = Field(description="The code's short title, the same for every answer of that code")
    status: int = Field(description="The HTTP status, repeated")
    detail: str = Field(description="What went wrong this time, in a sentence (e.g. `User with ID 42 not found`)")
    code: str = Field(description="The stable error code: docs/reference/errors.md lists them all")


class ValidationIssue(BaseModel):
    """One field at fault."""

    location: list[str | int] = Field(description='Where: `["body", "name"]`, `["query", "limit"]`, ...')
    message: str = Field(description="What is wrong with it")
    type: str = Field(description="The kind of fault: pydantic's (`missing`, `string_too_long`, ...) or this API's")
    input: Any = Field(None, description="What was sent, cut past 200 characters; `[hidden]` for a secret")


class ValidationProblem(Problem):
    """A `validation_failed`: the fields at fault under `errors`, summarised in `detail`."""

    errors: list[ValidationIssue]


class ProblemKindPublic(BaseModel):
    """What `GET /problems/{code}` says of a code."""

    code: str
    status: int
    title: str
    meaning: str
    what_to_do: str
    field_error: bool = Field(description="Only ever the `type` of an entry in a `validation_failed`'s `errors`")


def problem_content(
    code: str, detail: str, *, status: int | None = None, extra: dict[str, Any] | None = None, root: str = ""
) -> dict[str, Any]:
    """The body of an answer of `code`: its type, title and status from the registry, and this `detail`.

    `root`: the path the API is served under behind a proxy (ASGI's `root_path`), which `type` starts with.
    """
    kind = PROBLEMS[code]
    return {
        "type": root.rstrip("/") + kind.type,
        "title": kind.title,
        "status": status or kind.status,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }


def problem_bytes(code: str, detail: str) -> bytes:
    """The same body as bytes, for the answers written below the app (app/http/header_limit.py)."""
    return json.dumps(problem_content(code, detail), separators=(",", ":")).encode()


class ProblemResponse(JSONResponse):
    """`application/problem+json` that survives any echoed input: non-finite floats and unpaired surrogates included.

    Starlette's JSONResponse refuses both (`allow_nan=False`, UTF-8 encoding),
    which would turn a 422 about `1e400` or `"\\ud800"` into a 500.
    """

    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(finite(content), ensure_ascii=True, separators=(",", ":")).encode("ascii")


def finite(value: Any) -> Any:
    """`value` with every non-finite float as its text (JSON has no `inf`)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def problem_response(
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    root: str = "",
) -> ProblemResponse:
    """The answer of `code`, with its status from the registry."""
    return ProblemResponse(
        problem_content(code, detail, extra=extra, root=root), status_code=PROBLEMS[code].status, headers=headers
    )


router = APIRouter(prefix="/problems", tags=["errors"])


@router.get(
    "/{code}",
    responses={404: {"model": Problem, "description": "No such code"}},
    # Public: the page an error's `type` names must be readable by whoever got the error.
    openapi_extra={"security": []},
)
async def read_problem(code: str) -> ProblemKindPublic:
    """What an error code means and what to do about it: the page each error's `type` names."""
    kind = PROBLEMS.get(code)
    if kind is None:
        raise HTTPException(404, f"No error code {code[:100]!r}; docs/reference/errors.md lists them all")
    return ProblemKindPublic(
        code=kind.code,
        status=kind.status,
        title=kind.title,
        meaning=kind.meaning,
        what_to_do=kind.what_to_do,
        field_error=kind.field_error,
    )
