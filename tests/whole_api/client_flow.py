"""A client developer's first script, against a client generated from the OpenAPI with openapi-python-client.

tests/whole_api/test_generated_client.py generates the `portfolio_client`
package from the document the server serves, type-checks this file against it
with mypy (strict, no explicit `Any`), then runs it against a live server in
each AUTH mode: `python client_flow.py BASE_URL EMAIL`. It is not run by pytest
itself, and the repository's own mypy leaves it out (the package it imports
exists only in that test's temporary directory).

The flow is a list of steps over one `Flow` (the clients and what earlier
steps learnt); a new step is a function added to STEPS. Errors are told apart
by `error_kind`, today from the status alone; when the API answers problem
details with a `code`, that function reads it, and the steps keep their branches.
"""

import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from portfolio_client import AuthenticatedClient, Client
from portfolio_client.api.auth import sign_in
from portfolio_client.api.stocks import create_stock_for_user, read_stock, read_user_stocks, update_stock
from portfolio_client.api.users import create_user, read_me
from portfolio_client.models import (
    BodySignIn,
    StockCreate,
    StockPublic,
    StockUpdate,
    TokenPair,
    UserCreate,
    UserPublic,
    UserWithStocks,
)
from portfolio_client.types import Response

Body = TypeVar("Body")  # every body an operation may answer, as the generated Response types it
Model = TypeVar("Model")
PASSWORD = "a generated client's passphrase"
SYMBOLS = ("AAPL", "MSFT", "GOOG", "NVDA", "BRK.B")
PAGE_SIZE = 2


class FlowFailed(AssertionError):
    """The API answered something the flow did not expect: the message says what."""


@dataclass
class Flow:
    """The server, the account, and what each step leaves for the next."""

    base_url: str
    email: str
    anonymous: Client
    signed_in: AuthenticatedClient | None = None
    user_id: int = 0
    stock_ids: list[int] = field(default_factory=list)

    def client(self) -> AuthenticatedClient:
        if self.signed_in is None:
            raise FlowFailed("a step that needs a token ran before sign-in")
        return self.signed_in


def expect(response: Response[Body], status: HTTPStatus, model: type[Model]) -> Model:
    """The parsed body of an answer that must have `status` and a body of `model`; else FlowFailed."""
    if response.status_code != status:
        raise FlowFailed(
            f"expected {status}, got {response.status_code} ({error_kind(response)}): {response.content!r}"
        )
    if not isinstance(response.parsed, model):
        raise FlowFailed(f"expected a {model.__name__}, got {response.parsed!r}")
    return response.parsed


def error_kind(response: Response[Body]) -> str:
    """What kind of failure an answer is, for a script to branch on.

    Today from the status alone; with problem details, the body's `code`
    (`stock_not_found`, `version_mismatch`, ...) belongs here.
    """
    kinds = {
        HTTPStatus.UNAUTHORIZED: "not_authenticated",
        HTTPStatus.NOT_FOUND: "not_found",
        HTTPStatus.CONFLICT: "conflict",
        HTTPStatus.PRECONDITION_FAILED: "version_mismatch",
        HTTPStatus.UNPROCESSABLE_ENTITY: "validation_failed",
        HTTPStatus.TOO_MANY_REQUESTS: "rate_limited",
        HTTPStatus.SERVICE_UNAVAILABLE: "unavailable",
    }
    return kinds.get(HTTPStatus(response.status_code), "ok" if response.status_code < 400 else "other")


def next_cursor(headers: MutableMapping[str, str]) -> str | None:
    """The `cursor` of the `Link: <...>; rel="next"` header, or None on the last page."""
    link = headers.get("link")
    if link is None:
        return None
    url, _, relation = link.partition(";")
    if relation.strip() != 'rel="next"':
        raise FlowFailed(f"a Link that is not rel=next: {link}")
    return parse_qs(urlsplit(url.strip().strip("<>")).query)["cursor"][0]


# ---------------------------------------------------------------- the steps


def sign_up(flow: Flow) -> None:
    body = UserCreate(name="Grace Hopper", email=flow.email, password=PASSWORD, age=85)
    user = expect(create_user.sync_detailed(client=flow.anonymous, body=body), HTTPStatus.CREATED, UserPublic)
    # Annotated: a field the document called optional would be `... | Unset` here, and mypy would refuse it.
    age: int | None = user.age
    is_admin: bool = user.is_admin
    if user.email != flow.email or is_admin or age != 85:
        raise FlowFailed(f"signed up as {user!r}")
    flow.user_id = user.id


