"""Writes shared by users and stocks: replace, patch and delete one row by id, or 404.

Each is settled by the database, so a row deleted a moment ago is a clean 404
and never a 500 or a half-applied change. With `If-Match`, the row is locked
and its version checked first (412 when it moved on); without it, replace and
delete are a single statement, as fast as the guide's API.
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


async def replace_or_404(
    session: AsyncSession, model: type[Row], row_id: int, values: SQLModel, versioning: Versioning
) -> Row:
    """PUT: every field set from `values`, in one UPDATE ... RETURNING."""
    if versioning.if_match is not None:
        await _locked_or_404(session, model, row_id, versioning)
    statement = update(model).where(model.id == row_id).values(values.model_dump()).returning(model)
    row = await session.scalar(statement)
    if row is None:
        raise not_found(model, row_id)
    await session.commit()
    return versioning.tag(row)


async def patch_or_404(
    session: AsyncSession, model: type[Row], row_id: int, changes: SQLModel, versioning: Versioning
) -> Row:
    """PATCH: only the fields the client sent, SQLModel's way (`exclude_unset` + `sqlmodel_update`)."""
    # Locked: a concurrent PATCH or DELETE of the row waits until this one commits.
    row = await _locked_or_404(session, model, row_id, versioning)
    row.sqlmodel_update(changes.model_dump(exclude_unset=True))
    await session.commit()
    return versioning.tag(row)


async def delete_or_404(session: AsyncSession, model: type[SQLModel], row_id: int, versioning: Versioning) -> None:
    """DELETE, in one statement; the schema's ON DELETE CASCADE takes dependent rows along."""
    if versioning.if_match is not None:
        await _locked_or_404(session, model, row_id, versioning)
    deleted: Any = await session.scalar(delete(model).where(model.id == row_id).returning(model.id))
    if deleted is None:
        raise not_found(model, row_id)
    await session.commit()
