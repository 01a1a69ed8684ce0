"""`python -m app create-admin EMAIL` (`make admin`): creates the first admin, or promotes a user; idempotent."""

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from app.auth.passwords import verify_password
from app.cli.admin import AdminRefused, create_admin
from app.core.config import PROJECT_ROOT, Settings
from tests.helpers import committed_connection

ADMIN_PASSWORD = "a long admin passphrase"


@pytest.fixture
def database(database_url: str) -> Iterator[psycopg.Connection]:
    """The tests' database, committed to for real (the command has its own connection); emptied afterwards."""
    with committed_connection(database_url) as connection:
        yield connection


def _admin_row(connection: psycopg.Connection, email: str) -> tuple[str, bool, str | None]:
    row = connection.execute("SELECT name, is_admin, password_hash FROM users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return row


def test_it_creates_an_admin_then_changes_nothing(database: psycopg.Connection, settings: Settings) -> None:
    said = create_admin(settings, "Root@Example.com", lambda: ADMIN_PASSWORD)
    assert said.startswith("Created admin root@example.com (user ")
    name, is_admin, password_hash = _admin_row(database, "root@example.com")
    assert (name, is_admin) == ("Administrator", True)
    assert asyncio.run(verify_password(ADMIN_PASSWORD, password_hash))[0]

    def never_asked() -> str:
        raise AssertionError("an existing user's password is not asked for")

    assert create_admin(settings, "root@example.com", never_asked).endswith("was already an admin")
    assert database.execute("SELECT count(*) FROM users").fetchone() == (1,)


def test_it_makes_an_existing_user_an_admin(database: psycopg.Connection, settings: Settings) -> None:
    database.execute("INSERT INTO users (name, email) VALUES ('Jane Doe', 'jane@example.com')")
    assert create_admin(settings, "jane@example.com").endswith("is now an admin")
    assert _admin_row(database, "jane@example.com")[:2] == ("Jane Doe", True)


@pytest.mark.parametrize(
    ("email", "password", "why"),
    [
        ("not an email", ADMIN_PASSWORD, "is not an email address"),
        ("root@example.com", "short", "at least 12"),
        ("root@example.com", "root's own password", "before the @"),
    ],
)
def test_it_refuses_what_sign_up_refuses(
    database: psycopg.Connection, settings: Settings, email: str, password: str, why: str
) -> None:
    with pytest.raises(AdminRefused, match=why):
        create_admin(settings, email, lambda: password)
    assert database.execute("SELECT count(*) FROM users").fetchone() == (0,)


@pytest.mark.slow  # a process
def test_the_command_line_takes_the_password_from_admin_password(
    database: psycopg.Connection, database_url: str
) -> None:
    environment = {"DATABASE_URL": database_url, "ADMIN_PASSWORD": ADMIN_PASSWORD, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "app", "create-admin", "ops@example.com"]
    first = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "Created admin ops@example.com" in first.stderr
    assert ADMIN_PASSWORD not in first.stderr + first.stdout
    again = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert (again.returncode, "was already an admin" in again.stderr) == (0, True)
