"""The rules of accounts around the user rows: who may set what, and passwords hashed before they are stored.

The repository (app/users/repository.py) holds the statements; this holds
what the statements cannot know: that only an admin makes an admin, that
sign-up needs an email and a password when AUTH=required, that a password is
checked and hashed, and that a new password ends every login of its user.
"""

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import SecretStr

from app.auth.access import Caller, Forbidden, NotAuthenticated
from app.auth.models import PasswordChange
from app.auth.passwords import hash_password, verify_password
from app.auth.repository import AuthRepository
from app.config import Settings
from app.models import UserCreate, UserPublic, UserReplace, UserUpdate, password_problem
from app.repository import IfMatch, Versioned
from app.users.repository import UserRepository

ONLY_ADMINS_MAKE_ADMINS = "Only an admin may set is_admin"
PASSWORD_CHANGE_NEEDS_THE_OLD_ONE = (
    "This user has a password; change it with PUT /users/me/password, which asks for the current one"
)
WRONG_CURRENT_PASSWORD = "current_password is not this user's password"


def invalid_field(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 naming one body field, as pydantic's own are; never echoing what was sent (it may be a password)."""
    return RequestValidationError([{"type": kind, "loc": ("body", field), "msg": message, "input": None}])


class UserService:
    def __init__(self, users: UserRepository, auth: AuthRepository, caller: Caller, settings: Settings) -> None:
        self.users = users
        self.auth = auth
        self.caller = caller
        self.settings = settings

    async def sign_up(self, user: UserCreate) -> Versioned[UserPublic]:
        """POST /users/: a new user, who can sign in if they were given an email and a password."""
        if user.is_admin and not self.caller.is_admin:
            raise Forbidden(ONLY_ADMINS_MAKE_ADMINS)
        if self.settings.auth_required:
            for field in ("email", "password"):
                if getattr(user, field) is None:
                    raise invalid_field(field, "Field required: signing up needs an email and a password", "missing")
        values = user.model_dump(exclude={"password"})
        if user.password is not None:
            values["password_hash"] = await self._hash_checked(user.password, user.email)
        return await self.users.create(values)

    async def replace(self, user_id: int, user: UserReplace, if_match: IfMatch) -> Versioned[UserPublic]:
        """PUT: name and age, as in the guide."""
        return await self.users.change(user_id, user.model_dump(), if_match)

    async def update(self, user_id: int, changes: UserUpdate, if_match: IfMatch) -> Versioned[UserPublic]:
        """PATCH: the fields sent, under the account rules."""
        values: dict[str, Any] = changes.model_dump(exclude_unset=True)
        if "is_admin" in values and not self.caller.is_admin:
            raise Forbidden(ONLY_ADMINS_MAKE_ADMINS)
        password: SecretStr | None = values.pop("password", None)
        if password is not None:
            current = await self.users.read(user_id)  # 404 before anything else for a user out of reach
            if not self.caller.is_admin and await self.users.password_hash(user_id) is not None:
                raise Forbidden(PASSWORD_CHANGE_NEEDS_THE_OLD_ONE)
            email = values.get("email", current.body.email)
            values["password_hash"] = await self._hash_checked(password, email)
        changed = await self.users.change(user_id, values, if_match)
        if password is not None:
            await self.auth.revoke_user(user_id)
        return changed

    async def change_password(self, change: PasswordChange) -> None:
        """PUT /users/me/password: the current password, then the new one; every login of the user ends."""
        if self.caller.user_id is None:
            raise NotAuthenticated("Not authenticated", token_sent=False)
        user_id = self.caller.user_id
        matches, _ = await verify_password(
            change.current_password.get_secret_value(), await self.users.password_hash(user_id)
        )
        if not matches:
            raise Forbidden(WRONG_CURRENT_PASSWORD)
        email = (await self.users.read(user_id)).body.email
        await self.users.set_password_hash(
            user_id, await self._hash_checked(change.new_password, email, "new_password")
        )
        await self.auth.revoke_user(user_id)

    async def _hash_checked(self, password: SecretStr, email: str | None, field: str = "password") -> str:
        if problem := password_problem(password, email):
            raise invalid_field(field, problem)
        return await hash_password(password.get_secret_value())
