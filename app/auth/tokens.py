"""Access tokens (short-lived JWTs, checked without the database) and refresh tokens (opaque, stored hashed).

An access token is a JWT signed with HS256 and SECRET_KEY: `sub` (the user's
id), `adm` (admin or not), `typ` ("access"), `iss`, `aud`, `iat`, `exp` and
a `jti`. Decoding pins the algorithm, the issuer and the audience and requires
every claim, so `alg: none`, a token for another service, or one missing a
claim is refused. Being self-contained, it says who the caller is until it
expires (ACCESS_TOKEN_MINUTES): signing out or revoking a login takes effect
at the next refresh, at most that many minutes later. Admin rights are not
taken on its word: `adm` only says whether to ask the database, which is
asked on every request that claims them (app/auth/access.py), so a demoted
or deleted admin loses them at once.

A refresh token is 256 random bits; the database keeps only its SHA-256
(app/auth/repository.py), so a copy of the table cannot be replayed.

A personal access token is `pat_` and 256 random bits (app/auth/personal_tokens.py),
kept the same way. The prefix tells it from a JWT without decoding anything,
so an access token's request costs what it did, and lets secret scanners
recognise one that leaked. SHA-256, not a password hash: with 256 random bits
there is nothing to guess, and the lookup must be cheap on every request.
"""

import hashlib
import os
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import jwt
from starlette.requests import HTTPConnection

from app.core.config import PROJECT_ROOT, Settings

ISSUER = "portfolio-api"
AUDIENCE = "portfolio-api"
ALGORITHM = "HS256"
ACCESS = "access"
_REQUIRED_CLAIMS = ["sub", "exp", "iat", "iss", "aud", "jti", "typ", "adm"]

GENERATED_KEY_FILE = PROJECT_ROOT / ".data" / "secret-key"


class InvalidToken(Exception):
    """An access token that is malformed, expired, wrongly signed or not an access token."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    is_admin: bool


# Tokens already verified, remembered with their expiry: a client sends the
# same access token with every request for its 15 minutes, and decoding and
# verifying it again each time cost a fifth of GET /users/{id}'s CPU (make
# bench --token-cost). Only a token whose signature checked out is kept, keyed
# by the whole token (signature included), and its expiry is checked on every
# use; an invalid token is never kept, so each costs a full check.
VERIFIED_TOKENS_KEPT = 4096


class AccessTokens:
    """Issues and checks access tokens with one key."""

    def __init__(self, key: bytes, lifetime: timedelta) -> None:
        self._key = key
        self.lifetime = lifetime
        self._verified = lru_cache(maxsize=VERIFIED_TOKENS_KEPT)(self._verify)

    def issue(self, user_id: int, *, is_admin: bool) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "adm": is_admin,
            "typ": ACCESS,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def check(self, token: str) -> TokenClaims:
        """The claims of a valid access token; `InvalidToken` for any other."""
        claims, expires_at = self._verified(token)
        if expires_at <= time.time():
            raise InvalidToken("Signature has expired")
        return claims

    def _verify(self, token: str) -> tuple[TokenClaims, float]:
        """Signature, algorithm, issuer, audience, expiry and every claim; the claims and when they expire."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from None
        user_id, is_admin = claims["sub"], claims["adm"]
        if claims["typ"] != ACCESS or not isinstance(is_admin, bool):
            raise InvalidToken("not an access token")
        if not (isinstance(user_id, str) and user_id.isascii() and user_id.isdigit()):
            raise InvalidToken("malformed subject")
        return TokenClaims(user_id=int(user_id), is_admin=is_admin), float(claims["exp"])


def access_tokens_of(connection: HTTPConnection) -> AccessTokens:
    """The app's access tokens, one key for every worker (`create_app` keeps them on its state)."""
    access_tokens: AccessTokens = connection.app.state.access_tokens
    return access_tokens


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


PERSONAL_TOKEN_PREFIX = "pat_"


def new_personal_token() -> str:
    return PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)


def is_personal_token(token: str) -> bool:
    """Whether the Bearer token is a personal access token rather than a JWT (which starts with `eyJ`)."""
    return token.startswith(PERSONAL_TOKEN_PREFIX)


def refresh_token_digest(token: str) -> str:
    """What the database keeps of a refresh token: SHA-256, hex (the token itself has 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# Kept the same way, for the same reason: 256 random bits need no slow hash.
personal_token_digest = refresh_token_digest


def signing_key(settings: Settings) -> bytes:
    """SECRET_KEY, or on a loopback HOST without one, a key generated once into .data/secret-key.

    Generated so tokens survive a restart of `make run`, and shared by every
    worker: the first process to get there writes it, the others read it.
    """
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    return _generated_key(GENERATED_KEY_FILE)


def _generated_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(draft, path)  # atomic, and fails if another worker got there first
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip().encode()
