"""Scratch databases: new, empty PostgreSQL databases beside the test database, dropped afterwards."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.helpers import libpq_url


@contextmanager
def scratch_database(database_url: str, name: str) -> Iterator[str]:
    """A new, empty database named `name` on the server of `database_url`; its URL, then it is dropped."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        try:
            connection.execute(drop)
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege:
            pytest.skip("the test database's user may not create databases")
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            connection.execute(drop)
