"""Writes shared by users and stocks: replace, patch and delete one row by id, or 404.

Each is settled by the database, so a row deleted a moment ago is a clean 404
and never a 500 or a half-applied change. Replace and delete are one
statement each, `If-Match` included (the version is part of the WHERE), so
they need no transaction; patch reads, changes and writes the row, so it runs
in one (TransactionDep) with the row locked.
"""

from typing import Any, TypeVar

from fastapi import HTTPException, status
from sqlmodel import SQLModel, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.etags import Versioning

Row = TypeVar("Row", bound=SQLModel)


def not_found(model: type[SQLModel], row_id: int) -> HTTPException:
    """The guide's 404: `User with ID 7 not found`, `Stock with ID 7 not found`."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{model.__name__} with ID {row_id} not found")


async def _locked_or_404(session: AsyncSession, model: type[Row], row_id: int, versioning: Versioning) -> Row:
    """The row, locked until commit (FOR UPDATE), at a version the client's If-Match allows."""
    row = await session.scalar(select(model).where(model.id == row_id).with_for_update())
    if row is None:
        raise not_found(model, row_id)
    versioning.check(model, row)
    return row


async def _missing_or_changed(
    session: AsyncSession, model: type[SQLModel], row_id: int, versioning: Versioning
) -> HTTPException:
    """Why a conditional write touched no row: the row is gone (404) or its version moved on (412)."""
    row = await session.scalar(select(model).where(model.id == row_id))
    if row is None:
        return not_found(model, row_id)
    return versioning.precondition_failed(model, row)


async def replace_or_404(
    session: AsyncSession, model: type[Row], row_id: int, values: SQLModel, versioning: Versioning
) -> Row:
    """PUT: every field set from `values`, in one UPDATE ... RETURNING."""
    statement = (
        update(model)
        .where(model.id == row_id, versioning.matches(model))
        .values(values.model_dump())
        .returning(model)
    )
    row = await session.scalar(statement)
    if row is None:
        raise await _missing_or_changed(session, model, row_id, versioning)
    await session.commit()
    return versioning.tag(row)


async def patch_or_404(
    session: AsyncSession, model: type[Row], row_id: int, changes: SQLModel, versioning: Versioning
) -> Row:
    """PATCH: only the fields the client sent, SQLModel's way (`exclude_unset` + `sqlmodel_update`).

    `session` must be a transaction (TransactionDep): the row stays locked from
    the read to the commit, so a concurrent PATCH or DELETE waits its turn.
    """
    row = await _locked_or_404(session, model, row_id, versioning)
    row.sqlmodel_update(changes.model_dump(exclude_unset=True))
    await session.commit()
    return versioning.tag(row)


async def delete_or_404(session: AsyncSession, model: type[SQLModel], row_id: int, versioning: Versioning) -> None:
    """DELETE, in one statement; the schema's ON DELETE CASCADE takes dependent rows along."""
    statement = delete(model).where(model.id == row_id, versioning.matches(model)).returning(model.id)
    deleted: Any = await session.scalar(statement)
    if deleted is None:
        raise await _missing_or_changed(session, model, row_id, versioning)
    await session.commit()
