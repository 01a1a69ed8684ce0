"""GET /metrics: Prometheus metrics of requests, the connection line, statement timeouts and sign-ins.

Off unless METRICS_ENABLED=true. What is measured, and where:

- every request but the scrapes themselves: a count and a latency histogram
  by method, route template and status. The timing is RequestLog's
  (app/http/request_log.py), which already times every request and knows its
  route: `Metrics.observe` is handed its figures, so no second middleware
  runs;
- the connection line (app/core/database.py): connections in use and requests waiting,
  read from `Database` when scraped, so requests pay nothing for them;
- statements PostgreSQL cancelled (statement_timeout), counted where the
  error is answered (app/http/errors.py, told by the callback app/main.py gives it);
- refused sign-ins: wrong credentials (401) and throttled (429), counted by
  the sign-in route;
- with DATABASE_REPLICA_URLS: which database served each read-only request
  (counted by app/http/read_routing.py, told through a callback), and each
  replica's lag and health as its last background check found them
  (app/core/replicas.py), read when scraped.

With WORKERS > 1 each worker is a process of its own, and a scrape reaches
only one of them. So `python -m app` points prometheus-client's
multiprocess mode at a fresh directory before uvicorn starts the workers
(`multiprocess_directory`): every worker writes its figures there, and the
worker that answers a scrape adds them all up. Gauges, which only the worker
holding them can read, are written there by each worker every second.

Reachable from other machines (a HOST other than loopback, or a proxy in
front), /metrics answers only with `Authorization: Bearer <METRICS_TOKEN>`;
Settings refuses to start without one.
"""

import asyncio
import hmac
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from starlette.requests import HTTPConnection

from app.core.config import Settings
from app.http.problems import problem_response

if TYPE_CHECKING:
    from app.core.database import Database
    from app.core.replicas import ReplicaSet

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
# prometheus-client's own variable: it chooses where (and whether) values go to files when first imported.
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
# The route label of a request no route matched (an unknown path, a 413, a HEAD; see app/http/head.py).
UNMATCHED = "unmatched"
# Any other method is `OTHER`: a client must not be able to make up label values.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# How often each worker writes its gauges for the others to read, in multiprocess mode.
GAUGE_SECONDS = 1.0

router = APIRouter()


