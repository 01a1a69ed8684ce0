"""What every page shares: who the visitor is, CSRF, templates, money formatting, and errors as HTML.

Pages answer in HTML, never in the API's JSON: a route of the web router
that raises a domain error (`NotFound`), fails CSRF, or cannot reach the
database gets a page (or, for htmx, a message in the page's alert area)
from `PageRoute`, which also sets the session cookie and the security
headers on every answer.
"""

import json
import logging
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.access import ANONYMOUS, Caller, NotAuthenticated, caller_named_by
from app.auth.service import Authenticator
from app.auth.tokens import InvalidToken
from app.core.config import Settings
from app.core.database import SessionOpenerDep
from app.http.errors import RETRY_AFTER_SECONDS
from app.kit.errors import NotFound
from app.kit.scope import EVERY_ROW, Scope
from app.web import session as cookies
from app.web.session import BrowserSession

# The vendored libraries' versions, also in their URLs so a browser drops a cached copy on upgrade
# (app/static/README.md); WEB_ASSETS_VERSION is ours, moved when app.css or app.js change.
HTMX_VERSION = "2.0.11"
CHART_JS_VERSION = "4.6.1"
WEB_ASSETS_VERSION = "4"

# Scripts only from the app itself, and no inline script or style element: htmx is told not to
# add its indicator <style> (the htmx-config meta tag), Chart.js styles its canvas through the DOM.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages carry a CSRF token and someone's portfolio: no shared or back-button cache.
    "Cache-Control": "no-store",
}

CSRF_REFUSED = "This form has expired or did not come from this site; reload the page and try again."
UNEXPECTED = "Something went wrong on our side, and it has been logged. Please try again."
NO_SUCH_PAGE = "There is no such page."
UNREADABLE_FORM = "This page could not read what was sent; reload the page and try again"
OUT_OF_RANGE = "A value is out of range or malformed; nothing was saved. Reload the page and try again."

logger = logging.getLogger(__name__)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


# ---------------------------------------------------------------- money


def money(value: Decimal) -> str:
    """A stored amount exactly, with thousands separators: 1234567.5 is "1,234,567.50", 0.1234 stays "0.1234".

    At least two decimal places; more only where the stored value has them. Decimal formatting, never float.
    """
    digits, exponent = value.as_tuple().digits, value.as_tuple().exponent
    assert isinstance(exponent, int), "money is finite"
    places = -exponent
    while places > 2 and digits and digits[-1] == 0:  # NUMERIC(12,4) keeps 175.5 as 175.5000
        digits, places = digits[:-1], places - 1
    return f"{value:,.{max(places, 2)}f}"


def share(value: Decimal, total: Decimal) -> str:
    """A position's share of the total as a percentage with one decimal place ("45.2%")."""
    if not total:
        return "0.0%"
    return f"{(value * 100 / total).quantize(Decimal('0.1'))}%"


def plain(value: Decimal) -> str:
    """An amount as an input field holds it: exact, no separators ("1234567.50")."""
    return money(value).replace(",", "")


templates.env.filters["money"] = money
templates.env.filters["plain"] = plain
templates.env.filters["share"] = share


# ---------------------------------------------------------------- the visitor


class SignInNeeded(Exception):
    """The page needs a signed-in visitor (AUTH=required); they are sent to the sign-in page."""


