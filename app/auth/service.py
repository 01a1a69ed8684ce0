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
    def __init__(
        self, users: UserRepository, auth: AuthRepository, access_tokens: AccessTokens, settings: Settings
    ) -> None:
        self.users = users
        self.auth = auth
        self.access_tokens = access_tokens
        self.refresh_lifetime = timedelta(days=settings.refresh_token_days)

    async def sign_in(self, email: str, password: str, client_address: str) -> TokenPair:
        """A new login: a token pair, or `NotAuthenticated`/`TooManyFailures`."""
        email = email.strip().lower()[: EMAIL_MAX_LENGTH + 1]  # longer names no account, and stays bounded
        retry_after = await self.auth.throttled_for(email, client_address)
        if retry_after is not None:
            raise TooManyFailures(retry_after)
        account = await self.users.account_by_email(email)
        matches, new_hash = await verify_password(password, account.password_hash if account else None)
        if account is None or not matches:
            await self.auth.record_failure(email, client_address)
            raise NotAuthenticated(WRONG_CREDENTIALS, token_sent=False)
        if new_hash is not None:  # hashed with older parameters: store it at today's
            await self.users.set_password_hash(account.user_id, new_hash)
        await self.auth.forgive(email)
        refresh_token = new_refresh_token()
        await self.auth.issue(account.user_id, refresh_token_digest(refresh_token), self.refresh_lifetime)
        return self._pair(account.user_id, account.is_admin, refresh_token)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new pair for a live refresh token, which is used up; a reused one ends its whole login."""
        successor = new_refresh_token()
        exchanged = await self.auth.exchange(
            refresh_token_digest(refresh_token), refresh_token_digest(successor), self.refresh_lifetime
        )
        if exchanged is None:
            raise NotAuthenticated(INVALID_REFRESH_TOKEN, token_sent=True)
        return self._pair(exchanged.user_id, exchanged.is_admin, successor)

    async def sign_out(self, refresh_token: str) -> None:
        await self.auth.revoke_login(refresh_token_digest(refresh_token))

    def _pair(self, user_id: int, is_admin: bool, refresh_token: str) -> TokenPair:
        return TokenPair(
            access_token=self.access_tokens.issue(user_id, is_admin=is_admin),
            expires_in=int(self.access_tokens.lifetime.total_seconds()),
            refresh_token=refresh_token,
        )
