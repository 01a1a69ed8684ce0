"""The CSRF check every state-changing page request passes: the session's token, sent back by the page."""

from typing import Annotated

from fastapi import Depends, Request

from app.web import session as cookies
from app.web.visitor import Visitor, VisitorDep

CSRF_REFUSED = "This form has expired or did not come from this site; reload the page and try again."


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token: 403."""


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


# For every route that changes something (every POST); declared first among its parameters.
ActingVisitorDep = Annotated[Visitor, Depends(csrf_checked_visitor)]
