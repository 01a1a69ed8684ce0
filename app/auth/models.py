"""The tables behind tokens, login throttling and the sign-up limit, and the bodies of the /auth endpoints."""

import uuid
from datetime import datetime

from pydantic import Field as Rules
from pydantic import SecretStr
from sqlalchemy import ARRAY, DateTime, Index, String, Table
from sqlmodel import Field, SQLModel

from app.kit.fields import PASSWORD_MAX_LENGTH, Password, Schema, server_timestamp

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


REFRESH_TOKENS: Table = RefreshToken.__table__  # type: ignore[attr-defined]  # as USERS in app/users/models.py
LOGIN_FAILURES: Table = LoginFailure.__table__  # type: ignore[attr-defined]


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
