"""Schemathesis against our own OpenAPI, on `python -m app`: no check fails, in either AUTH mode.

Each test starts `python -m app` on a free loopback port, on the tests'
database, and runs every schemathesis check in every phase (examples,
coverage, fuzzing, and the stateful phase, which follows the OpenAPI links
from each 201 through read, update and delete). With AUTH=required it signs
up a user and sends an admin's token for them, so every operation is
reachable, and schemathesis' auth checks send requests without it, or with a
bad one, and expect a 401. schemathesis.toml, beside this file, says which answers a JSON
Schema cannot predict, and why.

`make test` runs a short deterministic slice; `make fuzz` (marker `fuzz`,
left out otherwise) fuzzes at random for FUZZ_SECONDS, split between the modes.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.auth.tokens import AccessTokens
from app.core.config import PROJECT_ROOT
from tests.helpers import empty_every_table
from tests.processes import free_port, run_app, stop, wait_until_serving

# Each test here starts processes or PostgreSQL clusters: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Each drawn Idempotency-Key made unique (the module says why), imported by schemathesis from the project root.
HOOKS = "tests.whole_api.schemathesis_hooks"
# What AUTH=open adds to it: the checks that expect AUTH=required's refusals, which the OpenAPI states.
OPEN_MODE_CONFIG = Path(__file__).with_name("schemathesis-open.toml")
FUZZ_SECRET_KEY = "the-fuzzed-servers-own-signing-key-long-enough"
MODES = ("open", "required")


def schemathesis_config(auth: str, scratch: Path) -> Path:
    """schemathesis.toml, with schemathesis-open.toml after it for AUTH=open (schemathesis merges the sections)."""
    if auth != "open":
        return CONFIG
    merged = scratch / "schemathesis.toml"
    merged.write_text(CONFIG.read_text() + "\n" + OPEN_MODE_CONFIG.read_text())
    return merged


def schemathesis_command(base_url: str, config: Path, *options: str) -> list[str]:
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    return [
        executable,
        "--config-file",
        str(config),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--no-color",
        *options,
    ]


def admin_authorization(base_url: str, env: dict[str, str]) -> str:
    """An `Authorization` header for a new admin, with an admin's token minted with the server's key.

    The user is made an admin in the table, by `python -m app create-admin` on
    the server's database: the claim alone grants nothing (app/auth/access.py).
    """
    account = {"name": "Fuzz Admin", "email": "fuzz-admin@example.com", "password": "fuzzing passphrase"}
    response = httpx.post(f"{base_url}/users/", json=account, timeout=10)
    response.raise_for_status()
    promoted = run_app({**env, "ADMIN_PASSWORD": account["password"]}, "create-admin", account["email"])
    output, _ = promoted.communicate(timeout=60)
    assert promoted.returncode == 0, output
    token = AccessTokens(FUZZ_SECRET_KEY.encode(), timedelta(hours=2)).issue(response.json()["id"], is_admin=True)
    return f"Authorization: Bearer {token}"


def fuzz(database_url: str, *options: str, auth: str, capture: bool) -> subprocess.CompletedProcess:
    """Serve the API on `database_url` with AUTH=`auth` and fuzz it; the tables are emptied afterwards."""
    with tempfile.TemporaryDirectory(prefix="portfolio-fuzz-") as scratch:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "warning",
            "AUTH": auth,
            "SECRET_KEY": FUZZ_SECRET_KEY,
        }
        # The app's log goes to a file: a pipe nobody reads would fill and stall it.
        with open(Path(scratch) / "app.log", "w+") as log:
            app = run_app(env, output=log)
            try:
                wait_until_serving(base_url, app)
                if auth == "required":
                    options = ("--header", admin_authorization(base_url, env), *options)
                result = subprocess.run(
                    schemathesis_command(base_url, schemathesis_config(auth, Path(scratch)), *options),
                    cwd=scratch,
                    env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(PROJECT_ROOT)},
                    capture_output=capture,
                    text=True,
                )
            finally:
                stop(app)
                # The fuzzed app commits for real; leave the tables as the other tests expect them.
                empty_every_table(database_url)
            log.seek(0)
            if "Traceback" in (app_log := log.read()):
                # A 500 is also a schemathesis failure; the traceback says where.
                print(app_log, file=sys.stderr)
    return result


def every_operation(app: FastAPI) -> int:
    return sum(len(methods) for methods in app.openapi()["paths"].values())


@pytest.mark.parametrize("auth", MODES)
def test_a_deterministic_fuzz_of_every_operation_finds_no_failure(database_url: str, app: FastAPI, auth: str) -> None:
    # Deterministic: the same cases on every run, so a red test is a real regression.
    result = fuzz(database_url, "--max-examples", "20", "--generation-deterministic", auth=auth, capture=True)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert f"Tested: {every_operation(app)}" in report, report
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in report, report
    counts = re.search(r"(\d+) generated, (\d+) passed", report)
    assert counts, report
    generated, passed = map(int, counts.groups())
    assert generated == passed > 500, report


@pytest.mark.fuzz
@pytest.mark.parametrize("auth", MODES)
def test_fuzzing_at_random_for_fuzz_seconds_finds_no_failure(database_url: str, auth: str) -> None:
    # Without FUZZ_SECONDS (which `make fuzz` sets), selecting this by -m slow does not start minutes of fuzzing.
    if not (seconds := int(os.environ.get("FUZZ_SECONDS", "0"))):
        pytest.skip("make fuzz runs this, for FUZZ_SECONDS")
    print(f"--- AUTH={auth}", flush=True)
    # Its report streams to the terminal (make fuzz runs pytest with -s).
    result = fuzz(database_url, "--max-time", str(max(1, seconds // len(MODES))), auth=auth, capture=False)
    assert result.returncode == 0, "schemathesis found failures: its report says which"
