"""The line in front of the pool: first come, first served, and a bounded wait."""

import asyncio

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.core.config import Settings
from app.core.database import Database
from tests.helpers import wait_until_async


def one_connection(database_url: str, patience: float = 5) -> Database:
    settings = Settings(
        _env_file=None, database_url=database_url, db_pool_size=1, db_max_overflow=0, db_pool_timeout=patience
    )
    return Database(settings)


async def test_a_freed_connection_goes_to_the_longest_waiter_not_to_a_newcomer(database_url: str) -> None:
    database = one_connection(database_url)
    served: list[str] = []
    release = asyncio.Event()

    async def request(name: str, hold: asyncio.Event | None = None) -> None:
        async with database.turn():
            served.append(name)
            if hold is not None:
                await hold.wait()

    holder = asyncio.create_task(request("holder", hold=release))
    await wait_until_async(lambda: served == ["holder"], "the holder to have the one connection")
    waiters = [asyncio.create_task(request(f"waiter {n}")) for n in range(3)]
    await wait_until_async(lambda: database.waiting == 3, "all three waiters to be in line")

    # Free the place and, in the same instant, let a newcomer ask for it:
    # with SQLAlchemy's pool queue alone, the newcomer would take it.
    release.set()
    await holder
    newcomer = asyncio.create_task(request("newcomer"))
    await asyncio.gather(*waiters, newcomer)

    assert served == ["holder", "waiter 0", "waiter 1", "waiter 2", "newcomer"]
    await database.dispose()


async def test_waiting_past_the_pool_timeout_is_a_pool_timeout_and_gives_the_place_up(database_url: str) -> None:
    database = one_connection(database_url, patience=0.2)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with database.turn():
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    with pytest.raises(PoolTimeoutError):
        async with database.turn():
            pass
    release.set()
    await holder
    async with database.turn():  # the timed-out waiter left no place taken
        pass
    await database.dispose()
