"""Who is calling, and which rows they may reach: the dependencies every route declares.

The decision for each endpoint, with AUTH=required (docs/explanation/security.md):

- anonymous: `GET /`, `POST /users/` (sign-up), `/auth/*`, the docs, the
  health probes and the error codes' pages (`/problems/{code}`); anything
  else is a 401 (`ScopeDep` and `SignedInDep` refuse it);
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

A personal access token (`pat_...`, app/auth/personal_tokens.py) is told
from a JWT by its prefix, so a JWT's request costs what it did. Its request
costs one statement, on a session of its own as above: the token's row by
its unique hash, joined to its user's (so a token of a deleted user, or an
expired or revoked one, is a 401), noting its use at most once a minute. What
it may do is its scopes': "read" only GET and HEAD (anything else is a 403
`insufficient_scope`), "write" the rest; it is an admin's only with the
"admin" scope while its user is an admin now. Whatever its scopes, it cannot
reach what would let a thief keep or widen their hold (`SignedInByLoginDep`):
creating, listing or revoking tokens, setting a password, or deleting its
own account (app/users/).
"""

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from fastapi import Depends, FastAPI, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import OAuth2PasswordBearer

from app.auth.repository import AccountRepository, PersonalTokenRepository
from app.auth.tokens import InvalidToken, TokenClaims, access_tokens_of, is_personal_token, personal_token_digest
from app.core.config import settings_of
from app.core.database import PrimarySessionOpenerDep, SessionOpener
from app.http.errors import problem_declaration
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


class InsufficientScope(AppError):
    """403 for a personal access token that may not do this (RFC 6750, 3.1: `error="insufficient_scope"`)."""

    status_code = 403
    code: ClassVar[str] = "insufficient_scope"
    title: ClassVar[str] = "Insufficient scope"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})


READ_ONLY_TOKEN = 'This personal access token may only read (scope "read"); this request writes'
LOGIN_NEEDED = "A personal access token cannot manage tokens or change a password: sign in with your password for that"
OWN_ACCOUNT_NEEDS_LOGIN = "A personal access token cannot delete its own account: sign in with your password for that"


NOT_AUTHENTICATED = "Not authenticated: sign in at POST /auth/token and send the access token as a Bearer token"


@dataclass(frozen=True, slots=True)
class Caller:
    """The user a request acts for: an id, or None for anonymous; an admin only if the database says so now."""

    user_id: int | None = None
    is_admin: bool = False
    # A personal access token's scopes; None when the caller signed in with their password (a JWT).
    token_scopes: frozenset[str] | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def by_personal_token(self) -> bool:
        return self.token_scopes is not None


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
    request: Request, token: Annotated[str | None, Security(bearer_token)], open_session: PrimarySessionOpenerDep
) -> Caller:
    """The caller named by the Bearer token: its signature says who; admin rights are the database's say.

    Asked of the primary even when the request reads from a replica: who may do what must not lag
    (a demoted admin, a revoked personal token), and a personal token's lookup notes its use, a write.
    """
    if token is None:
        return ANONYMOUS
    if is_personal_token(token):
        return await caller_of_personal_token(request, token, open_session)
    try:
        claims = access_tokens_of(request).check(token)
    except InvalidToken:
        raise NotAuthenticated(INVALID_TOKEN, token_sent=True) from None
    request.state.user_id = claims.user_id  # for the request's log line
    caller = await caller_named_by(claims, open_session)
    if caller is None:  # a deleted admin's token: it names nobody, so it reaches nothing
        raise NotAuthenticated(INVALID_TOKEN, token_sent=True)
    return caller


# What a token with only the "read" scope may send.
READING_METHODS = frozenset({"GET", "HEAD"})


async def caller_of_personal_token(request: Request, token: str, open_session: SessionOpener) -> Caller:
    """The caller a live personal access token speaks for, under its scopes; 401 for any other token."""
    async with open_session() as session:
        holder = await PersonalTokenRepository(session).holder_of(personal_token_digest(token))
    if holder is None:  # unknown, expired, revoked (a new password revokes them all), or its user deleted
        raise NotAuthenticated(INVALID_TOKEN, token_sent=True)
    request.state.user_id = holder.user_id  # for the request's log line
    if "write" not in holder.scopes and request.method not in READING_METHODS:
        raise InsufficientScope(READ_ONLY_TOKEN)
    is_admin = "admin" in holder.scopes and holder.user_is_admin
    return Caller(user_id=holder.user_id, is_admin=is_admin, token_scopes=holder.scopes)


CallerDep = Annotated[Caller, Depends(current_caller)]


async def signed_in_caller(caller: CallerDep) -> Caller:
    """The caller, who must have signed in (in either mode: `/users/me` has no meaning otherwise)."""
    if not caller.signed_in:
        raise NotAuthenticated(NOT_AUTHENTICATED, token_sent=False)
    return caller


SignedInDep = Annotated[Caller, Depends(signed_in_caller)]


async def signed_in_by_login(caller: SignedInDep) -> Caller:
    """The caller, signed in with their password (a JWT): never a personal access token, whatever its scopes.

    For what would let a stolen token outlast or outrank its owner: minting
    successors, hiding or revoking the owner's tokens, changing the password
    (which would also lock the owner out).
    """
    if caller.by_personal_token:
        raise InsufficientScope(LOGIN_NEEDED)
    return caller


SignedInByLoginDep = Annotated[Caller, Depends(signed_in_by_login)]


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
    an operation needs a caller, and whether a personal access token's scopes
    can refuse it (a 403 `insufficient_scope`, in either mode), is read from its
    dependencies, so a new route is documented as its code decides.
    docs/how-to/generate-a-client.md says why.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        needs_caller = _operations_needing_a_caller(app)
        scope_may_refuse = _operations_a_token_scope_may_refuse(app)
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                if (path, method) in scope_may_refuse and "403" not in operation["responses"]:
                    refused = problem_declaration("403", TOKEN_SCOPE_REFUSED)
                    operation["responses"] = dict(sorted({**operation["responses"], "403": refused}.items()))
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
# The 403 declared where a personal token's scopes may refuse an operation that declares no other 403.
TOKEN_SCOPE_REFUSED = "A personal access token whose scopes do not allow this (`insufficient_scope`)"
OPEN_NOTE = "With AUTH=open a token is optional here (anyone may call), and a token sent is still checked."


def _operations_needing_a_caller(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every operation one of whose dependencies refuses an anonymous caller with AUTH=required."""
    return {(path, method) for path, method, dependant in _operations(app) if _depends_on(dependant, _CALLER_NEEDED)}


def _operations_a_token_scope_may_refuse(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every operation a personal token may be refused (403): a write that reads the caller, or
    one only a password sign-in may do."""
    return {
        (path, method)
        for path, method, dependant in _operations(app)
        if _depends_on(dependant, (signed_in_by_login,))
        or (method.upper() not in READING_METHODS and _depends_on(dependant, (current_caller,)))
    }


def _operations(app: FastAPI) -> list[tuple[str, str, Dependant]]:
    """(path, lowercase method, dependant) of every API operation, as FastAPI's OpenAPI walks them.

    (Routers included in the app are contexts over their routes.)
    """
    return [
        (str(route.path_format), method.lower(), route.dependant)
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        for method in route.methods or ()
    ]


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
