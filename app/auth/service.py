"""Signing in, refreshing and signing out: the rules around the tokens.

A login answers a wrong email and a wrong password with the same 401, in the
same time (an unknown email is checked against a dummy hash), and is
throttled in PostgreSQL, so the count holds across workers and instances:
after 5 failures for one email, or 20 from one address, within 15 minutes,
further tries get a 429 until the oldest of those failures is 15 minutes old.
A wrong `current_password` at PUT /users/me/password is such a failure too,
of the account's email (`failures_counted_under`): guessing a password
through either door draws on the same 5 tries, and both doors then refuse.

A wrong password is refused whatever happens to its record (at /auth/token,
OAuth2's 400 invalid_grant): if the failure cannot be stored (the database
refuses the row, or is gone for a moment), the answer stays the refusal the
password earned, and the lost count is logged.
"""

import logging
from datetime import timedelta

import psycopg
from sqlalchemy import exc as sa_exc

from app.auth.access import NotAuthenticated
from app.auth.models import TokenPair
from app.auth.passwords import verify_password
from app.auth.repository import THROTTLE_WINDOW_MINUTES, Account, AccountRepository, AuthRepository, Counted, Failures
from app.auth.tokens import AccessTokens, new_refresh_token, refresh_token_digest
from app.core.config import Settings
from app.core.database import SessionOpener
from app.http.rate_limits import RateLimit, RateLimitSeen, tightest
from app.kit.errors import AppError
from app.kit.fields import EMAIL_MAX_LENGTH

logger = logging.getLogger(__name__)

WRONG_CREDENTIALS = "Incorrect email or password"
INVALID_REFRESH_TOKEN = "Invalid, expired, revoked or already used refresh token"


TOO_MANY_FAILED_SIGN_INS = "Too many failed sign-ins; try again later"
TOO_MANY_WRONG_PASSWORDS = "Too many wrong passwords for this account lately; try again later"
TOO_MANY_SIGN_UPS = "Too many sign-ups from this address in the last hour; try again later"


class Throttled(AppError):
    """429: too many of these lately; `retry_after` seconds until the next may be tried (`Retry-After`).

    With the limit that ran out, `RateLimit-*` too (`RateLimit-Remaining: 0`).
    """

    status_code = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str, limit: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)}
        if limit is not None:
            headers |= RateLimit(limit, 0, retry_after).headers()
        super().__init__(detail, headers=headers)
        self.retry_after = retry_after


class WrongCredentials(NotAuthenticated):
    """A sign-in with a wrong email or password; `rate_limit`: what the throttle has left after it."""

    def __init__(self, rate_limit: RateLimit) -> None:
        super().__init__(WRONG_CREDENTIALS, token_sent=False)
        self.rate_limit = rate_limit


class InvalidRefreshToken(NotAuthenticated):
    """401: a refresh token that is unknown, expired, revoked or already used."""

    code = "invalid_refresh_token"
    title = "Invalid refresh token"

    def __init__(self) -> None:
        super().__init__(INVALID_REFRESH_TOKEN, token_sent=True)

    @property
    def problem_code(self) -> str:
        return self.code


class TooManyFailures(Throttled):
    """This email or address failed too often lately."""

    def __init__(self, retry_after: int, detail: str = TOO_MANY_FAILED_SIGN_INS, limit: int | None = None) -> None:
        super().__init__(retry_after, detail, limit)


class TooManySignUps(Throttled):
    """This address signed up SIGNUPS_PER_HOUR times in the last hour."""

    def __init__(self, retry_after: int, per_hour: int | None = None) -> None:
        super().__init__(retry_after, TOO_MANY_SIGN_UPS, per_hour)


