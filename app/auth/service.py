"""Signing in, refreshing and signing out: the rules around the tokens.

A login answers a wrong email and a wrong password with the same 401, in the
same time (an unknown email is checked against a dummy hash), and is
throttled in PostgreSQL, so the count holds across workers and instances:
after 5 failures for one email, or 20 from one address, within 15 minutes,
further tries get a 429 until the oldest of those failures is 15 minutes old.
"""

from datetime import timedelta

from app.auth.access import NotAuthenticated
from app.auth.models import TokenPair
from app.auth.passwords import verify_password
from app.auth.repository import AuthRepository
from app.auth.tokens import AccessTokens, new_refresh_token, refresh_token_digest
from app.config import Settings
from app.db import SessionOpener
from app.models import EMAIL_MAX_LENGTH
from app.users.repository import UserRepository

WRONG_CREDENTIALS = "Incorrect email or password"
INVALID_REFRESH_TOKEN = "Invalid, expired, revoked or already used refresh token"


class TooManyFailures(Exception):
    """429: this email or address failed too often lately; `retry_after` seconds until it may try again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many failed sign-ins; try again later")
        self.detail = str(self)
        self.retry_after = retry_after


class Authenticator:
    """Sign-in, refresh and sign-out. A session is open only around statements, never while a hash runs."""

    def __init__(self, open_session: SessionOpener, access_tokens: AccessTokens, settings: Settings) -> None:
        self.open_session = open_session
        self.access_tokens = access_tokens
        self.refresh_lifetime = timedelta(days=settings.refresh_token_days)

    async def sign_in(self, email: str, password: str, client_address: str) -> TokenPair:
        """A new login: a token pair, or `NotAuthenticated`/`TooManyFailures`."""
        # Longer names no account, and the bound keeps the failure row small; PostgreSQL text
        # cannot hold NUL, which names no account either, so it becomes U+FFFD and a plain 401.
        email = email.strip().lower()[: EMAIL_MAX_LENGTH + 1].replace("\x00", "\ufffd")
        async with self.open_session() as session:
            retry_after = await AuthRepository(session).throttled_for(email, client_address)
            if retry_after is not None:
                raise TooManyFailures(retry_after)
            account = await UserRepository(session).account_by_email(email)
        matches, new_hash = await verify_password(password, account.password_hash if account else None)
        if account is None or not matches:
            async with self.open_session() as session:
                await AuthRepository(session).record_failure(email, client_address)
            raise NotAuthenticated(WRONG_CREDENTIALS, token_sent=False)
        refresh_token = new_refresh_token()
        # The login and what it settles land together: no new hash or forgiven failures without the login.
        async with self.open_session.transaction() as session:
            auth = AuthRepository(session)
            if new_hash is not None:  # hashed with older parameters: store it at today's
                await UserRepository(session).set_password_hash(account.user_id, new_hash)
            await auth.forgive(email)
            await auth.issue(account.user_id, refresh_token_digest(refresh_token), self.refresh_lifetime)
        return self._pair(account.user_id, account.is_admin, refresh_token)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new pair for a live refresh token, which is used up; a reused one ends its whole login."""
        successor = new_refresh_token()
        async with self.open_session() as session:
            exchanged = await AuthRepository(session).exchange(
                refresh_token_digest(refresh_token), refresh_token_digest(successor), self.refresh_lifetime
            )
        if exchanged is None:
            raise NotAuthenticated(INVALID_REFRESH_TOKEN, token_sent=True)
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
