"""Every SQL statement of accounts: a user's sign-in details, refresh tokens, login failures and sign-ups by address.

The account queries (`AccountRepository`) read and write four columns of the
`users` row, through a view of them declared here (`ACCOUNTS`): the table
itself is app/users/models.py's, and users sit above auth.

Personal access tokens (`PersonalTokenRepository`): finding the one a
request sends, and a user's creating, listing and revoking them.

The pruning of refresh tokens, personal access tokens, failures and sign-ups
(`PruningRepository`) is here too; app/auth/pruning.py runs it in batches.

Each operation that must hold together is one statement, so it is atomic in
autocommit too: exchanging a refresh token marks it used and issues its
successor in one `WITH ... UPDATE ... INSERT`; counting a sign-up against its
address's limit and adding it is one upsert on that address's row.

A refresh token works once, with a grace window (REFRESH_GRACE_SECONDS):
presented again less than that long after its first use, it gives another
successor in the same login, because two tabs or two processes holding one
token refresh at the same moment and both are the owner. Presented later, it
was copied, and its whole login is revoked. The window runs from the first
use and never stretches, and a revoked token is never exchanged, in or out of
it. Each exchange holds the presented token's row until it commits, so it and
a revocation of its login wait for each other: the revocation either comes
first and the exchange finds the token revoked, or comes second and revokes
the new successor too (`_revoke_every`).
"""

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Executable,
    Integer,
    Interval,
    RowMapping,
    String,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    table,
    text,
    update,
)
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.models import (
    CLIENT_ADDRESS_MAX_LENGTH,
    LOGIN_FAILURES,
    PERSONAL_ACCESS_TOKENS,
    REFRESH_TOKENS,
    PersonalTokenPublic,
)
from app.kit.errors import NotFound
from app.kit.pruning import delete_one_batch
from app.kit.repository import can_exist
from app.kit.scope import EVERY_ROW, Scope, owner_matches

# Login throttling: this many failures within the window refuse further tries.
THROTTLE_WINDOW_MINUTES = 15
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_ADDRESS = 20
# The sign-up limit counts an address's sign-ups over this window (SIGNUPS_PER_HOUR).
SIGN_UP_WINDOW_MINUTES = 60


# ---------------------------------------------------------------- accounts

# The four columns of a `users` row that signing in and changing a password
# need: a view of the row, not the table. The table, with its rules and the
# rest of its columns, is owned by app/users/models.py; auth sits below users
# and must not import it (users' service uses auth's passwords and tokens).
# tests/auth/test_auth.py holds these names to the users table's.
ACCOUNTS = table(
    "users",
    column("id", Integer),
    column("email", String),
    column("password_hash", String),
    column("is_admin", Boolean),
)
_ACCOUNT_COLUMNS = (ACCOUNTS.c.id, ACCOUNTS.c.email, ACCOUNTS.c.password_hash, ACCOUNTS.c.is_admin)
_ACCOUNT_BY_EMAIL = select(*_ACCOUNT_COLUMNS).where(ACCOUNTS.c.email == bindparam("email"))
_ACCOUNT_BY_ID = select(*_ACCOUNT_COLUMNS).where(ACCOUNTS.c.id == bindparam("row_id"), owner_matches(ACCOUNTS.c.id))
_IS_ADMIN = select(ACCOUNTS.c.is_admin).where(ACCOUNTS.c.id == bindparam("row_id"))
_SET_PASSWORD_HASH = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("row_id"))
    .values(password_hash=bindparam("new_hash"))
    .returning(ACCOUNTS.c.id)
)


@dataclass(frozen=True, slots=True)
class Account:
    """What signing in, and changing a password, need to know of a user."""

    user_id: int
    email: str | None
    password_hash: str | None  # None: the user cannot sign in
    is_admin: bool