class Authenticator:
    """Sign-in, refresh and sign-out. A session is open only around statements, never while a hash runs."""

    def __init__(self, open_session: SessionOpener, access_tokens: AccessTokens, settings: Settings) -> None:
        self.open_session = open_session
        self.access_tokens = access_tokens
        self.refresh_lifetime = timedelta(days=settings.refresh_token_days)
        self.refresh_grace = timedelta(seconds=settings.refresh_grace_seconds)

    async def sign_in(
        self, email: str, password: str, client_address: str, rate_limit_seen: RateLimitSeen | None = None
    ) -> TokenPair:
        """A new login: a token pair, or `WrongCredentials`/`TooManyFailures`; what the throttle has left, told."""
        # Longer names no account, and the bound keeps the failure row small; PostgreSQL text
        # cannot hold NUL, which names no account either, so it becomes U+FFFD and a plain 401.
        email = email.strip().lower()[: EMAIL_MAX_LENGTH + 1].replace("\x00", "\ufffd")
        async with self.open_session() as session:
            failures = await AuthRepository(session).failures(email, client_address)
            if failures.retry_after is not None:
                raise throttled(failures)
            account = await AccountRepository(session).by_email(email)
        matches, new_hash = await verify_password(password, account.password_hash if account else None)
        if account is None or not matches:
            await record_failure(self.open_session, email, client_address)
            raise WrongCredentials(rate_limit_after(failures, failed=True))
        refresh_token = new_refresh_token()
        # The login and what it settles land together: no new hash or forgiven failures without the login.
        async with self.open_session.transaction() as session:
            auth = AuthRepository(session)
            if new_hash is not None:  # hashed with older parameters: store it at today's
                await AccountRepository(session).set_password_hash(account.user_id, new_hash)
            await auth.forgive(email)
            await auth.issue(account.user_id, refresh_token_digest(refresh_token), self.refresh_lifetime)
        if rate_limit_seen is not None:
            rate_limit_seen(rate_limit_after(failures, failed=False, email_forgiven=True))
        return self._pair(account.user_id, account.is_admin, refresh_token)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new pair for a live refresh token, which is used up; reused past the grace window, it ends its login."""
        successor = new_refresh_token()
        async with self.open_session() as session:
            exchanged = await AuthRepository(session).exchange(
                refresh_token_digest(refresh_token),
                refresh_token_digest(successor),
                self.refresh_lifetime,
                self.refresh_grace,
            )
        if exchanged is None:
            raise InvalidRefreshToken
        return self._pair(exchanged.user_id, exchanged.is_admin, successor)

    async def sign_out(self, refresh_token: str) -> None:
        async with self.open_session() as session:
            await AuthRepository(session).revoke_login(refresh_token_digest(refresh_token))

    def _pair(self, user_id: int, is_admin: bool, refresh_token: str) -> TokenPair:
        return TokenPair(
            access_token=self.access_tokens.issue(user_id, is_admin=is_admin),
            expires_in=int(self.access_tokens.lifetime.total_seconds()),
            refresh_token=refresh_token,
        )


_WINDOW_SECONDS = THROTTLE_WINDOW_MINUTES * 60


def throttled(failures: Failures, detail: str = TOO_MANY_FAILED_SIGN_INS) -> TooManyFailures:
    """The 429 of a throttled email or address, naming the limit that ran out."""
    assert failures.retry_after is not None
    run_out = tightest(_left(failures.email), _left(failures.address))
    return TooManyFailures(failures.retry_after, detail, run_out.limit)


def rate_limit_after(failures: Failures, *, failed: bool, email_forgiven: bool = False) -> RateLimit:
    """What the throttle has left once this try is settled: one failure more, or the email's failures forgiven."""
    added = 1 if failed else 0
    email = Counted(0, failures.email.limit, None) if email_forgiven else failures.email
    return tightest(_left(email, added), _left(failures.address, added))


def _left(counted: Counted, added: int = 0) -> RateLimit:
    # A try counted now is given back when it leaves the window: the oldest first.
    frees_in = counted.frees_in if counted.count and counted.frees_in is not None else _WINDOW_SECONDS
    return RateLimit(counted.limit, counted.limit - counted.count - added, frees_in)


def failures_counted_under(account: Account) -> str:
    """The email a wrong password for this account counts against, as a failed sign-in of it would.

    An account without an email cannot sign in, but a token issued before its
    email was removed can still reach PUT /users/me/password: its failures are
    counted under `#<id>`, which no account's email spells.
    """
    return account.email or f"#{account.user_id}"


# What may go wrong storing a failure: the database refusing the row, being
# unreachable, or no connection being free in time.
_NOT_RECORDED = (sa_exc.SQLAlchemyError, psycopg.Error, OSError)


async def record_failure(open_session: SessionOpener, email: str, client_address: str) -> None:
    """Count a wrong password against `email` and `client_address`; if that fails, say so in the log and go on.

    The caller answers the wrong password (401, 403) either way: a failure
    that cannot be recorded must not turn into a 422, a 503 or a 500 that
    tells a guesser something else happened. Logged with the request's id
    (app/http/request_log.py), never with the password, the email or the address.
    """
    try:
        async with open_session() as session:
            await AuthRepository(session).record_failure(email, client_address)
    except _NOT_RECORDED as error:
        # The driver's own message, first line: SQLAlchemy's adds the statement and its parameters.
        cause = getattr(error, "orig", None) or error
        reason = (str(cause).strip().splitlines() or ["no reason given"])[0]
        logger.warning(
            "A wrong password was not recorded, so the sign-in throttle did not count it: %s: %s",
            type(error).__name__,
            reason,
        )
