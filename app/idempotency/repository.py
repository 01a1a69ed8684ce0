"""Every statement on `idempotency_keys`: claim a key, keep the answer, release the claim, prune the expired.

A request with a key costs two statements, each on its own and autocommitted:
the claim before the handler runs, and keeping (or releasing) it after. The
claim is one statement that inserts the key, takes over one that expired or
whose claim was abandoned, or reads what the key holds, so two requests with
one key are settled by the primary key, never by a check before an insert.
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable, RowMapping, text
from sqlmodel.ext.asyncio.session import AsyncSession

from app.kit.pruning import delete_one_batch

# Insert the claim; or take over a row whose 24 hours are over (not pruned yet)
# or whose claim was abandoned (its request died: a crash, a lost connection);
# or, when neither, answer what the row holds. The second SELECT reads the
# statement's snapshot, from before the INSERT: when a concurrent request
# committed its claim after that snapshot, it answers no row at all, which is
# a claim in flight as much as one it can see.
_CLAIM = text(
    """
    WITH claimed AS (
        INSERT INTO idempotency_keys AS kept (caller, key, request_hash, claim_id, expires_at, locked_until)
        VALUES (:caller, :key, :request_hash, :claim_id,
                now() + make_interval(secs => :keep_seconds), now() + make_interval(secs => :in_flight_seconds))
        ON CONFLICT (caller, key) DO UPDATE SET
            request_hash = excluded.request_hash, claim_id = excluded.claim_id, created_at = now(),
            expires_at = excluded.expires_at, locked_until = excluded.locked_until,
            status_code = NULL, headers = NULL, body = NULL
        WHERE kept.expires_at <= now() OR (kept.status_code IS NULL AND kept.locked_until <= now())
        RETURNING kept.claim_id
    )
    SELECT true AS claimed, NULL AS request_hash, NULL::smallint AS status_code, NULL::jsonb AS headers,
           NULL::bytea AS body
    FROM claimed
    UNION ALL
    SELECT false, request_hash, status_code, headers, body FROM idempotency_keys
    WHERE caller = :caller AND key = :key AND NOT EXISTS (SELECT FROM claimed)
    """
)
_KEEP = text(
    """
    UPDATE idempotency_keys
    SET status_code = :status_code, headers = CAST(:headers AS jsonb), body = :body, locked_until = NULL
    WHERE caller = :caller AND key = :key AND claim_id = :claim_id
    """
)
_RELEASE = text("DELETE FROM idempotency_keys WHERE caller = :caller AND key = :key AND claim_id = :claim_id")

# Housekeeping, as auth's (app/kit/pruning.py): each batch one short
# transaction holding a lock of its own ("tidyidem" in ASCII), so one instance
# prunes at a time; oldest first, by the index on expires_at.
PRUNING_LOCK = int.from_bytes(b"tidyidem", "big")
_PRUNE = text(
    """
    DELETE FROM idempotency_keys WHERE (caller, key) IN (
        SELECT caller, key FROM idempotency_keys WHERE expires_at < now()
        ORDER BY expires_at LIMIT :batch_size FOR UPDATE SKIP LOCKED
    )
    """
)


@dataclass(frozen=True, slots=True)
class Held:
    """What a key already holds: the request it was first sent with and, once that one is done, its answer."""

    request_hash: str
    status_code: int | None
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def in_flight(self) -> bool:
        return self.status_code is None


@dataclass(frozen=True, slots=True)
class Claim:
    """This request's hold on a key, until its answer is kept or the claim released."""

    caller: str
    key: str
    claim_id: str

    def params(self) -> dict[str, str]:
        return {"caller": self.caller, "key": self.key, "claim_id": self.claim_id}


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _run(self, statement: Executable, params: dict[str, Any]) -> RowMapping | None:
        # As in app/auth/repository.py: sqlmodel's exec() is typed for its own select() only.
        result = await self.session.exec(statement, params=params)  # type: ignore[call-overload]
        return result.mappings().first() if result.returns_rows else None

    async def claim(self, claim: Claim, request_hash: str, *, keep_seconds: int, in_flight_seconds: int) -> Held | None:
        """Claim the key for this request (None), or what it holds; an in-flight `Held` when another holds it now."""
        row = await self._run(
            _CLAIM,
            {
                **claim.params(),
                "request_hash": request_hash,
                "keep_seconds": keep_seconds,
                "in_flight_seconds": in_flight_seconds,
            },
        )
        if row is None:  # claimed by a request that committed after this statement began
            return Held(request_hash="", status_code=None, headers=[], body=b"")
        if row["claimed"]:
            return None
        return Held(
            request_hash=row["request_hash"],
            status_code=row["status_code"],
            headers=[(name, value) for name, value in row["headers"] or []],
            body=bytes(row["body"] or b""),
        )

    async def keep(self, claim: Claim, status_code: int, headers: list[tuple[str, str]], body: bytes) -> bool:
        """Store the claim's answer; False if the claim is no longer this request's (it expired and was taken over)."""
        result = await self.session.exec(  # type: ignore[call-overload]  # as in `_run`
            _KEEP,
            params={**claim.params(), "status_code": status_code, "headers": json.dumps(headers), "body": body},
        )
        return bool(result.rowcount)

    async def release(self, claim: Claim) -> None:
        """Free the key: the request made no answer worth keeping."""
        await self._run(_RELEASE, claim.params())


class PruningRepository:
    """Deletes expired keys in batches; None when another instance holds the pruning lock."""

    def __init__(self, session: AsyncSession, statement_timeout_ms: int) -> None:
        self.session = session
        self.statement_timeout_ms = statement_timeout_ms

    async def prune(self, batch_size: int) -> int | None:
        return await delete_one_batch(
            self.session,
            _PRUNE,
            lock=PRUNING_LOCK,
            batch_size=batch_size,
            statement_timeout_ms=self.statement_timeout_ms,
        )
