"""Personal access tokens, for scripts: the rules of creating, listing and revoking them (/users/me/tokens).

A token is `pat_` and 256 random bits, shown once when created; the database
keeps its SHA-256 (app/auth/tokens.py) and its first 12 characters, to
recognise it in a list. It has a name (1 to 100 characters, trimmed, no
control characters), scopes ("read", or "read" and "write", and "admin" only
for a user who is an admin when asking) and a lifetime the creator chooses,
1 to 366 days: no default, so no token lives longer, or ends sooner, than
its creator decided. A user holds at most MAX_LIVE_TOKENS live tokens, so a
list of them needs no paging and a runaway script cannot fill the table.

A token dies with its user (the foreign key cascades), with a new password
(users' service revokes them all in the password's transaction), when it is
revoked (its row is deleted) and at its expiry (refused at once, deleted by
housekeeping, app/auth/pruning.py). How a request is checked: app/auth/access.py.
"""

from datetime import timedelta
from typing import ClassVar

from app.auth.models import (
    TOKEN_PREFIX_LENGTH,
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenPublic,
)
from app.auth.repository import PersonalTokenRepository
from app.auth.tokens import new_personal_token, personal_token_digest
from app.core.database import SessionOpener
from app.kit.errors import AppError, Forbidden

MAX_LIVE_TOKENS = 50


class TooManyTokens(AppError):
    """409: the user already holds MAX_LIVE_TOKENS live tokens."""

    status_code = 409
    code: ClassVar[str] = "too_many_tokens"
    title: ClassVar[str] = "Too many tokens"

    def __init__(self) -> None:
        super().__init__(
            f"You already have {MAX_LIVE_TOKENS} live personal access tokens; revoke one before creating another"
        )


class AdminScopeRefused(Forbidden):
    """403: only an admin may ask for the "admin" scope."""

    code: ClassVar[str] = "admin_scope_refused"
    title: ClassVar[str] = "Admin scope refused"

    def __init__(self) -> None:
        super().__init__('Only an admin may create a token with the "admin" scope')


class PersonalTokens:
    """One user's personal access tokens. A session is opened around the statements only."""

    def __init__(self, open_session: SessionOpener, user_id: int) -> None:
        self.open_session = open_session
        self.user_id = user_id

    async def create(self, request: PersonalTokenCreate) -> PersonalTokenCreated:
        """A new token, its secret answered this once; refused past MAX_LIVE_TOKENS or for an unearned admin scope."""
        token = new_personal_token()
        async with self.open_session.transaction() as session:
            tokens = PersonalTokenRepository(session)
            is_admin = await tokens.lock_owner(self.user_id)  # held: creations by one user count in turns
            if "admin" in request.scopes and not is_admin:
                raise AdminScopeRefused
            if await tokens.count_live(self.user_id) >= MAX_LIVE_TOKENS:
                raise TooManyTokens
            created = await tokens.create(
                self.user_id,
                request.name,
                list(request.scopes),
                personal_token_digest(token),
                token[:TOKEN_PREFIX_LENGTH],
                timedelta(days=request.expires_in_days),
            )
        return PersonalTokenCreated.model_validate({**created.model_dump(), "token": token})

    async def list(self) -> list[PersonalTokenPublic]:
        """The user's live tokens, oldest first (at most MAX_LIVE_TOKENS)."""
        async with self.open_session() as session:
            return await PersonalTokenRepository(session).list(self.user_id)

    async def revoke(self, token_id: int) -> None:
        """The token stops working now; another user's is a 404, as if it did not exist."""
        async with self.open_session() as session:
            await PersonalTokenRepository(session).revoke(self.user_id, token_id)
