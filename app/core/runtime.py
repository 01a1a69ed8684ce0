"""What each worker process does once its app has started, before the first request.

Python's cyclic garbage collector, every so often, walks every container
object the process holds (a "full", generation-2, collection). After start-up
that is some 110,000 objects (FastAPI, pydantic, SQLAlchemy, their modules and
caches), none of which will ever be garbage, and walking them took 60 to 100 ms
on the bench machine, several times a second under load: every request in flight
waited, and that was most of the slowest 1% (docs/explanation/performance.md).

`gc.freeze()` moves everything alive at that moment into a permanent
generation the collector never walks, so later collections see only what
requests create. Collecting first means no garbage is frozen with it; what is
frozen is exactly what the process keeps anyway, so memory does not grow. The
collector itself stays on and on its default schedule, so the cycles requests
create are still freed as before.

Each uvicorn worker is a fresh process that runs the app's lifespan, so
calling this from the lifespan covers every worker.
"""

import gc
import logging
import os

logger = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then hide every surviving object from future collections; how many were hidden."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.debug("Worker %d: %d start-up objects frozen out of the garbage collector's walk", os.getpid(), frozen)
    return frozen
