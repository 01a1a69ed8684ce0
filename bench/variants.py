"""The API with one start-up step undone, for `make bench BENCH_FLAGS=--without-heap-freeze`.

    uvicorn --factory bench.variants:app_without_heap_freeze

The same app as `python -m app` serves, except that right after start-up the
heap frozen by app/core/runtime.py is unfrozen (back into the oldest generation,
walked by every full collection, as before the freeze), so one bench run
shows what that step buys.
"""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.main import create_app


def app_without_heap_freeze() -> FastAPI:
    app = create_app()
    lifespan_with_freeze = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan_with_freeze(app):
            gc.unfreeze()
            yield

    app.router.lifespan_context = lifespan
    return app
