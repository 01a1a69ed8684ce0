"""/auth: sign in and refresh at /auth/token (OAuth2, so /docs' Authorize button and OAuth2 clients work), and sign out;
and /users/me/tokens, the caller's personal access tokens (app/auth/personal_tokens.py), which live with
the tokens, below users, since app/auth/access.py checks them on every request.

/auth/token speaks OAuth2 (RFC 6749): the password grant (`username` is the
email) and the refresh-token grant, both answering the token pair; its
refusals are OAuth2's (section 5.2), `{"error": "invalid_grant",
"error_description": "..."}` with 400, which OAuth2 clients read. A sign-in
throttled for too many failures is a 429 with `Retry-After` and the same
shape, its `error` `slow_down` (the OAuth2 registry's name for "wait before
trying again", RFC 8628 3.5). What fails beyond the grant (the database
unreachable, a body too large) is problem details, as everywhere else.
/auth/refresh and /auth/logout speak problem details; /auth/refresh stays for
the clients written against it, with the same rules as the refresh grant.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.auth.access import NotAuthenticated
from app.auth.dependencies import AuthenticatorDep, PersonalTokensDep
from app.auth.models import PersonalTokenCreate, PersonalTokenCreated, PersonalTokenPublic, RefreshRequest, TokenPair
from app.auth.service import TooManyFailures, WrongCredentials
from app.http.client_address import client_address
from app.http.errors import NOT_FOUND_RESPONSE, RATE_LIMIT_HEADERS
from app.http.problems import Problem
from app.ops.metrics import metrics_of

router = APIRouter(prefix="/auth", tags=["auth"])

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "A refresh token that is unknown, expired, revoked or already used"}
}


def throttled(description: str) -> dict[int | str, dict[str, Any]]:
    """For OpenAPI: a 429 for `description` (its headers, `Retry-After` and `RateLimit-*`, are added to every 429)."""
    return {429: {"model": Problem, "description": description}}


# RFC 6749, 5.1: a token response must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# ... and so its OpenAPI says.
TOKENS_NOT_CACHED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            name: {"description": "A token response must not be cached (RFC 6749, 5.1).", "schema": {"const": value}}
            for name, value in NO_STORE.items()
        }
    }
}


GRANT_TYPES = ("password", "refresh_token")


class OAuth2Error(BaseModel):
    """A refusal at /auth/token, as OAuth2 words it (RFC 6749, 5.2)."""

    error: Literal["invalid_request", "invalid_grant", "unsupported_grant_type", "slow_down"] = Field(
        description="`invalid_grant`: wrong email or password, or a refresh token no longer valid; "
        "`invalid_request`: a field missing; `unsupported_grant_type`: neither `password` nor `refresh_token`; "
        "`slow_down` (429): too many failed sign-ins, wait `Retry-After` seconds"
    )
    error_description: str


TOKEN_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"headers": RATE_LIMIT_HEADERS | TOKENS_NOT_CACHED[200]["headers"]},
    400: {
        "model": OAuth2Error,
        "description": "Refused, as OAuth2 says (RFC 6749, 5.2); a wrong password counts against the sign-in throttle",
        "headers": RATE_LIMIT_HEADERS,
    },
    429: {
        "model": OAuth2Error,
        "description": "Too many failed sign-ins for this email or from this address lately (`slow_down`)",
        "headers": RATE_LIMIT_HEADERS
        | {"Retry-After": {"description": "Seconds until it may be tried", "schema": {"type": "integer"}}},
    },
}


def oauth2_error(
    error: str, description: str, status_code: int = status.HTTP_400_BAD_REQUEST, headers: dict[str, str] | None = None
) -> JSONResponse:
    """An answer in RFC 6749's shape: the one protocol boundary whose errors are not problem details."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status_code,
        headers={**NO_STORE, **(headers or {})},
    )