class PageNotFound(Exception):
    """A path under /app/ that names no page."""


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token: 403."""


@dataclass(slots=True)
class Visitor:
    """The person behind a page request: their browser session, who they are, and what they may reach."""

    session: BrowserSession
    caller: Caller
    auth_required: bool

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def sees_everyone(self) -> bool:
        """Open mode, or an admin: the users list is theirs to browse."""
        return not self.auth_required or self.caller.is_admin

    def scope(self) -> Scope:
        """The rows this visitor may reach, as `caller_scope` decides for the API; `SignInNeeded` if anonymous."""
        if self.sees_everyone:
            return EVERY_ROW
        if self.caller.user_id is None:
            raise SignInNeeded
        return Scope(owner_id=self.caller.user_id)


def web_cookie_key(request: Request) -> bytes:
    key: bytes = request.app.state.web_cookie_key
    return key


def keep_session(request: Request, session: BrowserSession) -> None:
    """Have `PageRoute` write this session into the cookie of the answer."""
    request.state.web_session = session


async def current_visitor(request: Request, open_session: SessionOpenerDep) -> Visitor:
    """The visitor named by the session cookie, refreshing their token pair when the access token has expired."""
    settings: Settings = request.app.state.settings
    session = cookies.decode(request.cookies.get(cookies.COOKIE_NAME), web_cookie_key(request))
    if session is None:
        session = cookies.new_session()
        keep_session(request, session)
    if not settings.auth_required or session.refresh_token is None:
        request.state.visitor = visitor = Visitor(session, ANONYMOUS, settings.auth_required)
        return visitor
    caller = ANONYMOUS
    try:
        claims = request.app.state.access_tokens.check(session.access_token or "")
    except InvalidToken:
        authenticator = Authenticator(open_session, request.app.state.access_tokens, settings)
        try:
            pair = await authenticator.refresh(session.refresh_token)
        except NotAuthenticated:
            session = session.signed_out()
        else:
            session = BrowserSession(session.csrf, pair.access_token, pair.refresh_token)
            # Issued a moment ago from the user's row, admin rights included: no need to ask again.
            claims = request.app.state.access_tokens.check(pair.access_token)
            caller = Caller(user_id=claims.user_id, is_admin=claims.is_admin)
        keep_session(request, session)
    else:
        # As the API's `current_caller`: admin rights are what the database says now.
        named = await caller_named_by(claims, open_session)
        if named is None:  # the user is gone: their cookie signs nobody in
            session = session.signed_out()
            keep_session(request, session)
        else:
            caller = named
    if caller.user_id is not None:
        request.state.user_id = caller.user_id  # for the request's log line, as the API's routes do
    request.state.visitor = visitor = Visitor(session, caller, settings.auth_required)
    return visitor


# Declared before SessionDep in a page's parameters, so an admin's lookup has closed its session before
# the page's own takes its place in the line (app/dependencies.py says why).
VisitorDep = Annotated[Visitor, Depends(current_visitor)]


async def csrf_checked_visitor(request: Request, visitor: VisitorDep) -> Visitor:
    """The visitor, once the request has shown the session's CSRF token (header from htmx, or form field)."""
    sent = request.headers.get(cookies.CSRF_HEADER)
    if sent is None:
        form = await request.form()
        field = form.get(cookies.CSRF_FIELD)
        sent = field if isinstance(field, str) else None
        # No page takes a file: one a multipart body carried is closed now, not left to the garbage collector
        # (FastAPI closes what it parsed for a route's own fields, and a route without fields parses nothing).
        await form.close()
    if not cookies.csrf_matches(visitor.session, sent):
        raise CsrfRefused
    return visitor


# For every route that changes something (every POST).
ActingVisitorDep = Annotated[Visitor, Depends(csrf_checked_visitor)]


# ---------------------------------------------------------------- rendering


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request, template: str, visitor: Visitor | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {
            "visitor": visitor,
            "static": static_url(request),
            "favicon": page_url(request, "/static/favicon.svg"),
            # The pages' own paths, for links repeated on every holding: Starlette's url_for looks
            # its route up among all the app's routes each time, which for 100 holdings was most
            # of the page's time.
            "app": page_url(request, "/app"),
            "htmx_config": HTMX_CONFIG,
            **context,
        },
        status_code=status_code,
    )


def static_url(request: Request) -> Callable[[str], str]:
    prefix = request.scope.get("root_path", "").rstrip("/")
    versions = {"htmx.min.js": HTMX_VERSION, "chart.umd.min.js": CHART_JS_VERSION}

    def url(name: str) -> str:
        return f"{prefix}/static/web/{name}?v={versions.get(name, WEB_ASSETS_VERSION)}"

    return url


