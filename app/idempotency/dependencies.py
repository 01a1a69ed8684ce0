"""The opt-in a creating POST declares, `dependencies=[IDEMPOTENT]`, and `install_idempotency`, for main.py.

The dependency reads the optional `Idempotency-Key` header and, when one is sent, claims it for this caller
before the handler runs: the first time, the request goes on; the same
request again gets the kept answer; another request under the same key is a
422; while the first one is still running, a 409. With no header it costs
nothing: no statement, no lock, and almost no work. That is why the header is
read from the request here rather than declared as a FastAPI `Header`
parameter: FastAPI validates every declared parameter of every request, which
made each create several percent dearer in instructions even without a key. The OpenAPI still lists
the header on each operation that opts in (`install_idempotency`).

Per caller: a signed-in user is their user id (a refreshed token names the
same user); anyone else is their client address (app/http/client_address.py).
A kept answer is replayed only to a request with the same method, path and
body bytes as the first, from the same caller: to be handed someone's answer
one must send the very request they sent, from where they sent it.

What is kept of the request is its fingerprint, an HMAC under a key derived
from SECRET_KEY: a sign-up's body holds a password, and a plain SHA-256 of
it in the table would let whoever copies the table guess passwords at
SHA-256's speed instead of argon2id's (app/auth/passwords.py).
"""

import hashlib
import hmac
import re
import uuid
from typing import Any, ClassVar

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.access import Caller, CallerDep
from app.core.database import SessionOpenerDep
from app.http.client_address import client_address
from app.http.problems import PROBLEM_MEDIA_TYPE
from app.idempotency.middleware import REPLAYED_HEADER, SLOT, IdempotentPosts, Pending, Replay, replay
from app.idempotency.models import KEY_MAX_LENGTH
from app.idempotency.repository import Claim, IdempotencyRepository
from app.kit.errors import AppError

# How long a key and its answer are kept, as Stripe keeps them.
KEEP_SECONDS = 24 * 60 * 60
# How long a claim holds while its request runs. Far longer than any request
# (each statement stops at DB_STATEMENT_TIMEOUT_MS, 5 s by default): a claim
# left by a request that died (a worker killed, the database gone between
# the claim and the answer) frees itself then, and the key can be used again.
IN_FLIGHT_SECONDS = 60
RETRY_IN_USE_AFTER_SECONDS = "1"
# Printable ASCII, as Stripe's keys (a UUID is the usual choice); no space at either end, which HTTP strips.
KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"


class IdempotencyKeyInUse(AppError):
    """The first request with this key has not finished: 409, try again shortly."""

    status_code = 409
    code: ClassVar[str] = "idempotency_key_in_use"
    title: ClassVar[str] = "Idempotency key in use"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry after Retry-After seconds",
            headers={"Retry-After": RETRY_IN_USE_AFTER_SECONDS},
        )


class IdempotencyKeyReused(AppError):
    """The key was first sent with another request (method, path or body): a 422 naming the header."""

    status_code = 422
    code: ClassVar[str] = "idempotency_key_reused"
    title: ClassVar[str] = "Idempotency key reused"
    location = ("header", "Idempotency-Key")

    def __init__(self, key: str) -> None:
        super().__init__(
            "This Idempotency-Key was used with a different request (method, path or body) in the last 24 hours; "
            "send a new key for a new request",
            rejected=key,
        )


def caller_of(request: Request, caller: Caller) -> str:
    """Whose keys these are: `user:<id>` for a signed-in user, `address:<client address>` for anyone else."""
    if caller.user_id is not None:
        return f"user:{caller.user_id}"
    return f"address:{client_address(request.scope)}"


def fingerprint(request: Request, body: bytes) -> str:
    """HMAC-SHA-256 of what makes two requests the same: the method, the path with its query, and the body's bytes."""
    digest = hmac.new(_fingerprint_key_of(request), digestmod=hashlib.sha256)
    for part in (request.method.encode(), request.scope["raw_path"], request.scope["query_string"]):
        digest.update(len(part).to_bytes(8, "big") + part)
    digest.update(body)
    return digest.hexdigest()


HEADER_NAME = "Idempotency-Key"
_HEADER = HEADER_NAME.lower().encode("latin-1")
_VALID_KEY = re.compile(KEY_PATTERN)
# The header as the OpenAPI declares it on each operation that opts in.
HEADER_PARAMETER = {
    "name": HEADER_NAME,
    "in": "header",
    "required": False,
    "description": (
        "Optional. A key of your choosing (1 to 255 printable ASCII characters, no space at either end; "
        "a UUID is best) that makes a retry safe: the same request sent again with the same key within "
        "24 hours is answered with the first answer (marked `Idempotent-Replayed: true`) instead of being "
        "done twice. See docs/reference/idempotency.md."
    ),
    # A header is absent or a string, never JSON null: a generated client would send `None` as a value.
    "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH, "pattern": KEY_PATTERN},
}


