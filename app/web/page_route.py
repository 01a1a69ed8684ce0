"""`PageRoute`, every page's route class: HTML for every failure, the session cookie and the security headers.

Pages answer in HTML, never in the API's JSON: a route of the web router
that raises a domain error (`NotFound`), fails CSRF, or cannot reach the
database gets a page (or, for htmx, a message in the page's alert area)
from app/web/error_pages.py.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from app.core.config import settings_of
from app.web import session as cookies
from app.web.error_pages import error_page
from app.web.session import cookie_key_of
from app.web.visitor import session_to_keep

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


class PageRoute(APIRoute):
    """A page's route: HTML for every failure, and the session cookie and security headers on every answer."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_page(request: Request) -> Response:
            try:
                response = await handle(request)
            except Exception as failure:
                response = error_page(request, failure)
            return _finish(request, response)

        return handle_page


def _finish(request: Request, response: Response) -> Response:
    """The session cookie, when it changed, and the security headers on every page's answer."""
    session = session_to_keep(request)
    if session is not None:
        max_age = settings_of(request).refresh_token_days * 24 * 3600
        cookies.write_cookie(response, request, session, cookie_key_of(request), max_age)
    response.headers.update(PAGE_HEADERS)
    return response