class AccountRepository:
    """A user's sign-in details, for one session and the rows the caller may reach (`scope`)."""

    def __init__(self, session: AsyncSession, scope: Scope = EVERY_ROW) -> None:
        self.session = session
        self.scope = scope

    async def _first(self, statement: Executable, **params: Any) -> RowMapping | None:
        # As in app/kit/repository.py: sqlmodel's exec() is typed for its own select() only.
        result = await self.session.exec(statement, params=params)  # type: ignore[call-overload]
        return result.mappings().first()

    async def by_email(self, email: str) -> Account | None:
        row = await self._first(_ACCOUNT_BY_EMAIL, email=email)
        return None if row is None else _account(row)

    async def by_id(self, user_id: int) -> Account:
        """The user's account, in one statement; `NotFound` if there is none in scope."""
        if not can_exist(user_id):
            raise NotFound("User", user_id)
        row = await self._first(_ACCOUNT_BY_ID, row_id=user_id, **self.scope.params())
        if row is None:
            raise NotFound("User", user_id)
        return _account(row)

    async def is_admin(self, user_id: int) -> bool | None:
        """Whether the user is an admin now, by primary key; None if there is no such user (whatever the scope)."""
        if not can_exist(user_id):
            return None
        row = await self._first(_IS_ADMIN, row_id=user_id)
        return None if row is None else bool(row["is_admin"])

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        if await self._first(_SET_PASSWORD_HASH, row_id=user_id, new_hash=password_hash) is None:
            raise NotFound("User", user_id)


def _account(row: RowMapping) -> Account:
    return Account(row["id"], row["email"], row["password_hash"], row["is_admin"])


# ---------------------------------------------------------------- personal access tokens

# A request's personal access token, found and its use noted in one statement: the unique index on
# token_hash finds the row, the users row (by primary key) says whether its user is an admin now.
# `last_used_at` is written only when it is a minute old or more: a script sending a token on every
# request writes once a minute, not once a request; a concurrent request that waited for that write
# rechecks the condition on the new row and writes nothing.
_FIND_PERSONAL_TOKEN = text(
    """
    WITH found AS (
        SELECT token.id, token.user_id, token.scopes, token.last_used_at, users.is_admin
        FROM personal_access_tokens AS token JOIN users ON users.id = token.user_id
        WHERE token.token_hash = :token_hash AND token.expires_at > now()
    ), noted AS (
        UPDATE personal_access_tokens SET last_used_at = now()
        WHERE id = (SELECT id FROM found) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    )
    SELECT user_id, scopes, is_admin FROM found
    """
)
# The user's row, held until the creating transaction ends, so two creations count the live tokens in
# turns and neither slips past the limit; FOR NO KEY UPDATE does not hold up the user's stocks' inserts.
_LOCK_TOKEN_OWNER = (
    select(ACCOUNTS.c.is_admin).where(ACCOUNTS.c.id == bindparam("row_id")).with_for_update(key_share=True)
)
_COUNT_LIVE_TOKENS = select(func.count().label("live")).where(
    PERSONAL_ACCESS_TOKENS.c.user_id == bindparam("of_user"), PERSONAL_ACCESS_TOKENS.c.expires_at > func.now()
)
_PERSONAL_TOKEN_COLUMNS = (
    PERSONAL_ACCESS_TOKENS.c.id,
    PERSONAL_ACCESS_TOKENS.c.name,
    PERSONAL_ACCESS_TOKENS.c.scopes,
    PERSONAL_ACCESS_TOKENS.c.prefix,
    PERSONAL_ACCESS_TOKENS.c.created_at,
    PERSONAL_ACCESS_TOKENS.c.expires_at,
    PERSONAL_ACCESS_TOKENS.c.last_used_at,
)
_CREATE_PERSONAL_TOKEN = (
    insert(PERSONAL_ACCESS_TOKENS)
    .values(
        user_id=bindparam("new_user_id"),
        name=bindparam("new_name"),
        scopes=bindparam("new_scopes"),
        token_hash=bindparam("new_token_hash"),
        prefix=bindparam("new_prefix"),
        expires_at=func.now() + bindparam("lifetime", type_=Interval),
    )
    .returning(*_PERSONAL_TOKEN_COLUMNS)
)
# Live tokens only: an expired one works no more, and housekeeping deletes it.
_LIST_PERSONAL_TOKENS = (
    select(*_PERSONAL_TOKEN_COLUMNS)
    .where(PERSONAL_ACCESS_TOKENS.c.user_id == bindparam("of_user"), PERSONAL_ACCESS_TOKENS.c.expires_at > func.now())
    .order_by(PERSONAL_ACCESS_TOKENS.c.id)
)
# Revoking deletes: nothing is left to present, list or prune.
_REVOKE_PERSONAL_TOKEN = (
    delete(PERSONAL_ACCESS_TOKENS)
    .where(
        PERSONAL_ACCESS_TOKENS.c.id == bindparam("token_id"), PERSONAL_ACCESS_TOKENS.c.user_id == bindparam("of_user")
    )
    .returning(PERSONAL_ACCESS_TOKENS.c.id)
)
_REVOKE_EVERY_PERSONAL_TOKEN = delete(PERSONAL_ACCESS_TOKENS).where(
    PERSONAL_ACCESS_TOKENS.c.user_id == bindparam("of_user")
)


