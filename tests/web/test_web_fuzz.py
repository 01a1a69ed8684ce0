"""Random values in every field of every page's form and query: the answer is never a 5xx.

The pages and their fields come from the web router itself: each route's
declared form fields (`Form` parameters), query parameters and path
parameters, so a form or page added later is fuzzed without a change here.
The values are what the attack on issue 18 sent and worse: Unicode digits
("²", "٣"), digit strings past PostgreSQL's integer and Python's int() limit,
negative numbers, NUL and other control characters, very long text, and
fields left out at random, as urlencoded or multipart bodies, with htmx's
header or without.

Every post carries the session's CSRF token (in the header or the form) and
the session is signed in: in open mode, where the visitor sees everyone, and
with AUTH=required as a user, who reaches only their own portfolio. A path
names a real user or holding four times in five, and is any text otherwise.
Each example runs in a savepoint rolled back afterwards, with the cookies as
they were, so every one starts from the same portfolio (a delete or a
sign-out in one example leaves the next nothing to miss).

Deterministic (`derandomize`): the same examples on every run, so a red test
is a real regression.
"""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.params import Query
from fastapi.routing import APIRoute
from httpx import AsyncClient, Cookies
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from app.web.routes import router
from app.web.session import CSRF_FIELD, CSRF_HEADER
from tests.conftest import client_in_transaction
from tests.web.test_web import HTMX, csrf_of, new_user, sign_up_through_the_page

PAGES = [route for route in router.routes if isinstance(route, APIRoute)]
FORMS = [route for route in PAGES if "POST" in (route.methods or ())]
VIEWS = [route for route in PAGES if "GET" in (route.methods or ())]

# Per page and AUTH mode: 1,500 requests, about 15 s for the file on a quiet machine (2 cores).
EXAMPLES = 50
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # The client, its session and the test's transaction are meant to be shared by the examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------- values

# What the attack sent, and the values at each rule's edge.
EDGES = [
    "", " ", "²", "\u0663", "\u0661\u0660", "\uff11", "1²", "\x00", "1\x00", "-1", "0", "1", " 7 ", "+1", "1.0",
    "1e400", "-1e400", "NaN", "Infinity", "1.23456", "99999999.9999", "100000000", "0.0001", "0.00001",
    str(2**31 - 1), str(2**31), str(2**40), str(2**63), "9" * 5000, "-" + "9" * 5000, "on", "off", "true",
    "null", "[]", "{}", '"1"', "AAPL", " brk.b ", "$$$", "John Doe", "john", "grace@example.com",
    "correct horse battery", "%00", "<script>", "\u202e", "\ufeff", "\ud7ff", "\U0010ffff",
]  # fmt: skip
DIGITS_ANY_SCRIPT = st.characters(categories=["Nd", "No"])
NUMBER_LIKE = st.one_of(
    st.integers().map(str),
    st.integers(min_value=2**31 - 2, max_value=2**70).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.text(DIGITS_ANY_SCRIPT | st.sampled_from("0123456789.-+eE "), min_size=1, max_size=24),
)
LONG = st.one_of(
    st.integers(min_value=4300, max_value=20_000).map(lambda digits: "9" * digits),
    st.text(min_size=256, max_size=2000),
)
# st.text() draws from every code point but surrogates (no browser can send one): NUL and controls included.
FIELD_VALUE = st.one_of(st.sampled_from(EDGES), st.text(max_size=40), NUMBER_LIKE, LONG)
# Mostly a real row, so the fields are what decides the answer; one path in five is any text.
PATH_VALUE = st.integers(min_value=0, max_value=4).flatmap(lambda pick: FIELD_VALUE if pick == 0 else st.none())


def fields_of(names: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """Any of these fields, each left out or not, with any value."""
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, FIELD_VALUE))


def form_fields(route: APIRoute) -> list[str]:
    return [field.alias for field in route.dependant.body_params]


def query_parameters(route: APIRoute) -> list[str]:
    return [field.alias for field in get_flat_params(route.dependant) if isinstance(field.field_info, Query)]


def path_parameters(route: APIRoute) -> list[str]:
    return [field.alias for field in route.dependant.path_params]


# ---------------------------------------------------------------- the visitor and their portfolio