def page_url(request: Request, path: str) -> str:
    return request.scope.get("root_path", "").rstrip("/") + path


def go_to(request: Request, path: str) -> Response:
    """To another page: a 303 for a browser, `HX-Redirect` for htmx (which would otherwise swap the page in)."""
    url = page_url(request, path)
    if is_htmx(request):
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


# htmx swaps 2xx answers only, by default; pages answer a field error (422), a lost race (412) or
# an alert (404, 403, 503) with HTML meant to be shown, so every answer is swapped. No eval, no
# inline styles (the CSP allows neither): no indicator <style>, and no copying of `style`
# attributes between an old element and its new copy while settling (setAttribute("style") is
# an inline style to the CSP; Chart.js sizes its canvas through the DOM, which is not).
HTMX_CONFIG = json.dumps(
    {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
        "attributesToSettle": ["class", "width", "height"],
        "responseHandling": [{"code": "204", "swap": False}, {"code": "...", "swap": True}],
    },
    separators=(",", ":"),
)


# ---------------------------------------------------------------- form errors in the API's words


def field_errors(errors: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Validation errors by field, in the API's own words (its 422 `msg`), the first for each field."""
    found: dict[str, str] = {}
    for error in errors:
        where = [part for part in error.get("loc", ()) if part not in ("body", "query")]
        field = str(where[0]) if where else "form"
        if error.get("type") == "number_type":
            # The API's words for a string where a JSON number goes; a form only has strings, so this is
            # text that is not a number, in pydantic's words for that.
            found.setdefault(field, "Input should be a valid number")
        found.setdefault(field, _readable(str(error.get("msg", ""))))
    return found


def _readable(message: str) -> str:
    # Pydantic puts "Value error, " before the API's own sentences; on a page it is noise.
    return message.removeprefix("Value error, ")


def errors_of(failure: ValidationError | RequestValidationError) -> dict[str, str]:
    return field_errors(failure.errors())


# ASCII digits only: a Unicode digit ("²", or U+0661, Arabic-Indic one) must reach the model as text it refuses
# beside the field, not as JSON no parser reads (an error about the whole form, which no field shows).
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def as_json_body(fields: Mapping[str, str], numbers: Sequence[str] = (), flags: Sequence[str] = ()) -> str:
    """The JSON body the API would be sent for these form fields, so the same model answers in the same words.

    A numeric field that reads as a JSON number goes as one, anything else as
    a string (which the model then refuses, as the API would); an empty field
    is left out; a flag (a checkbox) is true when sent.
    """
    members = []
    for name, text in fields.items():
        text = text.strip() if name in numbers else text
        if name in flags:
            value = "true" if text == "on" else "false"
        elif text == "":
            continue
        elif name in numbers and _JSON_NUMBER.fullmatch(text):
            value = text  # as typed: 175.50 reaches the model as the JSON number 175.50, exactly
        else:
            value = json.dumps(text)
        members.append(f"{json.dumps(name)}:{value}")
    return "{" + ",".join(members) + "}"


# ---------------------------------------------------------------- errors as pages


def _database_unreachable(error: Exception) -> bool:
    if isinstance(error, sa_exc.TimeoutError | psycopg.OperationalError):
        return True
    return isinstance(error, sa_exc.DBAPIError) and (
        isinstance(error.orig, psycopg.OperationalError) or error.connection_invalidated
    )


def _alert(
    request: Request, heading: str, message: str, status_code: int, headers: Mapping[str, str] | None = None
) -> Response:
    visitor: Visitor | None = getattr(request.state, "visitor", None)
    if is_htmx(request):
        # Into the page's alert area, wherever the request meant to swap.
        response = render(request, "_alert.html", visitor, status_code, message=message)
        response.headers.update({"HX-Retarget": "#alert", "HX-Reswap": "innerHTML"})
    else:
        response = render(request, "error.html", visitor, status_code, heading=heading, message=message)
    response.headers.update(headers or {})
    return response


class PageRoute(APIRoute):
    """A page's route: HTML for every failure, and the session cookie and security headers on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_page(request: Request) -> Response:
            try:
                response = await handle(request)
            except SignInNeeded:
                response = go_to(request, "/app/sign-in")
            except NotFound as failure:
                response = _alert(request, "Not found", failure.detail, status.HTTP_404_NOT_FOUND)
            except PageNotFound:
                response = _alert(request, "Not found", NO_SUCH_PAGE, status.HTTP_404_NOT_FOUND)
            except RequestValidationError as failure:
                response = _unreadable_request(request, failure)
            except CsrfRefused:
                response = _alert(request, "Form expired", CSRF_REFUSED, status.HTTP_403_FORBIDDEN)
            except StarletteHTTPException as failure:
                # Starlette's own refusals of a body it cannot parse (a multipart body without its
                # boundary, more than 1000 fields): the client's doing, so its 400, as a page.
                message = f"{UNREADABLE_FORM} ({failure.detail})"
                response = _alert(request, "Bad request", message, failure.status_code, failure.headers)
            except sa_exc.DataError as failure:
                # The page's validation should have refused the value; as with the API, the client still
                # gets a 4xx. The log names the check that is missing, but neither the statement's values
                # nor the driver's message (which may quote one).
                logger.warning(
                    "A value reached the database unvalidated on %s %s: %s",
                    request.method,
                    request.url.path,
                    _kind_of(failure.orig),
                )
                response = _alert(request, "Invalid input", OUT_OF_RANGE, status.HTTP_422_UNPROCESSABLE_CONTENT)
            except Exception as failure:
                if not _database_unreachable(failure):
                    # As the API's 500: the traceback to the log, a fixed sentence to the browser.
                    logger.exception("Unexpected error on %s %s", request.method, request.url.path)
                    response = _alert(
                        request, "Something went wrong", UNEXPECTED, status.HTTP_500_INTERNAL_SERVER_ERROR
                    )
                    return _finish(request, response)
                response = _alert(
                    request,
                    "Database unavailable",
                    "The database cannot be reached just now, so this page cannot be shown or saved. "
                    "Nothing was lost; please try again in a moment.",
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    {"Retry-After": RETRY_AFTER_SECONDS},
                )
            return _finish(request, response)

        return handle_page


def _unreadable_request(request: Request, failure: RequestValidationError) -> Response:
    """A path that names no page (/app/users/abc) is a 404; a field FastAPI could not read is the client's 422."""
    errors = failure.errors()
    if all(tuple(error.get("loc", ()))[:1] == ("path",) for error in errors):
        return _alert(request, "Not found", NO_SUCH_PAGE, status.HTTP_404_NOT_FOUND)
    # In the API's words, never repeating the value sent (which may be a password).
    listed = "; ".join(f"{name}: {message}" for name, message in field_errors(errors).items())
    return _alert(request, "Invalid input", f"{UNREADABLE_FORM} ({listed})", status.HTTP_422_UNPROCESSABLE_CONTENT)


def _kind_of(error: BaseException | None) -> str:
    """The driver's error class and SQLSTATE: `NumericValueOutOfRange (22003)`."""
    sqlstate = getattr(error, "sqlstate", None)
    return f"{type(error).__name__} ({sqlstate})" if sqlstate else type(error).__name__


def _finish(request: Request, response: Response) -> Response:
    """The session cookie, when it changed, and the security headers on every page's answer."""
    session: BrowserSession | None = getattr(request.state, "web_session", None)
    if session is not None:
        settings: Settings = request.app.state.settings
        max_age = settings.refresh_token_days * 24 * 3600
        cookies.write_cookie(response, request, session, web_cookie_key(request), max_age)
    response.headers.update(PAGE_HEADERS)
    return response
