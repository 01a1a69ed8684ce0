"""What every resource's repository shares: one-statement writes by id, conditional writes, and paged lists.

A repository (app/users/repository.py, app/stocks/repository.py) holds every
SQL statement of its resource; routes call its methods and never build SQL.
This base gives each of them the same shape of statement for the same job:

- create, read, replace, patch and delete are one statement each on the
  SQLModel class's table (`Stock.__table__`), settled by the database: a row
  deleted a moment ago is a clean `NotFound`, never a 500 or half a change;
- writes carry the client's `If-Match` in their WHERE, so a stale write
  touches nothing and is a `VersionMismatch` (412), with no lock held between
  a read and a write;
- every statement carries the caller's `Scope` too: a signed-in user's
  requests reach only rows they own, and another's row is a `NotFound`
  exactly as if it did not exist (docs/explanation/security.md);
- nothing here commits: in the session a request gets (app/core/database.py) each
  statement is durable once it has run (autocommit), and inside
  `Database.transaction()` the transaction commits at its end, so a
  statement there is never committed before its partners;
- statements are built once, with bound parameters, and reused: SQLAlchemy
  caches the compiled SQL by the statement's structure, but building a
  statement and its cache key on every request cost a quarter of a simple
  request's time.

Rows come back as the SQLModel schema a route answers with (`StockPublic`,
...), built by pydantic's validator in one call, with their version beside
them for the ETag.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import (
    ARRAY,
    Boolean,
    ColumnElement,
    Executable,
    Integer,
    Result,
    RowMapping,
    Select,
    Table,
    any_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy import delete as delete_statement
from sqlalchemy import insert as insert_statement
from sqlalchemy import update as update_statement
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from app.kit.errors import NotFound, VersionMismatch
from app.kit.fields import INT32_MAX
from app.kit.keyset import Page, PageParams, SortOrder, after, ordering
from app.kit.scope import EVERY_ROW, Scope, owner_matches

Public = TypeVar("Public", bound=SQLModel)


def etag_of(version: int) -> str:
    """A row's ETag: its version, quoted (a strong validator, RFC 9110)."""
    return f'"{version}"'


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Versioned(Generic[Public]):
    """A row as the API answers it, and the version its ETag names."""

    body: Public
    version: int

    @property
    def etag(self) -> str:
        return etag_of(self.version)


@dataclass(frozen=True, slots=True)
class IfMatch:
    """The versions a conditional write may change: any (no `If-Match`, or `*`), or these."""

    any_version: bool = True
    versions: tuple[int, ...] = ()

    def params(self) -> dict[str, Any]:
        return {"any_version": self.any_version, "versions": list(self.versions)}


ANY_VERSION = IfMatch()


def can_exist(row_id: int) -> bool:
    """Ids are PostgreSQL `integer` from 1 up: any other number names no row.

    Sent as a parameter, such a number would be a driver error, not a 404.
    """
    return 1 <= row_id <= INT32_MAX


def version_matches(table: Table) -> ColumnElement[bool]:
    """SQL for "the row is at a version the client named", for a write's WHERE.

    Parameters (`IfMatch.params()`) rather than literals keep the statement the
    same on every request, so it is built and compiled once.
    """
    return or_(
        bindparam("any_version", type_=Boolean),
        table.c.version == any_(bindparam("versions", type_=ARRAY(Integer))),
    )


# ---------------------------------------------------------------- the base


