"""The request dependencies of /auth: the authenticator, built from the app's token key and settings."""

from typing import Annotated

from fastapi import Depends, Request

from app.auth.service import Authenticator
from app.auth.tokens import access_tokens_of
from app.core.config import settings_of
from app.core.database import SessionOpenerDep


# A coroutine: FastAPI runs plain functions in a thread pool, a hop that costs more than this.
# The authenticator opens its own sessions, around its statements only (app/core/database.py, SessionOpenerDep).
async def authenticator(request: Request, open_session: SessionOpenerDep) -> Authenticator:
    return Authenticator(open_session, access_tokens_of(request), settings_of(request))


AuthenticatorDep = Annotated[Authenticator, Depends(authenticator)]
