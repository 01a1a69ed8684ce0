"""The rules of accounts around the user rows: who may set what, and passwords hashed before they are stored.

The repository (app/users/repository.py) holds the statements; this holds
what the statements cannot know: that only an admin makes an admin, that
sign-up needs an email and a password when AUTH=required, that a password is
checked and hashed, that guessing the current one is throttled as sign-ins are,
and that a new password, or admin rights taken away (`is_admin: false`), ends
every login of the user in the same transaction (`SessionOpener.transaction()`):
never a new password with the old logins still valid. A new password revokes
their personal access tokens in that transaction too (a demoted admin's keep
working, without admin power: app/auth/access.py asks the user's row). Deleting
a user ends their logins and tokens by ON DELETE CASCADE.
"""

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import SecretStr

from app.auth.access import LOGIN_NEEDED, Caller, InsufficientScope, NotAuthenticated
from app.auth.models import PasswordChange
from app.auth.passwords import hash_password, verify_password
from app.auth.repository import AccountRepository, AuthRepository, Counted, PersonalTokenRepository
from app.auth.service import (
    TOO_MANY_WRONG_PASSWORDS,
    TooManySignUps,
    failures_counted_under,
    rate_limit_after,
    record_failure,
    throttled,
)
from app.core.config import Settings
from app.core.database import SessionOpener
from app.http.rate_limits import RateLimit, RateLimitSeen
from app.kit.errors import AdminOnly, Forbidden
from app.kit.fields import password_problem
from app.kit.repository import IfMatch, Versioned
from app.kit.scope import Scope
from app.users.models import UserCreate, UserPublic, UserReplace, UserUpdate
from app.users.repository import UserRepository

ONLY_ADMINS_MAKE_ADMINS = "Only an admin may set is_admin"
PASSWORD_CHANGE_NEEDS_THE_OLD_ONE = (
    "This user has a password; change it with PUT /users/me/password, which asks for the current one"
)
WRONG_CURRENT_PASSWORD = "current_password is not this user's password"


class CurrentPasswordRequired(Forbidden):
    """403: a user with a password changes it at PUT /users/me/password, which asks for the current one."""

    code = "current_password_required"
    title = "Current password required"


class WrongCurrentPassword(Forbidden):
    """403: `current_password` is not the user's; counted as a failed sign-in, it tells what the throttle has left."""

    code = "wrong_current_password"
    title = "Wrong current password"

    def __init__(self, rate_limit: RateLimit) -> None:
        super().__init__(WRONG_CURRENT_PASSWORD, headers=rate_limit.headers())


