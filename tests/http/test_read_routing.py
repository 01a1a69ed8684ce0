"""Read routing without replicas (nothing changes), its OpenAPI and settings; with them: test_read_replicas.py."""

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import ValidationError

from app.core.config import Settings
from app.core.replicas import format_wal_position, parse_wal_position, shown_url
from app.http.read_routing import READ_AFTER_HEADER, ReadRouting

WRITES = {"post", "put", "patch", "delete"}


async def test_without_replicas_nothing_routes_and_no_write_answers_a_position(
    app: FastAPI, client: AsyncClient
) -> None:
    assert ReadRouting not in [getattr(middleware, "cls", None) for middleware in app.user_middleware]
    created = await client.post("/users/", json={"name": "Ada", "age": 36})
    assert created.status_code == 201
    assert READ_AFTER_HEADER not in created.headers


def test_every_write_declares_x_read_after_on_its_successful_answers_and_no_read_does(app: FastAPI) -> None:
    declared = set()
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if READ_AFTER_HEADER in response.get("headers", {}):
                    declared.add((method, path, status))
                    assert method in WRITES and status[0] in "23", (method, path, status)
    writes = {
        (method, path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in WRITES
    }
    assert {(method, path) for method, path, _ in declared} == writes


def test_wal_positions_read_and_write_as_postgresql_does() -> None:
    assert parse_wal_position("0/3000060") == 0x3000060
    assert parse_wal_position("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_wal_position(parse_wal_position("16/B374D848") or 0) == "16/B374D848"
    for malformed in ("", "3000060", "x/1", "1/", "/1", "1/2/3", "123456789/0", "0/" + "F" * 40):
        assert parse_wal_position(malformed) is None, malformed


def test_replica_urls_are_a_comma_separated_list_shown_without_credentials() -> None:
    settings = Settings(
        _env_file=None,
        database_url="postgresql://app:secret@primary/portfolio",
        database_replica_urls="postgres://app:secret@replica-1:6543/portfolio?sslmode=require, postgresql://app:s@replica-2/portfolio",  # type: ignore[arg-type]  # as the environment gives it
    )
    assert [shown_url(url) for url in settings.database_replica_urls] == [
        "postgresql://replica-1:6543/portfolio",
        "postgresql://replica-2/portfolio",
    ]
    assert settings.database_replica_urls[0].startswith("postgresql+psycopg://")


def test_replicas_without_a_primary_are_refused() -> None:
    with pytest.raises(ValidationError, match="DATABASE_REPLICA_URLS needs DATABASE_URL"):
        Settings(_env_file=None, database_replica_urls="postgresql://replica/portfolio")  # type: ignore[arg-type]


async def test_without_replicas_ready_answers_as_it_always_did(client: AsyncClient) -> None:
    body = (await client.get("/health/ready")).json()
    assert set(body) == {"status", "database", "migration", "expected_migration"}
