"""The browser's session cookie and its CSRF token.

The cookie carries what a JSON client keeps itself: the access and refresh
tokens the same `Authenticator` issues at POST /auth/token, plus a random CSRF
token. It is signed (itsdangerous' `Signer`: HMAC-SHA256, with a key derived from
SECRET_KEY and a salt of its own, so a cookie's signature can never pass for a
token's), HttpOnly
(no script reads it), SameSite=Lax, limited to /app/, and Secure when the
request came over HTTPS (`request.url.scheme`, which honours
X-Forwarded-Proto only from TRUSTED_PROXIES).

When the access token has expired, the page refreshes the pair server-side
with the refresh token (one use each, as at POST /auth/refresh) and writes
the new pair into the cookie; signing out revokes the login
(`Authenticator.sign_out`) and clears the cookie.

CSRF: every state-changing page request must carry the cookie's CSRF token,
in a hidden form field or (from htmx) the `X-CSRF-Token` header; SameSite
alone leaves older browsers and same-site subdomains open.
"""

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from functools import lru_cache

from fastapi import Request, Response
from itsdangerous import BadSignature, Signer

COOKIE_NAME = "portfolio_session"
COOKIE_PATH = "/app"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# The cookie outlives a browser restart as long as a refresh token does (REFRESH_TOKEN_DAYS).
# The signer's salt: the cookie's own key, derived from SECRET_KEY's, is one no token is signed with.
_KEY_PURPOSE = b"portfolio-api web session cookie"


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """What the cookie holds: a CSRF token always, a token pair once signed in."""

    csrf: str
    access_token: str | None = None
    refresh_token: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.refresh_token is not None

    def signed_out(self) -> "BrowserSession":
        return replace(self, access_token=None, refresh_token=None)


def new_session() -> BrowserSession:
    return BrowserSession(csrf=secrets.token_urlsafe(32))


@lru_cache(maxsize=4)  # one key per app; built once, not on every request
def _signer(key: bytes) -> Signer:
    return Signer(key, salt=_KEY_PURPOSE, digest_method=hashlib.sha256)


def encode(session: BrowserSession, key: bytes) -> str:
    fields = {"c": session.csrf, "a": session.access_token, "r": session.refresh_token}
    payload = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).rstrip(b"=")
    return _signer(key).sign(payload).decode()


def decode(cookie: str | None, key: bytes) -> BrowserSession | None:
    """The session in a cookie, or None if it is missing, malformed or not signed with `key`."""
    if not cookie:
        return None
    try:
        payload = _signer(key).unsign(cookie)
        fields = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
        session = BrowserSession(csrf=fields["c"], access_token=fields["a"], refresh_token=fields["r"])
    except (BadSignature, ValueError, KeyError, TypeError):
        return None
    if not isinstance(session.csrf, str) or not session.csrf:
        return None
    return session


def write_cookie(response: Response, request: Request, session: BrowserSession, key: bytes, max_age: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        encode(session, key),
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def csrf_matches(session: BrowserSession, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())


def cookie_key_of(request: Request) -> bytes:
    """The key the session cookie is signed with, which `install_web_app()` keeps on app.state."""
    key = request.app.state.web_cookie_key
    assert isinstance(key, bytes), "install_web_app() sets app.state.web_cookie_key"
    return key
