"""Each worker freezes its start-up heap, out of the garbage collector's walk, before serving."""

import gc
import json

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from tests.processes import free_port, run_app, stop, wait_until_serving


async def test_the_lifespan_freezes_the_start_up_heap(settings: Settings) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # Everything start-up built is frozen, the engine included ...
        frozen = gc.get_freeze_count()
        assert frozen > 0
        engine = app.state.database.engine
        assert not any(tracked is engine for tracked in gc.get_objects())  # lists only what is not frozen
        # ... and nothing a collection would have freed: it ran just before.
        assert gc.collect() == 0
    # The collector itself is left on, on its usual schedule.
    assert gc.isenabled()
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.slow
def test_every_worker_freezes_its_heap_and_logs_everything_as_json(database_url: str) -> None:
    port = free_port()
    server = run_app(
        {"DATABASE_URL": database_url, "PORT": str(port), "WORKERS": "2", "LOG_FORMAT": "json", "LOG_LEVEL": "debug"}
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", server)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            # Enough requests, on fresh connections, that both workers answer some.
            ids = [client.get("/", headers={"X-Request-ID": f"probe-{n}", "Connection": "close"}) for n in range(20)]
        assert [answer.headers["X-Request-ID"] for answer in ids] == [f"probe-{n}" for n in range(20)]
    finally:
        output = stop(server)
    # Every line, uvicorn's included, in every worker, is one JSON object.
    entries = [json.loads(line) for line in output.splitlines()]
    frozen_by = {entry["message"].split(":")[0] for entry in entries if "start-up objects frozen" in entry["message"]}
    assert len(frozen_by) == 2, output  # "Worker 1234", "Worker 1235"
    request_lines = [entry for entry in entries if entry["logger"] == "app.request"]
    assert {entry["request_id"] for entry in request_lines} >= {f"probe-{n}" for n in range(20)}
    assert {(entry["method"], entry["route"], entry["status"]) for entry in request_lines} == {("GET", "/", 200)}
