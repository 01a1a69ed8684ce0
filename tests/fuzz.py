"""Fuzz the running API against its own OpenAPI with schemathesis (`make fuzz`).

    python -m tests.fuzz [--max-time SECONDS] [--auth open|required|both] [--database-url URL] [-- options]

Starts `python -m app` on a free loopback port, on a throwaway embedded
PostgreSQL unless given --database-url, and runs every schemathesis check in
every phase (examples, coverage, fuzzing, and the stateful phase, which
follows the OpenAPI links from each 201 through read, update and delete).
It does so in each AUTH mode: with AUTH=required it signs up a user and sends
an admin's token for them, so every operation is reachable, and schemathesis'
auth checks send requests without it, or with a bad one, and expect a 401.
The exit code is schemathesis's: 0 means no check failed. tests/schemathesis.toml
says which answers a JSON Schema cannot predict, and why.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import httpx

from app.auth.tokens import AccessTokens
from app.core.config import PROJECT_ROOT
from tests.processes import free_port, run_app, stop, wait_until_serving

CONFIG = PROJECT_ROOT / "tests" / "schemathesis.toml"
FUZZ_SECRET_KEY = "the-fuzzed-servers-own-signing-key-long-enough"
MODES = ("open", "required")


def schemathesis_command(base_url: str, *options: str) -> list[str]:
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    return [
        executable,
        "--config-file",
        str(CONFIG),
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


def fuzz(
    database_url: str | None, *options: str, auth: str = "open", capture: bool = False
) -> subprocess.CompletedProcess:
    """Serve the API on `database_url` (or a throwaway embedded PostgreSQL) with AUTH=`auth`, and fuzz it."""
    with tempfile.TemporaryDirectory(prefix="portfolio-fuzz-") as scratch:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {
            "DATABASE_URL": database_url or "",
            "EMBEDDED_DATA_DIR": str(Path(scratch) / "pgdata"),
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
                    schemathesis_command(base_url, *options), cwd=scratch, capture_output=capture, text=True
                )
            finally:
                stop(app)
            log.seek(0)
            if "Traceback" in (app_log := log.read()):
                # A 500 is also a schemathesis failure; the traceback says where.
                print(app_log, file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=int, default=180, help="seconds for the whole run (default 180)")
    parser.add_argument("--auth", choices=[*MODES, "both"], default="both", help="AUTH mode(s) to fuzz (default both)")
    parser.add_argument("--database-url", help="fuzz against this database instead of a throwaway one")
    parser.add_argument("extra", nargs="*", help="more schemathesis options, after --")
    arguments = parser.parse_args(argv)
    modes = MODES if arguments.auth == "both" else (arguments.auth,)
    seconds = str(max(1, arguments.max_time // len(modes)))
    for mode in modes:
        print(f"--- AUTH={mode}", flush=True)
        result = fuzz(arguments.database_url, "--max-time", seconds, *arguments.extra, auth=mode)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
