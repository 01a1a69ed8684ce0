"""Reads and writes of one row by id, shared by users and stocks: each one statement, or 404.

Each is settled by the database, so a row deleted a moment ago is a clean 404
and never a 500 or a half-applied change. Create, read, replace and delete are
one statement each on the SQLModel class's table (`User.__table__`), with
`If-Match` in the WHERE, so they need no transaction. They return plain rows,
which the route's declared return type (`StockPublic`, ...) turns into the
SQLModel schema: that skips the ORM's unit of work and identity map, which
cost several times the statement itself. PATCH is SQLModel's read, merge and
write (`sqlmodel_update`), in a transaction with the row locked.
"""

from functools import cache
from typing import Any, TypeVar

from fastapi import HTTPException, status
from sqlalchemy import Row, bindparam
from sqlmodel import SQLModel, delete, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.etags import Versioning, version_matches

Model = TypeVar("Model", bound=SQLModel)


def not_found(model: type[SQLModel], row_id: int) -> HTTPException:
    """The guide's 404: `User with ID 7 not found`, `Stock with ID 7 not found`."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{model.__name__} with ID {row_id} not found")


def _columns(model: type[SQLModel]) -> Any:
    return model.__table__.c  # type: ignore[attr-defined]


# Statements are built once per model (and per set of fields written) with
# parameters for every value: SQLAlchemy caches the compiled SQL by the
# statement's structure, but building a statement and its cache key on every
# request cost a quarter of a simple request's time.


@cache
def _insert(model: type[SQLModel], fields: tuple[str, ...]) -> Any:
    return (
        insert(model.__table__)  # type: ignore[attr-defined]
        # Parameters named after a column are reserved for SQLAlchemy's own VALUES.
        .values({field: bindparam(f"new_{field}") for field in fields})
        .returning(*_columns(model))
    )


@cache
def _select_by_id(model: type[SQLModel]) -> Any:
    columns = _columns(model)
    return select(*columns).where(columns.id == bindparam("row_id"))


@cache
def _version_by_id(model: type[SQLModel]) -> Any:
    columns = _columns(model)
    return select(columns.id, columns.version).where(columns.id == bindparam("row_id"))


@cache
def _update_by_id(model: type[SQLModel], fields: tuple[str, ...]) -> Any:
    columns = _columns(model)
    return (
        update(model.__table__)  # type: ignore[attr-defined]
        .where(columns.id == bindparam("row_id"), version_matches(columns))
        .values({field: bindparam(f"new_{field}") for field in fields})
        .returning(*columns)
    )


@cache
def _delete_by_id(model: type[SQLModel]) -> Any:
    columns = _columns(model)
    return (
        delete(model.__table__)  # type: ignore[attr-defined]
        .where(columns.id == bindparam("row_id"), version_matches(columns))
        .returning(columns.id)
    )


def _new_values(values: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The fields written, and their parameters for `_insert` / `_update_by_id`."""
    return tuple(values), {f"new_{field}": value for field, value in values.items()}


async def create(session: AsyncSession, model: type[SQLModel], values: SQLModel, **extra: Any) -> Row:
    """POST: one INSERT ... RETURNING every column (the database sets id, timestamps, version)."""
    fields, params = _new_values(values.model_dump() | extra)
    row = (await session.exec(_insert(model, fields), params=params)).one()
    await session.commit()
    return row


async def read_or_404(session: AsyncSession, model: type[SQLModel], row_id: int) -> Row:
    row = (await session.exec(_select_by_id(model), params={"row_id": row_id})).first()
    if row is None:
        raise not_found(model, row_id)
    return row


async def _missing_or_changed(
    session: AsyncSession, model: type[SQLModel], row_id: int, versioning: Versioning
) -> HTTPException:
    """Why a conditional write touched no row: the row is gone (404) or its version moved on (412)."""
    row = (await session.exec(_version_by_id(model), params={"row_id": row_id})).first()
    if row is None:
        return not_found(model, row_id)
    return versioning.precondition_failed(model, row)


async def replace_or_404(
    session: AsyncSession, model: type[SQLModel], row_id: int, values: SQLModel, versioning: Versioning
) -> Row:
    """PUT: every field set from `values`, in one UPDATE ... RETURNING."""
    fields, params = _new_values(values.model_dump())
    statement = _update_by_id(model, fields)
    row = (await session.exec(statement, params={"row_id": row_id, **params, **versioning.params()})).first()
    if row is None:
        raise await _missing_or_changed(session, model, row_id, versioning)
    await session.commit()
    return versioning.tag(row)


async def patch_or_404(
    session: AsyncSession, model: type[Model], row_id: int, changes: SQLModel, versioning: Versioning
) -> Model:
    """PATCH: only the fields the client sent, SQLModel's way (`exclude_unset` + `sqlmodel_update`).

    `session` must be a transaction (TransactionDep): the row stays locked from
    the read to the commit, so a concurrent PATCH or DELETE waits its turn.
    """
    row = await session.scalar(select(model).where(model.id == row_id).with_for_update())  # type: ignore[attr-defined]
    if row is None:
        raise not_found(model, row_id)
    versioning.check(model, row)
    row.sqlmodel_update(changes.model_dump(exclude_unset=True))
    await session.commit()
    return versioning.tag(row)


async def delete_or_404(session: AsyncSession, model: type[SQLModel], row_id: int, versioning: Versioning) -> None:
    """DELETE, in one statement; the schema's ON DELETE CASCADE takes dependent rows along."""
    deleted = await session.exec(_delete_by_id(model), params={"row_id": row_id, **versioning.params()})
    if deleted.first() is None:
        raise await _missing_or_changed(session, model, row_id, versioning)
    await session.commit()
