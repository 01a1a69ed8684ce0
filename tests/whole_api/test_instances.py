"""Several servers, one database, one SECRET_KEY: tokens, refreshes and login throttling hold across them.

Two separate `python -m app` processes (as two instances behind a load
balancer would be), and one process with two workers.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.helpers import JOHN, PASSWORD, empty_every_table
from tests.processes import free_port, run_app, stop, wait_until_serving

pytestmark = pytest.mark.slow  # real processes

SHARED_KEY = "one-key-for-every-instance-of-this-deployment"
JANE = "jane@example.com"


@pytest.fixture(autouse=True)
def _empty_tables(database_url: str) -> Iterator[None]:
    yield
    empty_every_table(database_url)


@contextmanager
def server(database_url: str, workers: int = 1) -> Iterator[httpx.Client]:
    """`python -m app serve --no-migrate` with AUTH=required on a free port; a client for it."""
    port = free_port()
    environment = {
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "AUTH": "required",
        "SECRET_KEY": SHARED_KEY,
        "WORKERS": str(workers),
        "LOG_LEVEL": "warning",
        # Reuse is caught at once, so a second presentation shows the instances share it
        # (the grace window, which would let it through, is tested in tests/auth/test_auth_throttles.py).
        "REFRESH_GRACE_SECONDS": "0",
    }
    process = run_app(environment, "serve", "--no-migrate")
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        output = stop(process)
    assert "Traceback" not in output, output


def sign_in(client: httpx.Client, password: str = PASSWORD) -> httpx.Response:
    return client.post("/auth/token", data={"username": JANE, "password": password})


def test_two_instances_share_tokens_refreshes_and_the_throttle(database_url: str) -> None:
    with server(database_url) as one, server(database_url) as two:
        assert one.post("/users/", json={**JOHN, "email": JANE, "password": PASSWORD}).status_code == 201
        pair = sign_in(one).json()
        # An access token from one instance is good on the other.
        me = two.get("/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
        assert (me.status_code, me.json()["email"]) == (200, JANE)
        # A refresh token used up on one is refused on the other, and the reuse ends the login.
        refreshed = one.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 200
        assert two.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
        successor = refreshed.json()["refresh_token"]
        assert one.post("/auth/refresh", json={"refresh_token": successor}).status_code == 401
        # Failures made on either count together: 3 + 2, then both refuse.
        for client in (one, one, one, two, two):
            assert sign_in(client, "wrong password!").status_code == 400
        for client in (one, two):
            throttled = sign_in(client)
            assert throttled.status_code == 429
            assert int(throttled.headers["retry-after"]) > 0


def test_two_workers_count_failures_together(database_url: str) -> None:
    with server(database_url, workers=2) as client:
        assert client.post("/users/", json={**JOHN, "email": JANE, "password": PASSWORD}).status_code == 201
        statuses = [sign_in(client, "wrong password!").status_code for _ in range(5)]
        assert statuses == [400] * 5
        assert sign_in(client).status_code == 429
