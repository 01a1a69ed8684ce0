"""/auth: sign in (OAuth2's password flow, so /docs' Authorize button works), refresh, sign out.

And /users/me/tokens, the caller's personal access tokens (app/auth/personal_tokens.py): they live
with the tokens, below users, since app/auth/access.py checks them on every request.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth.access import NotAuthenticated
from app.auth.dependencies import AuthenticatorDep, PersonalTokensDep
from app.auth.models import PersonalTokenCreate, PersonalTokenCreated, PersonalTokenPublic, RefreshRequest, TokenPair
from app.auth.service import TooManyFailures
from app.http.client_address import client_address
from app.http.errors import NOT_FOUND_RESPONSE, ErrorDetail
from app.ops.metrics import metrics_of

router = APIRouter(prefix="/auth", tags=["auth"])

UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "Wrong credentials, or a refresh token that is no longer valid"}
}


def throttled(description: str) -> dict[int | str, dict[str, Any]]:
    """For OpenAPI: a 429 for `description`, with the seconds to wait in Retry-After."""
    return {
        429: {
            "model": ErrorDetail,
            "description": description,
            "headers": {"Retry-After": {"description": "Seconds until it may be tried", "schema": {"type": "integer"}}},
        }
    }


THROTTLED = throttled("Too many failed sign-ins for this email or from this address lately")
# RFC 6749, 5.1: a token response must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post("/token", responses={**UNAUTHORIZED, **THROTTLED})
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    authenticator: AuthenticatorDep,
    request: Request,
    response: Response,
) -> TokenPair:
    """Sign in with `username` (your email) and `password`, as a form: an access token and a refresh token."""
    response.headers.update(NO_STORE)
    try:
        return await authenticator.sign_in(form.username, form.password, client_address(request.scope))
    except NotAuthenticated:
        if (metrics := metrics_of(request)) is not None:
            metrics.login_failures.inc()
        raise
    except TooManyFailures:
        if (metrics := metrics_of(request)) is not None:
            metrics.logins_throttled.inc()
        raise


@router.post("/refresh", responses=UNAUTHORIZED)
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
        "model": ErrorDetail,
        "description": "Sent with a personal access token (code `insufficient_scope`): sign in with your password",
        "headers": {
            "WWW-Authenticate": {"description": 'Bearer error="insufficient_scope"', "schema": {"type": "string"}}
        },
    }
}
TOKEN_LIMIT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorDetail, "description": "You already hold the most live tokens a user may (50)"}
}
TokenId = Annotated[int, Path(description="The token's id, from the list.", examples=[1])]


@personal_tokens_router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**NOT_BY_PERSONAL_TOKEN, **NOT_FOUND_RESPONSE, **TOKEN_LIMIT}
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
