"""`python -m app`: migrate, then serve; with no DATABASE_URL, on an embedded PostgreSQL.

python -m app                      migrate, then serve (`make run`)
python -m app serve [--no-migrate] [--host H] [--port P]   serve; --no-migrate when a release step migrates
python -m app migrate              apply migrations and exit (one instance at a time)
python -m app revision "message"   autogenerate a migration from the models
python -m app demo --users N --stocks-per-user M [--force]   fill the database with demo data
python -m app backup FILE          write the database to FILE (pg_dump's custom format)
python -m app restore FILE [--force]   load FILE into an empty database (--force: replace what is there)
python -m app psql                 open psql on the database `make run` uses
python -m app reset [--yes]        delete the embedded development data, after asking
python -m app create-admin EMAIL   make EMAIL an admin, creating the user (password: ADMIN_PASSWORD, or asked)
"""

import argparse
import errno
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from app.config import PROJECT_ROOT, Settings, describe_settings_error, mask_password
from app.db import alembic_config
from app.header_limit import HeaderLimitedHttpToolsProtocol
from app.migrate import migrate

logger = logging.getLogger("app")

EMBEDDED_DATABASE = "portfolio"


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The configured DATABASE_URL, or an embedded PostgreSQL in .data/postgres for as long as we run."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    from app.embedded_db import embedded_postgres

    logger.info("DATABASE_URL is not set: using the embedded PostgreSQL")
    with embedded_postgres(settings.embedded_data_dir, EMBEDDED_DATABASE, keep_data=True) as url:
        yield url


