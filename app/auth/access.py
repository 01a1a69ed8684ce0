"""Who is calling, and which rows they may reach: the dependencies every route declares.

The decision for each endpoint, with AUTH=required (docs/explanation/security.md):

- anonymous: `GET /`, `POST /users/` (sign-up), `/auth/*`, the docs and the
  health probes; anything else is a 401 (`ScopeDep` refuses it);
- a signed-in user: their own user and stocks. `ScopeDep` narrows every
  statement to rows they own, so another's row is a 404 as if it did not exist;
- an admin: every row, and the reference data every user reads (market
  prices): others may read it, only an admin writes it (`AdminWhereRequiredDep`).

With AUTH=open every endpoint answers anyone, as in the guide; a token that is
sent is still checked, and a bad one is still a 401.

A token says who is calling; the database says whether they are an admin, on
every request. The token's `adm` claim only says whether to ask: a token that
does not claim admin can never grant it, so an ordinary user's request costs
no extra statement; a token that claims it is checked against the user's row
(one primary-key lookup, on a session of its own, closed before the request's
own session takes its place in the line), and the caller is an admin only if
the row says so now. A demoted admin's old token is an ordinary user's, and a
deleted admin's is refused (401). A deleted ordinary user's token reaches no
row: every statement is scoped to a user who no longer owns any.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordBearer

from app.auth.repository import AccountRepository
from app.auth.tokens import InvalidToken, TokenClaims, access_tokens_of
from app.core.config import settings_of
from app.core.database import SessionOpener, SessionOpenerDep
from app.kit.errors import AdminOnly, AppError
from app.kit.scope import EVERY_ROW, Scope

# auto_error=False: a missing token is for the endpoint to judge (sign-up takes
# none); /docs' Authorize button logs in through this token URL.
bearer_token = OAuth2PasswordBearer(
    tokenUrl="/auth/token",
    refreshUrl="/auth/token",  # grant_type=refresh_token
    auto_error=False,
    description="Sign in with your email (OAuth2's `username`) and password; no client id or secret is used.",
)


class NotAuthenticated(AppError):
    """401 with `WWW-Authenticate: Bearer`; `error="invalid_token"` when a token was sent (RFC 6750, 3.1)."""

    status_code = 401
    code = "not_authenticated"
    title = "Not authenticated"

    def __init__(self, detail: str, *, token_sent: bool) -> None:
        challenge = 'Bearer error="invalid_token"' if token_sent else "Bearer"
        super().__init__(detail, headers={"WWW-Authenticate": challenge})
        self.token_sent = token_sent

    @property
    def problem_code(self) -> str:
        """`invalid_token` when a token was sent and refused, `not_authenticated` when none was."""
        return "invalid_token" if self.token_sent else self.code


NOT_AUTHENTICATED = "Not authenticated: sign in at POST /auth/token and send the access token as a Bearer token"


@dataclass(frozen=True, slots=True)
class Caller:
    """The user a request acts for: an id, or None for anonymous; an admin only if the database says so now."""

    user_id: int | None = None
    is_admin: bool = False

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


ANONYMOUS = Caller()


INVALID_TOKEN = "Invalid or expired access token"


async def caller_named_by(claims: TokenClaims, open_session: SessionOpener) -> Caller | None:
    """The caller a valid token names, an admin only if their row says so now; None if the user is gone.

    Only a token that claims admin is looked up: one that does not can never
    grant it, whatever the row says (a new admin is one from their next token on).
    """
    if not claims.is_admin:
        return Caller(user_id=claims.user_id)
    async with open_session() as session:
        is_admin = await AccountRepository(session).is_admin(claims.user_id)
    if is_admin is None:
        return None
    return Caller(user_id=claims.user_id, is_admin=is_admin)


async def current_caller(
    request: Request, token: Annotated[str | None, Security(bearer_token)], open_session: SessionOpenerDep
) -> Caller:
    """The caller named by the Bearer token: its signature says who; admin rights are the database's say."""
    if token is None:
        return ANONYMOUS
    try:
        claims = access_tokens_of(request).check(token)
    except InvalidToken:
        raise NotAuthenticated(INVALID_TOKEN, token_sent=True) from None
    request.state.user_id = claims.user_id  # for the request's log line
    caller = await caller_named_by(claims, open_session)
    if caller is None:  # a deleted admin's token: it names nobody, so it reaches nothing
        raise NotAuthenticated(INVALID_TOKEN, token_sent=True)
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


