"""Serving the API under uvicorn, as `python -m app serve` does.

A taken port is named before anything starts (`cannot_listen`), so a second
`make run` says so at once instead of starting PostgreSQL and migrating
first. `uvicorn_options` is the one description of how uvicorn runs the app;
the tests that put the app behind the same edge read it too.
"""

import errno
import logging
import signal
import socket
from typing import Any

import uvicorn

from app.core.config import Settings, mask_password
from app.http.header_limit import HeaderLimitedHttpToolsProtocol
from app.http.request_log import uvicorn_log_config

logger = logging.getLogger("app")


def cannot_listen(host: str, port: int) -> str | None:
    """Why uvicorn could not listen on host:port, found before anything starts; None if it can."""
    # The socket uvicorn binds: IPv6 for an address with a colon, else IPv4, SO_REUSEADDR set.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as error:
            return f"HOST {host!r} cannot be resolved ({error.strerror}); try 127.0.0.1 or 0.0.0.0"
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} is in use; set PORT to a free one, e.g. PORT={port + 1} make run"
            if error.errno == errno.EADDRNOTAVAIL:
                return f"HOST {host} is not an address of this machine; try 127.0.0.1 or 0.0.0.0"
            if error.errno == errno.EACCES:
                return f"port {port} needs privileges this user lacks; set PORT to 1024 or above"
            return f"cannot listen on {host}:{port}: {error.strerror}"
    return None


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How `python -m app` runs uvicorn, bar the app: what a test needs to put the app behind the same edge."""
    forwarded = ",".join(settings.trusted_proxies)
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        # uvicorn's own lines in LOG_FORMAT, like the app's: a log file holds one format.
        "log_config": uvicorn_log_config(settings),
        # app/http/request_log.py writes the request line (ACCESS_LOG), not uvicorn.
        "access_log": False,
        # Each worker is a process with its own engine and pool (see docs/explanation/scaling.md).
        "workers": settings.workers,
        # X-Forwarded-For / -Proto from TRUSTED_PROXIES only. Passed always, so
        # uvicorn's own default (trust 127.0.0.1, or FORWARDED_ALLOW_IPS) never applies.
        "proxy_headers": bool(forwarded),
        "forwarded_allow_ips": forwarded,
        # Let in-flight requests finish on SIGTERM, but never hang a deploy.
        "timeout_graceful_shutdown": 10,
        # httptools, with request headers bounded (app/http/header_limit.py).
        "http": HeaderLimitedHttpToolsProtocol,
    }


def banner(settings: Settings, database_url: str) -> list[str]:
    """What `python -m app` says once before serving: where to go, who may call, which database."""
    host = settings.host
    if host in ("0.0.0.0", "::"):  # every address: this machine's own is one of them
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    base = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    if settings.database_url is None:
        database = f"embedded PostgreSQL, data in {settings.embedded_data_dir} (DATABASE_URL unset)"
    else:
        database = mask_password(database_url)
    auth = (
        "required (sign up at POST /users/, then log in)"
        if settings.auth_required
        else "open (no accounts: anyone who reaches it reaches everything)"
    )
    return [
        f"Portfolio API: {base}/  pages: {base}/app/  docs: {base}/docs",
        f"Auth: {auth}",
        f"Database: {database}",
    ]


def serve_until_stopped(settings: Settings) -> None:
    """Serve the API until stopped; a stop by SIGTERM or Ctrl-C returns normally."""
    from app.ops.metrics import multiprocess_directory

    # Once it has shut down cleanly, uvicorn raises the signal it caught
    # again, so that the process dies of it: for SIGTERM that is the
    # SystemExit(143) of app/cli/database.py's handler (Ctrl-C's
    # KeyboardInterrupt uvicorn.run swallows itself). A clean stop is a
    # success (`make run` would end with "Error 143"), so it exits 0. With
    # metrics and several workers, their shared directory lasts as long as
    # this server.
    try:
        with multiprocess_directory(settings):
            uvicorn.run("app.main:create_app", factory=True, **uvicorn_options(settings))
    except SystemExit as stop:
        if stop.code != 128 + signal.SIGTERM:
            raise
        logger.info("Stopped by SIGTERM")
