"""Every SQL statement on users: one user with their stocks, the list, and the writes.

A user's sign-in details (email, password hash, admin rights) are read and
written by app/auth/repository.py, through a view of those columns.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import psycopg
from pydantic import TypeAdapter
from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.exc import IntegrityError

from app.kit.errors import Conflict, NotFound
from app.kit.keyset import Page, PageParams, SortOrder
from app.kit.repository import IfMatch, Repository, Versioned, readable_columns
from app.kit.scope import owner_matches
from app.stocks.models import STOCKS
from app.users.models import USERS, UserPublic, UserWithStocks

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

EMAIL_TAKEN = "A user with this email already exists"


class EmailTaken(Conflict):
    """409: another user has this email."""

    code = "email_taken"
    title = "Email taken"


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
                raise EmailTaken(EMAIL_TAKEN) from None
            raise
