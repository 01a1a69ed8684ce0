"""Health: the guide's `GET /`, and the probes a platform or orchestrator asks.

- `GET /` (the guide's): the process answers and PostgreSQL answers `SELECT 1`.
- `GET /health/live`: the process answers; no database. Restart it if this fails.
- `GET /health/ready`: PostgreSQL answers and its schema is at the migrations'
  head. Send it traffic only when this is 200; a 503 says why. With
  DATABASE_REPLICA_URLS it lists each replica's state as the last background
  check found it (no statement added); a replica's trouble never makes the
  service not ready, since reads then go to the primary.
"""

import functools
from typing import Literal

import psycopg
from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from app.core.database import database_of
from app.core.replicas import ReplicaState, replicas_of
from app.http.errors import RETRY_AFTER_SECONDS

router = APIRouter(tags=["health"])


class Health(BaseModel):
    message: str
    status: Literal["healthy", "unhealthy"]
    database: Literal["connected", "unavailable"]


HEALTHY = Health(message="FastAPI with PostgreSQL is running!", status="healthy", database="connected")
UNHEALTHY = Health(
    message="FastAPI is running, but PostgreSQL is not answering", status="unhealthy", database="unavailable"
)


# For OpenAPI: a probe's 503 says when to ask again.
RETRY_AFTER_HEADER = {
    "Retry-After": {"description": "Seconds to wait before asking again.", "schema": {"type": "integer", "minimum": 0}}
}


@router.get(
    "/", responses={503: {"model": Health, "description": "The database did not answer", "headers": RETRY_AFTER_HEADER}}
)
async def health(request: Request, response: Response) -> Health:
    """Liveness and database reachability, as in the guide."""
    try:
        database = database_of(request)
        async with database.turn(), database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (sa_exc.DBAPIError, sa_exc.TimeoutError):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return UNHEALTHY
    return HEALTHY


class Liveness(BaseModel):
    status: Literal["alive"]


class ReplicaReadiness(BaseModel):
    name: str = Field(description="replica1, replica2, ... in the order of DATABASE_REPLICA_URLS.")
    url: str = Field(description="Where it is: host, port and database, without user, password or options.")
    state: ReplicaState = Field(description="`healthy` takes reads; any other state takes none until it recovers.")
    lag_seconds: float | None = Field(description="How far behind the primary it is at most; null while unknown.")
    reason: str | None = Field(description="Why it is not healthy; null when it is.")


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    database: Literal["connected", "unavailable"]
    migration: str | None = Field(description="The database's Alembic revision; null if it has none or is down.")
    expected_migration: str = Field(description="The newest migration this code ships (the head).")
    replicas: list[ReplicaReadiness] | None = Field(
        default=None,
        description=(
            "Each of DATABASE_REPLICA_URLS as last checked (every REPLICA_CHECK_SECONDS); absent without replicas."
        ),
    )


@functools.cache
def migration_head() -> str:
    """The newest revision in migrations/, read from disk once per process."""
    from alembic.script import ScriptDirectory

    from app.core.migrations import alembic_config

    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    if head is None:
        raise RuntimeError("migrations/versions holds no migration")
    return head


@router.get("/health/live")
async def liveness() -> Liveness:
    """The process answers; the database is not asked."""
    return Liveness(status="alive")


@router.get(
    "/health/ready",
    responses={
        503: {
            "model": Readiness,
            "description": "The database is down, or its schema is not at head",
            "headers": RETRY_AFTER_HEADER,
        }
    },
    # Without replicas the answer is what it always was: no `replicas` key.
    response_model_exclude_unset=True,
)
async def readiness(request: Request, response: Response) -> Readiness:
    """PostgreSQL answers and its schema is the one this code expects (migrations at head)."""
    expected = migration_head()
    database = database_of(request)
    replicas = _replica_readiness(request)
    try:
        async with database.turn(), database.engine.connect() as connection:
            revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except sa_exc.ProgrammingError as error:
        if not isinstance(error.orig, psycopg.errors.UndefinedTable):
            raise
        revision = None  # never migrated
    except (sa_exc.DBAPIError, sa_exc.TimeoutError):
        return _not_ready(response, Readiness(
            status="not ready", database="unavailable", migration=None, expected_migration=expected, **replicas
        ))  # fmt: skip
    readiness = Readiness(
        status="ready", database="connected", migration=revision, expected_migration=expected, **replicas
    )
    if revision != expected:
        readiness.status = "not ready"
        return _not_ready(response, readiness)
    return readiness


def _replica_readiness(request: Request) -> dict[str, list[ReplicaReadiness]]:
    """`replicas=[...]` for Readiness, or nothing (the field left unset) without DATABASE_REPLICA_URLS."""
    replicas = replicas_of(request)
    if replicas is None:
        return {}
    return {
        "replicas": [
            ReplicaReadiness(
                name=replica.name,
                url=replica.url,
                state=replica.state,
                lag_seconds=None if replica.lag_seconds is None else round(replica.lag_seconds, 3),
                reason=replica.reason,
            )
            for replica in replicas.replicas
        ]
    }


def _not_ready(response: Response, readiness: Readiness) -> Readiness:
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return readiness