class Metrics:
    """One app's metrics, in a registry of its own (so that several apps in one process never clash)."""

    def __init__(self, settings: Settings) -> None:
        # No `_created` sample beside every counter and histogram: a third more text to write and to
        # store, for what Prometheus reads only when a counter resets, which it detects anyway.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = MULTIPROCESS_DIRECTORY in os.environ
        token = settings.metrics_token
        self._token = None if token is None else token.get_secret_value().encode()
        self._database: Database | None = None
        self._replicas: ReplicaSet | None = None
        registry = self.registry
        self.requests = Counter(
            "http_requests", "Requests answered, by method, route template and status.",
            ["method", "route", "status"], registry=registry,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by method, route template and status.",
            ["method", "route", "status"], registry=registry,
        )  # fmt: skip
        # livesum: in multiprocess mode, the sum over the workers alive now.
        self.pool_size = Gauge(
            "db_pool_size", "Connections the pool may hold (DB_POOL_SIZE + DB_MAX_OVERFLOW), over all workers.",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.pool_in_use = Gauge(
            "db_pool_connections_in_use", "Database connections checked out of the pool now, over all workers.",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.pool_waiting = Gauge(
            "db_pool_requests_waiting", "Requests waiting in line for a database connection now, over all workers.",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.statement_timeouts = Counter(
            "db_statement_timeouts", "Statements PostgreSQL cancelled (DB_STATEMENT_TIMEOUT_MS passed); each a 503.",
            registry=registry,
        )  # fmt: skip
        self.login_failures = Counter(
            "auth_login_failures", "Sign-ins refused for a wrong email or password (401).", registry=registry
        )
        self.logins_throttled = Counter(
            "auth_logins_throttled", "Sign-ins refused unchecked: too many failures lately (429).", registry=registry
        )
        self.reads = Counter(
            "db_reads", "Read-only requests (GET, HEAD) by the database that served them: primary, replica1, ...",
            ["database"], registry=registry,
        )  # fmt: skip
        # max: every worker checks the same replicas; the worst figure is the one to see.
        self.replica_lag = Gauge(
            "db_replica_lag_seconds",
            "How far each replica is behind the primary at most, as last checked; NaN while unknown (down).",
            ["replica"], registry=registry, multiprocess_mode="max",
        )  # fmt: skip
        self.replica_healthy = Gauge(
            "db_replica_healthy", "1 while a replica takes reads (up, a standby, lag within REPLICA_MAX_LAG_SECONDS).",
            ["replica"], registry=registry, multiprocess_mode="min",
        )  # fmt: skip
        # Per label set, the counter and histogram to add to: labels() validates and locks on every call.
        self._children: dict[tuple[str, str | None, int], tuple[Counter, Histogram]] = {}

    # -- recording

    def observe(self, method: str, route: str | None, status_code: int, seconds: float) -> None:
        """Count one answered request (RequestLog calls this when a request is done)."""
        if route == METRICS_PATH:
            return
        # Made-up methods share one key too, so that they cannot grow this cache either.
        key = (method if method in _METHODS else "OTHER", route, status_code)
        children = self._children.get(key)
        if children is None:
            labels = (key[0], route or UNMATCHED, str(status_code))
            children = self._children[key] = (self.requests.labels(*labels), self.request_seconds.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)

    def watch(self, database: "Database", replicas: "ReplicaSet | None" = None) -> None:
        """Read the connection line of this worker's database, and its replicas' lag."""
        self._database = database
        self._replicas = replicas
        self.pool_size.set(database.capacity)
        self.write_gauges()

    def read_served_by(self, database: str) -> None:
        """Count a read-only request served by `database` (app/http/read_routing.py calls this)."""
        self.reads.labels(database).inc()

    def write_gauges(self) -> None:
        if self._database is not None:
            self.pool_in_use.set(self._database.in_use)
            self.pool_waiting.set(self._database.waiting)
        for replica in self._replicas.replicas if self._replicas is not None else ():
            lag = replica.lag_seconds
            self.replica_lag.labels(replica.name).set(float("nan") if lag is None else lag)
            self.replica_healthy.labels(replica.name).set(1 if replica.state == "healthy" else 0)

    async def keep_writing_gauges(self) -> None:
        """In multiprocess mode, this worker's gauges where the worker answering a scrape can read them."""
        while True:
            await asyncio.sleep(GAUGE_SECONDS)
            self.write_gauges()

    def worker_stopped(self) -> None:
        """A worker's gauges leave the sums when it stops (its counts stay: they happened)."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # untyped upstream

    # -- scraping

    def authorized(self, authorization: str | None) -> bool:
        if self._token is None:
            return True
        scheme, _, credentials = (authorization or "").partition(" ")
        # compare_digest: the time taken says nothing about how much of the token was right.
        return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self._token)

    def exposition(self) -> bytes:
        """The text format, of this process or, in multiprocess mode, of every worker of this server."""
        self.write_gauges()
        if not self.multiprocess:
            return generate_latest(self.registry)
        everyone = CollectorRegistry()
        multiprocess.MultiProcessCollector(everyone)  # type: ignore[no-untyped-call]  # untyped upstream
        return generate_latest(everyone)


@router.get(METRICS_PATH, include_in_schema=False)
async def read_metrics(request: Request) -> Response:
    """Prometheus' text format; hidden from the OpenAPI, as it is for the operator, not for clients."""
    metrics = metrics_of(request)
    assert metrics is not None  # the route is included only with metrics on
    if not metrics.authorized(request.headers.get("authorization")):
        return problem_response(
            "not_authenticated",
            "Send Authorization: Bearer <METRICS_TOKEN>",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            root=request.scope.get("root_path", ""),
        )
    # Milliseconds to tens of them with many routes (more with several workers' files to read and
    # add up): in a thread, so that requests in flight are not held up behind a scrape.
    return Response(await asyncio.to_thread(metrics.exposition), media_type=CONTENT_TYPE_LATEST)


def metrics_of(connection: HTTPConnection) -> Metrics | None:
    """The app's metrics, or None when METRICS_ENABLED is off (`create_app` keeps them on its state)."""
    metrics: Metrics | None = getattr(connection.app.state, "metrics", None)
    return metrics


@contextmanager
def multiprocess_directory(settings: Settings) -> Iterator[None]:
    """For a server with several workers and metrics on: a fresh directory for their figures, for this run only.

    Set before uvicorn starts the workers, which inherit it; a directory left
    from an earlier run would add that run's counts to this one's.
    """
    if not (settings.metrics_enabled and settings.workers > 1):
        yield
        return
    directory = tempfile.mkdtemp(prefix="portfolio-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIRECTORY)
    os.environ[MULTIPROCESS_DIRECTORY] = directory
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIRECTORY, None)
        else:
            os.environ[MULTIPROCESS_DIRECTORY] = previous
        shutil.rmtree(directory, ignore_errors=True)