# response_model: an OAuth2 refusal is answered as a Response, which the annotation must allow.
@router.post("/token", response_model=TokenPair, responses=TOKEN_RESPONSES, openapi_extra={"security": []})
async def sign_in(
    authenticator: AuthenticatorDep,
    request: Request,
    response: Response,
    grant_type: Annotated[
        str,
        Form(description="`password` (the default) or `refresh_token`", json_schema_extra={"enum": list(GRANT_TYPES)}),
    ] = "password",
    username: Annotated[str | None, Form(description="Your email (`password` grant)")] = None,
    password: Annotated[
        str | None, Form(description="Your password (`password` grant)", json_schema_extra={"format": "password"})
    ] = None,
    refresh_token: Annotated[
        str | None, Form(description="The refresh token to exchange (`refresh_token` grant)")
    ] = None,
    scope: Annotated[str, Form(description="Unused: a token carries the user's own rights")] = "",
    client_id: Annotated[str | None, Form(description="Unused: no client is registered")] = None,
    client_secret: Annotated[str | None, Form(description="Unused", json_schema_extra={"format": "password"})] = None,
) -> TokenPair | Response:
    """Sign in, as a form: `username` (your email) and `password`; or `grant_type=refresh_token` and `refresh_token`.

    Either answers a new access token and refresh token. A refresh token works
    once: used again after a few seconds' grace, it ends its login (as
    /auth/refresh). Refusals are OAuth2's: 400 `{"error": "invalid_grant"}`.
    """
    response.headers.update(NO_STORE)
    if grant_type == "refresh_token":
        if not refresh_token:
            return oauth2_error("invalid_request", "The refresh_token grant needs `refresh_token`")
        try:
            return await authenticator.refresh(refresh_token)
        except NotAuthenticated as refused:
            return oauth2_error("invalid_grant", refused.detail)
    if grant_type != "password":
        return oauth2_error("unsupported_grant_type", "`grant_type` is `password` or `refresh_token`")
    if username is None or password is None:
        missing = " and ".join(
            field for field, sent in (("username", username), ("password", password)) if sent is None
        )
        return oauth2_error(
            "invalid_request", f"The password grant needs `username` (your email) and `password`: {missing} missing"
        )
    metrics = metrics_of(request)
    try:
        return await authenticator.sign_in(
            username, password, client_address(request.scope), lambda limit: limit.set_on(response)
        )
    except WrongCredentials as wrong:
        if metrics is not None:
            metrics.login_failures.inc()
        return oauth2_error("invalid_grant", wrong.detail, headers=wrong.rate_limit.headers())
    except TooManyFailures as throttled_now:
        if metrics is not None:
            metrics.logins_throttled.inc()
        return oauth2_error("slow_down", throttled_now.detail, status.HTTP_429_TOO_MANY_REQUESTS, throttled_now.headers)


@router.post("/refresh", responses={**TOKENS_NOT_CACHED, **UNAUTHORIZED})
async def refresh(body: RefreshRequest, authenticator: AuthenticatorDep, response: Response) -> TokenPair:
    """A new token pair for a refresh token, which then stops working. A used one presented again ends the login."""
    response.headers.update(NO_STORE)
    return await authenticator.refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def sign_out(body: RefreshRequest, authenticator: AuthenticatorDep) -> None:
    """Sign out: every token of this refresh token's login stops working (access tokens at their expiry)."""
    await authenticator.sign_out(body.refresh_token)


# ---------------------------------------------------------------- personal access tokens

personal_tokens_router = APIRouter(prefix="/users/me/tokens", tags=["personal access tokens"])

NOT_BY_PERSONAL_TOKEN: dict[int | str, dict[str, Any]] = {
    403: {
        "model": Problem,
        "description": "Sent with a personal access token (code `insufficient_scope`): sign in with your password",
        "headers": {
            "WWW-Authenticate": {"description": 'Bearer error="insufficient_scope"', "schema": {"type": "string"}}
        },
    }
}
TOKEN_LIMIT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "You already hold the most live tokens a user may (50)"}
}
TokenId = Annotated[int, Path(description="The token's id, from the list.", examples=[1])]


@personal_tokens_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    # The answer holds a secret, as a token pair does: not cached either, and no Idempotency-Key
    # (app/idempotency/ keeps answers in a table, where the secret must never be).
    responses={201: TOKENS_NOT_CACHED[200], **NOT_BY_PERSONAL_TOKEN, **NOT_FOUND_RESPONSE, **TOKEN_LIMIT},
)
async def create_my_token(
    body: PersonalTokenCreate, tokens: PersonalTokensDep, response: Response
) -> PersonalTokenCreated:
    """Create a personal access token for a script: the answer shows the token this once; keep it then.

    Send it as `Authorization: Bearer pat_...`. `["read"]` reads only; `["read", "write"]` does what
    you may; an admin may add `"admin"`. It stops working at its expiry, when revoked, or when your
    password changes. Only a password sign-in may create, list or revoke tokens, never a token.
    """
    response.headers.update(NO_STORE)
    return await tokens.create(body)


@personal_tokens_router.get("", responses=NOT_BY_PERSONAL_TOKEN)
async def read_my_tokens(tokens: PersonalTokensDep) -> list[PersonalTokenPublic]:
    """Your live personal access tokens, oldest first: names, scopes, dates, and each one's first characters."""
    return await tokens.list()


@personal_tokens_router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**NOT_BY_PERSONAL_TOKEN, **NOT_FOUND_RESPONSE},
)
async def revoke_my_token(token_id: TokenId, tokens: PersonalTokensDep) -> None:
    """Revoke one of your personal access tokens: it stops working at once. Another user's is a 404."""
    await tokens.revoke(token_id)
