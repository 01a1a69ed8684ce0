"""A client developer's first script, against a client generated from the OpenAPI with openapi-python-client.

tests/whole_api/test_generated_client.py generates the `portfolio_client`
package from the document the server serves, type-checks this file against it
with mypy (strict, no explicit `Any`), then runs it against a live server in
each AUTH mode: `python client_flow.py BASE_URL EMAIL`. It is not run by pytest
itself, and the repository's own mypy leaves it out (the package it imports
exists only in that test's temporary directory).

The flow is a list of steps over one `Flow` (the clients and what earlier
steps learnt); a new step is a function added to STEPS. The password signs in
once, to make a personal access token; the stocks are then the token's work,
as a script's would be. Errors are told apart by `error_kind`, which reads the
`code` of the typed problem body (or OAuth2's `error` at /auth/token), never
the status: an error whose status the document does not declare has no typed
body, and fails the flow.
"""

import sys
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from portfolio_client import AuthenticatedClient, Client
from portfolio_client.api.auth import sign_in
from portfolio_client.api.personal_access_tokens import create_my_token, read_my_tokens, revoke_my_token
from portfolio_client.api.stocks import create_stock_for_user, read_stock, read_user_stocks, update_stock
from portfolio_client.api.users import create_user, read_me, read_user
from portfolio_client.models import (
    BodySignIn,
    BodySignInGrantType,
    OAuth2Error,
    PersonalTokenCreate,
    PersonalTokenCreated,
    PersonalTokenCreateScopesItem,
    Problem,
    StockCreate,
    StockPublic,
    StockUpdate,
    TokenPair,
    UserCreate,
    UserPublic,
    UserWithStocks,
    ValidationIssue,
    ValidationProblem,
)
from portfolio_client.types import UNSET, Response

Body = TypeVar("Body")  # every body an operation may answer, as the generated Response types it
Model = TypeVar("Model")
PASSWORD = "a generated client's passphrase"
SYMBOLS = ("AAPL", "MSFT", "GOOG", "NVDA", "BRK.B")
PAGE_SIZE = 2
NO_SUCH_ID = 2_000_000_000


class FlowFailed(AssertionError):
    """The API answered something the flow did not expect: the message says what."""


@dataclass
class Flow:
    """The server, the account, and what each step leaves for the next."""

    base_url: str
    email: str
    anonymous: Client
    signed_in: AuthenticatedClient | None = None  # the password's access token: manages the personal tokens
    scripted: AuthenticatedClient | None = None  # a personal access token, `write` scope: does everything else
    script_token_id: int = 0
    user_id: int = 0
    stock_ids: list[int] = field(default_factory=list)

    def login(self) -> AuthenticatedClient:
        if self.signed_in is None:
            raise FlowFailed("a step that needs a sign-in ran before it")
        return self.signed_in

    def script(self) -> AuthenticatedClient:
        if self.scripted is None:
            raise FlowFailed("a step that needs the personal access token ran before it was made")
        return self.scripted

    def with_token(self, token: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=self.base_url, token=token)


def expect(response: Response[Body], status: HTTPStatus, model: type[Model]) -> Model:
    """The parsed body of an answer that must have `status` and a body of `model`; else FlowFailed."""
    if response.status_code != status:
        raise FlowFailed(
            f"expected {status}, got {response.status_code} ({error_kind(response)}): {response.content!r}"
        )
    if not isinstance(response.parsed, model):
        raise FlowFailed(f"expected a {model.__name__}, got {response.parsed!r}")
    return response.parsed


def expect_no_content(response: Response[Body]) -> None:
    if response.status_code != HTTPStatus.NO_CONTENT:
        raise FlowFailed(f"expected 204, got {response.status_code} ({error_kind(response)}): {response.content!r}")


def error_kind(response: Response[Body]) -> str:
    """What kind of failure an answer is, for a script to branch on: the `code` of its problem details.

    Every error is a `Problem` (a `ValidationProblem` for `validation_failed`)
    with a stable `code`; /auth/token speaks OAuth2 instead, an `OAuth2Error`
    whose `error` is `invalid_grant` and the like. The status is never read:
    two codes share 401, 403, 404 and 409.
    """
    parsed = response.parsed
    if isinstance(parsed, Problem | ValidationProblem):
        return parsed.code
    if isinstance(parsed, OAuth2Error):
        return parsed.error.value
    if response.status_code < HTTPStatus.BAD_REQUEST:
        return "ok"
    # The generated client parses only the statuses the document declares: this one it does not.
    raise FlowFailed(f"an undeclared error, {response.status_code}: {response.content!r}")


def field_errors(response: Response[Body]) -> list[ValidationIssue]:
    """The fields a `validation_failed` names, each with its `location` and `type`."""
    if not isinstance(response.parsed, ValidationProblem):
        raise FlowFailed(f"expected validation_failed, got {response.status_code}: {response.content!r}")
    return response.parsed.errors


