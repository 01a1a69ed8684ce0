"""The `idempotency_keys` table: one row per caller and key, first a claim in flight, then the answer to replay."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, LargeBinary, SmallInteger, String, Table
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.kit.fields import server_timestamp

KEY_MAX_LENGTH = 255
# "user:<id>" or "address:<IP address or unknown>" (app/idempotency/dependencies.py, `caller_of`).
CALLER_MAX_LENGTH = 80


class IdempotencyKey(SQLModel, table=True):
    """A key a caller sent on a creating POST: the request it named and, once done, the answer it got.

    While `status_code` is null the first request is still running (or died);
    its claim holds until `locked_until`, then another request may take it over.
    """

    __tablename__ = "idempotency_keys"

    caller: str = Field(sa_type=String(CALLER_MAX_LENGTH), primary_key=True)
    key: str = Field(sa_type=String(KEY_MAX_LENGTH), primary_key=True)
    # HMAC-SHA-256 (keyed, app/idempotency/dependencies.py says why) of the method, the path with its query
    # and the body's bytes: "the same request".
    request_hash: str = Field(sa_type=String(64))
    # Which claim this row is now, so a request whose claim expired and was taken over cannot write over the new one.
    claim_id: str = Field(sa_type=String(32))
    created_at: datetime | None = server_timestamp()
    # Indexed for housekeeping, which deletes the expired ones (app/idempotency/pruning.py).
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    locked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    status_code: int | None = Field(default=None, sa_type=SmallInteger)
    # The headers that make the answer (Content-Type, Location, ETag, ...), as [name, value] pairs.
    headers: list[Any] | None = Field(default=None, sa_type=JSONB)
    body: bytes | None = Field(default=None, sa_type=LargeBinary)


IDEMPOTENCY_KEYS: Table = IdempotencyKey.__table__  # type: ignore[attr-defined]  # as USERS in app/users/models.py