def idempotency_key_of(request: Request) -> str | None:
    """The request's `Idempotency-Key`, None without one; a 422 naming the header for one that is not a key."""
    sent = next((value for name, value in request.scope["headers"] if name == _HEADER), None)
    if sent is None:
        return None
    key = sent.decode("latin-1")
    if not 1 <= len(key) <= KEY_MAX_LENGTH or not _VALID_KEY.fullmatch(key):
        raise RequestValidationError(
            [{"type": "string_pattern_mismatch", "loc": ("header", HEADER_NAME), "input": key,
              "msg": f"An {HEADER_NAME} is 1 to {KEY_MAX_LENGTH} printable ASCII characters, no space at either end"}]
        )  # fmt: skip
    return key


async def claim_idempotency_key(request: Request, caller: CallerDep, open_session: SessionOpenerDep) -> None:
    """Claim the key for this request, or answer as the key says (replay, 409 or 422)."""
    idempotency_key = idempotency_key_of(request)
    if idempotency_key is None:
        return
    pending = request.scope.get(SLOT)
    if not isinstance(pending, Pending):
        raise RuntimeError("IdempotentPosts is not installed: call install_idempotency(app, key) (app/main.py)")
    claim = Claim(caller_of(request, caller), idempotency_key, uuid.uuid4().hex)
    request_hash = fingerprint(request, await request.body())
    async with open_session() as session:
        held = await IdempotencyRepository(session).claim(
            claim, request_hash, keep_seconds=KEEP_SECONDS, in_flight_seconds=IN_FLIGHT_SECONDS
        )
    if held is None:
        pending.claim, pending.open_session = claim, open_session
        return
    if held.in_flight:
        raise IdempotencyKeyInUse()
    if held.request_hash != request_hash:
        raise IdempotencyKeyReused(idempotency_key)
    raise Replay(held)


def _fingerprint_key_of(request: Request) -> bytes:
    key: bytes = request.app.state.idempotency_fingerprint_key
    return key


# The one line a creating POST adds to its decorator: `dependencies=[IDEMPOTENT]`.
IDEMPOTENT = Depends(claim_idempotency_key)

IN_USE_DESCRIPTION = "A request with the same `Idempotency-Key` is still running; retry after `Retry-After` seconds"
REPLAYED = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the kept answer to an earlier request with the same `Idempotency-Key`",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "string"}}}


def install_idempotency(app: FastAPI, secret_key: bytes) -> None:
    """Settle claims (the middleware), answer replays, and say both in the OpenAPI of each operation that opts in.

    `secret_key` (SECRET_KEY's) keys the requests' fingerprints, through a key of their own.
    """
    app.state.idempotency_fingerprint_key = hmac.digest(secret_key, b"Idempotency-Key fingerprints", "sha256")
    app.add_middleware(IdempotentPosts)
    app.add_exception_handler(Replay, replay)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        document = build_openapi()  # built once, then FastAPI's cached copy, which this completes in place
        for path, method in _operations_taking_a_key(app):
            operation = document["paths"][path][method]
            parameters = operation.setdefault("parameters", [])
            if HEADER_PARAMETER not in parameters:  # completed once, whatever the number of calls
                parameters.append(HEADER_PARAMETER)
                _document(operation["responses"])
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend its OpenAPI


def _operations_taking_a_key(app: FastAPI) -> list[tuple[str, str]]:
    """(path, method) of each operation whose route opted in with `dependencies=[IDEMPOTENT]`."""
    return [
        (str(route.path_format), method.lower())
        # As FastAPI's OpenAPI walks them: routers included in the app are contexts over their routes.
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute) and _claims(route.dependant)
        for method in route.methods or ()
    ]


def _claims(dependant: Dependant) -> bool:
    return any(dependency.call is claim_idempotency_key or _claims(dependency) for dependency in dependant.dependencies)


def _document(responses: dict[str, Any]) -> None:
    for status, response in responses.items():
        if status.startswith("2"):
            response.setdefault("headers", {}).update(REPLAYED)
    conflict = responses.get("409")
    if conflict is None:
        responses["409"] = {
            "description": IN_USE_DESCRIPTION,
            "headers": RETRY_AFTER,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    elif IN_USE_DESCRIPTION not in conflict["description"]:
        conflict["description"] += f"; or: {IN_USE_DESCRIPTION}"
        conflict.setdefault("headers", {}).update(RETRY_AFTER)
    if "422" in responses and "Idempotency-Key" not in responses["422"]["description"]:
        responses["422"]["description"] += "; or the `Idempotency-Key` was first used with a different request"
