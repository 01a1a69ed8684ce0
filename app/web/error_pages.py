"""What a page answers when it fails: an error page, or for htmx a message in the page's alert area; never JSON."""

import logging
from collections.abc import Mapping

import psycopg
from fastapi import Request, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.http.errors import RETRY_AFTER_SECONDS
from app.kit.errors import NotFound
from app.web.csrf import CSRF_REFUSED, CsrfRefused
from app.web.forms import field_errors
from app.web.rendering import go_to, is_htmx, render
from app.web.visitor import SignInNeeded, visitor_of

UNEXPECTED = "Something went wrong on our side, and it has been logged. Please try again."
NO_SUCH_PAGE = "There is no such page."
UNREADABLE_FORM = "This page could not read what was sent; reload the page and try again"
OUT_OF_RANGE = "A value is out of range or malformed; nothing was saved. Reload the page and try again."
DATABASE_UNAVAILABLE = (
    "The database cannot be reached just now, so this page cannot be shown or saved. "
    "Nothing was lost; please try again in a moment."
)

logger = logging.getLogger(__name__)


class PageNotFound(Exception):
    """A path under /app/ that names no page, or a page this visitor has no business with: 404."""


def error_page(request: Request, failure: Exception) -> Response:
    """The answer to a page route that raised `failure` (`PageRoute` asks)."""
    match failure:
        case SignInNeeded():
            return go_to(request, "/app/sign-in")
        case NotFound():
            return _alert(request, "Not found", failure.detail, status.HTTP_404_NOT_FOUND)
        case PageNotFound():
            return _alert(request, "Not found", NO_SUCH_PAGE, status.HTTP_404_NOT_FOUND)
        case RequestValidationError():
            return _unreadable_request(request, failure)
        case CsrfRefused():
            return _alert(request, "Form expired", CSRF_REFUSED, status.HTTP_403_FORBIDDEN)
        case StarletteHTTPException():
            # Starlette's own refusals of a body it cannot parse (a multipart body without its
            # boundary, more than 1000 fields): the client's doing, so its 400, as a page.
            message = f"{UNREADABLE_FORM} ({failure.detail})"
            return _alert(request, "Bad request", message, failure.status_code, failure.headers)
        case sa_exc.DataError():
            # The page's validation should have refused the value; as with the API, the client still
            # gets a 4xx. The log names the check that is missing, but neither the statement's values
            # nor the driver's message (which may quote one).
            logger.warning(
                "A value reached the database unvalidated on %s %s: %s",
                request.method,
                request.url.path,
                _kind_of(failure.orig),
            )
            return _alert(request, "Invalid input", OUT_OF_RANGE, status.HTTP_422_UNPROCESSABLE_CONTENT)
        case _ if _database_unreachable(failure):
            return _alert(
                request,
                "Database unavailable",
                DATABASE_UNAVAILABLE,
                status.HTTP_503_SERVICE_UNAVAILABLE,
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
        case _:
            # As the API's 500: the traceback to the log, a fixed sentence to the browser.
            logger.error("Unexpected error on %s %s", request.method, request.url.path, exc_info=failure)
            return _alert(request, "Something went wrong", UNEXPECTED, status.HTTP_500_INTERNAL_SERVER_ERROR)


def _alert(
    request: Request, heading: str, message: str, status_code: int, headers: Mapping[str, str] | None = None
) -> Response:
    visitor = visitor_of(request)
    if is_htmx(request):
        # Into the page's alert area, wherever the request meant to swap.
        response = render(request, "_alert.html", visitor, status_code, message=message)
        response.headers.update({"HX-Retarget": "#alert", "HX-Reswap": "innerHTML"})
    else:
        response = render(request, "error.html", visitor, status_code, heading=heading, message=message)
    response.headers.update(headers or {})
    return response


def _unreadable_request(request: Request, failure: RequestValidationError) -> Response:
    """A path that names no page (/app/users/abc) is a 404; a field FastAPI could not read is the client's 422."""
    errors = failure.errors()
    if all(tuple(error.get("loc", ()))[:1] == ("path",) for error in errors):
        return _alert(request, "Not found", NO_SUCH_PAGE, status.HTTP_404_NOT_FOUND)
    # In the API's words, never repeating the value sent (which may be a password).
    listed = "; ".join(f"{name}: {message}" for name, message in field_errors(errors).items())
    return _alert(request, "Invalid input", f"{UNREADABLE_FORM} ({listed})", status.HTTP_422_UNPROCESSABLE_CONTENT)


def _database_unreachable(error: Exception) -> bool:
    if isinstance(error, sa_exc.TimeoutError | psycopg.OperationalError):
        return True
    return isinstance(error, sa_exc.DBAPIError) and (
        isinstance(error.orig, psycopg.OperationalError) or error.connection_invalidated
    )


def _kind_of(error: BaseException | None) -> str:
    """The driver's error class and SQLSTATE: `NumericValueOutOfRange (22003)`."""
    sqlstate = getattr(error, "sqlstate", None)
    return f"{type(error).__name__} ({sqlstate})" if sqlstate else type(error).__name__