def next_revision_id() -> str:
    """Sequential ids (0001, 0002, ...) so migrations/versions/ reads in order."""
    existing = [path.name[:4] for path in (PROJECT_ROOT / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return f"{max(map(int, existing), default=0) + 1:04d}"


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
        # app/request_log.py writes the request line (ACCESS_LOG), not uvicorn.
        "access_log": False,
        # Each worker is a process with its own engine and pool (see README, Performance).
        "workers": settings.workers,
        # X-Forwarded-For / -Proto from TRUSTED_PROXIES only. Passed always, so
        # uvicorn's own default (trust 127.0.0.1, or FORWARDED_ALLOW_IPS) never applies.
        "proxy_headers": bool(forwarded),
        "forwarded_allow_ips": forwarded,
        # Let in-flight requests finish on SIGTERM, but never hang a deploy.
        "timeout_graceful_shutdown": 10,
        # httptools, with request headers bounded (app/header_limit.py).
        "http": HeaderLimitedHttpToolsProtocol,
    }


def serve(settings: Settings) -> None:
    uvicorn.run("app.main:create_app", factory=True, **uvicorn_options(settings))


def open_psql(url: str) -> int:
    """psql on `url`, interactive; Ctrl-C belongs to psql (it cancels the query), not to us."""
    from app.backup import libpq_connection
    from app.embedded_db import client_program

    conninfo, environment = libpq_connection(url)
    interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.run([str(client_program("psql")), conninfo], env=environment, check=False).returncode
    finally:
        signal.signal(signal.SIGINT, interrupt)


def reset(settings: Settings, *, assume_yes: bool) -> int:
    """Delete the embedded development data, after asking; never a database of DATABASE_URL's."""
    from app.embedded_db import running_server_pid

    if settings.database_url is not None:
        logger.error(
            "DATABASE_URL is set; reset deletes only the embedded development data and never touches "
            "your own database (unset DATABASE_URL to reset the embedded one)"
        )
        return 1
    data_dir = settings.embedded_data_dir.resolve()
    if not data_dir.exists():
        logger.info("Nothing to reset: %s does not exist", data_dir)
        return 0
    if not (data_dir / "PG_VERSION").is_file():
        logger.error("%s does not look like PostgreSQL's data; not deleting it", data_dir)
        return 1
    pid = running_server_pid(data_dir)
    if pid is not None:
        logger.error("The embedded PostgreSQL is running (pid %d): stop `make run` first", pid)
        return 1
    if not assume_yes:
        if not sys.stdin.isatty():
            logger.error("Not deleting %s without asking; run it in a terminal, or pass --yes", data_dir)
            return 1
        answer = input(f"Delete {data_dir}, with every user and stock in it? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            logger.info("Nothing deleted")
            return 1
    shutil.rmtree(data_dir)
    logger.info("Deleted %s; the next `make run` starts from an empty database", data_dir)
    return 0


def _count(lowest: int, highest: int) -> Callable[[str], int]:
    """An argparse type: an integer from lowest to highest."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"must be from {lowest} to {highest}")
        return value

    return parse


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Before uvicorn takes over signals (and after it gives them back), turn
    # SIGTERM into an exception so `finally` blocks stop the embedded server.
    raise SystemExit(128 + signum)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    serve_command = commands.add_parser("serve", help="apply migrations, then serve the API (default)")
    serve_command.add_argument(
        "--no-migrate", action="store_true", help="serve without migrating (a release step has migrated)"
    )
    serve_command.add_argument("--host", help="address to listen on (sets HOST)")
    serve_command.add_argument("--port", help="port to listen on (sets PORT)")
    commands.add_parser("migrate", help="apply migrations and exit; instances starting together take turns")
    revision = commands.add_parser("revision", help="autogenerate a migration from the models")
    revision.add_argument("message", help='what the migration does, e.g. "add updated_at"')
    demo = commands.add_parser("demo", help="fill the database with realistic demo users and stocks")
    demo.add_argument("--users", type=_count(1, 1_000_000), default=100, help="users to add (default 100)")
    demo.add_argument("--stocks-per-user", type=_count(0, 1000), default=5, help="stocks for each user (default 5)")
    demo.add_argument("--force", action="store_true", help="add demo data even if the database holds users")
    demo.add_argument("--seed", type=int, default=None, help="random seed, for the same data every time")
    backup = commands.add_parser("backup", help="write the database to FILE (pg_dump --format=custom)")
    backup.add_argument("file", type=Path, metavar="FILE")
    restore = commands.add_parser("restore", help="load FILE, made by backup, into the database")
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.add_argument("--force", action="store_true", help="replace the data the database holds")
    commands.add_parser("psql", help="open psql on the database `make run` uses")
    reset_command = commands.add_parser("reset", help="delete the embedded development data (.data/postgres)")
    reset_command.add_argument("--yes", action="store_true", help="do not ask")
    admin = commands.add_parser("create-admin", help="make EMAIL an admin, creating the user if there is none")
    admin.add_argument("email", metavar="EMAIL")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    command = arguments.command or "serve"
    # --host and --port are HOST and PORT by another name (a Procfile reads
    # better with them); setting the variables keeps one source of truth.
    for variable in ("host", "port"):
        if getattr(arguments, variable, None) is not None:
            os.environ[variable.upper()] = getattr(arguments, variable)

    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_settings_error(error), file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)-9s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    if command == "reset":
        return reset(settings, assume_yes=arguments.yes)
    if command == "serve":
        # Before starting PostgreSQL or migrating: a second `make run` should
        # say at once that the port is taken.
        problem = cannot_listen(settings.host, settings.port)
        if problem is not None:
            logger.error("Cannot serve: %s", problem)
            return 1
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    try:
        with database_url(settings) as url:
            return _run(command, arguments, settings, url)
    except KeyboardInterrupt:  # Ctrl-C before or after serving: stopped, not crashed
        return 128 + signal.SIGINT


def _run(command: str, arguments: argparse.Namespace, settings: Settings, url: str) -> int:
    logger.info("Database: %s", mask_password(url))
    # The app factory (in this process or in uvicorn's workers) reads this.
    os.environ["DATABASE_URL"] = url
    if command in ("backup", "restore"):
        from app.backup import BackupError, backup, restore

        try:
            if command == "backup":
                backup(url, arguments.file)
            else:
                restore(url, arguments.file, force=arguments.force)
        except (BackupError, FileNotFoundError) as error:
            logger.error("%s", error)
            return 1
        return 0
    if command == "psql":
        return open_psql(url)
    if command == "create-admin":
        from app.auth.admin import AdminRefused, create_admin

        migrate(url)
        try:
            logger.info("%s", create_admin(settings.model_copy(update={"database_url": url}), arguments.email))
        except AdminRefused as refusal:
            logger.error("%s", refusal)
            return 1
        return 0

    if not (command == "serve" and getattr(arguments, "no_migrate", False)):
        try:
            migrate(url)
        except OperationalError as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else "no answer"
            logger.error("Cannot reach the database at %s: %s", mask_password(url), reason)
            return 1
    if command == "revision":
        from alembic import command as alembic_command

        alembic_command.revision(
            alembic_config(url), message=arguments.message, autogenerate=True, rev_id=next_revision_id()
        )
    elif command == "demo":
        from app.demo import DatabaseNotEmpty, DemoSize, fill_with_demo_data

        try:
            size = DemoSize(users=arguments.users, stocks_per_user=arguments.stocks_per_user)
            fill_with_demo_data(url, size, force=arguments.force, seed=arguments.seed)
        except DatabaseNotEmpty as refusal:
            logger.error("%s", refusal)
            return 1
    elif command == "serve":
        from app.metrics import multiprocess_directory

        # Once it has shut down cleanly, uvicorn raises the signal it caught
        # again, so that the process dies of it: for SIGTERM that is our
        # handler's SystemExit(143) (Ctrl-C's KeyboardInterrupt uvicorn.run
        # swallows itself). A clean stop is a success (`make run` would end
        # with "Error 143"), so it exits 0. With metrics and several workers,
        # their shared directory lasts as long as this server.
        try:
            with multiprocess_directory(settings):
                serve(settings)
        except SystemExit as stop:
            if stop.code != 128 + signal.SIGTERM:
                raise
            logger.info("Stopped by SIGTERM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
