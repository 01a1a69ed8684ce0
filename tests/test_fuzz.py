"""A short, deterministic slice of `make fuzz`: every schemathesis check, every phase, every operation."""

import re

import psycopg
import pytest
from fastapi import FastAPI

from tests.fuzz import fuzz
from tests.helpers import EMPTY_EVERY_TABLE, libpq_url

# Each test here starts processes or PostgreSQL clusters: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow


def every_operation(app: FastAPI) -> int:
    return sum(len(methods) for methods in app.openapi()["paths"].values())


@pytest.mark.parametrize("auth", ["open", "required"])
def test_a_deterministic_fuzz_of_every_operation_finds_no_failure(database_url: str, app: FastAPI, auth: str) -> None:
    try:
        # Deterministic: the same cases on every run, so a red test is a real regression.
        result = fuzz(database_url, "--max-examples", "20", "--generation-deterministic", auth=auth, capture=True)
    finally:
        # The fuzzed app commits for real; leave the tables as the other tests expect them.
        with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
            connection.execute(EMPTY_EVERY_TABLE)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert f"Tested: {every_operation(app)}" in report, report
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in report, report
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts, report
    generated, passed = map(int, counts.groups())
    assert generated == passed > 500, report
