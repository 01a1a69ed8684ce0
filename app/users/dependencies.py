"""Request dependencies of users: the `user_id` path parameter, the repository and the services.

A repository is made for the caller's scope (app/auth/access.py): with
AUTH=required a signed-in user's repositories reach only their own rows.
"""

from typing import Annotated

from fastapi import Depends, Path, Request

from app.auth.access import CallerDep, ScopeDep
from app.core.config import settings_of
from app.core.database import SessionDep, SessionOpenerDep
from app.kit.scope import EVERY_ROW
from app.users.repository import UserRepository
from app.users.service import UserService

# Any integer is accepted here: the repository answers an id that cannot
# exist (0, -1, 2**40) with the same 404 as one that does not.
UserId = Annotated[int, Path(description="The user's id.", examples=[1])]


# Every dependency is `async def`: FastAPI runs plain functions in a thread
# pool, a hop that costs more than what they do.
#
# The scope before the session: FastAPI settles dependencies in the order they
# are declared, and the scope needs the caller, whom an admin's token makes a
# lookup on a session of its own (app/auth/access.py). Settled first, that
# session is closed before the request's takes its place in the line; the
# other way round, an admin's request would hold one place while waiting for
# another, and with the line full would wait on itself until a 503.
async def user_repository(scope: ScopeDep, session: SessionDep) -> UserRepository:
    return UserRepository(session, scope)


UserRepositoryDep = Annotated[UserRepository, Depends(user_repository)]


# The account services open their own sessions, around their statements only (app/core/database.py, SessionOpenerDep).
async def user_service(
    request: Request, open_session: SessionOpenerDep, scope: ScopeDep, caller: CallerDep
) -> UserService:
    return UserService(open_session, scope, caller, settings_of(request))


async def sign_up_service(request: Request, open_session: SessionOpenerDep, caller: CallerDep) -> UserService:
    """For POST /users/, which anyone may call: creating a row needs no scope, the service decides the rest."""
    return UserService(open_session, EVERY_ROW, caller, settings_of(request))


UserServiceDep = Annotated[UserService, Depends(user_service)]
SignUpServiceDep = Annotated[UserService, Depends(sign_up_service)]
