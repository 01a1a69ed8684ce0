"""The API with one start-up step left out, for `make bench --without-heap-freeze`.

    uvicorn --factory bench.variants:app_without_heap_freeze

The same code as `python -m app` serves, minus `gc.freeze()` after start-up
(app/runtime.py), so one bench run shows what that step buys.
"""

from fastapi import FastAPI

import app.main


def app_without_heap_freeze() -> FastAPI:
    app.main.freeze_startup_heap = lambda: 0
    return app.main.create_app()
