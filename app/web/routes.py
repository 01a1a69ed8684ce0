"""The web app under /app/: sign-in and sign-up, the users list, a user's portfolio and each holding's ledger.

Each page takes, as dependencies (app/web/dependencies.py), the repositories
and services the JSON routes take, with the same scope (`Visitor.scope()`
decides as `caller_scope` does), so a page can reach exactly what the API
would let its visitor reach: another user's portfolio is a 404 page. Changes
to a portfolio answer htmx with the new portfolio section (totals, positions,
chart and holdings), so nothing reloads; without JavaScript the same forms
post and redirect. A holding's ledger opens under its row: its transactions
and a form to record a buy, sell or dividend, through the ledger service the
API's POST /stocks/{id}/transactions uses. The totals and positions are today's valuation (the service
GET /users/{id}/portfolio?as_of= uses: market prices and gains); the value-over-time chart (1M, YTD, 1Y,
Max) is a fragment of its own, loaded by htmx after the page, from the performance service.
The account's personal access tokens (/app/tokens) are listed, created (the token shown once, on the
answer to the form, never in a link) and revoked through the service /users/me/tokens uses.
"""

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator, BaseModel, ValidationError
from pydantic import Field as Rules

from app.auth.access import NotAuthenticated
from app.auth.dependencies import AuthenticatorDep
from app.auth.models import PersonalTokenCreate, PersonalTokenCreated
from app.auth.personal_tokens import AdminScopeRefused, PersonalTokens, TooManyTokens
from app.auth.service import Authenticator, TooManyFailures, TooManySignUps
from app.core.database import SessionOpener, SessionOpenerDep
from app.http.client_address import client_address
from app.kit.errors import Conflict, InvalidCursor, VersionMismatch
from app.kit.fields import Schema, storable_text, today
from app.kit.keyset import PageParams, SortOrder, encode_cursor
from app.kit.repository import Versioned
from app.portfolio.models import Performance
from app.portfolio.repository import UserTotals
from app.stocks.ledger.models import BuyCreate, DividendCreate, SellCreate, TransactionCreate, TransactionPublic
from app.stocks.ledger.repository import TransactionRepository
from app.stocks.ledger.service import LedgerRefusal
from app.stocks.models import StockCreate, StockPublic, StockUpdate
from app.stocks.repository import StockRepository
from app.users.models import USER_NAME_MAX_LENGTH, UserCreate, UserPublic, UserUpdate
from app.users.repository import UserRepository
from app.users.service import UserService
from app.web.colours import symbol_colours
from app.web.csrf import ActingVisitorDep
from app.web.dependencies import (
    LedgerServiceDep,
    PortfolioView,
    PortfolioViewDep,
    SignUpServiceDep,
    StockRepositoryDep,
    TransactionRepositoryDep,
    UserRepositoryDep,
    UserServiceDep,
)
from app.web.error_pages import PageNotFound
from app.web.formatting import money
from app.web.forms import FormText, as_json_body, errors_of, if_match_of
from app.web.page_route import PageRoute
from app.web.ranges import DEFAULT_RANGE, RANGE_NAMES, RANGES, Range
from app.web.rendering import go_to, is_htmx, render
from app.web.session import BrowserSession, new_session
from app.web.visitor import SignInNeeded, Visitor, VisitorDep, keep_session

router = APIRouter(prefix="/app", include_in_schema=False, route_class=PageRoute)

USERS_PER_PAGE = 20
# As GET /users/ takes it (app/http/paging.py `page_params`); the page's own cursors are a few dozen characters.
CURSOR_MAX_LENGTH = 512
FORM_VERSION_DAMAGED = (
    "This form did not come back as the page wrote it (its version is not one this site made), "
    "so nothing was saved. Reload the page and try again."
)
BROKEN_PAGE_LINK = "This page link is broken or out of date, so the list starts again from its first page."
# A portfolio page shows every holding; a user with more sees the first this many, and is told so.
HOLDINGS_SHOWN = 1000
# A holding's ledger shows this many transactions at a time, oldest first; a "more" link brings the next.
TRANSACTIONS_PER_PAGE = 20
# What a page records (the API also takes fee and split), and the fields each type's form sends.
RECORDED_ON_PAGES: dict[str, tuple[type[Schema], tuple[str, ...]]] = {
    "buy": (BuyCreate, ("quantity", "price", "fee")),
    "sell": (SellCreate, ("quantity", "price", "fee")),
    "dividend": (DividendCreate, ("amount",)),
}


# ---------------------------------------------------------------- entry, sign-in, sign-up, sign-out


@router.get("/")
async def entry(request: Request, visitor: VisitorDep) -> Response:
    """Open mode and admins: the users list. A signed-in user: their portfolio. Anyone else: sign in."""
    if visitor.sees_everyone:
        return go_to(request, "/app/users")
    if visitor.caller.user_id is None:
        return go_to(request, "/app/sign-in")
    return go_to(request, f"/app/users/{visitor.caller.user_id}")


