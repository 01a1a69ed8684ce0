"""Fuzz the running API against its own OpenAPI with schemathesis (`make fuzz`).

    python -m tests.fuzz [--max-time SECONDS] [--database-url URL] [-- extra schemathesis options]

Starts `python -m app` on a free loopback port, on a throwaway embedded
PostgreSQL unless given --database-url, and runs every schemathesis check in
every phase (examples, coverage, fuzzing, and the stateful phase, which
follows the OpenAPI links from each 201 through read, update and delete).
The exit code is schemathesis's: 0 means no check failed. tests/schemathesis.toml
says which answers a JSON Schema cannot predict, and why.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from app.config import PROJECT_ROOT
from tests.processes import free_port, run_app, stop, wait_until_serving

CONFIG = PROJECT_ROOT / "tests" / "schemathesis.toml"


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


def fuzz(database_url: str | None, *options: str, capture: bool = False) -> subprocess.CompletedProcess:
    """Serve the API on `database_url` (or a throwaway embedded PostgreSQL) and fuzz it."""
    with tempfile.TemporaryDirectory(prefix="portfolio-fuzz-") as scratch:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {
            "DATABASE_URL": database_url or "",
            "EMBEDDED_DATA_DIR": str(Path(scratch) / "pgdata"),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "warning",
        }
        # The app's log goes to a file: a pipe nobody reads would fill and stall it.
        with open(Path(scratch) / "app.log", "w+") as log:
            app = run_app(env, output=log)
            try:
                wait_until_serving(base_url, app)
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
    parser.add_argument("--database-url", help="fuzz against this database instead of a throwaway one")
    parser.add_argument("extra", nargs="*", help="more schemathesis options, after --")
    arguments = parser.parse_args(argv)
    result = fuzz(arguments.database_url, "--max-time", str(arguments.max_time), *arguments.extra)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