def expect_error(response: Response[Body], code: str, what: str) -> None:
    if (kind := error_kind(response)) != code:
        raise FlowFailed(f"{what}: expected {code}, got {response.status_code} {kind}: {response.content!r}")


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
    wrong = sign_in.sync_detailed(client=flow.anonymous, body=BodySignIn(username=flow.email, password="not it"))
    expect_error(wrong, "invalid_grant", "a wrong password")  # OAuth2's words at /auth/token: a 400 OAuth2Error
    form = BodySignIn(username=flow.email, password=PASSWORD)
    first = expect(sign_in.sync_detailed(client=flow.anonymous, body=form), HTTPStatus.OK, TokenPair)
    # OAuth2's refresh grant, at the same URL: the refresh token is traded for a new pair.
    refresh = BodySignIn(grant_type=BodySignInGrantType.REFRESH_TOKEN, refresh_token=first.refresh_token)
    tokens = expect(sign_in.sync_detailed(client=flow.anonymous, body=refresh), HTTPStatus.OK, TokenPair)
    token_type: str = tokens.token_type
    if token_type.lower() != "bearer" or tokens.refresh_token == first.refresh_token:
        raise FlowFailed(f"refreshed into {tokens!r}")
    flow.signed_in = flow.with_token(tokens.access_token)
    me = expect(read_me.sync_detailed(client=flow.login()), HTTPStatus.OK, UserWithStocks)
    stocks: list[StockPublic] = me.stocks
    if me.id != flow.user_id or stocks:
        raise FlowFailed(f"signed in as user {me.id}, signed up as {flow.user_id}")


def make_a_personal_token(flow: Flow) -> None:
    ask = PersonalTokenCreate(
        name="the flow's script",
        scopes=[PersonalTokenCreateScopesItem.READ, PersonalTokenCreateScopesItem.WRITE],
        expires_in_days=1,
    )
    created = expect(
        create_my_token.sync_detailed(client=flow.login(), body=ask), HTTPStatus.CREATED, PersonalTokenCreated
    )
    if not created.token.startswith(created.prefix) or sorted(created.scopes) != ["read", "write"]:
        raise FlowFailed(f"made {created!r}")
    flow.scripted, flow.script_token_id = flow.with_token(created.token), created.id
    listed = read_my_tokens.sync_detailed(client=flow.login())
    if not isinstance(listed.parsed, list) or [token.id for token in listed.parsed] != [created.id]:
        raise FlowFailed(f"listed {listed.status_code} {listed.content!r}")
    # Listed, a token shows only its first characters: the secret is no field of it.
    shown = listed.parsed[0]
    if shown.prefix != created.prefix or "token" in shown.additional_properties:
        raise FlowFailed(f"listed as {shown!r}")
    # A token cannot make tokens, whatever its scopes: only the password can.
    successor = create_my_token.sync_detailed(client=flow.script(), body=ask)
    expect_error(successor, "insufficient_scope", "a token making a token")
    me = expect(read_me.sync_detailed(client=flow.script()), HTTPStatus.OK, UserWithStocks)
    if me.id != flow.user_id:
        raise FlowFailed(f"the token speaks for user {me.id}")


def create_stocks(flow: Flow) -> None:
    # The first with an Idempotency-Key, sent twice as a retry would be: one stock, answered twice.
    key = str(uuid.uuid4())
    for number, symbol in enumerate(SYMBOLS, start=1):
        body = StockCreate(name=symbol, price=100.25 * number, quantity=number)
        response = create_stock_for_user.sync_detailed(
            flow.user_id, client=flow.script(), body=body, idempotency_key=key if number == 1 else UNSET
        )
        stock = expect(response, HTTPStatus.CREATED, StockPublic)
        is_active: bool = stock.is_active
        price: float = stock.price
        if not is_active or stock.user_id != flow.user_id or price != body.price:
            raise FlowFailed(f"created {stock!r}")
        flow.stock_ids.append(stock.id)
        if number == 1:
            retried = create_stock_for_user.sync_detailed(
                flow.user_id, client=flow.script(), body=body, idempotency_key=key
            )
            replayed = expect(retried, HTTPStatus.CREATED, StockPublic)
            if replayed.id != stock.id or retried.headers.get("idempotent-replayed") != "true":
                raise FlowFailed(f"the retry made {replayed.id}, the first {stock.id}")
    # The same key with another request is refused, naming the header; nothing is made (paging counts them).
    other = StockCreate(name="TSLA", price=1, quantity=1)
    reused = create_stock_for_user.sync_detailed(flow.user_id, client=flow.script(), body=other, idempotency_key=key)
    expect_error(reused, "validation_failed", "a reused Idempotency-Key")
    issue = field_errors(reused)[0]
    if (issue.type_, issue.location) != ("idempotency_key_reused", ["header", "Idempotency-Key"]):
        raise FlowFailed(f"a reused key was refused as {issue!r}")


