"""/auth: sign in (OAuth2's password flow, so /docs' Authorize button works), refresh, sign out."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.auth.access import NotAuthenticated
from app.auth.dependencies import AuthenticatorDep
from app.auth.models import RefreshRequest, TokenPair
from app.auth.service import TooManyFailures
from app.http.client_address import client_address
from app.http.errors import ErrorDetail
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
# ... and so its OpenAPI says.
TOKENS_NOT_CACHED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            name: {"description": "A token response must not be cached (RFC 6749, 5.1).", "schema": {"const": value}}
            for name, value in NO_STORE.items()
        }
    }
}


@router.post("/token", responses={**TOKENS_NOT_CACHED, **UNAUTHORIZED, **THROTTLED})
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


@router.post("/refresh", responses={**TOKENS_NOT_CACHED, **UNAUTHORIZED})
async def refresh(body: RefreshRequest, authenticator: AuthenticatorDep, response: Response) -> TokenPair:
    """A new token pair for a refresh token, which then stops working. A used one presented again ends the login."""
    response.headers.update(NO_STORE)
    return await authenticator.refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def sign_out(body: RefreshRequest, authenticator: AuthenticatorDep) -> None:
    """Sign out: every token of this refresh token's login stops working (access tokens at their expiry)."""
    await authenticator.sign_out(body.refresh_token)