class Repository(Generic[Public]):
    """Statements on one table by id, and paged lists of it, for one request's session.

    A subclass names its table, the resource as the guide's messages spell it
    ("User"), and the public schema its rows are answered as.
    """

    table: ClassVar[Table]
    owner_column: ClassVar[str]  # the column naming the user a row belongs to
    key_column: ClassVar[str] = "id"  # what tells a list's rows apart and breaks ties in its order
    resource: ClassVar[str]
    public: ClassVar[TypeAdapter[Any]]
    public_list: ClassVar[TypeAdapter[Any]]

    def __init__(self, session: AsyncSession, scope: Scope = EVERY_ROW) -> None:
        self.session = session
        self.scope = scope

    @property
    def _owner(self) -> ColumnElement[Any]:
        return self.table.c[self.owner_column]

    # -- reading

    def _answer(self, row: RowMapping) -> Versioned[Public]:
        return Versioned(self.public.validate_python(row), row["version"])

    def _require_possible_id(self, row_id: int) -> None:
        if not can_exist(row_id):
            raise NotFound(self.resource, row_id)

    async def read(self, row_id: int) -> Versioned[Public]:
        self._require_possible_id(row_id)
        row = await self._first(_select_by_id(self.table, self.owner_column), row_id=row_id, **self.scope.params())
        if row is None:
            raise NotFound(self.resource, row_id)
        return self._answer(row)

    async def exists(self, row_id: int) -> bool:
        if not can_exist(row_id):
            return False
        return (
            await self._first(_id_by_id(self.table, self.owner_column), row_id=row_id, **self.scope.params())
            is not None
        )

    async def _first(self, statement: Executable, **params: Any) -> RowMapping | None:
        return (await self._execute(statement, params)).mappings().first()

    async def _execute(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Result[Any]:
        # sqlmodel's exec() is typed for sqlmodel's own select(); Core statements run through it alike.
        return await self.session.exec(statement, params=params)  # type: ignore[call-overload]

    # -- writing

    async def _insert(self, values: dict[str, Any]) -> Versioned[Public]:
        """POST: one INSERT ... RETURNING every column (the database sets id, timestamps, version)."""
        fields, params = _new_values(values)
        row = await self._first(_insert(self.table, fields), **params)
        assert row is not None  # INSERT ... RETURNING always returns the row
        return self._answer(row)

    async def _update(self, row_id: int, values: dict[str, Any], if_match: IfMatch) -> Versioned[Public]:
        """PUT and PATCH: the fields in `values` set in one conditional UPDATE ... RETURNING.

        PostgreSQL locks the row and re-checks the WHERE (the version) against
        its newest state, so of two concurrent writes that name the same
        version, exactly one lands; the other is a 412, never a lost update.
        A PATCH that sends no field changes nothing: it reads the row, under
        the same `If-Match`.
        """
        self._require_possible_id(row_id)
        if values:
            fields, params = _new_values(values)
            statement = _update_by_id(self.table, self.owner_column, fields)
        else:
            params, statement = {}, _select_by_id_if_matching(self.table, self.owner_column)
        row = await self._first(statement, row_id=row_id, **params, **if_match.params(), **self.scope.params())
        if row is None:
            raise await self._missing_or_changed(row_id)
        return self._answer(row)

    async def delete(self, row_id: int, if_match: IfMatch = ANY_VERSION) -> None:
        """DELETE, in one statement; the schema's ON DELETE CASCADE takes dependent rows along."""
        self._require_possible_id(row_id)
        statement = _delete_by_id(self.table, self.owner_column)
        if await self._first(statement, row_id=row_id, **if_match.params(), **self.scope.params()) is None:
            raise await self._missing_or_changed(row_id)

    async def _missing_or_changed(self, row_id: int) -> NotFound | VersionMismatch:
        """Why a conditional write touched no row: the row is gone, or its version moved on."""
        row = await self._first(_id_by_id(self.table, self.owner_column), row_id=row_id, **self.scope.params())
        if row is None:
            return NotFound(self.resource, row_id)
        return VersionMismatch(self.resource, row_id, etag_of(row["version"]))

    # -- lists

    async def _page(self, statement: Select[Any], order: SortOrder, params: PageParams) -> Page[Public]:
        """One page of `statement` (already filtered) in `order`, keyset-paged; counted if asked."""
        if self.scope.owner_id is not None:
            statement = statement.where(self._owner == self.scope.owner_id)
        total = None
        if params.wants_count:
            total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        column, key = self.table.c[order.name], self.table.c[self.key_column]
        if params.cursor is not None:
            statement = statement.where(after(order, column, key, params.cursor))
        # One extra row says whether a next page exists, without a COUNT.
        statement = statement.order_by(*ordering(order, column, key)).offset(params.skip).limit(params.limit + 1)
        # Dicts: pydantic reads them faster than it reads attributes off a Row.
        rows = [dict(row) for row in (await self._execute(statement)).mappings()]
        more = len(rows) > params.limit
        rows = rows[: params.limit]
        return Page(
            items=self.public_list.validate_python(rows),
            last_row=rows[-1] if more else None,
            order=order,
            total=total,
            key=self.key_column,
        )

    def _all_columns(self) -> Select[Any]:
        """SELECT every column, as plain rows: a list skips the ORM's identity map and bookkeeping."""
        return select(*readable_columns(self.table))


# Columns no statement reads back: a password's hash never leaves the database
# but through the statements of sign-in (app/auth/repository.py, `AccountRepository`).
WRITE_ONLY_COLUMNS = frozenset({"password_hash"})


@cache
def readable_columns(table: Table) -> tuple[ColumnElement[Any], ...]:
    return tuple(column for column in table.c if column.name not in WRITE_ONLY_COLUMNS)


def _new_values(values: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The fields written, and their parameters (columns' own names are reserved for SQLAlchemy's VALUES)."""
    return tuple(values), {f"new_{field}": value for field, value in values.items()}


# Statements by table (and by the set of fields written), built once each.


@cache
def _insert(table: Table, fields: tuple[str, ...]) -> Any:
    return (
        insert_statement(table)
        .values({field: bindparam(f"new_{field}") for field in fields})
        .returning(*readable_columns(table))
    )


@cache
def _select_by_id(table: Table, owner: str) -> Select[Any]:
    return select(*readable_columns(table)).where(table.c.id == bindparam("row_id"), owner_matches(table.c[owner]))


@cache
def _select_by_id_if_matching(table: Table, owner: str) -> Select[Any]:
    return _select_by_id(table, owner).where(version_matches(table))


@cache
def _id_by_id(table: Table, owner: str) -> Select[Any]:
    return select(table.c.id, table.c.version).where(table.c.id == bindparam("row_id"), owner_matches(table.c[owner]))


@cache
def _update_by_id(table: Table, owner: str, fields: tuple[str, ...]) -> Any:
    return (
        update_statement(table)
        .where(table.c.id == bindparam("row_id"), owner_matches(table.c[owner]), version_matches(table))
        .values({field: bindparam(f"new_{field}") for field in fields})
        .returning(*readable_columns(table))
    )


@cache
def _delete_by_id(table: Table, owner: str) -> Any:
    return (
        delete_statement(table)
        .where(table.c.id == bindparam("row_id"), owner_matches(table.c[owner]), version_matches(table))
        .returning(table.c.id)
    )
