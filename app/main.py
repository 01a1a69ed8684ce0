"""The application factory: routers, middleware, error handlers and the engine's lifespan."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import health
from app.auth import routes as auth
from app.auth.access import document_access
from app.auth.tokens import AccessTokens, signing_key
from app.body_limit import BodySizeLimit
from app.config import Settings
from app.db import Database
from app.docs import mount_docs
from app.errors import APP_RESPONSES, UNAUTHORIZED_RESPONSE, register_error_handlers
from app.head import HeadAsGet
from app.housekeeping import keep_house
from app.metrics import Metrics
from app.metrics import router as metrics_routes
from app.request_log import RequestLog, configure_logging
from app.runtime import freeze_startup_heap
from app.stocks import routes as stocks
from app.users import routes as users
from app.web import install_web_app

DESCRIPTION = """
Users and their stock holdings over REST, on FastAPI + SQLModel + PostgreSQL.

The API of the *FastAPI + PostgreSQL Connection Guide*, built as a product:
async end to end, exact money (`NUMERIC`), UTC timestamps, and no 500 for
anything a client sends.
"""


OPENAPI_TAGS = [
    {"name": "users", "description": "People who hold stocks."},
    {"name": "stocks", "description": "Holdings: a symbol, a price, a quantity, owned by one user."},
    {"name": "portfolio", "description": "What a user's active holdings are worth."},
    {"name": "auth", "description": "Sign in, refresh and sign out (see README, Authentication)."},
    {"name": "health", "description": "Is the API up, and can it reach PostgreSQL?"},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the engine is created at startup and disposed at shutdown."""
    settings = settings or Settings()
    metrics = Metrics(settings) if settings.metrics_enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        app.state.database = database = Database(settings)
        background = []
        if metrics is not None:
            metrics.watch(database)
            if metrics.multiprocess:
                background.append(asyncio.create_task(metrics.keep_writing_gauges()))
        if settings.housekeeping_interval_seconds:
            background.append(asyncio.create_task(keep_house(database, settings.housekeeping_interval_seconds)))
        # Last, once everything start-up builds is in place.
        freeze_startup_heap()
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if metrics is not None:
                metrics.worker_stopped()
            await database.dispose()

    app = FastAPI(
        title="Portfolio API",
        openapi_tags=OPENAPI_TAGS,
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan,
        # Served by app/docs.py from vendored files instead of a CDN.
        docs_url=None,
        redoc_url=None,
        responses=APP_RESPONSES,
        # operationIds are the route functions' names (read_user, ...), which
        # the OpenAPI links between operations refer to.
        generate_unique_id_function=lambda route: route.name,
    )
    # Added first, so it runs inside CORS: a browser can read the 413.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # As in the guide, any origin may call without credentials; a team that
    # lists its origins in CORS_ORIGINS gets credentials (cookies, auth) too.
    allow_any_origin = "*" in settings.cors_origins
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"] if allow_any_origin else settings.cors_origins,
        allow_credentials=not allow_any_origin,
        allow_methods=["*"],
        allow_headers=["*"],
        # A browser shows a script on another origin only the CORS-safelisted
        # response headers unless told; these are the API's own.
        expose_headers=["ETag", "Link", "X-Total-Count", "Preference-Applied", "Retry-After", "X-Request-ID"],
    )
    # Added after the others, so it is outside them: everything inside sees a GET.
    app.add_middleware(HeadAsGet)
    # Outermost: its id is on every answer (413s and 500s too) and on every log line of the request.
    app.add_middleware(
        RequestLog, log_requests=settings.access_log, observe=None if metrics is None else metrics.observe
    )
    register_error_handlers(app)

    # Accounts: every worker checks tokens with the same key (README, Authentication).
    app.state.settings = settings
    app.state.metrics = metrics
    if metrics is not None:
        app.include_router(metrics_routes)
    app.state.access_tokens = AccessTokens(signing_key(settings), timedelta(minutes=settings.access_token_minutes))
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(users.router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(stocks.router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(stocks.portfolio_router, responses=UNAUTHORIZED_RESPONSE)
    mount_docs(app)
    install_web_app(app, settings)  # the pages under /app/ (app/web/)
    document_access(app, auth_required=settings.auth_required)
    return app