def page_through_the_stocks(flow: Flow) -> None:
    seen: list[int] = []
    cursor: str | None = None
    while True:
        response = read_user_stocks.sync_detailed(flow.user_id, client=flow.script(), limit=PAGE_SIZE, cursor=cursor)
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
    read = read_stock.sync_detailed(stock_id, client=flow.script())
    expect(read, HTTPStatus.OK, StockPublic)
    first_etag = read.headers["etag"]
    changed = update_stock.sync_detailed(
        stock_id, client=flow.script(), body=StockUpdate(quantity=7), if_match=first_etag
    )
    expect(changed, HTTPStatus.OK, StockPublic)
    # The same version again is stale now: the server refuses it, and its ETag says the current one.
    stale = update_stock.sync_detailed(
        stock_id, client=flow.script(), body=StockUpdate(quantity=8), if_match=first_etag
    )
    expect_error(stale, "version_mismatch", "a stale If-Match")
    if stale.headers["etag"] != changed.headers["etag"]:
        raise FlowFailed(f"a 412 named version {stale.headers['etag']}, the row is {changed.headers['etag']}")
    retried = update_stock.sync_detailed(
        stock_id, client=flow.script(), body=StockUpdate(quantity=8), if_match=stale.headers["etag"]
    )
    if expect(retried, HTTPStatus.OK, StockPublic).quantity != 8:
        raise FlowFailed("the retried update did not apply")


def a_read_token_only_reads(flow: Flow) -> None:
    ask = PersonalTokenCreate(name="a dashboard", scopes=[PersonalTokenCreateScopesItem.READ], expires_in_days=1)
    created = expect(
        create_my_token.sync_detailed(client=flow.login(), body=ask), HTTPStatus.CREATED, PersonalTokenCreated
    )
    reader = flow.with_token(created.token)
    stock_id = flow.stock_ids[0]
    read = read_stock.sync_detailed(stock_id, client=reader)
    expect(read, HTTPStatus.OK, StockPublic)
    write = update_stock.sync_detailed(
        stock_id, client=reader, body=StockUpdate(quantity=9), if_match=read.headers["etag"]
    )
    expect_error(write, "insufficient_scope", "a read token writing")
    if write.headers.get("www-authenticate") != 'Bearer error="insufficient_scope"':
        raise FlowFailed(f"a read token's refusal said {write.headers.get('www-authenticate')!r}")
    expect_no_content(revoke_my_token.sync_detailed(created.id, client=flow.login()))


def revoke_the_personal_token(flow: Flow) -> None:
    expect_no_content(revoke_my_token.sync_detailed(flow.script_token_id, client=flow.login()))
    refused = read_stock.sync_detailed(flow.stock_ids[0], client=flow.script())
    expect_error(refused, "invalid_token", "a revoked token")
    again = revoke_my_token.sync_detailed(flow.script_token_id, client=flow.login())
    expect_error(again, "personal_access_token_not_found", "revoking a revoked token")


def branch_on_errors(flow: Flow) -> None:
    expect_error(read_stock.sync_detailed(NO_SUCH_ID, client=flow.login()), "stock_not_found", "no such stock")
    expect_error(read_user.sync_detailed(NO_SUCH_ID, client=flow.login()), "user_not_found", "no such user")
    taken = create_user.sync_detailed(
        client=flow.anonymous, body=UserCreate(name="Grace Hopper", email=flow.email, password=PASSWORD)
    )
    expect_error(taken, "email_taken", "signing up a taken email")
    invalid = create_stock_for_user.sync_detailed(
        flow.user_id, client=flow.login(), body=StockCreate(name="AAPL", price=-1, quantity=1)
    )
    expect_error(invalid, "validation_failed", "a negative price")
    if field_errors(invalid)[0].location != ["body", "price"]:
        raise FlowFailed(f"a negative price was refused as {field_errors(invalid)!r}")
    # The operations that need a caller take an AuthenticatedClient only; an empty header is no token at all.
    no_token = AuthenticatedClient(base_url=flow.base_url, token="", prefix="")
    expect_error(read_me.sync_detailed(client=no_token), "not_authenticated", "no token")
    expect_error(read_me.sync_detailed(client=flow.with_token("not-a-token")), "invalid_token", "a bad token")


STEPS: list[Callable[[Flow], None]] = [
    sign_up,
    sign_in_with_the_password,
    make_a_personal_token,
    create_stocks,
    page_through_the_stocks,
    update_only_if_unchanged,
    a_read_token_only_reads,
    revoke_the_personal_token,
    branch_on_errors,
]


def main(base_url: str, email: str) -> None:
    flow = Flow(base_url=base_url, email=email, anonymous=Client(base_url=base_url))
    for step in STEPS:
        step(flow)
        print(f"ok: {step.__name__}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
