"""Who is behind a page request: the `Visitor` their session cookie names, and the rows they may reach."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.auth.access import ANONYMOUS, Caller, NotAuthenticated, caller_named_by
from app.auth.dependencies import AuthenticatorDep
from app.auth.tokens import InvalidToken, access_tokens_of
from app.core.config import settings_of
from app.core.database import SessionOpenerDep
from app.kit.scope import EVERY_ROW, Scope
from app.web import session as cookies
from app.web.session import BrowserSession, cookie_key_of


class SignInNeeded(Exception):
    """The page needs a signed-in visitor (AUTH=required); they are sent to the sign-in page."""


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


def keep_session(request: Request, session: BrowserSession) -> None:
    """Have `PageRoute` write this session into the cookie of the answer."""
    request.state.web_session = session


def session_to_keep(request: Request) -> BrowserSession | None:
    """The session `keep_session` asked for in this request, if any."""
    session: BrowserSession | None = getattr(request.state, "web_session", None)
    return session


def visitor_of(request: Request) -> Visitor | None:
    """The visitor `current_visitor` settled for this request; None if it failed before (an error page's nav)."""
    visitor: Visitor | None = getattr(request.state, "visitor", None)
    return visitor


async def current_visitor(request: Request, open_session: SessionOpenerDep, authenticator: AuthenticatorDep) -> Visitor:
    """The visitor named by the session cookie, refreshing their token pair when the access token has expired."""
    settings = settings_of(request)
    session = cookies.decode(request.cookies.get(cookies.COOKIE_NAME), cookie_key_of(request))
    if session is None:
        session = cookies.new_session()
        keep_session(request, session)
    if not settings.auth_required or session.refresh_token is None:
        request.state.visitor = visitor = Visitor(session, ANONYMOUS, settings.auth_required)
        return visitor
    caller = ANONYMOUS
    access_tokens = access_tokens_of(request)
    try:
        claims = access_tokens.check(session.access_token or "")
    except InvalidToken:
        try:
            pair = await authenticator.refresh(session.refresh_token)
        except NotAuthenticated:
            session = session.signed_out()
        else:
            session = BrowserSession(session.csrf, pair.access_token, pair.refresh_token)
            # Issued a moment ago from the user's row, admin rights included: no need to ask again.
            claims = access_tokens.check(pair.access_token)
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


# Declared before anything that opens the request's session (app/web/dependencies.py's repositories
# depend on it), so an admin's lookup has closed its session before the page's own takes its place
# in the line (app/users/dependencies.py says why).
VisitorDep = Annotated[Visitor, Depends(current_visitor)]
