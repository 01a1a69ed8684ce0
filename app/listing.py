"""What every list endpoint shares: paging, sorting, keyset cursors, totals and `Link` headers.

A list answers a JSON array, as in the guide. The rest travels in headers:

- `Link: <...>; rel="next"` (RFC 8288) whenever more rows follow. Its URL
  carries the same filters and sort plus a `cursor` naming the last row sent,
  so the next page starts right after it: a walk that follows `next` sees every
  row exactly once, even while rows are added, and a page a million rows deep
  costs what the first does (keyset paging, not OFFSET).
- `X-Total-Count`, only when asked with `Prefer: count=exact` (as PostgREST
  does it), because counting every matching row on every page is what makes
  such APIs slow.

`skip` still works as in the guide; it skips rows after the cursor, if any.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import ColumnElement, and_, func, or_, tuple_
from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from app.models import INT32_MAX

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100

# Documented for OpenAPI on every list route's 200 answer.
LIST_RESPONSE_HEADERS = {
    "Link": {
        "description": 'RFC 8288 link to the next page, `<url>; rel="next"`; absent on the last page.',
        "schema": {"type": "string"},
    },
    "X-Total-Count": {
        "description": "Rows matching the filters; sent only when asked with `Prefer: count=exact`.",
        "schema": {"type": "integer"},
    },
}


@dataclass(frozen=True)
class SortOrder:
    """A parsed `sort` value: `-price` is the price column, descending."""

    name: str
    column: InstrumentedAttribute
    descending: bool


def rows_of(model: type[SQLModel]) -> Select:
    """SELECT every column of `model`'s table, as plain rows rather than ORM objects.

    A list only reads and answers rows, so it can skip the ORM's identity map
    and instance bookkeeping; the route's declared return type (`list[StockPublic]`)
    turns the rows into the same SQLModel schema.
    """
    return select(*model.__table__.c)  # type: ignore[attr-defined]


def sort_values(fields: Sequence[str]) -> list[str]:
    """Every accepted `sort` value for these fields: `id`, `-id`, `name`, `-name`, ..."""
    return [value for field in fields for value in (field, f"-{field}")]


def parse_sort(value: str, model: type) -> SortOrder:
    """`"-price"` -> the `price` column of `model`, descending. `value` is already one of `sort_values`."""
    name = value.removeprefix("-")
    return SortOrder(name=name, column=getattr(model, name), descending=value.startswith("-"))


class Cursor:
    """An opaque token for "the row after this one": the sort key's value and the id of the last row sent."""

    @staticmethod
    def encode(order: SortOrder, row: Any) -> str:
        value = row[order.name]
        if isinstance(value, Decimal | datetime):
            value = str(value) if isinstance(value, Decimal) else value.isoformat()
        payload = json.dumps([order.name, value, row["id"]], separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    @staticmethod
    def decode(token: str, order: SortOrder) -> tuple[Any, int]:
        """(sort value, id) from a token made for the same sort; a 422 naming `cursor` otherwise."""
        try:
            padded = token + "=" * (-len(token) % 4)
            name, value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if name != order.name:
                raise _bad_cursor(token, f"it was made for sort={name}, not sort={order.name}")
            if not isinstance(row_id, int) or isinstance(row_id, bool):
                raise ValueError
            return _parse_sort_value(value, order), row_id
        except RequestValidationError:
            raise
        except (ValueError, TypeError, UnicodeError, binascii.Error, InvalidOperation):
            raise _bad_cursor(token, "it is not a cursor this API made; use the URL from the Link header") from None


def _parse_sort_value(value: Any, order: SortOrder) -> Any:
    python_type = order.column.type.python_type
    if value is None:
        if not order.column.nullable:
            raise ValueError
        return None
    if python_type is Decimal and isinstance(value, str):
        parsed = Decimal(value)
        if not parsed.is_finite():
            raise ValueError
        return parsed
    if python_type is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if python_type is int and isinstance(value, int) and not isinstance(value, bool):
        if not -INT32_MAX <= value <= INT32_MAX:
            raise ValueError
        return value
    if python_type is str and isinstance(value, str):
        return value
    raise ValueError


def _bad_cursor(token: str, why: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", "cursor"), "msg": f"Invalid cursor: {why}", "input": token}]
    )


def _wants_exact_count(prefer: str | None) -> bool:
    # `Prefer: return=minimal, count=exact` may list several preferences (RFC 7240).
    if not prefer:
        return False
    return any(part.strip().lower() == "count=exact" for part in prefer.split(","))


class Listing:
    """The query parameters and headers every list takes, and the page fetch that honours them."""

    def __init__(
        self, request: Request, response: Response, skip: int, limit: int, cursor: str | None, wants_count: bool
    ) -> None:
        self.request = request
        self.response = response
        self.skip = skip
        self.limit = limit
        self.cursor = cursor
        self.wants_count = wants_count

    async def fetch(self, session: AsyncSession, statement: Select, order: SortOrder) -> list[Any]:
        """One page of `statement` (already filtered) in `order`, setting `X-Total-Count` and `Link`.

        Routes declare what they return as `list[...]`, never `Sequence[...]`:
        pydantic checks and serialises a list in Rust, a Sequence in Python,
        which took 40% of the time of a 100-row page.
        """
        if self.wants_count:
            total = await session.scalar(select(func.count()).select_from(statement.subquery()))
            self.response.headers["X-Total-Count"] = str(total)
            self.response.headers["Preference-Applied"] = "count=exact"

        model_id = order.column.class_.id
        if self.cursor is not None:
            statement = statement.where(_after(order, model_id, *Cursor.decode(self.cursor, order)))
        # One extra row says whether a next page exists, without a COUNT.
        statement = statement.order_by(*_ordering(order, model_id)).offset(self.skip).limit(self.limit + 1)
        # Dicts: pydantic reads them faster than it reads attributes off a Row.
        rows = [dict(row) for row in (await session.exec(statement)).mappings()]
        if len(rows) > self.limit:
            rows = rows[: self.limit]
            next_url = self.request.url.remove_query_params("skip").include_query_params(
                cursor=Cursor.encode(order, rows[-1])
            )
            self.response.headers["Link"] = f'<{next_url}>; rel="next"'
        return rows


async def listing(
    request: Request,
    response: Response,
    skip: Annotated[int, Query(ge=0, le=INT32_MAX, description="Rows to skip (after the cursor, if any).")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Rows to return, 1 to {MAX_PAGE_SIZE}.")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description='Where the page starts; take it from the `Link: rel="next"` URL.'),
    ] = None,
    prefer: Annotated[
        str | None,
        Header(description="`count=exact` adds an `X-Total-Count` header with the rows matching the filters."),
    ] = None,
) -> Listing:
    # A coroutine, not the class itself: FastAPI runs plain functions and
    # classes in a thread pool, a hop that costs more than the work here.
    return Listing(request, response, skip, limit, cursor, _wants_exact_count(prefer))


ListingDep = Annotated[Listing, Depends(listing)]


def _ordering(order: SortOrder, model_id: InstrumentedAttribute) -> list[ColumnElement]:
    # The id breaks ties, in the same direction, so (key, id) is a total order
    # that a btree index on (key, id) can walk either way. NULLs (a user's age)
    # come last whichever the direction.
    if order.column is model_id:
        return [model_id.desc() if order.descending else model_id.asc()]
    if order.descending:
        return [order.column.desc().nulls_last(), model_id.desc()]
    return [order.column.asc().nulls_last(), model_id.asc()]


def _after(order: SortOrder, model_id: InstrumentedAttribute, value: Any, row_id: int) -> ColumnElement[bool]:
    """Rows that come after (value, row_id) in `_ordering`."""
    if order.column is model_id:
        return model_id < row_id if order.descending else model_id > row_id
    if value is None:  # past the last non-NULL: only NULLs remain, in id order
        return and_(order.column.is_(None), model_id < row_id if order.descending else model_id > row_id)
    key = tuple_(order.column, model_id)
    later = key < tuple_(value, row_id) if order.descending else key > tuple_(value, row_id)
    return or_(later, order.column.is_(None)) if order.column.nullable else later
