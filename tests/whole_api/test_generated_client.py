"""A client generated from the OpenAPI, as a client developer would make one, works against both AUTH modes.

openapi-python-client generates `portfolio_client` from the document the app
serves (one document for both modes: test_openapi_promises.py); mypy checks
client_flow.py against it, strictly and with no explicit `Any`, so a field the
document types wrongly (optional where always present, a string where a
number) breaks the build here; then the flow runs against `python -m app` in
each mode: sign-up, sign-in, a personal access token doing the stock work,
an `Idempotency-Key` replayed, paging by `Link`, `If-Match`, a read-only and a
revoked token refused, and each error told apart by its problem's `code`.
One server per mode.
"""

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import empty_every_table
from tests.processes import free_port, run_app, stop, wait_until_serving
from tests.tools.write_openapi import MODES, Auth, openapi_document

# Each test here generates code and starts processes: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

FLOW = Path(__file__).with_name("client_flow.py")
PACKAGE = "portfolio_client"
SECRET_KEY = "the-generated-clients-servers-own-signing-key"


def _tool(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


@pytest.fixture(scope="module")
def generated() -> Iterator[Path]:
    """A directory holding `portfolio_client`, generated from the app's OpenAPI, and the flow beside it."""
    with tempfile.TemporaryDirectory(prefix="portfolio-client-") as scratch:
        directory = Path(scratch)
        spec = directory / "openapi.json"
        # Either mode's: they are one document (test_openapi_promises.py), and one client serves both.
        spec.write_text(json.dumps(openapi_document("required")))
        result = subprocess.run(
            [_tool("openapi-python-client"), "generate", "--path", str(spec), "--meta", "none",
             "--output-path", str(directory / PACKAGE)],
            cwd=directory, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        shutil.copy(FLOW, directory / FLOW.name)
        yield directory


def test_the_generated_client_warns_only_of_the_csv_import(generated: Path) -> None:
    # The one operation it cannot generate: a text/csv body (POST /prices/import), which it does not support.
    assert (generated / PACKAGE / "api" / "stocks" / "read_stocks.py").exists()
    assert not (generated / PACKAGE / "api" / "prices" / "import_prices.py").exists()


def test_the_flow_type_checks_against_the_generated_client(generated: Path) -> None:
    # Strict everywhere; no explicit `Any` in the flow (the generated code's own `dict[str, Any]` is its business).
    (generated / "mypy.ini").write_text(
        "[mypy]\nstrict = True\ndisallow_any_explicit = True\n"
        "[mypy-portfolio_client.*]\ndisallow_any_explicit = False\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", ".mypy_cache", FLOW.name],
        cwd=generated, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("auth", MODES)
def test_the_flow_runs_against_the_api(generated: Path, database_url: str, auth: Auth) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": database_url, "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warning",
           "AUTH": auth, "SECRET_KEY": SECRET_KEY}  # fmt: skip
    with tempfile.TemporaryFile("w+") as log:
        server = run_app(env, output=log)
        try:
            wait_until_serving(base_url, server)
            flow = subprocess.run(
                [sys.executable, FLOW.name, base_url, f"generated-{auth}@example.com"],
                cwd=generated, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        finally:
            stop(server)
            empty_every_table(database_url)  # the server committed for real
        log.seek(0)
        assert flow.returncode == 0, flow.stdout + flow.stderr + log.read()
    assert "ok: branch_on_errors" in flow.stdout