def invalid_field(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 naming one body field, as pydantic's own are; never echoing what was sent (it may be a password)."""
    return RequestValidationError([{"type": kind, "loc": ("body", field), "msg": message, "input": None}])


class UserService:
    """Account rules around the user rows, for one caller and the rows they may reach (`scope`).

    A session is opened around statements only, never while a password is
    hashed: a flood of sign-ups must not hold the connections every other
    request needs.
    """

    def __init__(self, open_session: SessionOpener, scope: Scope, caller: Caller, settings: Settings) -> None:
        self.open_session = open_session
        self.scope = scope
        self.caller = caller
        self.settings = settings

    async def sign_up(
        self, user: UserCreate, client_address: str, rate_limit_seen: RateLimitSeen | None = None
    ) -> Versioned[UserPublic]:
        """POST /users/: a new user, who can sign in if they were given an email and a password.

        With AUTH=required, anyone but an admin signs up at most
        SIGNUPS_PER_HOUR times an hour from one `client_address`. Counted once the request is valid and
        before its password is hashed, the hash being what a flood would cost;
        a sign-up whose email turns out taken counts too, which also bounds
        probing for registered emails. The address's count is told to `rate_limit_seen`.
        """
        if user.is_admin and not self.caller.is_admin:
            raise AdminOnly(ONLY_ADMINS_MAKE_ADMINS)
        if self.settings.auth_required:
            for field in ("email", "password"):
                if getattr(user, field) is None:
                    raise invalid_field(field, "Field required: signing up needs an email and a password", "missing")
        values = user.model_dump(exclude={"password"})
        if user.password is not None:
            _check_password(user.password, user.email)
        await self._count_sign_up(client_address, rate_limit_seen)
        if user.password is not None:
            values["password_hash"] = await hash_password(user.password.get_secret_value())
        async with self.open_session() as session:
            return await UserRepository(session, self.scope).create(values)

    async def _count_sign_up(self, client_address: str, rate_limit_seen: RateLimitSeen | None) -> None:
        """Count this sign-up against its address, or `TooManySignUps` if the address is at SIGNUPS_PER_HOUR.

        Not with AUTH=open (loopback only, the guide's API with no accounts to
        guard) nor for an admin, whose creating users is their job; 0: no limit.
        """
        per_hour = self.settings.signups_per_hour
        if per_hour == 0 or not self.settings.auth_required or self.caller.is_admin:
            return
        async with self.open_session() as session:
            counted = await AuthRepository(session).count_sign_up(client_address, per_hour)
        if not isinstance(counted, Counted):
            raise TooManySignUps(counted, per_hour)
        if rate_limit_seen is not None:
            rate_limit_seen(RateLimit(per_hour, per_hour - counted.count, counted.frees_in or 0))

    async def replace(self, user_id: int, user: UserReplace, if_match: IfMatch) -> Versioned[UserPublic]:
        """PUT: name and age, as in the guide."""
        async with self.open_session() as session:
            return await UserRepository(session, self.scope).change(user_id, user.model_dump(), if_match)

    async def update(self, user_id: int, changes: UserUpdate, if_match: IfMatch) -> Versioned[UserPublic]:
        """PATCH: the fields sent, under the account rules."""
        values: dict[str, Any] = changes.model_dump(exclude_unset=True)
        if "is_admin" in values and not self.caller.is_admin:
            raise AdminOnly(ONLY_ADMINS_MAKE_ADMINS)
        password: SecretStr | None = values.pop("password", None)
        if password is not None and self.caller.by_personal_token:  # setting passwords is for a login
            raise InsufficientScope(LOGIN_NEEDED)
        demoted = values.get("is_admin") is False
        if password is None and not demoted:
            async with self.open_session() as session:  # one statement, durable as it runs
                return await UserRepository(session, self.scope).change(user_id, values, if_match)
        if password is not None:
            async with self.open_session() as session:
                account = await AccountRepository(session, self.scope).by_id(user_id)  # a 404 for one out of reach
            if account.password_hash is not None and not self.caller.is_admin:
                raise CurrentPasswordRequired(PASSWORD_CHANGE_NEEDS_THE_OLD_ONE)
            values["password_hash"] = await self._hash_checked(password, values.get("email", account.email))
        # A new password, or admin rights taken away, ends every login of the user in the same
        # transaction: neither lands alone. A new password revokes their personal access tokens too.
        async with self.open_session.transaction() as session:
            changed = await UserRepository(session, self.scope).change(user_id, values, if_match)
            await AuthRepository(session).revoke_user(user_id)
            if password is not None:
                await PersonalTokenRepository(session).revoke_every(user_id)
        return changed

    async def change_password(self, change: PasswordChange, client_address: str) -> RateLimit:
        """PUT /users/me/password: the current password, then the new one; every login of the user ends.

        A wrong current password counts as a failed sign-in of the account
        (app/auth/service.py), and a throttled one is refused before it is checked.
        Answers what the throttle has left (a right password forgives nothing).
        """
        if self.caller.user_id is None:
            raise NotAuthenticated("Not authenticated", token_sent=False)
        user_id = self.caller.user_id
        async with self.open_session() as session:
            account = await AccountRepository(session, self.scope).by_id(user_id)
            failures = await AuthRepository(session).failures(failures_counted_under(account), client_address)
        if failures.retry_after is not None:
            raise throttled(failures, TOO_MANY_WRONG_PASSWORDS)
        matches, _ = await verify_password(change.current_password.get_secret_value(), account.password_hash)
        if not matches:
            await record_failure(self.open_session, failures_counted_under(account), client_address)
            raise WrongCurrentPassword(rate_limit_after(failures, failed=True))
        new_hash = await self._hash_checked(change.new_password, account.email, "new_password")
        async with self.open_session.transaction() as session:  # as in `update`: together or not at all
            await AccountRepository(session, self.scope).set_password_hash(user_id, new_hash)
            await AuthRepository(session).revoke_user(user_id)
            await PersonalTokenRepository(session).revoke_every(user_id)
        return rate_limit_after(failures, failed=False)

    async def _hash_checked(self, password: SecretStr, email: str | None, field: str = "password") -> str:
        _check_password(password, email, field)
        return await hash_password(password.get_secret_value())


def _check_password(password: SecretStr, email: str | None, field: str = "password") -> None:
    """A 422 naming `field` if the password breaks a rule its length does not show."""
    if problem := password_problem(password, email):
        raise invalid_field(field, problem)
