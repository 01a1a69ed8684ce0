"""`python -m app create-admin EMAIL`: the first admin, or an existing user made one. Idempotent.

The password comes from ADMIN_PASSWORD, else it is asked for without echo; it
is needed only to create the user. It follows the same rules as a sign-up.
"""

import asyncio
import getpass
import os
from collections.abc import Callable

from pydantic import SecretStr, TypeAdapter, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.passwords import hash_password
from app.auth.repository import AccountRepository
from app.core.config import Settings
from app.core.database import create_engine
from app.kit.fields import Email, Password, password_problem
from app.kit.repository import ANY_VERSION
from app.users.repository import UserRepository

ADMIN_NAME = "Administrator"


class AdminRefused(Exception):
    """The email or the password does not follow the rules; the message says which and why."""


def ask_for_password() -> str:
    password = os.environ.get("ADMIN_PASSWORD")
    if password is not None:
        return password
    first = getpass.getpass("Password for the new admin: ")
    if getpass.getpass("Again: ") != first:
        raise AdminRefused("The two passwords differ")
    return first


def create_admin(settings: Settings, email: str, password: Callable[[], str] = ask_for_password) -> str:
    """Make `email` an admin, creating the user if there is none; what was done, in a sentence."""
    try:
        email = TypeAdapter(Email).validate_python(email.strip())
    except ValidationError:
        raise AdminRefused(f"{email!r} is not an email address") from None
    return asyncio.run(_create_admin(settings, email, password))


async def _create_admin(settings: Settings, email: str, password: Callable[[], str]) -> str:
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            users = UserRepository(session)
            account = await AccountRepository(session).by_email(email)
            if account is not None:
                if not account.is_admin:
                    await users.change(account.user_id, {"is_admin": True}, ANY_VERSION)
                    return f"{email} (user {account.user_id}) is now an admin"
                return f"{email} (user {account.user_id}) was already an admin"
            created = await users.create(
                {
                    "name": ADMIN_NAME,
                    "email": email,
                    "is_admin": True,
                    "password_hash": await _hashed(password(), email),
                }
            )
            return f"Created admin {email} (user {created.body.id})"
    finally:
        await engine.dispose()


async def _hashed(password: str, email: str) -> str:
    try:
        secret = TypeAdapter(Password).validate_python(SecretStr(password))
    except ValidationError as error:
        raise AdminRefused(f"Password refused: {error.errors()[0]['msg']}") from None
    if problem := password_problem(secret, email):
        raise AdminRefused(f"Password refused: {problem}")
    return await hash_password(password)
