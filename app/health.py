"""Health: the guide's `GET /`, answered only after a real database round trip."""

from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from app.errors import RETRY_AFTER_SECONDS

router = APIRouter(tags=["health"])


class Health(BaseModel):
    message: str
    status: Literal["healthy", "unhealthy"]
    database: Literal["connected", "unavailable"]


HEALTHY = Health(message="FastAPI with PostgreSQL is running!", status="healthy", database="connected")
UNHEALTHY = Health(
    message="FastAPI is running, but PostgreSQL is not answering", status="unhealthy", database="unavailable"
)


@router.get("/", responses={503: {"model": Health, "description": "The database did not answer"}})
async def health(request: Request, response: Response) -> Health:
    """Liveness and database reachability, as in the guide."""
    try:
        database = request.app.state.database
        async with database.turn(), database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (sa_exc.DBAPIError, sa_exc.TimeoutError):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return UNHEALTHY
    return HEALTHY
