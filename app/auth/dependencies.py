"""The request dependencies of /auth and /users/me/tokens: the authenticator, and the caller's personal tokens."""

from typing import Annotated

from fastapi import Depends, Request

from app.auth.access import SignedInByLoginDep
from app.auth.personal_tokens import PersonalTokens
from app.auth.service import Authenticator
from app.auth.tokens import access_tokens_of
from app.core.config import settings_of
from app.core.database import PrimarySessionOpenerDep, SessionOpenerDep


# A coroutine: FastAPI runs plain functions in a thread pool, a hop that costs more than this.
# The authenticator opens its own sessions, around its statements only (app/core/database.py, SessionOpenerDep),
# on the primary even in a GET: a page's GET refreshes an expired token, which writes.
async def authenticator(request: Request, open_session: PrimarySessionOpenerDep) -> Authenticator:
    return Authenticator(open_session, access_tokens_of(request), settings_of(request))


AuthenticatorDep = Annotated[Authenticator, Depends(authenticator)]


async def personal_tokens(caller: SignedInByLoginDep, open_session: SessionOpenerDep) -> PersonalTokens:
    """The tokens of the caller, who signed in with their password (never with a personal access token)."""
    assert caller.user_id is not None  # SignedInByLoginDep makes sure
    return PersonalTokens(open_session, caller.user_id)


PersonalTokensDep = Annotated[PersonalTokens, Depends(personal_tokens)]
