"""`python -m app`: migrate, then serve; with no DATABASE_URL, on an embedded PostgreSQL.

    python -m app                      serve (the default; `make run`)
    python -m app migrate              apply migrations and exit
    python -m app revision "message"   autogenerate a migration from the models
    python -m app demo --users N --stocks-per-user M [--force]   fill the database with demo data
"""

import argparse
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from app.config import PROJECT_ROOT, Settings, describe_settings_error, mask_password
from app.db import alembic_config, upgrade_to_head

logger = logging.getLogger("app")

EMBEDDED_DATABASE = "portfolio"


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """The configured DATABASE_URL, or an embedded PostgreSQL in .data/postgres for as long as we run."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    from app.embedded_db import embedded_postgres

    logger.info("DATABASE_URL is not set: starting embedded PostgreSQL in %s", settings.embedded_data_dir)
    with embedded_postgres(settings.embedded_data_dir, EMBEDDED_DATABASE, keep_data=True) as url:
        yield url


def next_revision_id() -> str:
    """Sequential ids (0001, 0002, ...) so migrations/versions/ reads in order."""
    existing = [path.name[:4] for path in (PROJECT_ROOT / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    return f"{max(map(int, existing), default=0) + 1:04d}"


def serve(settings: Settings) -> None:
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        # Each worker is a process with its own engine and pool (see README, Performance).
        workers=settings.workers,
        # Let in-flight requests finish on SIGTERM, but never hang a deploy.
        timeout_graceful_shutdown=10,
    )


def _count(lowest: int, highest: int):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="apply migrations, then serve the API (default)")
    commands.add_parser("migrate", help="apply migrations and exit")
    revision = commands.add_parser("revision", help="autogenerate a migration from the models")
    revision.add_argument("message", help='what the migration does, e.g. "add updated_at"')
    demo = commands.add_parser("demo", help="fill the database with realistic demo users and stocks")
    demo.add_argument("--users", type=_count(1, 1_000_000), default=100, help="users to add (default 100)")
    demo.add_argument(
        "--stocks-per-user", type=_count(0, 1000), default=5, help="stocks for each user (default 5)"
    )
    demo.add_argument("--force", action="store_true", help="add demo data even if the database holds users")
    demo.add_argument("--seed", type=int, default=None, help="random seed, for the same data every time")
    arguments = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_settings_error(error), file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)-9s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    with database_url(settings) as url:
        logger.info("Database: %s", mask_password(url))
        # The app factory (in this process or in uvicorn's workers) reads this.
        os.environ["DATABASE_URL"] = url
        try:
            upgrade_to_head(url)
        except OperationalError as error:
            reason = str(error.orig).strip().splitlines()[0] if error.orig else "no answer"
            logger.error("Cannot reach the database at %s: %s", mask_password(url), reason)
            return 1
        if arguments.command == "revision":
            from alembic import command

            command.revision(
                alembic_config(url), message=arguments.message, autogenerate=True, rev_id=next_revision_id()
            )
        elif arguments.command == "demo":
            from app.demo import DatabaseNotEmpty, DemoSize, fill_with_demo_data

            try:
                size = DemoSize(users=arguments.users, stocks_per_user=arguments.stocks_per_user)
                fill_with_demo_data(url, size, force=arguments.force, seed=arguments.seed)
            except DatabaseNotEmpty as refusal:
                logger.error("%s", refusal)
                return 1
        elif arguments.command in (None, "serve"):
            serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