@dataclass(frozen=True, slots=True)
class PersonalTokenHolder:
    """Whom a live personal access token speaks for, what it may do, and whether its user is an admin now."""

    user_id: int
    scopes: frozenset[str]
    user_is_admin: bool


class PersonalTokenRepository:
    """Personal access tokens, for one session; a user reaches only their own."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _run(self, statement: Executable, params: dict[str, Any]) -> RowMapping | None:
        # As in app/kit/repository.py: sqlmodel's exec() is typed for its own select() only.
        result = await self.session.exec(statement, params=params)  # type: ignore[call-overload]
        return result.mappings().first() if result.returns_rows else None

    async def holder_of(self, token_hash: str) -> PersonalTokenHolder | None:
        """The holder of a live token, its use noted (at most once a minute); None for any other."""
        row = await self._run(_FIND_PERSONAL_TOKEN, {"token_hash": token_hash})
        if row is None:
            return None
        return PersonalTokenHolder(row["user_id"], frozenset(row["scopes"]), row["is_admin"])

    async def lock_owner(self, user_id: int) -> bool:
        """Hold the user's row until the transaction ends: whether they are an admin; `NotFound` if they are gone."""
        row = await self._run(_LOCK_TOKEN_OWNER, {"row_id": user_id}) if can_exist(user_id) else None
        if row is None:
            raise NotFound("User", user_id)
        return bool(row["is_admin"])

    async def count_live(self, user_id: int) -> int:
        row = await self._run(_COUNT_LIVE_TOKENS, {"of_user": user_id})
        return 0 if row is None else int(row["live"])

    async def create(
        self, user_id: int, name: str, scopes: list[str], token_hash: str, prefix: str, lifetime: timedelta
    ) -> PersonalTokenPublic:
        params = {
            "new_user_id": user_id,
            "new_name": name,
            "new_scopes": scopes,
            "new_token_hash": token_hash,
            "new_prefix": prefix,
            "lifetime": lifetime,
        }
        row = await self._run(_CREATE_PERSONAL_TOKEN, params)
        assert row is not None  # INSERT ... RETURNING answers its row
        return PersonalTokenPublic.model_validate(dict(row))

    async def list(self, user_id: int) -> list[PersonalTokenPublic]:
        result = await self.session.exec(_LIST_PERSONAL_TOKENS, params={"of_user": user_id})  # type: ignore[call-overload]
        return [PersonalTokenPublic.model_validate(dict(row)) for row in result.mappings()]

    async def revoke(self, user_id: int, token_id: int) -> None:
        """The user's token stops working now; `NotFound` if they have no such token (another's included)."""
        revoked = can_exist(token_id) and await self._run(
            _REVOKE_PERSONAL_TOKEN, {"token_id": token_id, "of_user": user_id}
        )
        if not revoked:
            raise NotFound("Personal access token", token_id)

    async def revoke_every(self, user_id: int) -> None:
        """Every token of the user stops working (a new password)."""
        await self._run(_REVOKE_EVERY_PERSONAL_TOKEN, {"of_user": user_id})


