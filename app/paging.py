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

The repositories run the statements (app/repository.py `Repository._page`);
this module parses the request and builds the ordering and the "after the
cursor" condition they use.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Query, Request, Response, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import ColumnElement, and_, or_, tuple_

from app.models import INT32_MAX

Item = TypeVar("Item")

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


class InvalidCursor(Exception):
    """A `cursor` this API did not make, or made for another sort: a 422 naming `cursor`."""

    def __init__(self, token: str, why: str) -> None:
        super().__init__(f"Invalid cursor: {why}")
        self.token = token


@dataclass(frozen=True, slots=True)
class SortOrder:
    """A `sort` value as sent, `-price`: the column's name, and the direction."""

    value: str

    @property
    def name(self) -> str:
        return self.value.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


@dataclass(frozen=True, slots=True)
class PageParams:
    """The query parameters and header every list takes."""

    skip: int = 0
    limit: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None
    wants_count: bool = False


@dataclass(frozen=True, slots=True)
class Page(Generic[Item]):
    """One page of a list: its items, the row a next page starts after (None on the last), the total if asked."""

    items: list[Item]
    last_row: dict[str, Any] | None
    order: SortOrder
    total: int | None


async def page_params(
    request: Request,
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
) -> PageParams:
    # A coroutine, not the class itself: FastAPI runs plain functions and
    # classes in a thread pool, a hop that costs more than the work here.
    refuse_unknown_query_parameters(request)
    return PageParams(skip, limit, cursor, _wants_exact_count(prefer))


PageParamsDep = Annotated[PageParams, Depends(page_params)]


def refuse_unknown_query_parameters(request: Request) -> None:
    """A 422 naming each query parameter the route does not declare: `?colour=red` is a typo, not a filter.

    Left unchecked, a misspelt filter (`?is_actve=false`) answers the whole
    list as if it had worked.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = documented_query_parameters(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if unknown:
        takes = f"this list takes {', '.join(sorted(known))}"
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": f"Unknown query parameter; {takes}",
                 "input": request.query_params[name]}
                for name in unknown
            ]
        )  # fmt: skip


def documented_query_parameters(route: APIRoute) -> tuple[str, ...]:
    """The query parameters `route` declares, its dependencies' included: exactly those its OpenAPI lists."""
    # Worked out once per route (routes live as long as the process); routes are not hashable.
    known = _query_parameters.get(id(route))
    if known is None or known[0] is not route:
        flat = get_flat_params(route.dependant)
        names = tuple(dict.fromkeys(field.alias for field in flat if isinstance(field.field_info, params.Query)))
        known = _query_parameters[id(route)] = (route, names)
    return known[1]


_query_parameters: dict[int, tuple[APIRoute, tuple[str, ...]]] = {}


def _wants_exact_count(prefer: str | None) -> bool:
    # `Prefer: return=minimal, count=exact` may list several preferences (RFC 7240).
    if not prefer:
        return False
    return any(part.strip().lower() == "count=exact" for part in prefer.split(","))


def send_page(page: Page[Item], request: Request, response: Response) -> list[Item]:
    """The page's items, with `Link: rel="next"` and `X-Total-Count` set on the response.

    Routes declare what they return as `list[...]`, never `Sequence[...]`:
    pydantic checks and serialises a list in Rust, a Sequence in Python,
    which took 40% of the time of a 100-row page.
    """
    if page.total is not None:
        response.headers["X-Total-Count"] = str(page.total)
        response.headers["Preference-Applied"] = "count=exact"
    if page.last_row is not None:
        next_url = request.url.remove_query_params("skip").include_query_params(
            cursor=encode_cursor(page.order, page.last_row)
        )
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return page.items


# ---------------------------------------------------------------- cursors


def encode_cursor(order: SortOrder, row: dict[str, Any]) -> str:
    """An opaque token for "the row after this one": the sort, its key's value and the row's id."""
    value = row[order.name]
    if isinstance(value, Decimal):
        value = str(value)
    elif isinstance(value, datetime):
        value = value.isoformat()
    payload = json.dumps([order.value, value, row["id"]], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _decode_cursor(token: str, order: SortOrder, column: Any) -> tuple[Any, int]:
    """(sort value, id) from a token made for the same sort; `InvalidCursor` otherwise."""
    try:
        padded = token + "=" * (-len(token) % 4)
        sort, value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if sort != order.value:
            raise InvalidCursor(token, f"it was made for sort={sort}, not sort={order.value}")
        # An id no row can have would reach PostgreSQL as a parameter its integer column refuses.
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not 1 <= row_id <= INT32_MAX:
            raise ValueError
        return _parse_sort_value(value, column), row_id
    except InvalidCursor:
        raise
    except (ValueError, TypeError, UnicodeError, binascii.Error, InvalidOperation):
        raise InvalidCursor(token, "it is not a cursor this API made; use the URL from the Link header") from None


def _parse_sort_value(value: Any, column: Any) -> Any:
    python_type = column.type.python_type
    if value is None:
        if not column.nullable:
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


# ---------------------------------------------------------------- SQL for keyset paging


def ordering(order: SortOrder, column: Any, key: Any) -> list[ColumnElement[Any]]:
    """ORDER BY for `order` on `column`, with the primary `key` breaking ties.

    The key breaks ties in the same direction, so (column, key) is a total
    order that a btree index on (column, key) can walk either way. NULLs (a
    user's age) come last whichever the direction.
    """
    if column is key:
        return [key.desc() if order.descending else key.asc()]
    if order.descending:
        return [column.desc().nulls_last(), key.desc()]
    return [column.asc().nulls_last(), key.asc()]


def after(order: SortOrder, column: Any, key: Any, cursor: str) -> ColumnElement[bool]:
    """Rows that come after the cursor's row in `ordering`."""
    value, row_id = _decode_cursor(cursor, order, column)
    if column is key:
        return key < row_id if order.descending else key > row_id
    if value is None:  # past the last non-NULL: only NULLs remain, in id order
        return and_(column.is_(None), key < row_id if order.descending else key > row_id)
    position = tuple_(column, key)
    later = position < tuple_(value, row_id) if order.descending else position > tuple_(value, row_id)
    return or_(later, column.is_(None)) if column.nullable else later
