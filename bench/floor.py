"""The floor: the API's hot paths with nothing between HTTP and the driver.

A plain Starlette app, psycopg 3 with a handful of autocommit connections,
hand-built JSON, and the same SQL the API runs (two statements for a user
with stocks, keyset paging for lists, single-statement writes, PATCH
setting only the fields sent). Nothing
validates, nothing maps to objects: it is what "as fast as this stack goes"
means on this machine, and the benchmark reports the API as a ratio of it.

    uvicorn --factory bench.floor:create_app   (BENCH_DATABASE_URL: the database, as libpq takes it)
"""

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

POOL_SIZE = 5
USER = "SELECT id, name, age, signup_ts, updated_at FROM users WHERE id = %s"
STOCK_COLUMNS = "id, name, price, quantity, is_active, user_id, created_at, updated_at"
STOCKS_OF_USER = f"SELECT {STOCK_COLUMNS} FROM stocks WHERE user_id = %s ORDER BY id"
STOCK_PAGE = f"SELECT {STOCK_COLUMNS} FROM stocks WHERE id > %s ORDER BY id LIMIT %s"
INSERT_STOCK = (
    "INSERT INTO stocks (name, price, quantity, is_active, user_id) VALUES (%s, %s, %s, %s, %s) "
    f"RETURNING {STOCK_COLUMNS}"
)
UPDATE_STOCK = (
    "UPDATE stocks SET name = %s, price = %s, quantity = %s, is_active = %s, "
    f"updated_at = now(), version = version + 1 WHERE id = %s RETURNING {STOCK_COLUMNS}"
)
# PATCH sets only the fields sent; the column names come from this list, never from the body.
PATCHABLE = ("name", "price", "quantity", "is_active")
DELETE_STOCK = "DELETE FROM stocks WHERE id = %s RETURNING id"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value))


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(
        json.dumps(content, default=_plain, separators=(",", ":")), status_code, media_type="application/json"
    )


NOT_FOUND = Response(b'{"detail":"Not found"}', 404, media_type="application/json")


class Connections:
    """The bare minimum of a pool: a queue of open connections."""

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self.idle: asyncio.Queue[psycopg.AsyncConnection[dict[str, Any]]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True, row_factory=dict_row)
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        connection = await self.idle.get()
        try:
            yield connection
        finally:
            self.idle.put_nowait(connection)


async def health(request: Request) -> Response:
    async with request.app.state.db.connection() as connection:
        await connection.execute("SELECT 1")
    return _json({"message": "FastAPI with PostgreSQL is running!", "status": "healthy", "database": "connected"})


async def read_user(request: Request) -> Response:
    user_id = int(request.path_params["user_id"])
    async with request.app.state.db.connection() as connection:
        user = await (await connection.execute(USER, [user_id])).fetchone()
        if user is None:
            return NOT_FOUND
        user["stocks"] = await (await connection.execute(STOCKS_OF_USER, [user_id])).fetchall()
    return _json(user)


async def read_stocks(request: Request) -> Response:
    after = int(request.query_params.get("after", 0))
    limit = int(request.query_params.get("limit", 100))
    async with request.app.state.db.connection() as connection:
        rows = await (await connection.execute(STOCK_PAGE, [after, limit])).fetchall()
    return _json(rows)


async def create_stock(request: Request) -> Response:
    body = json.loads(await request.body(), parse_float=Decimal)
    values = [body["name"], body["price"], body["quantity"], body.get("is_active", True)]
    async with request.app.state.db.connection() as connection:
        row = await (await connection.execute(INSERT_STOCK, [*values, int(request.path_params["user_id"])])).fetchone()
    return _json(row, 201)


async def replace_stock(request: Request) -> Response:
    body = json.loads(await request.body(), parse_float=Decimal)
    values = [body["name"], body["price"], body["quantity"], body.get("is_active", True)]
    async with request.app.state.db.connection() as connection:
        row = await (await connection.execute(UPDATE_STOCK, [*values, int(request.path_params["stock_id"])])).fetchone()
    return NOT_FOUND if row is None else _json(row)


async def patch_stock(request: Request) -> Response:
    body = json.loads(await request.body(), parse_float=Decimal)
    columns = [column for column in PATCHABLE if column in body]
    assignments = "".join(f"{column} = %s, " for column in columns)
    statement = (
        f"UPDATE stocks SET {assignments}updated_at = now(), version = version + 1 "
        f"WHERE id = %s RETURNING {STOCK_COLUMNS}"
    )
    values = [body[column] for column in columns]
    async with request.app.state.db.connection() as connection:
        row = await (await connection.execute(statement, [*values, int(request.path_params["stock_id"])])).fetchone()
    return NOT_FOUND if row is None else _json(row)


async def delete_stock(request: Request) -> Response:
    async with request.app.state.db.connection() as connection:
        row = await (await connection.execute(DELETE_STOCK, [int(request.path_params["stock_id"])])).fetchone()
    return NOT_FOUND if row is None else Response(status_code=204)


def create_app() -> Starlette:
    url = os.environ["BENCH_DATABASE_URL"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.db = Connections(url, int(os.environ.get("DB_POOL_SIZE", POOL_SIZE)))
        await app.state.db.open()
        try:
            yield
        finally:
            await app.state.db.close()

    routes = [
        Route("/", health),
        Route("/users/{user_id:int}", read_user),
        Route("/stocks/", read_stocks),
        Route("/users/{user_id:int}/stocks/", create_stock, methods=["POST"]),
        Route("/stocks/{stock_id:int}", replace_stock, methods=["PUT"]),
        Route("/stocks/{stock_id:int}", patch_stock, methods=["PATCH"]),
        Route("/stocks/{stock_id:int}", delete_stock, methods=["DELETE"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