# ---------------------------------------------------------------- refresh tokens, failures, sign-ups


@dataclass(frozen=True, slots=True)
class Exchanged:
    """The account a refresh token was exchanged for."""

    user_id: int
    is_admin: bool


_ISSUE = insert(REFRESH_TOKENS).values(
    # Parameters named apart from the columns, which SQLAlchemy reserves for VALUES and SET.
    user_id=bindparam("new_user_id"),
    login_id=bindparam("new_login_id"),
    token_hash=bindparam("new_token_hash"),
    expires_at=bindparam("new_expires_at"),
)

# Consume the presented token (if it is live, or was first used within the
# grace window) and issue a successor in the same login, in one statement;
# answer the account the pair is for. The UPDATE locks the row even when it
# leaves used_at as it was. `:grace > 0` first: with no window, an exchange that
# waited for a concurrent one must fail, though that one's now() may be later than its own.
_EXCHANGE = text(
    """
    WITH consumed AS (
        UPDATE refresh_tokens SET used_at = coalesce(used_at, now())
        WHERE token_hash = :presented AND revoked_at IS NULL AND expires_at > now()
            AND (used_at IS NULL OR (:grace > interval '0' AND used_at > now() - :grace))
        RETURNING user_id, login_id
    ), issued AS (
        INSERT INTO refresh_tokens (user_id, login_id, token_hash, expires_at)
        SELECT user_id, login_id, :successor, :expires_at FROM consumed
        RETURNING user_id
    )
    SELECT users.id AS user_id, users.is_admin FROM issued JOIN users ON users.id = issued.user_id
    """
)
_LOGIN_OF = select(REFRESH_TOKENS.c.login_id, REFRESH_TOKENS.c.used_at).where(
    REFRESH_TOKENS.c.token_hash == bindparam("token_hash")
)
# Both answer a row while they revoked any (`_revoke_every`).
_REVOKE_LOGIN = (
    update(REFRESH_TOKENS)
    .where(REFRESH_TOKENS.c.login_id == bindparam("of_login"), REFRESH_TOKENS.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
    .returning(REFRESH_TOKENS.c.id)
)
_REVOKE_USER = (
    update(REFRESH_TOKENS)
    .where(REFRESH_TOKENS.c.user_id == bindparam("of_user"), REFRESH_TOKENS.c.revoked_at.is_(None))
    .values(revoked_at=func.now())
    .returning(REFRESH_TOKENS.c.id)
)

# The moment the throttle lifts for this email and this address: when the
# oldest failure that keeps the count at its limit leaves the window (NULL: not
# throttled); and, for the rate-limit headers, in the same statement, how many
# failures each has in the window and when the oldest of each leaves it.
_FAILURES_IN_WINDOW = text(
    f"""
    SELECT greatest(
        (array_agg(failed_at ORDER BY failed_at DESC) FILTER (WHERE email = :email))[{MAX_FAILURES_PER_EMAIL}],
        (array_agg(failed_at ORDER BY failed_at DESC)
            FILTER (WHERE client_address = :client_address))[{MAX_FAILURES_PER_ADDRESS}]
    ) + interval '{THROTTLE_WINDOW_MINUTES} minutes' AS until,
    count(*) FILTER (WHERE email = :email) AS email_failures,
    count(*) FILTER (WHERE client_address = :client_address) AS address_failures,
    min(failed_at) FILTER (WHERE email = :email) + interval '{THROTTLE_WINDOW_MINUTES} minutes' AS email_frees_at,
    min(failed_at) FILTER (WHERE client_address = :client_address)
        + interval '{THROTTLE_WINDOW_MINUTES} minutes' AS address_frees_at
    FROM login_failures
    WHERE (email = :email OR client_address = :client_address)
        AND failed_at > now() - interval '{THROTTLE_WINDOW_MINUTES} minutes'
    """
)
_RECORD_FAILURE = insert(LOGIN_FAILURES).values(
    email=bindparam("new_email"), client_address=bindparam("new_client_address")
)
_FORGIVE_EMAIL = delete(LOGIN_FAILURES).where(LOGIN_FAILURES.c.email == bindparam("email"))

# A sign-up from this address, counted if it had fewer than :per_hour within
# the window; its row answered only then. The address's row is locked by the
# upsert, and a concurrent one waiting for it sees the row as left by the one
# before (READ COMMITTED rechecks the WHERE on the newest version), so the
# count and the addition hold together.
_COUNT_SIGN_UP = text(
    f"""
    INSERT INTO sign_ups_by_address AS address (client_address, signed_up_at) VALUES (:client_address, ARRAY[now()])
    ON CONFLICT (client_address) DO UPDATE SET signed_up_at = ARRAY(
        SELECT moment FROM unnest(address.signed_up_at || now()) AS moment
        WHERE moment > now() - interval '{SIGN_UP_WINDOW_MINUTES} minutes' ORDER BY moment
    )
    WHERE (
        SELECT count(*) FROM unnest(address.signed_up_at) AS moment
        WHERE moment > now() - interval '{SIGN_UP_WINDOW_MINUTES} minutes'
    ) < :per_hour
    RETURNING cardinality(signed_up_at) AS counted,
        signed_up_at[1] + interval '{SIGN_UP_WINDOW_MINUTES} minutes' AS frees_at
    """
)
# When a refused address may sign up again: when the :per_hour-th newest of its
# sign-ups leaves the window. No row: a place came free meanwhile.
_SIGN_UPS_RESUME_AT = text(
    f"""
    SELECT moment + interval '{SIGN_UP_WINDOW_MINUTES} minutes' AS until
    FROM sign_ups_by_address, unnest(signed_up_at) AS moment
    WHERE client_address = :client_address AND moment > now() - interval '{SIGN_UP_WINDOW_MINUTES} minutes'
    ORDER BY moment DESC OFFSET :per_hour - 1 LIMIT 1
    """
)

# Housekeeping (app/auth/pruning.py, run by app/ops/housekeeping.py): each batch is one short transaction
# under this lock (app/kit/pruning.py says why a transaction's lock). "tidyauth" in ASCII;
# app/core/migrations.py's lock is another.
HOUSEKEEPING_LOCK = int.from_bytes(b"tidyauth", "big")
# A refresh token is kept until it expires, used or revoked alike: presenting a
# used one while it could still be live is how a copied token is caught
# (`exchange`), and past its expiry it is refused anyway. Oldest first, by the
# index on expires_at; rows a sign-out is revoking right now are left for next time.
_PRUNE_REFRESH_TOKENS = text(
    """
    DELETE FROM refresh_tokens WHERE id IN (
        SELECT id FROM refresh_tokens WHERE expires_at < now()
        ORDER BY expires_at LIMIT :batch_size FOR UPDATE SKIP LOCKED
    )
    """
)
# A personal access token past its expiry works no more and is not listed. Oldest first, as above.
_PRUNE_PERSONAL_TOKENS = text(
    """
    DELETE FROM personal_access_tokens WHERE id IN (
        SELECT id FROM personal_access_tokens WHERE expires_at < now()
        ORDER BY expires_at LIMIT :batch_size FOR UPDATE SKIP LOCKED
    )
    """
)
# A failure older than the throttle's window counts for nothing.
_PRUNE_LOGIN_FAILURES = text(
    f"""
    DELETE FROM login_failures WHERE id IN (
        SELECT id FROM login_failures WHERE failed_at < now() - interval '{THROTTLE_WINDOW_MINUTES} minutes'
        LIMIT :batch_size FOR UPDATE SKIP LOCKED
    )
    """
)

# An address whose newest sign-up has left the window has nothing left to count.
_PRUNE_SIGN_UPS = text(
    f"""
    DELETE FROM sign_ups_by_address WHERE client_address IN (
        SELECT client_address FROM sign_ups_by_address
        WHERE signed_up_at[array_upper(signed_up_at, 1)] < now() - interval '{SIGN_UP_WINDOW_MINUTES} minutes'
        LIMIT :batch_size FOR UPDATE SKIP LOCKED
    )
    """
)


@dataclass(frozen=True, slots=True)
class Counted:
    """Tries counted against one limit in its window, and seconds until the oldest leaves it (None: none counted)."""

    count: int
    limit: int
    frees_in: int | None


@dataclass(frozen=True, slots=True)
class Failures:
    """The sign-in throttle for one email and one address: seconds to wait (None: may try), and each one's count."""

    retry_after: int | None
    email: Counted
    address: Counted


def _seconds_until(moment: datetime | None) -> int | None:
    return None if moment is None else max(1, math.ceil((moment - datetime.now(UTC)).total_seconds()))


class AuthRepository:
    """Refresh tokens, login failures and sign-ups by address, for one request's session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _run(self, statement: Executable, params: dict[str, Any]) -> RowMapping | None:
        """Run one statement to its end; its first row, if it returns any."""
        # As in app/kit/repository.py: sqlmodel's exec() is typed for its own select() only.
        result = await self.session.exec(statement, params=params)  # type: ignore[call-overload]
        return result.mappings().first() if result.returns_rows else None

    # -- refresh tokens

    async def issue(self, user_id: int, token_hash: str, lifetime: timedelta) -> None:
        """The first refresh token of a new login."""
        await self._run(
            _ISSUE,
            {
                "new_user_id": user_id,
                "new_login_id": uuid.uuid4(),
                "new_token_hash": token_hash,
                "new_expires_at": _from_now(lifetime),
            },
        )

    async def exchange(
        self, presented_hash: str, successor_hash: str, lifetime: timedelta, grace: timedelta
    ) -> Exchanged | None:
        """Consume a live refresh token and store a successor; None if the token is not live.

        Within `grace` of its first use, a used token gets another successor
        (module docstring). Presented again after that, it was copied: every
        token of its login is revoked, the thief's and the owner's alike.
        """
        params = {
            "presented": presented_hash,
            "successor": successor_hash,
            "expires_at": _from_now(lifetime),
            "grace": grace,
        }
        row = await self._run(_EXCHANGE, params)
        if row is not None:
            return Exchanged(row["user_id"], row["is_admin"])
        known = await self._run(_LOGIN_OF, {"token_hash": presented_hash})
        if known is not None and known["used_at"] is not None:
            await self._revoke_every(_REVOKE_LOGIN, {"of_login": known["login_id"]})
        return None

    async def revoke_login(self, token_hash: str) -> None:
        """Sign out: every token of the login this one belongs to stops working."""
        known = await self._run(_LOGIN_OF, {"token_hash": token_hash})
        if known is not None:
            await self._revoke_every(_REVOKE_LOGIN, {"of_login": known["login_id"]})

    async def revoke_user(self, user_id: int) -> None:
        """Every login of this user ends (a new password)."""
        await self._revoke_every(_REVOKE_USER, {"of_user": user_id})

    async def _revoke_every(self, revoke: Executable, params: dict[str, Any]) -> None:
        """Revoke until nothing is left to revoke, successors of exchanges running meanwhile included.

        An exchange holding one of these tokens makes the revocation wait for
        it, and its successor, committed after the revocation began, is not
        among the rows that revocation sees; the next pass, a new statement,
        sees and revokes it. A pass that finds nothing live is the last.
        """
        while await self._run(revoke, params) is not None:
            pass

    # -- login throttling

    async def failures(self, email: str, client_address: str) -> Failures:
        """This email's and this address's failures in the window, and whether they may try now: one statement."""
        params = {"email": email, "client_address": _storable(client_address)}
        row = await self._run(_FAILURES_IN_WINDOW, params)
        assert row is not None  # an aggregate without GROUP BY answers one row
        return Failures(
            retry_after=None if row["until"] is None else _seconds_until(row["until"]),
            email=Counted(row["email_failures"], MAX_FAILURES_PER_EMAIL, _seconds_until(row["email_frees_at"])),
            address=Counted(row["address_failures"], MAX_FAILURES_PER_ADDRESS, _seconds_until(row["address_frees_at"])),
        )

    async def throttled_for(self, email: str, client_address: str) -> int | None:
        """Seconds until this email and address may try again, or None if they may now."""
        return (await self.failures(email, client_address)).retry_after

    async def record_failure(self, email: str, client_address: str) -> None:
        await self._run(_RECORD_FAILURE, {"new_email": email, "new_client_address": _storable(client_address)})

    async def forgive(self, email: str) -> None:
        """A successful login clears its email's failures (not its address's: one person, many accounts)."""
        await self._run(_FORGIVE_EMAIL, {"email": email})

    # -- the sign-up limit

    async def count_sign_up(self, client_address: str, per_hour: int) -> Counted | int:
        """Count a sign-up from this address: its count now; or, if it already had `per_hour`, seconds to wait."""
        params = {"client_address": _storable(client_address), "per_hour": per_hour}
        if (counted := await self._run(_COUNT_SIGN_UP, params)) is not None:
            return Counted(counted["counted"], per_hour, _seconds_until(counted["frees_at"]))
        row = await self._run(_SIGN_UPS_RESUME_AT, params)
        if row is None:
            return 1
        return max(1, math.ceil((row["until"] - datetime.now(UTC)).total_seconds()))


class PruningRepository:
    """Deleting what no rule needs any more: expired refresh and personal tokens, old failures and sign-ups.

    Each call is one transaction on its own session, under HOUSEKEEPING_LOCK and
    a statement time limit of its own: None if another instance holds the lock,
    else how many rows it deleted (at most `batch_size`).
    """

    def __init__(self, session: AsyncSession, statement_timeout_ms: int) -> None:
        self.session = session
        self.statement_timeout_ms = statement_timeout_ms

    async def prune_refresh_tokens(self, batch_size: int) -> int | None:
        return await self._prune(_PRUNE_REFRESH_TOKENS, batch_size)

    async def prune_personal_tokens(self, batch_size: int) -> int | None:
        return await self._prune(_PRUNE_PERSONAL_TOKENS, batch_size)

    async def prune_login_failures(self, batch_size: int) -> int | None:
        return await self._prune(_PRUNE_LOGIN_FAILURES, batch_size)

    async def prune_sign_ups(self, batch_size: int) -> int | None:
        return await self._prune(_PRUNE_SIGN_UPS, batch_size)

    async def _prune(self, statement: Executable, batch_size: int) -> int | None:
        return await delete_one_batch(
            self.session,
            statement,
            lock=HOUSEKEEPING_LOCK,
            batch_size=batch_size,
            statement_timeout_ms=self.statement_timeout_ms,
        )


def _storable(client_address: str) -> str:
    """The address as the tables hold it, whatever was sent: cut to the column, NUL (text cannot hold it) replaced.

    Stored and looked up alike, so an address too long to store is still
    counted, under its first characters.
    """
    return client_address[:CLIENT_ADDRESS_MAX_LENGTH].replace("\x00", "\ufffd")


def _from_now(lifetime: timedelta) -> datetime:
    return datetime.now(UTC) + lifetime
