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

The repositories run the statements (app/kit/repository.py `Repository._page`)
with the ordering and the "after the cursor" condition of app/kit/keyset.py;
this module parses the request and writes the answer's headers.
"""

from typing import Annotated, Any, TypeVar, get_args

from fastapi import Depends, Header, Query, Request, Response, params
from fastapi.dependencies.utils import get_flat_params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import WithJsonSchema

from app.kit.fields import INT32_MAX
from app.kit.keyset import DEFAULT_PAGE_SIZE, Page, PageParams, encode_cursor

Item = TypeVar("Item")

MAX_PAGE_SIZE = 1000

# Documented for OpenAPI on every list route's 200 answer.
LIST_RESPONSE_HEADERS = {
    "Link": {
        "description": 'RFC 8288 link to the next page, `<url>; rel="next"`; absent on the last page.',
        "schema": {"type": "string"},
    },
    "X-Total-Count": {
        "description": "Rows matching the filters; sent only when asked with `Prefer: count=exact`.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Preference-Applied": {
        "description": "`count=exact` when `X-Total-Count` is sent (RFC 7240).",
        "schema": {"const": "count=exact"},
    },
}


SORT_DESCRIPTION = "Field to sort by; `-` in front for descending."


def sort_query(values: Any) -> Any:
    """The `sort` query parameter over a `Literal` of its values, each named for client generators.

    `x-enum-varnames` (read by openapi-python-client and openapi-generator) names
    `-price` PRICE_DESC rather than the VALUE_5 a generator makes of a value
    that is no identifier.
    """
    names = [f"{value[1:].upper()}_DESC" if value.startswith("-") else value.upper() for value in get_args(values)]
    return Query(description=SORT_DESCRIPTION, json_schema_extra={"x-enum-varnames": names})


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
        WithJsonSchema({"type": "string", "examples": ["count=exact"]}),  # absent or a string, never JSON null
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
            cursor=encode_cursor(page.order, page.last_row, page.key)
        )
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return page.items
