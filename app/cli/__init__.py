"""`python -m app`: the command line, one function per command; `python -m app COMMAND --help` for each.

python -m app                      migrate, then serve (`make run`): `serve` is the default command
python -m app serve [--no-migrate] [--host H] [--port P]   serve; --no-migrate when a release step migrates
python -m app migrate              apply migrations and exit (one instance at a time)
python -m app revision "message"   autogenerate a migration from the models
python -m app demo [--users N] [--stocks-per-user M] [--force] [--seed S] [--no-history]
                                   fill the database with demo data: users, stocks, transactions, prices
python -m app backup FILE          write the database to FILE (pg_dump's custom format)
python -m app restore FILE [--force]   load FILE into an empty database (--force: replace what is there)
python -m app psql                 open psql on the database `make run` uses
python -m app reset [--yes]        delete the embedded development data, after asking
python -m app create-admin EMAIL   make EMAIL an admin, creating the user (password: ADMIN_PASSWORD, or asked)

Every command but `reset` works on the database `make run` uses: DATABASE_URL's,
or the embedded PostgreSQL, started for as long as the command runs
(app/cli/database.py). Options are typed and their ranges declared here, so
Typer refuses a bad one before anything starts.

Exit codes: 0 done; 1 refused or failed, with the reason logged; 2 a usage
error (Typer's message names the option) or a bad setting (one line naming
the variable, as the app prints it); 130 stopped by Ctrl-C. A server stopped
by SIGTERM has done its job and exits 0.

Typer's pretty tracebacks are off: they print each frame's local variables,
and those hold the settings (SECRET_KEY, DATABASE_URL's password).
"""

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from app.cli.database import open_database, open_psql, reset_embedded_data
from app.cli.server import banner, cannot_listen, serve_until_stopped
from app.core import migrations
from app.core.config import Settings, describe_settings_error, mask_password, unknown_env_file_keys
from app.http.request_log import configure_logging

logger = logging.getLogger("app")

cli = typer.Typer(
    # The help and errors as click prints them: plain lines that read the same in a log as in a terminal.
    rich_markup_mode=None,
    # A plain traceback, without each frame's local variables (see above).
    pretty_exceptions_enable=False,
    # No --install-completion: the commands are few, and installing changes the user's shell files.
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@cli.callback(invoke_without_command=True)
def default(context: typer.Context) -> None:
    """Portfolio API: serve it (the default, as `make run` does) and look after its database.

    With no DATABASE_URL, commands work on the embedded PostgreSQL in .data/postgres.
    """
    if context.invoked_subcommand is None:
        serve()


@cli.command()
def serve(
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Serve without migrating (a release step has migrated).")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on (sets HOST).", show_default=False)] = None,
    # PORT's range is Settings' to check, for --port and PORT alike.
    port: Annotated[int | None, typer.Option(help="Port to listen on (sets PORT).", show_default=False)] = None,
) -> None:
    """Migrate, then serve the API (the default command).

    Stopped by Ctrl-C or SIGTERM, it lets requests in flight finish (up to 10 s) and exits 0.
    """
    # --host and --port are HOST and PORT by another name (a Procfile reads
    # better with them); setting the variables keeps one source of truth.
    if host is not None:
        os.environ["HOST"] = host
    if port is not None:
        os.environ["PORT"] = str(port)
    settings = _settings()
    # Before starting PostgreSQL or migrating: a second `make run` should say
    # at once that the port is taken.
    problem = cannot_listen(settings.host, settings.port)
    if problem is not None:
        logger.error("Cannot serve: %s", problem)
        raise typer.Exit(1)
    with open_database(settings, announce=False) as url:
        if not no_migrate:
            _migrate(url)
        for line in banner(settings, url):
            logger.info("%s", line)
        serve_until_stopped(settings)


@cli.command()
def migrate() -> None:
    """Apply pending migrations and exit.

    Instances starting together take turns: one migrates, the others wait for it.
    """
    with open_database(_settings()) as url:
        _migrate(url)


@cli.command()
def revision(
    message: Annotated[str, typer.Argument(metavar="MESSAGE", help='What the migration does, e.g. "add updated_at".')],
) -> None:
    """Autogenerate a migration from the models.

    It lands in migrations/versions/ under the next number (0001, 0002, ...); read it before committing.
    """
    with open_database(_settings()) as url:
        _migrate(url)
        migrations.new_revision(url, message)


