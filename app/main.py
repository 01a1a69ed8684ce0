"""The application factory, the one place that wires everything: routers, middleware, error handlers, the lifespan.

What is put on `app.state` here (and by `install_web_app` and `install_idempotency`) is read back
only through the package it belongs to: `settings_of` (app/core/config.py), `database_of`
(app/core/database.py), `access_tokens_of` (app/auth/tokens.py),
`metrics_of` (app/ops/metrics.py), `web_cookie_key` (app/web/session.py), `replicas_of`
(app/core/replicas.py; its middleware reads the same attribute from the ASGI scope's app), and
the Idempotency-Key fingerprints' key by app/idempotency/dependencies.py.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.auth import routes as auth
from app.auth.access import document_access
from app.auth.pruning import prune_expired
from app.auth.tokens import AccessTokens, signing_key
from app.core.config import Settings
from app.core.database import Database
from app.core.replicas import ReplicaSet
from app.core.runtime import freeze_startup_heap
from app.http.body_limit import BodySizeLimit
from app.http.docs import mount_docs
from app.http.errors import APP_RESPONSES, UNAUTHORIZED_RESPONSE, register_error_handlers
from app.http.head import HeadAsGet
from app.http.openapi import document_request_ids
from app.http.problems import router as problems
from app.http.read_routing import READ_AFTER_HEADER, ReadRouting, document_read_after
from app.http.request_log import RequestLog, configure_logging
from app.http.slashes import answer_slash_variants
from app.idempotency.dependencies import install_idempotency
from app.idempotency.pruning import prune_expired_keys
from app.ops import health
from app.ops.housekeeping import keep_house
from app.ops.metrics import METRICS_PATH, Metrics
from app.ops.metrics import router as metrics_routes
from app.portfolio import routes as portfolio
from app.prices import routes as prices
from app.stocks import routes as stocks
from app.stocks.ledger import routes as ledger
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
    {
        "name": "transactions",
        "description": "Each holding's ledger: buys, sells, dividends, fees, splits; a holding is its ledger replayed.",
    },
    {"name": "portfolio", "description": "What a user's active holdings are worth."},
    {"name": "prices", "description": "Market prices: each symbol's daily close, shared by every user."},
    {"name": "auth", "description": "Sign in, refresh and sign out (see docs/explanation/security.md)."},
    {
        "name": "personal access tokens",
        "description": "Tokens for scripts (`pat_...`): scoped, expiring, revocable; made after a password sign-in.",
    },
    {"name": "health", "description": "Is the API up, and can it reach PostgreSQL?"},
    {"name": "errors", "description": "What each error `code` means (every error's `type` names one of these pages)."},
]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the databases (the primary, any replicas) and background jobs start with it and stop with it."""
    settings = settings or Settings()
    metrics = Metrics(settings) if settings.metrics_enabled else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings)
        app.state.database = database = Database(settings)
        background = []
        replicas = None
        if settings.database_replica_urls:  # app/core/replicas.py; reads routed by app/http/read_routing.py
            app.state.replicas = replicas = ReplicaSet(settings)
            await replicas.check()  # before the first request: where reads may go
            background.append(asyncio.create_task(replicas.keep_checking()))
        if metrics is not None:
            metrics.watch(database, replicas)
            if metrics.multiprocess:
                background.append(asyncio.create_task(metrics.keep_writing_gauges()))
        if settings.housekeeping_interval_seconds:
            # Auth's tables and the kept answers of idempotent POSTs; the loop knows no resource.
            jobs: list[Callable[[], Awaitable[object]]] = [
                partial(prune_expired, database),
                partial(prune_expired_keys, database),
            ]
            background.append(asyncio.create_task(keep_house(jobs, settings.housekeeping_interval_seconds)))
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
            if replicas is not None:
                await replicas.dispose()
            await database.dispose()

    # Signs access tokens; keys Idempotency-Key fingerprints too (through a key derived from it).
    secret_key = signing_key(settings)
    app = FastAPI(
        title="Portfolio API",
        openapi_tags=OPENAPI_TAGS,
        description=DESCRIPTION,
        version="1.0.0",
        # MIT, as FastAPI and SQLModel are (LICENSE); `identifier` is OpenAPI 3.1's SPDX form.
        license_info={"name": "MIT", "identifier": "MIT"},
        # Who answers for this API; a team serving others names itself here.
        contact={"name": "Portfolio API maintainers"},
        lifespan=lifespan,
        # Served by app/http/docs.py from vendored files instead of a CDN.
        docs_url=None,
        redoc_url=None,
        responses=APP_RESPONSES,
        # operationIds are the route functions' names (read_user, ...), which
        # the OpenAPI links between operations refer to.
        generate_unique_id_function=lambda route: route.name,
        # Relative: the server that served the document (a proxy's root_path is put before it by FastAPI).
        servers=[{"url": "/", "description": "The server this document came from"}],
    )
    # Innermost: it holds back the answer of a POST that sent Idempotency-Key until it is kept (or the
    # key released), and replays kept answers; everything outside adds its headers to both.
    install_idempotency(app, secret_key)
    if settings.database_replica_urls:
        # Next: a read it runs again on the primary runs only the routes again; a replayed POST's answer
        # still gets the primary's WAL position (X-Read-After), so its caller reads what it wrote.
        app.add_middleware(
            ReadRouting,
            read_served_by=None if metrics is None else metrics.read_served_by,
            unrouted_paths=frozenset({METRICS_PATH}),  # a scrape reads no table
        )
    # Added next, so it runs inside CORS: a browser can read the 413.
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
        expose_headers=[
            "ETag",
            "Location",
            "Link",
            "X-Total-Count",
            "Preference-Applied",
            "Retry-After",
            "X-Request-ID",
            "Idempotent-Replayed",
            READ_AFTER_HEADER,
        ],
    )
    # Added after the others, so it is outside them: everything inside sees a GET.
    app.add_middleware(HeadAsGet)
    # Outermost: its id is on every answer (413s and 500s too) and on every log line of the request.
    app.add_middleware(
        RequestLog, log_requests=settings.access_log, observe=None if metrics is None else metrics.observe
    )
    register_error_handlers(app, statement_timed_out=None if metrics is None else metrics.statement_timeouts.inc)

    # Accounts: every worker checks tokens with the same key (docs/explanation/security.md).
    app.state.settings = settings
    app.state.metrics = metrics
    if metrics is not None:
        app.include_router(metrics_routes)
    app.state.access_tokens = AccessTokens(secret_key, timedelta(minutes=settings.access_token_minutes))
    app.include_router(health.router)
    app.include_router(problems)
    app.include_router(auth.router)
    app.include_router(users.router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(auth.personal_tokens_router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(users.holdings_router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(stocks.router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(ledger.router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(users.user_ledger_router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(portfolio.router, responses=UNAUTHORIZED_RESPONSE)
    app.include_router(prices.router, responses=UNAUTHORIZED_RESPONSE)
    mount_docs(app)
    install_web_app(app, settings)  # the pages under /app/ (app/web/)
    document_access(app)
    document_read_after(app)  # X-Read-After on the writes' answers (app/http/read_routing.py)
    document_request_ids(app)  # after every other pass, so it reaches every response they add
    answer_slash_variants(app)  # /users as /users/ (app/http/slashes.py)
    return app
