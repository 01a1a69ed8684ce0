"""The tables behind tokens, login throttling and the sign-up limit, and the bodies of the /auth endpoints.

And personal access tokens (`PersonalAccessToken`, app/auth/personal_tokens.py): the table and the
bodies of /users/me/tokens.
"""

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, SecretStr
from pydantic import Field as Rules
from sqlalchemy import ARRAY, DateTime, Index, String, Table
from sqlmodel import Field, SQLModel

from app.kit.fields import PASSWORD_MAX_LENGTH, Identified, Password, Schema, server_timestamp

# Room for any IP address, IPv6 with a zone included, or a label such as "unknown".
# Longer text (a forged X-Forwarded-For) is cut to fit by app/auth/repository.py.
CLIENT_ADDRESS_MAX_LENGTH = 64


class RefreshToken(SQLModel, table=True):
    """One refresh token. Every token descended from one login shares its `login_id`."""

    __tablename__ = "refresh_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    login_id: uuid.UUID = Field(index=True)
    # SHA-256 of the token (app/auth/tokens.py); the token itself is never stored.
    token_hash: str = Field(sa_type=String(64), unique=True)
    created_at: datetime | None = server_timestamp()
    # Indexed for housekeeping (app/ops/housekeeping.py), which deletes the expired ones.
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    # Set when exchanged for a new pair; a second exchange is a stolen token replayed.
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class LoginFailure(SQLModel, table=True):
    """A failed login, counted by email and by client address for throttling (app/auth/repository.py)."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_email_failed_at", "email", "failed_at"),
        Index("ix_login_failures_client_address_failed_at", "client_address", "failed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_type=String(320))
    client_address: str = Field(sa_type=String(CLIENT_ADDRESS_MAX_LENGTH))
    failed_at: datetime | None = server_timestamp()


class AddressSignUps(SQLModel, table=True):
    """When one client address signed up lately, for the sign-up limit (SIGNUPS_PER_HOUR, app/auth/repository.py).

    One row per address holding all its recent sign-ups, not a row per
    sign-up: counting them and adding one is then a single statement on one
    row, which concurrent sign-ups take in turns, so none slips past the limit.
    """

    __tablename__ = "sign_ups_by_address"

    client_address: str = Field(sa_type=String(CLIENT_ADDRESS_MAX_LENGTH), primary_key=True)
    # Oldest first, only those of the last hour, so at most SIGNUPS_PER_HOUR of them.
    signed_up_at: list[datetime] = Field(sa_type=ARRAY(DateTime(timezone=True)))


# ---------------------------------------------------------------- personal access tokens

TOKEN_NAME_MAX_LENGTH = 100
# The token's first characters, kept in the clear so a list can show which is which: "pat_" and 8 of its
# 43 random characters (48 bits): enough to tell tokens apart, too few to help a guess of the other 208 bits.
TOKEN_PREFIX_LENGTH = 12
# What a token may do: "read" (GET and HEAD), "write" (everything else), "admin" (an admin's rights,
# while its user is an admin). Every token reads.
Scope = Literal["read", "write", "admin"]
SCOPES_EXAMPLE = ["read", "write"]
TOKEN_DAYS_MIN = 1
TOKEN_DAYS_MAX = 366


def token_name(value: str) -> str:
    """The name, trimmed; refused if blank or holding control or invisible format characters, as user names are."""
    name = value.strip()
    if not name:
        raise ValueError("must not be blank")
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in name):
        raise ValueError("must not contain control or invisible characters")
    return name


def token_scopes(scopes: list[str]) -> list[str]:
    """Each scope once, in their order (read, write, admin), "read" among them."""
    if len(set(scopes)) != len(scopes):
        raise ValueError("each scope at most once")
    if "read" not in scopes:
        raise ValueError('every token reads: "read" must be among the scopes')
    return [scope for scope in ("read", "write", "admin") if scope in scopes]


TokenName = Annotated[
    str,
    Rules(min_length=1, max_length=TOKEN_NAME_MAX_LENGTH, examples=["nightly import"]),
    AfterValidator(token_name),
]


class PersonalAccessToken(SQLModel, table=True):
    """A user's personal access token, for scripts: sent as a Bearer token, stored only as its SHA-256."""

    __tablename__ = "personal_access_tokens"

    id: int | None = Field(default=None, primary_key=True)
    # Deleting the user deletes their tokens: a token never outlives its user.
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    name: str = Field(sa_type=String(TOKEN_NAME_MAX_LENGTH))
    scopes: list[str] = Field(sa_type=ARRAY(String(8)))
    # SHA-256 of the token, hex (app/auth/tokens.py); unique, so a request finds its token by this index.
    token_hash: str = Field(sa_type=String(64), unique=True)
    prefix: str = Field(sa_type=String(TOKEN_PREFIX_LENGTH))
    created_at: datetime | None = server_timestamp()
    # Indexed for housekeeping, which deletes the expired ones (app/auth/pruning.py).
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    # Moved at most once a minute (app/auth/repository.py), so a busy script does not write on every request.
    last_used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


REFRESH_TOKENS: Table = RefreshToken.__table__  # type: ignore[attr-defined]  # as USERS in app/users/models.py
LOGIN_FAILURES: Table = LoginFailure.__table__  # type: ignore[attr-defined]
PERSONAL_ACCESS_TOKENS: Table = PersonalAccessToken.__table__  # type: ignore[attr-defined]


class PersonalTokenCreate(Schema):
    """POST /users/me/tokens: what the new token is called, what it may do and for how many days."""

    name: TokenName
    scopes: Annotated[list[Scope], AfterValidator(token_scopes)] = Rules(
        min_length=1,
        max_length=3,
        description='`["read"]`, `["read", "write"]`, plus `"admin"` for an admin: every token reads.',
        examples=[SCOPES_EXAMPLE],
    )
    expires_in_days: int = Rules(
        ge=TOKEN_DAYS_MIN,
        le=TOKEN_DAYS_MAX,
        strict=True,
        description="Days until the token stops working, 1 to 366; no default, so every token's end is chosen.",
        examples=[90],
    )


class PersonalTokenPublic(Identified):
    """A personal access token as listed: never the token itself, only its first characters to recognise it."""

    name: str
    scopes: list[str] = Rules(examples=[SCOPES_EXAMPLE])
    prefix: str = Rules(description="The token's first characters, to recognise it.", examples=["pat_Xq3vT9aB"])
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = Rules(description="To the minute: moved at most once a minute.")


class PersonalTokenCreated(PersonalTokenPublic):
    """The answer to POST /users/me/tokens: the token, shown this once (only its hash is kept)."""

    token: str = Rules(description="Send it as `Authorization: Bearer <token>`. Shown once: keep it now.")


class TokenPair(Schema):
    """What a login or a refresh answers: OAuth2's token response (RFC 6749, 5.1) plus a refresh token."""

    access_token: str
    token_type: str = Rules(default="bearer", examples=["bearer"])
    expires_in: int = Rules(description="Seconds the access token is valid for.", examples=[900])
    refresh_token: str = Rules(description="Exchange it at /auth/refresh for a new pair; it works once.")


class RefreshRequest(Schema):
    refresh_token: str = Rules(min_length=1, max_length=256)


class PasswordChange(Schema):
    current_password: SecretStr = Rules(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    new_password: Password