@cli.command()
def demo(
    users: Annotated[int, typer.Option(min=1, max=1_000_000, help="Users to add.")] = 100,
    stocks_per_user: Annotated[int, typer.Option(min=0, max=1000, help="Stocks for each user.")] = 5,
    force: Annotated[bool, typer.Option("--force", help="Add demo data even if the database holds users.")] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed, for the same data every time.")] = None,
    history: Annotated[
        bool,
        typer.Option(
            "--history/--no-history",
            help="Give each stock later buys, sells, dividends and fees; --no-history: its opening buy only.",
        ),
    ] = True,
) -> None:
    """Fill the database with demo users, stocks, their transactions and two years of daily prices.

    Realistic names and holdings over twenty well-known symbols, in batches with a
    progress bar. Prices: every symbol's close on each weekday of the last two
    years (a random walk; closes already there are kept). Transactions: each
    stock's opening buy at the close of its day, then a few buys, sells,
    dividends and fees (not with --no-history); the stock is its ledger replayed.
    A database that holds users is refused unless --force, which adds to what is there.
    """
    from app.cli.demo import DatabaseNotEmpty, DemoSize, fill_with_demo_data

    size = DemoSize(users=users, stocks_per_user=stocks_per_user)
    with open_database(_settings()) as url:
        _migrate(url)
        try:
            written = fill_with_demo_data(url, size, force=force, seed=seed, history=history)
        except DatabaseNotEmpty as refusal:
            logger.error("%s", refusal)
            raise typer.Exit(1) from None
        logger.info("%s", written)


@cli.command()
def backup(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write it; it appears only once complete.")],
) -> None:
    """Write the database to FILE (pg_dump's custom format)."""
    from app.ops import backup as backups

    with open_database(_settings()) as url:
        try:
            backups.backup(url, file)
        except (backups.BackupError, FileNotFoundError) as error:
            logger.error("%s", error)
            raise typer.Exit(1) from None


@cli.command()
def restore(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A file `backup` wrote.")],
    force: Annotated[bool, typer.Option("--force", help="Replace the data the database holds.")] = False,
) -> None:
    """Load FILE, made by backup, into an empty database.

    All of it or, on any error, none. A database holding data is refused unless --force.
    """
    from app.ops import backup as backups

    with open_database(_settings()) as url:
        try:
            backups.restore(url, file, force=force)
        except (backups.BackupError, FileNotFoundError) as error:
            logger.error("%s", error)
            raise typer.Exit(1) from None


@cli.command()
def psql() -> None:
    """Open psql on the database `make run` uses."""
    with open_database(_settings()) as url:
        code = open_psql(url)
    raise typer.Exit(code)


@cli.command()
def reset(yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """Delete the embedded development data, after asking.

    Only .data/postgres (EMBEDDED_DATA_DIR), and not while `make run` uses it; never DATABASE_URL's database.
    """
    raise typer.Exit(reset_embedded_data(_settings(), assume_yes=yes))


@cli.command()
def create_admin(email: Annotated[str, typer.Argument(metavar="EMAIL", help="The admin's email address.")]) -> None:
    """Make EMAIL an admin, creating the user if needed.

    The password, needed only to create the user, comes from ADMIN_PASSWORD, else it is
    asked for without echo. Running it again changes nothing.
    """
    from app.cli import admin

    settings = _settings()
    with open_database(settings) as url:
        _migrate(url)
        try:
            logger.info("%s", admin.create_admin(settings.model_copy(update={"database_url": url}), email))
        except admin.AdminRefused as refusal:
            logger.error("%s", refusal)
            raise typer.Exit(1) from None


def _settings() -> Settings:
    """Settings from the environment and .env, with logging set up by them; a bad one ends the command (exit 2)."""
    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_settings_error(error), file=sys.stderr)
        raise typer.Exit(2) from None
    # The app's own format (LOG_FORMAT), for every line of every command: one format in a log file.
    configure_logging(settings)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    for line in unknown_env_file_keys():
        logger.warning("%s", line)
    return settings


def _migrate(url: str) -> None:
    """Apply pending migrations; an unreachable database ends the command (exit 1) with the reason."""
    try:
        migrations.migrate(url)
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "no answer"
        logger.error("Cannot reach the database at %s: %s", mask_password(url), reason)
        raise typer.Exit(1) from None