@dataclass(frozen=True, slots=True)
class Visit:
    """A signed-in browser session on the test's transaction, and the rows its paths may name."""

    client: AsyncClient
    connection: AsyncConnection
    csrf: str
    ids: dict[str, int]  # path parameter -> a real row's id

    def path(self, route: APIRoute, values: dict[str, str | None]) -> str:
        """The route's path with each parameter set: a real id where `values` has None, else the text, quoted."""
        filled = {
            name: str(self.ids.get(name, 1)) if text is None else quote(text, safe="") for name, text in values.items()
        }
        return route.path_format.format(**filled)


def path_values(route: APIRoute) -> st.SearchStrategy[dict[str, str | None]]:
    """Per path parameter: None (a real row's id, see `Visit.path`) or any text."""
    return st.fixed_dictionaries(dict.fromkeys(path_parameters(route), PATH_VALUE))


async def signed_in(client: AsyncClient, connection: AsyncConnection, user_id: int) -> Visit:
    """The visit, with a holding added through the portfolio page's own form."""
    csrf = csrf_of((await client.get(f"/app/users/{user_id}")).text)
    form = {"name": "AAPL", "price": "175.50", "quantity": "10", "is_active": "on", CSRF_FIELD: csrf}
    portfolio = await client.post(f"/app/users/{user_id}/stocks", data=form, follow_redirects=True)
    holding = re.search(r'id="holding-(\d+)"', portfolio.text)
    assert portfolio.status_code == 200 and holding, portfolio.text
    return Visit(client, connection, csrf, {"user_id": user_id, "stock_id": int(holding.group(1))})


@pytest.fixture(params=["open", "required"])
async def visit(
    request: pytest.FixtureRequest, app: FastAPI, required_app: FastAPI, connection: AsyncConnection
) -> AsyncIterator[Visit]:
    """Open mode (the visitor sees everyone), or AUTH=required with a user signed in through the pages."""
    async with client_in_transaction(app if request.param == "open" else required_app, connection) as client:
        if request.param == "open":
            user_id = await new_user(client)
        else:
            user_id = await sign_up_through_the_page(client, "Grace Hopper", "grace@example.com")
        yield await signed_in(client, connection, user_id)


async def assert_no_5xx(
    visit: Visit,
    method: str,
    path: str,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> None:
    """One request, in a savepoint rolled back afterwards and with the cookies put back as they were."""
    cookies = Cookies(visit.client.cookies)
    savepoint = await visit.connection.begin_nested()
    try:
        answer = await visit.client.request(method, path, headers=headers, params=params, data=form, files=files)
    finally:
        await savepoint.rollback()
        visit.client.cookies = cookies
    sent = {"params": params, "form": form, "multipart": files is not None, "headers": headers}
    assert answer.status_code < 500, f"{method} {path} {sent}: {answer.status_code}\n{answer.text[:2000]}"


# ---------------------------------------------------------------- the properties


@pytest.mark.parametrize("route", FORMS, ids=lambda route: f"POST {route.path}")
@FUZZ
@given(data=st.data())
async def test_no_form_answers_a_5xx_whatever_its_fields_hold(
    visit: Visit, route: APIRoute, data: st.DataObject
) -> None:
    path = visit.path(route, data.draw(path_values(route), label="path"))
    form = data.draw(fields_of(form_fields(route)), label="form")
    headers = dict(HTMX) if data.draw(st.booleans(), label="htmx") else {}
    if data.draw(st.booleans(), label="token in a header"):
        headers[CSRF_HEADER] = visit.csrf
    else:
        form[CSRF_FIELD] = visit.csrf
    # A file part makes httpx send multipart/form-data; its name is no field of any form.
    files = {"attachment": ("a.txt", b"x")} if data.draw(st.booleans(), label="multipart") else None
    await assert_no_5xx(visit, "POST", path, headers, form=form, files=files)


@pytest.mark.parametrize("route", VIEWS, ids=lambda route: f"GET {route.path}")
@FUZZ
@given(data=st.data())
async def test_no_page_answers_a_5xx_whatever_its_query_holds(
    visit: Visit, route: APIRoute, data: st.DataObject
) -> None:
    path = visit.path(route, data.draw(path_values(route), label="path"))
    query = data.draw(fields_of(query_parameters(route)), label="query")
    others = data.draw(st.dictionaries(st.text(max_size=12), FIELD_VALUE, max_size=3), label="other parameters")
    headers = dict(HTMX) if data.draw(st.booleans(), label="htmx") else {}
    await assert_no_5xx(visit, "GET", path, headers, params={**others, **query})
