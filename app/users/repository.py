"""Every SQL statement on users: one user with their stocks, the list, the writes, and sign-in lookups."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg
from pydantic import TypeAdapter
from sqlalchemy import Select, Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from app.models import STOCKS, USERS, UserPublic, UserWithStocks
from app.paging import Page, PageParams, SortOrder
from app.repository import (
    Conflict,
    IfMatch,
    NotFound,
    Repository,
    Versioned,
    can_exist,
    owner_matches,
    readable_columns,
)

# A user and their stocks in one round trip: the user's columns, then each
# stock's (all NULL for a user without stocks), one row per stock. Plain
# columns, not ORM entities: building a response from rows skips the identity
# map and instance bookkeeping, which cost more than the query on this path.
_USER_WITH_STOCKS = (
    select(*readable_columns(USERS), *(column.label(f"stock_{column.name}") for column in STOCKS.c))
    .select_from(USERS.outerjoin(STOCKS))
    .where(USERS.c.id == bindparam("row_id"), owner_matches(USERS.c.id))
    .order_by(STOCKS.c.id)
)
_STOCK_COLUMNS = [(f"stock_{column.name}", column.name) for column in STOCKS.c]

_ACCOUNT_COLUMNS = (USERS.c.id, USERS.c.email, USERS.c.password_hash, USERS.c.is_admin)
_ACCOUNT_BY_EMAIL = select(*_ACCOUNT_COLUMNS).where(USERS.c.email == bindparam("email"))
_ACCOUNT_BY_ID = select(*_ACCOUNT_COLUMNS).where(USERS.c.id == bindparam("row_id"), owner_matches(USERS.c.id))
_IS_ADMIN = select(USERS.c.is_admin).where(USERS.c.id == bindparam("row_id"))
_SET_PASSWORD_HASH = (
    update(USERS)
    .where(USERS.c.id == bindparam("row_id"))
    .values(password_hash=bindparam("new_hash"))
    .returning(USERS.c.id)
)

EMAIL_TAKEN = "A user with this email already exists"


@dataclass(frozen=True, slots=True)
class Account:
    """What signing in, and changing a password, need to know of a user."""

    user_id: int
    email: str | None
    password_hash: str | None  # None: the user cannot sign in
    is_admin: bool


class UserRepository(Repository[UserPublic]):
    table: ClassVar[Table] = USERS
    owner_column: ClassVar[str] = "id"  # a user owns their own row
    resource: ClassVar[str] = "User"
    public: ClassVar[TypeAdapter[Any]] = TypeAdapter(UserPublic)
    public_list: ClassVar[TypeAdapter[Any]] = TypeAdapter(list[UserPublic])
    # Pydantic's own validator, all in Rust: SQLModel's `model_validate` adds a
    # Python pass meant for table rows, a tenth of this request's time.
    _with_stocks: ClassVar[TypeAdapter[UserWithStocks]] = TypeAdapter(UserWithStocks)

    async def read_with_stocks(self, user_id: int) -> Versioned[UserWithStocks]:
        """The user and their stocks, in one statement whatever the number of stocks."""
        self._require_possible_id(user_id)
        result = await self._execute(_USER_WITH_STOCKS, {"row_id": user_id, **self.scope.params()})
        rows = result.mappings().all()
        if not rows:
            raise NotFound(self.resource, user_id)
        user = dict(rows[0])
        user["stocks"] = [
            {name: row[label] for label, name in _STOCK_COLUMNS} for row in rows if row["stock_id"] is not None
        ]
        return Versioned(self._with_stocks.validate_python(user), user["version"])

    async def require(self, user_id: int) -> None:
        """Nothing if the user exists (and is in scope); `NotFound` otherwise."""
        if not await self.exists(user_id):
            raise NotFound(self.resource, user_id)

    async def list(self, name_part: str | None, order: SortOrder, params: PageParams) -> Page[UserPublic]:
        """Users whose name contains `name_part` (any case), a page at a time."""
        statement: Select[Any] = self._all_columns()
        if name_part:
            statement = statement.where(USERS.c.name.icontains(name_part, autoescape=True))
        return await self._page(statement, order, params)

    async def create(self, values: dict[str, Any]) -> Versioned[UserPublic]:
        """A new user from validated fields (`password_hash` already hashed, never the password)."""
        async with self._email_must_be_free():
            return await self._insert(values)

    async def change(self, user_id: int, values: dict[str, Any], if_match: IfMatch) -> Versioned[UserPublic]:
        """PUT and PATCH: the fields in `values` set, under `If-Match`; PUT sends them all."""
        async with self._email_must_be_free():
            return await self._update(user_id, values, if_match)

    @asynccontextmanager
    async def _email_must_be_free(self) -> AsyncIterator[None]:
        """A write that would give two users one email is a `Conflict`.

        The unique constraint decides, not a prior SELECT: two sign-ups with
        one address at the same moment cannot both land.
        """
        try:
            yield
        except IntegrityError as error:
            if isinstance(error.orig, psycopg.errors.UniqueViolation):
                await self.session.rollback()
                raise Conflict(EMAIL_TAKEN) from None
            raise

    # -- accounts

    async def account_by_email(self, email: str) -> Account | None:
        row = await self._first(_ACCOUNT_BY_EMAIL, email=email)
        return None if row is None else Account(row["id"], row["email"], row["password_hash"], row["is_admin"])

    async def account(self, user_id: int) -> Account:
        """The user's account, in one statement; `NotFound` if there is none in scope."""
        self._require_possible_id(user_id)
        row = await self._first(_ACCOUNT_BY_ID, row_id=user_id, **self.scope.params())
        if row is None:
            raise NotFound(self.resource, user_id)
        return Account(row["id"], row["email"], row["password_hash"], row["is_admin"])

    async def is_admin(self, user_id: int) -> bool | None:
        """Whether the user is an admin now, by primary key; None if there is no such user (whatever the scope)."""
        if not can_exist(user_id):
            return None
        row = await self._first(_IS_ADMIN, row_id=user_id)
        return None if row is None else bool(row["is_admin"])

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        if await self._first(_SET_PASSWORD_HASH, row_id=user_id, new_hash=password_hash) is None:
            raise NotFound(self.resource, user_id)
