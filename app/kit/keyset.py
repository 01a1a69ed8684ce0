"""Keyset paging: pages that start after a cursor, in an order the database can walk by index.

A page of a list starts right after the row the cursor names (its sort value
and id), not after skipping N rows: a walk that follows the cursors sees
every row exactly once, even while rows are added, and a page a million rows
deep costs what the first does. The repositories run the statements
(app/kit/repository.py `Repository._page`); the HTTP side, parsing the query
and writing the `Link` header, is app/http/paging.py.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, or_, tuple_

from app.kit.errors import InvalidCursor
from app.kit.fields import INT32_MAX

Item = TypeVar("Item")

DEFAULT_PAGE_SIZE = 100


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


# ---------------------------------------------------------------- cursors


def encode_cursor(order: SortOrder, row: dict[str, Any]) -> str:
    """An opaque token for "the row after this one": the sort, its key's value and the row's id."""
    value = row[order.name]
    if isinstance(value, Decimal):
        value = str(value)
    elif isinstance(value, date):  # a datetime is a date too
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
    if python_type is date and isinstance(value, str):
        return date.fromisoformat(value)
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
