"""Conditional requests: an `ETag` on every single-row answer, `If-Match` honoured on writes.

A client that sends back the ETag it read (`If-Match: "3"`) with PUT, PATCH or
DELETE changes the row only if nobody changed it meanwhile; otherwise it gets
412 and the current ETag, and can re-read and retry: safe read-modify-write.
Requests without `If-Match` behave as in the guide.

The tag is the row's `version`, which PostgreSQL increments on every UPDATE.
"""

import re
from typing import Annotated, Any, TypeVar

from fastapi import Header, HTTPException, Response, status
from pydantic import WithJsonSchema
from sqlalchemy import ARRAY, Boolean, ColumnElement, Integer, any_, bindparam, or_
from sqlmodel import SQLModel

from app.errors import ErrorDetail
from app.models import INT32_MAX

Row = TypeVar("Row")

_STRONG_TAG = re.compile(r'"(0|[1-9][0-9]{0,9})"')  # exactly as etag() writes it

ETAG_HEADER = {
    "ETag": {
        "description": 'The row\'s version, e.g. `"3"`; send it back in `If-Match` to change it safely.',
        "schema": {"type": "string"},
    }
}
PRECONDITION_FAILED_RESPONSE: dict[int | str, dict[str, Any]] = {
    412: {"model": ErrorDetail, "description": "`If-Match` names a version the row no longer has"}
}
# For OpenAPI links: a follow-up write that names the version just answered.
IF_MATCH_FROM_ETAG = {"header.if-match": "$response.header.ETag"}
# For OpenAPI: a single-row answer carries the ETag.
ETAG_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG_HEADER}}


def etag(row: Any) -> str:
    """The ETag of a row: an object with `.version`, or a mapping with a "version" key."""
    version = row["version"] if isinstance(row, dict) else row.version
    return f'"{version}"'


def set_etag(response: Response, row: Row) -> Row:
    """Answer with the row's ETag; returns the row."""
    response.headers["ETag"] = etag(row)
    return row


def version_matches(columns: Any) -> ColumnElement[bool]:
    """SQL for "the row is at a version the client named", to put in a write's WHERE.

    Its parameters come from `Versioning.params()`: `any_version` when there is
    no `If-Match` (or `*`), else the `versions` named. Parameters rather than
    literals keep the statement the same on every request, so it is built and
    compiled once.
    """
    return or_(
        bindparam("any_version", type_=Boolean),
        columns.version == any_(bindparam("versions", type_=ARRAY(Integer))),
    )


class Versioning:
    """The `If-Match` a client sent, and the `ETag` we answer with."""

    def __init__(self, response: Response, if_match: str | None) -> None:
        self.response = response
        self.if_match = if_match

    def tag(self, row: Row) -> Row:
        return set_etag(self.response, row)

    def _named_tags(self) -> set[str]:
        return {tag.strip() for tag in (self.if_match or "").split(",")}

    def params(self) -> dict[str, Any]:
        """The parameters of `version_matches` for this request's `If-Match`."""
        tags = self._named_tags()
        if self.if_match is None or "*" in tags:
            return {"any_version": True, "versions": []}
        # Strong comparison (RFC 9110): only `"3"` names version 3; W/"3" or 3 name none.
        versions = [int(tag[1:-1]) for tag in tags if _STRONG_TAG.fullmatch(tag)]
        return {"any_version": False, "versions": [version for version in versions if version <= INT32_MAX]}

    def check(self, model: type[SQLModel], row: Any) -> None:
        """412 unless the row is at a version the client named: `version_matches`, in Python."""
        params = self.params()
        if params["any_version"] or row.version in params["versions"]:
            return
        raise self.precondition_failed(model, row)

    def precondition_failed(self, model: type[SQLModel], row: Any) -> HTTPException:
        current = etag(row)
        return HTTPException(
            status.HTTP_412_PRECONDITION_FAILED,
            detail=f"{model.__name__} with ID {row.id} has changed since you read it; its ETag is now {current}",
            headers={"ETag": current},
        )


async def versioning(
    response: Response,
    if_match: Annotated[
        str | None,
        # A header is absent or a string; it is never JSON null.
        WithJsonSchema({"type": "string", "examples": ['"1"', "*"]}),
        Header(description='Only change the row if its ETag is one of these (`"3"`, or `*` for any).'),
    ] = None,
) -> Versioning:
    """The dependency: a coroutine, so FastAPI does not hop to a thread pool to build it."""
    return Versioning(response, if_match)