async def signed_in_caller(caller: CallerDep) -> Caller:
    """The caller, who must have signed in (in either mode: `/users/me` has no meaning otherwise)."""
    if not caller.signed_in:
        raise NotAuthenticated(NOT_AUTHENTICATED, token_sent=False)
    return caller


SignedInDep = Annotated[Caller, Depends(signed_in_caller)]


async def caller_scope(request: Request, caller: CallerDep) -> Scope:
    """The rows this request may reach: all of them (AUTH=open, or an admin), or the caller's own."""
    if not settings_of(request).auth_required:
        return EVERY_ROW
    if not caller.signed_in:
        raise NotAuthenticated(NOT_AUTHENTICATED, token_sent=False)
    if caller.is_admin:
        return EVERY_ROW
    return Scope(owner_id=caller.user_id)


ScopeDep = Annotated[Scope, Depends(caller_scope)]


async def admin_where_required(request: Request, caller: CallerDep) -> Caller:
    """The caller, who must be an admin with AUTH=required (anonymous: 401, anyone else: 403); with AUTH=open, anyone.

    For writes to data every user shares (market prices), which no user owns.
    """
    if settings_of(request).auth_required:
        if not caller.signed_in:
            raise NotAuthenticated(NOT_AUTHENTICATED, token_sent=False)
        if not caller.is_admin:
            raise AdminOnly("Only an admin may change data every user shares")
    return caller


AdminWhereRequiredDep = Annotated[Caller, Depends(admin_where_required)]


def document_access(app: FastAPI) -> None:
    """Make the app's OpenAPI say who may call what, the same document in both modes.

    The document states AUTH=required's rules, the stricter, so a client
    generated from either server works against both: an operation that needs
    a caller there declares the bearer scheme alone (`[{"OAuth2PasswordBearer": []}]`),
    one anyone may call declares `security: []`, and signing up needs an
    email and a password. What AUTH=open relaxes (anyone may call; a sign-up
    may leave both out, as in the guide) is said in the descriptions. Whether
    an operation needs a caller is read from its dependencies, so a new route
    is documented as its code decides. docs/how-to/generate-a-client.md says why.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        needs_caller = _operations_needing_a_caller(app)
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                if (path, method) in needs_caller:
                    operation["security"] = [{BEARER_SCHEME: []}]
                    operation["description"] = _with_open_note(operation.get("description", ""))
                else:
                    # Anyone may call it (a token, where one is read, is optional: an admin's signing up another).
                    operation["security"] = []
        _sign_up_needs_an_account(schema["components"]["schemas"]["UserCreate"])
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the OpenAPI


# The name FastAPI gives the scheme in components.securitySchemes: the class of `bearer_token`.
BEARER_SCHEME = type(bearer_token).__name__
# The dependencies that refuse an anonymous caller with AUTH=required.
_CALLER_NEEDED = (caller_scope, signed_in_caller, admin_where_required)
OPEN_NOTE = "With AUTH=open a token is optional here (anyone may call), and a token sent is still checked."


def _operations_needing_a_caller(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every operation one of whose dependencies refuses an anonymous caller with AUTH=required."""
    needing: set[tuple[str, str]] = set()
    # The routes as FastAPI's OpenAPI walks them (routers included in the app are contexts over their routes).
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and _depends_on(route.dependant, _CALLER_NEEDED):
            needing.update((str(route.path_format), method.lower()) for method in route.methods or ())
    return needing


def _depends_on(dependant: Dependant, calls: tuple[Any, ...]) -> bool:
    return any(dependency.call in calls or _depends_on(dependency, calls) for dependency in dependant.dependencies)


def _with_open_note(description: str) -> str:
    return f"{description}\n\n{OPEN_NOTE}" if description else OPEN_NOTE


def _sign_up_needs_an_account(sign_up: dict[str, Any]) -> None:
    """`email` and `password` required and not null in `UserCreate`, as AUTH=required needs them."""
    sign_up["required"] = sorted({*sign_up.get("required", []), "email", "password"})
    for field in ("email", "password"):
        declared = sign_up["properties"][field]
        if "anyOf" in declared:  # `... | None`: no longer nullable
            sign_up["properties"][field] = declared["anyOf"][0] | {
                key: value for key, value in declared.items() if key != "anyOf"
            }
    sign_up["description"] = (
        "POST: sign-up. `email` and `password` are required with AUTH=required, the mode this document states; "
        "AUTH=open also takes a user without them, as in the guide (one who cannot sign in)."
    )