def sign_in_with_the_password(flow: Flow) -> None:
    form = BodySignIn(username=flow.email, password=PASSWORD)
    tokens = expect(sign_in.sync_detailed(client=flow.anonymous, body=form), HTTPStatus.OK, TokenPair)
    token_type: str = tokens.token_type
    if token_type.lower() != "bearer":
        raise FlowFailed(f"a token of type {tokens.token_type}")
    flow.signed_in = AuthenticatedClient(base_url=flow.base_url, token=tokens.access_token)
    me = expect(read_me.sync_detailed(client=flow.client()), HTTPStatus.OK, UserWithStocks)
    stocks: list[StockPublic] = me.stocks
    if me.id != flow.user_id or stocks:
        raise FlowFailed(f"signed in as user {me.id}, signed up as {flow.user_id}")


def create_stocks(flow: Flow) -> None:
    for number, symbol in enumerate(SYMBOLS, start=1):
        body = StockCreate(name=symbol, price=100.25 * number, quantity=number)
        response = create_stock_for_user.sync_detailed(flow.user_id, client=flow.client(), body=body)
        stock = expect(response, HTTPStatus.CREATED, StockPublic)
        is_active: bool = stock.is_active
        price: float = stock.price
        if not is_active or stock.user_id != flow.user_id or price != body.price:
            raise FlowFailed(f"created {stock!r}")
        flow.stock_ids.append(stock.id)


def page_through_the_stocks(flow: Flow) -> None:
    seen: list[int] = []
    cursor: str | None = None
    while True:
        response = read_user_stocks.sync_detailed(flow.user_id, client=flow.client(), limit=PAGE_SIZE, cursor=cursor)
        if response.status_code != HTTPStatus.OK or not isinstance(response.parsed, list):
            raise FlowFailed(f"a page: {response.status_code} {response.content!r}")
        seen.extend(stock.id for stock in response.parsed)
        cursor = next_cursor(response.headers)
        if cursor is None:
            break
    if seen != flow.stock_ids:
        raise FlowFailed(f"paging saw {seen}, created {flow.stock_ids}")


def update_only_if_unchanged(flow: Flow) -> None:
    stock_id = flow.stock_ids[0]
    read = read_stock.sync_detailed(stock_id, client=flow.client())
    expect(read, HTTPStatus.OK, StockPublic)
    first_etag = read.headers["etag"]
    changed = update_stock.sync_detailed(
        stock_id, client=flow.client(), body=StockUpdate(quantity=7), if_match=first_etag
    )
    expect(changed, HTTPStatus.OK, StockPublic)
    # The same version again is stale now: the server refuses it, and says the current one.
    stale = update_stock.sync_detailed(
        stock_id, client=flow.client(), body=StockUpdate(quantity=8), if_match=first_etag
    )
    if error_kind(stale) != "version_mismatch":
        raise FlowFailed(f"a stale If-Match answered {stale.status_code}")
    current = read_stock.sync_detailed(stock_id, client=flow.client())
    retried = update_stock.sync_detailed(
        stock_id, client=flow.client(), body=StockUpdate(quantity=8), if_match=current.headers["etag"]
    )
    if expect(retried, HTTPStatus.OK, StockPublic).quantity != 8:
        raise FlowFailed("the retried update did not apply")


def branch_on_errors(flow: Flow) -> None:
    missing = read_stock.sync_detailed(2_000_000_000, client=flow.client())
    if error_kind(missing) != "not_found":
        raise FlowFailed(f"a stock that does not exist answered {missing.status_code}")
    taken = create_user.sync_detailed(
        client=flow.anonymous, body=UserCreate(name="Grace Hopper", email=flow.email, password=PASSWORD)
    )
    if error_kind(taken) != "conflict":
        raise FlowFailed(f"signing up a taken email answered {taken.status_code}")
    bad_token = AuthenticatedClient(base_url=flow.base_url, token="not-a-token")
    if error_kind(read_me.sync_detailed(client=bad_token)) != "not_authenticated":
        raise FlowFailed("a bad token was not refused")


STEPS: list[Callable[[Flow], None]] = [
    sign_up,
    sign_in_with_the_password,
    create_stocks,
    page_through_the_stocks,
    update_only_if_unchanged,
    branch_on_errors,
]


def main(base_url: str, email: str) -> None:
    flow = Flow(base_url=base_url, email=email, anonymous=Client(base_url=base_url))
    for step in STEPS:
        step(flow)
        print(f"ok: {step.__name__}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