@router.get("/sign-in")
async def sign_in_page(request: Request, visitor: VisitorDep) -> Response:
    if not visitor.auth_required or visitor.caller.signed_in:
        return go_to(request, "/app/")
    return render(request, "sign_in.html", visitor, email="", error=None)


async def _sign_in(request: Request, authenticator: Authenticator, email: str, password: str) -> None:
    """Sign in with the Authenticator the API uses; the token pair goes into the session cookie."""
    pair = await authenticator.sign_in(email, password, client_address(request.scope))
    # A new CSRF token with every login, so one seen before signing in is of no use after.
    keep_session(request, BrowserSession(new_session().csrf, pair.access_token, pair.refresh_token))


@router.post("/sign-in")
async def sign_in_form(
    request: Request,
    visitor: ActingVisitorDep,
    authenticator: AuthenticatorDep,
    email: FormText = "",
    password: FormText = "",
) -> Response:
    if not visitor.auth_required:
        return go_to(request, "/app/")
    try:
        await _sign_in(request, authenticator, email, password)
    except (NotAuthenticated, TooManyFailures) as failure:
        code = status.HTTP_429_TOO_MANY_REQUESTS if isinstance(failure, TooManyFailures) else 401
        return render(request, "sign_in.html", visitor, code, email=email, error=failure.detail)
    return go_to(request, "/app/")


@router.get("/sign-up")
async def sign_up_page(request: Request, visitor: VisitorDep) -> Response:
    if not visitor.auth_required or visitor.caller.signed_in:
        return go_to(request, "/app/")
    return render(request, "sign_up.html", visitor, values={}, errors={}, error=None)


async def _create_user(
    request: Request, service: UserService, fields: dict[str, str]
) -> Versioned[UserPublic] | dict[str, str]:
    """A new user from the form, through the service POST /users/ uses; or the errors, by field."""
    try:
        user = UserCreate.model_validate_json(as_json_body(fields, numbers=("age",)))
        return await service.sign_up(user, client_address(request.scope))
    except (ValidationError, RequestValidationError) as failure:
        return errors_of(failure)
    except Conflict as failure:
        return {"email": failure.detail}


@router.post("/sign-up")
async def sign_up_form(
    request: Request,
    visitor: ActingVisitorDep,
    service: SignUpServiceDep,
    authenticator: AuthenticatorDep,
    name: FormText = "",
    age: FormText = "",
    email: FormText = "",
    password: FormText = "",
) -> Response:
    if not visitor.auth_required:
        return go_to(request, "/app/")
    fields = {"name": name, "age": age, "email": email, "password": password}
    values = {**fields, "password": ""}
    try:
        created = await _create_user(request, service, fields)
    except TooManySignUps as failure:  # counted per address, as POST /users/ counts them
        return render(request, "sign_up.html", visitor, 429, values=values, errors={}, error=failure.detail)
    if isinstance(created, dict):
        return render(request, "sign_up.html", visitor, 422, values=values, errors=created)
    await _sign_in(request, authenticator, email, password)
    return go_to(request, "/app/")


@router.post("/sign-out")
async def sign_out_form(request: Request, visitor: ActingVisitorDep, authenticator: AuthenticatorDep) -> Response:
    """Ends the login as POST /auth/logout does (its refresh token revoked), and forgets the tokens."""
    if visitor.session.refresh_token is not None:
        await authenticator.sign_out(visitor.session.refresh_token)
    keep_session(request, new_session())
    return go_to(request, "/app/sign-in")


# ---------------------------------------------------------------- personal access tokens

# The lifetimes the form offers; the API takes any number of days from 1 to 366.
TOKEN_LIFETIMES = (7, 30, 90, 180, 366)
NEW_TOKEN_DEFAULTS = {"name": "", "write": "", "expires_in_days": "30"}


def _tokens_of(visitor: Visitor, open_session: SessionOpener) -> PersonalTokens | None:
    """The signed-in visitor's tokens; None in open mode, where the pages have no sign-in; else sign in first."""
    if not visitor.auth_required:
        return None
    if visitor.caller.user_id is None:
        raise SignInNeeded
    return PersonalTokens(open_session, visitor.caller.user_id)


