"""The deploy files run as the platforms run them, and forwarded headers are believed only from TRUSTED_PROXIES."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no types; schemathesis brings it

from app.core.config import PROJECT_ROOT
from tests.processes import STARTUP_GUARD_SECONDS, free_port, run_app, stop, wait_until_serving
from tests.scratch import scratch_database

# What a platform's dashboard would set besides PORT and DATABASE_URL (docs/how-to/deploy.md).
PLATFORM_ENVIRONMENT = {"TRUSTED_PROXIES": "private", "WORKERS": "1"}
SECRETS = {"SECRET_KEY": "a-test-key-that-is-long-enough-for-hs256-0123456789"}


def _procfile() -> dict[str, str]:
    processes = {}
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        if line.strip():
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


def test_the_procfile_migrates_on_release_and_serves_on_port_without_migrating() -> None:
    assert _procfile() == {
        "release": "python -m app migrate",
        "web": "python -m app serve --no-migrate --host 0.0.0.0 --port $PORT",
    }


def test_the_render_blueprint_runs_the_procfiles_commands_and_checks_readiness() -> None:
    blueprint = yaml.safe_load((PROJECT_ROOT / "render.yaml").read_text())
    [web] = blueprint["services"]
    [database] = blueprint["databases"]
    procfile = _procfile()
    assert web["preDeployCommand"] == procfile["release"]
    assert web["startCommand"] == procfile["web"]
    assert web["healthCheckPath"] == "/health/ready"
    variables = {variable["key"]: variable for variable in web["envVars"]}
    assert variables["DATABASE_URL"]["fromDatabase"] == {"name": database["name"], "property": "connectionString"}
    assert {key: variables[key]["value"] for key in PLATFORM_ENVIRONMENT} == PLATFORM_ENVIRONMENT
    assert {key: variables[key] for key in SECRETS} == {key: {"key": key, "generateValue": True} for key in SECRETS}


def _honcho(process_name: str, environment: dict[str, str], port: int, empty_env_file: Path) -> subprocess.Popen:
    """`honcho start NAME` on our Procfile, as Heroku's and Railway's runners start a process type."""
    honcho = Path(sys.executable).parent / "honcho"
    return subprocess.Popen(
        # -e: an empty env file, so a developer's .env is not read by honcho as well as by the app.
        [str(honcho), "-f", "Procfile", "-d", ".", "-e", str(empty_env_file), "start", "-p", str(port), process_name],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that stopping it stops the shell and the app under it too
    )


@pytest.mark.slow
def test_the_procfiles_web_serves_and_its_release_makes_it_ready(database_url: str, tmp_path: Path) -> None:
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with scratch_database(database_url, "portfolio_deployed") as url:
        environment = {
            **os.environ,
            # `python` in the Procfile is the platform's; here, ours.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "DATABASE_URL": url,
            **PLATFORM_ENVIRONMENT,
            **SECRETS,
        }
        web = _honcho("web", environment, port, empty_env_file)
        try:
            wait_until_serving(base_url, web)
            assert httpx.get(base_url + "/health/live").json() == {"status": "alive"}
            # web does not migrate: until release has run, the instance is not ready.
            not_ready = httpx.get(base_url + "/health/ready")
            assert (not_ready.status_code, not_ready.json()["database"]) == (503, "connected")

            release = _honcho("release", environment, free_port(), empty_env_file)
            output, _ = release.communicate(timeout=STARTUP_GUARD_SECONDS)
            assert release.returncode == 0, output
            assert "Running upgrade  -> 0001" in output

            assert httpx.get(base_url + "/health/ready").status_code == 200
            assert httpx.get(base_url + "/openapi.json").json()["info"]["title"] == "Portfolio API"
        finally:
            os.killpg(web.pid, signal.SIGTERM)
            output, _ = web.communicate(timeout=STARTUP_GUARD_SECONDS)
        assert "Uvicorn running on http://0.0.0.0:" in output, output
        assert "Stopped by SIGTERM" in output, output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("trusted_proxies", "client"),
    [
        ("", None),  # the default: nobody, loopback included
        ("10.0.0.0/8", None),  # a proxy elsewhere; we connect from loopback
        ("127.0.0.1", "203.0.113.7"),
        ("private", "203.0.113.7"),
        ("*", "198.51.100.66"),  # the leftmost address, which the client wrote itself
    ],
)
def test_forwarded_headers_are_believed_only_from_trusted_proxies(
    database_url: str, trusted_proxies: str, client: str | None
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = run_app(
        {
            "DATABASE_URL": database_url,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "TRUSTED_PROXIES": trusted_proxies,
            **SECRETS,  # behind a proxy, accounts are required and need a shared key
            # uvicorn's own switch; ignored, since TRUSTED_PROXIES is the one setting.
            "FORWARDED_ALLOW_IPS": "*",
            "ACCESS_LOG": "true",
        },
        "serve",
        "--no-migrate",
    )
    try:
        wait_until_serving(base_url, process)
        # A redirect's Location is built from the request's scheme and host.
        response = httpx.post(
            base_url + "/users",
            # What a proxy sends on when a client forged the first address: it appends the real one.
            headers={"X-Forwarded-For": "198.51.100.66, 203.0.113.7", "X-Forwarded-Proto": "https"},
            follow_redirects=False,
        )
    finally:
        output = stop(process)
    assert response.status_code == 307
    scheme = "http" if client is None else "https"
    assert response.headers["location"] == f"{scheme}://127.0.0.1:{port}/users/"
    for address in ("198.51.100.66", "203.0.113.7"):
        assert (address in output) is (address == client), output
