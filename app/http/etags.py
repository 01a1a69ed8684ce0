"""Conditional requests over HTTP: an `ETag` on every single-row answer, `If-Match` read for writes.

A client that sends back the ETag it read (`If-Match: "3"`) with PUT, PATCH or
DELETE changes the row only if nobody changed it meanwhile; otherwise it gets
412 and the current ETag, and can re-read and retry: safe read-modify-write.
Requests without `If-Match` behave as in the guide.

The tag is the row's `version`, which PostgreSQL increments on every UPDATE;
the repositories put the `If-Match` in each write's WHERE (app/kit/repository.py).
"""

import re
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Response
from pydantic import WithJsonSchema
from sqlmodel import SQLModel

from app.http.problems import Problem
from app.kit.fields import INT32_MAX
from app.kit.repository import ANY_VERSION, IfMatch, Versioned

Body = TypeVar("Body", bound=SQLModel)

_STRONG_TAG = re.compile(r'"(0|[1-9][0-9]{0,9})"')  # exactly as app.kit.repository.etag_of writes it

ETAG_HEADER = {
    "ETag": {
        "description": 'The row\'s version, e.g. `"3"`; send it back in `If-Match` to change it safely.',
        "schema": {"type": "string"},
    }
}
PRECONDITION_FAILED_RESPONSE: dict[int | str, dict[str, Any]] = {
    412: {"model": Problem, "description": "`If-Match` names a version the row no longer has"}
}
# For OpenAPI links: a follow-up write that names the version just answered.
IF_MATCH_FROM_ETAG = {"header.if-match": "$response.header.ETag"}
# For OpenAPI: a single-row answer carries the ETag.
ETAG_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"headers": ETAG_HEADER}}


def answer_with_etag(response: Response, row: Versioned[Body]) -> Body:
    """The row's body, with its ETag set on the response."""
    response.headers["ETag"] = row.etag
    return row.body


def parse_if_match(header: str | None) -> IfMatch:
    """The versions an `If-Match` header names; no header, or `*`, names any."""
    if header is None:
        return ANY_VERSION
    tags = {tag.strip() for tag in header.split(",")}
    if "*" in tags:
        return ANY_VERSION
    # Strong comparison (RFC 9110): only `"3"` names version 3; W/"3" or 3 name none.
    versions = (int(tag[1:-1]) for tag in tags if _STRONG_TAG.fullmatch(tag))
    return IfMatch(any_version=False, versions=tuple(version for version in versions if version <= INT32_MAX))


async def if_match(
    if_match: Annotated[
        str | None,
        # A header is absent or a string; it is never JSON null.
        WithJsonSchema({"type": "string", "examples": ['"1"', "*"]}),
        Header(description='Only change the row if its ETag is one of these (`"3"`, or `*` for any).'),
    ] = None,
) -> IfMatch:
    """The dependency: a coroutine, so FastAPI does not hop to a thread pool to build it."""
    return parse_if_match(if_match)


IfMatchDep = Annotated[IfMatch, Depends(if_match)]