async def _tokens_page(
    request: Request,
    visitor: Visitor,
    tokens: PersonalTokens | None,
    status_code: int = 200,
    created: PersonalTokenCreated | None = None,
    values: dict[str, str] = NEW_TOKEN_DEFAULTS,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    listed = await tokens.list() if tokens is not None else []
    return render(
        request,
        "tokens.html",
        visitor,
        status_code,
        tokens=listed,
        created=created,
        values=values,
        errors=errors or {},
        lifetimes=TOKEN_LIFETIMES,
    )


@router.get("/tokens")
async def tokens_page(request: Request, visitor: VisitorDep, open_session: SessionOpenerDep) -> Response:
    """The visitor's personal access tokens, and a form to create one (as GET and POST /users/me/tokens)."""
    return await _tokens_page(request, visitor, _tokens_of(visitor, open_session))


@router.post("/tokens")
async def create_token_form(
    request: Request,
    visitor: ActingVisitorDep,
    open_session: SessionOpenerDep,
    name: FormText = "",
    write: FormText = "",
    admin: FormText = "",
    expires_in_days: FormText = "",
) -> Response:
    """A new token, shown on this answer only (never in a redirect's URL), under the API's rules and in its words."""
    tokens = _tokens_of(visitor, open_session)
    if tokens is None:
        return go_to(request, "/app/tokens")
    values = {"name": name, "write": write, "admin": admin, "expires_in_days": expires_in_days}
    scopes = ["read", *(["write"] if write == "on" else []), *(["admin"] if admin == "on" else [])]
    # JSON parsed by the model, as the API's body is: json.loads would choke on a number of 5000 digits.
    fields = as_json_body({"name": name, "expires_in_days": expires_in_days}, numbers=("expires_in_days",))
    body = '{"scopes":' + json.dumps(scopes) + ("}" if fields == "{}" else "," + fields[1:])
    try:
        created = await tokens.create(PersonalTokenCreate.model_validate_json(body))
    except ValidationError as failure:
        return await _tokens_page(request, visitor, tokens, 422, values=values, errors=errors_of(failure))
    except (TooManyTokens, AdminScopeRefused) as failure:
        return await _tokens_page(
            request, visitor, tokens, failure.status_code, values=values, errors={"form": failure.detail}
        )
    return await _tokens_page(request, visitor, tokens, 201, created=created)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token_form(
    request: Request, visitor: ActingVisitorDep, open_session: SessionOpenerDep, token_id: int
) -> Response:
    """Revoke one of the visitor's tokens (as DELETE /users/me/tokens/{id}); another's is a 404 page."""
    tokens = _tokens_of(visitor, open_session)
    if tokens is None:
        raise PageNotFound
    await tokens.revoke(token_id)
    return go_to(request, "/app/tokens")


# ---------------------------------------------------------------- users


class UsersQuery(BaseModel):
    """The users page's query string, under the rules GET /users/ applies to its `name` and `cursor`."""

    name: Annotated[str, Rules(max_length=USER_NAME_MAX_LENGTH), AfterValidator(storable_text)] | None = None
    cursor: Annotated[str, Rules(max_length=CURSOR_MAX_LENGTH)] | None = None


async def _users_page(
    request: Request,
    visitor: Visitor,
    portfolio_view: PortfolioView,
    query: UsersQuery,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page of users, each with their totals, and the page's total: two statements, whatever the page holds."""
    params = PageParams(limit=USERS_PER_PAGE, cursor=query.cursor)
    page = await portfolio_view.users.list(query.name or None, SortOrder("id"), params)
    next_cursor = encode_cursor(page.order, page.last_row) if page.last_row is not None else None
    totals = await portfolio_view.user_totals([user.id for user in page.items])
    return render(
        request,
        "users.html",
        visitor,
        status_code,
        users=page.items,
        totals=totals,
        page_total=UserTotals(
            holdings=sum(each.holdings for each in totals.values()),
            cost=sum((each.cost for each in totals.values()), Decimal(0)),
            market_value=sum((each.market_value for each in totals.values()), Decimal(0)),
        ),
        no_totals=UserTotals(),
        name=query.name or "",
        search=context.pop("search", query.name or ""),
        search_errors=context.pop("search_errors", {}),
        next_cursor=next_cursor,
        first_page=query.cursor is None,
        values=context.pop("values", {}),
        errors=context.pop("errors", {}),
        **context,
    )


@router.get("/users")
async def users_page(
    request: Request,
    visitor: VisitorDep,
    portfolio_view: PortfolioViewDep,
    name: Annotated[str | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> Response:
    """Everyone, for an admin or in open mode (name search, pages by cursor); a user's own portfolio otherwise.

    A search the API would refuse, or a page link it did not make, is a 422: the first page of
    what can be shown, with the reason beside the search field.
    """
    if not visitor.sees_everyone:  # a signed-in user (`users` has sent anyone else to sign in)
        return go_to(request, f"/app/users/{visitor.caller.user_id}")
    try:
        query = UsersQuery(name=name, cursor=cursor or None)  # `?cursor=` is the first page
    except ValidationError as failure:
        errors = errors_of(failure)
        valid = UsersQuery(name=None if "name" in errors else name)
        return await _users_page(
            request, visitor, portfolio_view, valid, 422, search=name or "", search_errors=_search_errors(errors)
        )
    try:
        return await _users_page(request, visitor, portfolio_view, query)
    except InvalidCursor:
        first = UsersQuery(name=query.name)
        return await _users_page(
            request, visitor, portfolio_view, first, 422, search_errors={"cursor": BROKEN_PAGE_LINK}
        )


def _search_errors(errors: dict[str, str]) -> dict[str, str]:
    """The reasons, by field; a cursor is never typed, so whatever is wrong with it, the link is broken."""
    return {**errors, "cursor": BROKEN_PAGE_LINK} if "cursor" in errors else errors


@router.post("/users")
async def create_user_form(
    request: Request,
    visitor: ActingVisitorDep,
    service: SignUpServiceDep,
    portfolio_view: PortfolioViewDep,
    name: FormText = "",
    age: FormText = "",
    email: FormText = "",
    password: FormText = "",
) -> Response:
    """An admin's (or, in open mode, anyone's) new user; a signed-in user has no users list to add to."""
    if not visitor.sees_everyone:
        raise PageNotFound
    fields = {"name": name, "age": age, "email": email, "password": password}
    created = await _create_user(request, service, fields)
    if isinstance(created, dict):
        values = {**fields, "password": ""}
        return await _users_page(request, visitor, portfolio_view, UsersQuery(), 422, values=values, errors=created)
    return go_to(request, f"/app/users/{created.body.id}")


# ---------------------------------------------------------------- a user: rename and delete


@dataclass(slots=True)
class Renaming:
    """A user's rename form: the version it was read at (sent back as If-Match), what was typed, what happened."""

    version: int
    value: str | None = None  # as typed, shown again when refused; the user's name otherwise
    error: str | None = None
    conflict: str | None = None
    notice: str | None = None


def _rename_section(
    request: Request, visitor: Visitor, user: UserPublic, renaming: Renaming, status_code: int = 200
) -> HTMLResponse:
    """The rename section alone, for htmx; renamed, with the page's heading too (an out-of-band swap)."""
    return render(request, "_user_edit.html", visitor, status_code, user=user, renaming=renaming)


@router.post("/users/{user_id}/name")
async def rename_user(
    request: Request,
    user_id: int,
    visitor: ActingVisitorDep,
    portfolio_view: PortfolioViewDep,
    stocks: StockRepositoryDep,
    users: UserServiceDep,
    version: FormText = "",
    name: FormText = "",
) -> Response:
    """A new name, as PATCH /users/{id} {"name": ...} with If-Match: the version the page was read at.

    The API's rules decide: its name rules (refused beside the field, in its words), its scope (another
    user's is the 404 page), and a change meanwhile (412: the current name, and nothing saved).
    """
    if_match = if_match_of(version)
    renaming = Renaming(if_match.versions[0] if if_match is not None and if_match.versions else 0, name)
    if if_match is None:
        renaming.error = FORM_VERSION_DAMAGED
        return await _answer_rename(request, visitor, portfolio_view, stocks, user_id, renaming, 422)
    try:
        changes = UserUpdate.model_validate({"name": name})
    except ValidationError as failure:
        renaming.error = errors_of(failure).get("name", str(failure))
        return await _answer_rename(request, visitor, portfolio_view, stocks, user_id, renaming, 422)
    try:
        renamed = await users.update(user_id, changes, if_match)
    except VersionMismatch:
        current = await portfolio_view.users.read(user_id)
        renaming.version = current.version
        renaming.conflict = (
            f"Someone changed this user since you opened this page: the name is now {current.body.name}. "
            "Nothing was saved; save again to rename them anyway."
        )
        return await _answer_rename(request, visitor, portfolio_view, stocks, user_id, renaming, 412)
    if not is_htmx(request):
        return go_to(request, f"/app/users/{user_id}")
    done = Renaming(renamed.version, notice=f"Renamed to {renamed.body.name}.")
    return _rename_section(request, visitor, renamed.body, done)


async def _answer_rename(
    request: Request,
    visitor: Visitor,
    portfolio_view: PortfolioView,
    stocks: StockRepository,
    user_id: int,
    renaming: Renaming,
    status_code: int,
) -> Response:
    """The rename form again, with what went wrong: the section for htmx, the whole page otherwise.

    A form that sent no version it was read at keeps the version read now.
    """
    if not is_htmx(request):
        return await _render_portfolio(
            request, visitor, portfolio_view, stocks, user_id, status_code, renaming=renaming
        )
    current = await portfolio_view.users.read(user_id)
    renaming.version = renaming.version or current.version
    return _rename_section(request, visitor, current.body, renaming, status_code)


@router.get("/users/{user_id}/delete")
async def delete_user_page(request: Request, user_id: int, visitor: VisitorDep, users: UserRepositoryDep) -> Response:
    """Asks first: who goes, and what with them (every holding and its ledger), as DELETE /users/{id} takes it."""
    return await _delete_user_page(request, visitor, users, user_id)


async def _delete_user_page(
    request: Request,
    visitor: Visitor,
    users: UserRepository,
    user_id: int,
    status_code: int = 200,
    conflict: str | None = None,
) -> HTMLResponse:
    current = await users.read_with_stocks(user_id)  # the 404 page for a user out of the visitor's reach
    is_self = visitor.caller.user_id == user_id
    return render(
        request,
        "user_delete.html",
        visitor,
        status_code,
        user=current.body,
        version=current.version,
        is_self=is_self,
        conflict=conflict,
    )


@router.post("/users/{user_id}/delete")
async def delete_user(
    request: Request, user_id: int, visitor: ActingVisitorDep, users: UserRepositoryDep, version: FormText = ""
) -> Response:
    """Deletes the user, their holdings and ledgers, as DELETE /users/{id} with If-Match: the version confirmed.

    A change since the confirmation page was read (a rename, say) is the page again, 412: it deletes
    only what was confirmed. Deleting oneself ends the login (the cascade has revoked its tokens).
    """
    if_match = if_match_of(version)
    if if_match is None:
        return await _delete_user_page(request, visitor, users, user_id, 422, FORM_VERSION_DAMAGED)
    try:
        await users.delete(user_id, if_match)
    except VersionMismatch:
        conflict = "This user changed since you opened this page, so nothing was deleted. Check and confirm again."
        return await _delete_user_page(request, visitor, users, user_id, 412, conflict)
    if visitor.caller.user_id == user_id:
        keep_session(request, new_session())
        return go_to(request, "/app/sign-in")
    return go_to(request, "/app/users" if visitor.sees_everyone else "/app/")


# ---------------------------------------------------------------- a portfolio


@dataclass(slots=True)
class Editing:
    """A holding open for editing: its row as read (with the version its form sends back), and what went wrong."""

    stock: StockPublic
    version: int
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    conflict: str | None = None


@dataclass(slots=True)
class Ledger:
    """A holding's ledger, open under its row: a page of its transactions, and the record form as sent back."""

    stock: StockPublic
    transactions: list[TransactionPublic]
    next_cursor: str | None
    first_page: bool = True
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problem: str | None = None  # a delete the ledger refused, a broken page link

    @property
    def today(self) -> str:
        """The record form's default date, and its latest: today in UTC, as the API's `occurred_on` allows."""
        return today().isoformat()


async def _portfolio_context(portfolio_view: PortfolioView, user_id: int) -> dict[str, Any]:
    """The user, their valuation today (GET /users/{id}/portfolio?as_of='s service) and every holding, newest last."""
    read = await portfolio_view.users.read_with_stocks(user_id)
    user = read.body
    portfolio = await portfolio_view.valuation(user_id)
    holdings = user.stocks[:HOLDINGS_SHOWN]
    colours = symbol_colours(position.name for position in portfolio.positions)
    return {
        "user": user,
        "user_version": read.version,  # the rename form's and the delete page's If-Match
        "portfolio": portfolio,
        "holdings": holdings,
        "more_holdings": len(user.stocks) - len(holdings),
        "chart_labels": [position.name for position in portfolio.positions],
        "chart_values": [str(position.value) for position in portfolio.positions],
        "chart_colours": [colours[position.name] for position in portfolio.positions],
        "default_range": DEFAULT_RANGE,
    }


async def _render_portfolio(
    request: Request,
    visitor: Visitor,
    portfolio_view: PortfolioView,
    stocks: StockRepository,
    user_id: int,
    status_code: int = 200,
    *,
    add_values: dict[str, str] | None = None,
    add_errors: dict[str, str] | None = None,
    editing: Editing | None = None,
    ledger: Ledger | None = None,
    notice: str | None = None,
    renaming: Renaming | None = None,
) -> HTMLResponse:
    """The portfolio: its section alone for htmx (swapped in place), the whole page otherwise."""
    context = await _portfolio_context(portfolio_view, user_id)
    renaming = renaming or Renaming(context["user_version"])
    renaming.version = renaming.version or context["user_version"]
    template = "_portfolio.html" if is_htmx(request) else "portfolio.html"
    return render(
        request,
        template,
        visitor,
        status_code,
        add_values=add_values or {},
        add_errors=add_errors or {},
        editing=editing,
        ledger=ledger,
        notice=notice,
        renaming=renaming,
        **context,
    )


@router.get("/users/{user_id}")
async def portfolio_page(
    request: Request, user_id: int, visitor: VisitorDep, portfolio_view: PortfolioViewDep, stocks: StockRepositoryDep
) -> Response:
    return await _render_portfolio(request, visitor, portfolio_view, stocks, user_id)


@router.get("/users/{user_id}/performance")
async def performance_chart(
    request: Request,
    user_id: int,
    visitor: VisitorDep,
    portfolio_view: PortfolioViewDep,
    chosen: Annotated[Range, Query(alias="range")] = DEFAULT_RANGE,
) -> Response:
    """The value-over-time chart for a range, with its TWR and XIRR: a fragment for htmx, a page otherwise.

    The portfolio page loads it after itself (hx-trigger="load"), since a long series costs more than
    the page; a range the page does not offer is a 422 page, another user's portfolio the 404 page.
    """
    performance = await portfolio_view.performance(user_id, chosen)
    context: dict[str, Any] = {
        "user_id": user_id,
        "performance": performance,
        "chosen": chosen,
        "ranges": RANGES,
        "range_names": RANGE_NAMES,
        "chart": _chart_data(performance),
    }
    if is_htmx(request):
        return render(request, "_performance.html", visitor, **context)
    user = (await portfolio_view.users.read_with_stocks(user_id)).body
    return render(request, "performance.html", visitor, user=user, **context)


def _chart_data(performance: Performance | None) -> dict[str, list[str]]:
    """The series as the chart's data-* attributes hold it: dates, and exact decimals as text."""
    series = performance.series if performance is not None else []
    return {
        "dates": [point.date.isoformat() for point in series],
        "values": [str(point.value) for point in series],
        "invested": [str(point.invested) for point in series],
    }


@router.post("/users/{user_id}/stocks")
async def add_holding(
    request: Request,
    user_id: int,
    visitor: ActingVisitorDep,
    portfolio_view: PortfolioViewDep,
    stocks: StockRepositoryDep,
    name: FormText = "",
    price: FormText = "",
    quantity: FormText = "",
    is_active: FormText = "",
) -> Response:
    """A new holding, through the repository POST /users/{id}/stocks/ uses; the API's 422 beside the fields."""
    fields = {"name": name, "price": price, "quantity": quantity, "is_active": is_active}
    try:
        stock = StockCreate.model_validate_json(
            as_json_body(fields, numbers=("price", "quantity"), flags=("is_active",))
        )
    except ValidationError as failure:
        return await _render_portfolio(
            request, visitor, portfolio_view, stocks, user_id, 422, add_values=fields, add_errors=errors_of(failure)
        )
    added = await stocks.create_for_user(user_id, stock)
    if not is_htmx(request):
        return go_to(request, f"/app/users/{user_id}")
    return await _render_portfolio(
        request,
        visitor,
        portfolio_view,
        stocks,
        user_id,
        notice=f"Added {added.body.name}: {added.body.quantity} shares.",
    )


def _edit_row(request: Request, visitor: Visitor, editing: Editing, status_code: int = 200) -> HTMLResponse:
    return render(request, "_holding_edit.html", visitor, status_code, editing=editing, stock=editing.stock)


@router.get("/stocks/{stock_id}/edit")
async def edit_holding(
    request: Request, stock_id: int, visitor: VisitorDep, portfolio_view: PortfolioViewDep, stocks: StockRepositoryDep
) -> Response:
    """The holding's row as a form, with the version it was read at (sent back as If-Match)."""
    current = await stocks.read(stock_id)
    editing = Editing(current.body, current.version)
    if is_htmx(request):
        return _edit_row(request, visitor, editing)
    return await _render_portfolio(request, visitor, portfolio_view, stocks, current.body.user_id, editing=editing)


@router.get("/stocks/{stock_id}/row")
async def holding_row(request: Request, stock_id: int, visitor: VisitorDep, stocks: StockRepositoryDep) -> Response:
    """The holding's row as shown (cancelling an edit)."""
    current = await stocks.read(stock_id)
    if not is_htmx(request):
        return go_to(request, f"/app/users/{current.body.user_id}")
    return render(request, "_holding_row.html", visitor, stock=current.body)


@router.post("/stocks/{stock_id}")
async def save_holding(
    request: Request,
    stock_id: int,
    visitor: ActingVisitorDep,
    portfolio_view: PortfolioViewDep,
    stocks: StockRepositoryDep,
    version: FormText = "",
    name: FormText = "",
    price: FormText = "",
    quantity: FormText = "",
    is_active: FormText = "",
) -> Response:
    """Symbol, price, quantity and active, as PATCH /stocks/{id} with If-Match: the version the form was opened at.

    The symbol is what the holding is, so a new one corrects it (a typo, a ticker renamed): the holding
    keeps its shares, average cost and ledger, which belong to it and not to a symbol, and its value,
    history included, follows the new symbol's closes; no transaction is recorded, as the API's PATCH
    records none for a name. Moving into another stock is a sale and a new holding, which the ledger
    records as such. A form without the field (an older page) leaves the symbol as it is; an emptied one
    is refused (FastAPI reads both as "", so the form itself is asked).
    """
    fields = {"price": price, "quantity": quantity, "is_active": is_active}
    if "name" in await request.form():  # parsed already, for the parameters: no second read of the body
        fields = {"name": name, **fields}
    if_match = if_match_of(version)
    errors = {} if if_match is not None else {"version": FORM_VERSION_DAMAGED}
    try:
        changes = StockUpdate.model_validate_json(
            as_json_body(fields, numbers=("price", "quantity"), flags=("is_active",), kept=("name",))
        )
    except ValidationError as failure:
        errors = errors_of(failure) | errors
    if if_match is None or errors:
        current = await stocks.read(stock_id)
        # The version the form was opened at, kept so saving again still notices a change meanwhile.
        opened_at = if_match.versions[0] if if_match is not None and if_match.versions else current.version
        editing = Editing(current.body, opened_at, fields, errors)
        return await _answer_edit(
            request, visitor, portfolio_view, stocks, editing, status.HTTP_422_UNPROCESSABLE_CONTENT
        )
    try:
        changed = await stocks.patch(stock_id, changes, if_match)
    except VersionMismatch:
        current = await stocks.read(stock_id)
        editing = Editing(current.body, current.version, fields)
        editing.conflict = (
            f"Someone changed {current.body.name} since you opened this form: it is now "
            f"{current.body.quantity:,} at {money(current.body.price)}. Nothing was saved."
        )
        return await _answer_edit(
            request, visitor, portfolio_view, stocks, editing, status.HTTP_412_PRECONDITION_FAILED
        )
    user_id = changed.body.user_id
    if not is_htmx(request):
        return go_to(request, f"/app/users/{user_id}")
    response = await _render_portfolio(
        request, visitor, portfolio_view, stocks, user_id, notice=f"Saved {changed.body.name}."
    )
    # The form asked to replace its row; the answer is the whole section (totals and chart moved too).
    response.headers.update({"HX-Retarget": "#portfolio", "HX-Reswap": "outerHTML"})
    return response


async def _answer_edit(
    request: Request,
    visitor: Visitor,
    portfolio_view: PortfolioView,
    stocks: StockRepository,
    editing: Editing,
    status_code: int,
) -> Response:
    if is_htmx(request):
        return _edit_row(request, visitor, editing, status_code)
    user_id = editing.stock.user_id
    return await _render_portfolio(request, visitor, portfolio_view, stocks, user_id, status_code, editing=editing)


@router.post("/stocks/{stock_id}/delete")
async def delete_holding(
    request: Request,
    stock_id: int,
    visitor: ActingVisitorDep,
    portfolio_view: PortfolioViewDep,
    stocks: StockRepositoryDep,
) -> Response:
    """Deletes the holding (the browser asked for confirmation first), as DELETE /stocks/{id}."""
    stock = (await stocks.read(stock_id)).body
    await stocks.delete(stock_id)
    if not is_htmx(request):
        return go_to(request, f"/app/users/{stock.user_id}")
    return await _render_portfolio(
        request,
        visitor,
        portfolio_view,
        stocks,
        stock.user_id,
        notice=f"Deleted {stock.name} ({stock.quantity} shares).",
    )


# ---------------------------------------------------------------- a holding's ledger


class _RecordedType(BaseModel):
    """The record form's type: one a page records, refused beside the field in pydantic's words otherwise."""

    type: Literal["buy", "sell", "dividend"]


async def _ledger(
    stocks: StockRepository,
    transactions: TransactionRepository,
    stock_id: int,
    cursor: str | None = None,
    **state: Any,
) -> Ledger:
    """The holding (404 if not the visitor's) and a page of its ledger, as GET /stocks/{id}/transactions pages it."""
    stock = (await stocks.read(stock_id)).body
    page = await transactions.list_for_holding(stock_id, PageParams(limit=TRANSACTIONS_PER_PAGE, cursor=cursor))
    next_cursor = encode_cursor(page.order, page.last_row) if page.last_row is not None else None
    return Ledger(stock, page.items, next_cursor, first_page=cursor is None, **state)


async def _answer_ledger(
    request: Request,
    visitor: Visitor,
    portfolio_view: PortfolioView,
    stocks: StockRepository,
    ledger: Ledger,
    status_code: int = 200,
) -> Response:
    """The holding's row with its ledger open: the row alone for htmx (in its place), the whole page otherwise."""
    if not is_htmx(request):
        user_id = ledger.stock.user_id
        return await _render_portfolio(request, visitor, portfolio_view, stocks, user_id, status_code, ledger=ledger)
    response = render(request, "_holding_ledger.html", visitor, status_code, stock=ledger.stock, ledger=ledger)
    # Whatever asked (a "more" link replaces only itself), the answer is the whole row.
    response.headers.update({"HX-Retarget": f"#holding-{ledger.stock.id}", "HX-Reswap": "outerHTML"})
    return response


@router.get("/stocks/{stock_id}/transactions")
async def holding_ledger(
    request: Request,
    stock_id: int,
    visitor: VisitorDep,
    portfolio_view: PortfolioViewDep,
    stocks: StockRepositoryDep,
    transactions: TransactionRepositoryDep,
    cursor: Annotated[str | None, Query(max_length=CURSOR_MAX_LENGTH)] = None,
) -> Response:
    """The holding's ledger, oldest first, a page at a time, and the form that records a transaction.

    With a cursor, htmx gets the next page's rows alone (they replace the "more" link); a page link the
    API did not make is a 422: the first page, with the reason.
    """
    try:
        ledger = await _ledger(stocks, transactions, stock_id, cursor or None)
    except InvalidCursor:
        ledger = await _ledger(stocks, transactions, stock_id, problem=BROKEN_PAGE_LINK)
        return await _answer_ledger(request, visitor, portfolio_view, stocks, ledger, 422)
    if cursor and is_htmx(request):
        return render(request, "_ledger_rows.html", visitor, ledger=ledger)
    return await _answer_ledger(request, visitor, portfolio_view, stocks, ledger)


def _transaction_of(fields: dict[str, str]) -> TransactionCreate:
    """The body POST /stocks/{id}/transactions would be sent, judged by the API's model for the type."""
    kind = _RecordedType.model_validate({"type": fields["type"]}).type
    model, numbers = RECORDED_ON_PAGES[kind]
    sent = {name: fields[name] for name in ("type", "occurred_on", *numbers, "note")}
    recorded: TransactionCreate = model.model_validate_json(as_json_body(sent, numbers=numbers))  # type: ignore[assignment]  # one of the union's members, by the table above
    return recorded


def _recorded(stock: StockPublic, written: TransactionPublic) -> str:
    """What the notice says after a record."""
    if written.type == "dividend":
        assert written.amount is not None
        return f"Recorded a dividend of {money(written.amount)} on {stock.name}."
    assert written.price is not None
    said = f"Recorded a {written.type} of {written.quantity:,} {stock.name} at {money(written.price)}"
    if written.realized_gain is not None:
        said += f": realized gain {money(written.realized_gain)}"
    return f"{said}. Now {stock.quantity:,} at {money(stock.price)}."


@router.post("/stocks/{stock_id}/transactions")
async def record_transaction(
    request: Request,
    stock_id: int,
    visitor: ActingVisitorDep,
    portfolio_view: PortfolioViewDep,
    stocks: StockRepositoryDep,
    transactions: TransactionRepositoryDep,
    ledger_service: LedgerServiceDep,
    kind: Annotated[str, Form(alias="type")] = "",
    occurred_on: FormText = "",
    quantity: FormText = "",
    price: FormText = "",
    fee: FormText = "",
    amount: FormText = "",
    note: FormText = "",
) -> Response:
    """A buy, sell or dividend, as POST /stocks/{id}/transactions: the API's model and ledger service judge it.

    Refused, it is the form again with the reason beside the field at fault (selling more than held: beside
    quantity, in the ledger's words); recorded, htmx gets the whole portfolio (the holding and totals moved).
    """
    fields = {
        "type": kind,
        "occurred_on": occurred_on,
        "quantity": quantity,
        "price": price,
        "fee": fee,
        "amount": amount,
        "note": note,
    }
    try:
        written = await ledger_service.record(stock_id, _transaction_of(fields))
    except ValidationError as failure:
        errors = errors_of(failure)
    except LedgerRefusal as refusal:
        errors = {refusal.location[-1] if refusal.location else "form": refusal.detail}
    else:
        if not is_htmx(request):
            return go_to(request, f"/app/stocks/{stock_id}/transactions")
        ledger = await _ledger(stocks, transactions, stock_id)
        response = await _render_portfolio(
            request,
            visitor,
            portfolio_view,
            stocks,
            ledger.stock.user_id,
            ledger=ledger,
            notice=_recorded(ledger.stock, written),
        )
        response.headers.update({"HX-Retarget": "#portfolio", "HX-Reswap": "outerHTML"})
        return response
    ledger = await _ledger(stocks, transactions, stock_id, values=fields, errors=errors)
    return await _answer_ledger(request, visitor, portfolio_view, stocks, ledger, 422)


@router.post("/transactions/{transaction_id}/delete")
async def delete_transaction(
    request: Request,
    transaction_id: int,
    visitor: ActingVisitorDep,
    portfolio_view: PortfolioViewDep,
    stocks: StockRepositoryDep,
    transactions: TransactionRepositoryDep,
    ledger_service: LedgerServiceDep,
) -> Response:
    """Deletes a transaction (the browser asked first), as DELETE /transactions/{id}: the holding is the rest replayed.

    Refused (the rest would sell more than held, or it is the only buy), the ledger says why.
    """
    entry = await transactions.read_one(transaction_id)
    try:
        await ledger_service.remove(transaction_id)
    except LedgerRefusal as refusal:
        ledger = await _ledger(stocks, transactions, entry.stock_id, problem=refusal.detail)
        return await _answer_ledger(request, visitor, portfolio_view, stocks, ledger, 422)
    if not is_htmx(request):
        return go_to(request, f"/app/stocks/{entry.stock_id}/transactions")
    ledger = await _ledger(stocks, transactions, entry.stock_id)
    return await _render_portfolio(
        request,
        visitor,
        portfolio_view,
        stocks,
        ledger.stock.user_id,
        ledger=ledger,
        notice=(
            f"Deleted the {entry.type} of {entry.occurred_on.isoformat()}. "
            f"{ledger.stock.name} is now {ledger.stock.quantity:,} at {money(ledger.stock.price)}."
        ),
    )


# Last: any other path under /app/ is a page that does not exist, answered as a page (not the API's JSON 404).
@router.get("/{path:path}")
async def no_such_page(path: str, visitor: VisitorDep) -> Response:
    """The visitor is resolved so the 404 page shows their navigation."""
    raise PageNotFound
