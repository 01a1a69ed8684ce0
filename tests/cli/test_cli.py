"""The command line's surface: --help for each command, ranges and unknown names refused with 2, what make types.

Nothing here reaches a database: a usage error, like --help, ends the command
while its arguments are read, before settings or PostgreSQL. The commands'
work is tested where it lives (test_make_run.py, test_demo.py, test_admin.py and
test_serve.py beside this file; backup and restore in tests/ops/test_migrate_and_backup.py).
"""

import os
import re
import shlex
import subprocess
import sys

import pytest
from typer.testing import CliRunner, Result

from app.cli import cli
from app.core.config import PROJECT_ROOT

# Each command with what its --help must name: its options and arguments.
COMMANDS = {
    "serve": ["--no-migrate", "--host", "--port"],
    "migrate": [],
    "revision": ["MESSAGE"],
    "demo": ["--users", "--stocks-per-user", "--force", "--seed"],
    "backup": ["FILE"],
    "restore": ["FILE", "--force"],
    "psql": [],
    "reset": ["--yes"],
    "create-admin": ["EMAIL"],
}

# What the Makefile's and Procfile's variables may hold. The *_FLAGS are the forms
# the refusals name (make demo DEMO_FLAGS=--force, ...), so those must work.
MAKE_VARIABLES = {
    "USERS": "100",
    "STOCKS_PER_USER": "5",
    "DEMO_FLAGS": "--force",
    "FILE": "portfolio.dump",
    "RESTORE_FLAGS": "--force",
    "RESET_FLAGS": "--yes",
    "EMAIL": "you@example.com",
    "PORT": "8000",
}


def _invoke(*arguments: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(arguments), env=env, prog_name="python -m app")


def test_the_help_lists_every_command_with_what_it_does() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: python -m app [OPTIONS] COMMAND [ARGS]...")
    listed = re.findall(r"^  ([a-z-]+)  +\S", result.output.split("Commands:")[1], re.MULTILINE)
    assert listed == list(COMMANDS)


@pytest.mark.parametrize(("command", "names"), COMMANDS.items())
def test_each_commands_help_names_its_options(command: str, names: list[str]) -> None:
    for help_option in ("--help", "-h"):
        result = _invoke(command, help_option)
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"Usage: python -m app {command} [OPTIONS]")
        assert all(name in result.output for name in names), result.output


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--users", "0"], "--users"),
        (["--users", "1000001"], "--users"),
        (["--users", "ten"], "--users"),
        (["--stocks-per-user", "-1"], "--stocks-per-user"),
        (["--stocks-per-user", "1001"], "--stocks-per-user"),
    ],
)
def test_a_demo_count_out_of_range_exits_2_naming_the_option(arguments: list[str], option: str) -> None:
    result = _invoke("demo", *arguments)
    assert result.exit_code == 2
    assert f"Error: Invalid value for '{option}'" in result.stderr


def test_an_unknown_command_or_option_exits_2_naming_it() -> None:
    unknown_command = _invoke("serv")
    assert unknown_command.exit_code == 2
    assert "Error: No such command 'serv'" in unknown_command.stderr
    unknown_option = _invoke("serve", "--no-migrations")
    assert unknown_option.exit_code == 2
    assert "Error: No such option: --no-migrations" in unknown_option.stderr


def test_a_bad_setting_exits_2_with_the_one_line_that_names_it() -> None:
    result = _invoke("migrate", env={"HOST": "not a host"})
    assert result.exit_code == 2
    assert result.stderr == (
        "Invalid setting HOST: 'not a host' is neither an IP address nor a host name; try 127.0.0.1 or 0.0.0.0\n"
    )


def _python_m_app_lines() -> list[tuple[str, list[str]]]:
    """Each `python -m app ...` the Makefile and Procfile run: (where, its arguments with sample values)."""
    found = []
    for name in ("Makefile", "Procfile"):
        for number, line in enumerate((PROJECT_ROOT / name).read_text().splitlines(), start=1):
            if "-m app" not in line:
                continue
            arguments = line.split("-m app", 1)[1]
            arguments = re.sub(r"\$\((\w+)\)|\$(\w+)", lambda match: MAKE_VARIABLES[match[1] or match[2]], arguments)
            found.append((f"{name}:{number}", shlex.split(arguments)))
    return found


def test_every_command_line_the_makefile_and_procfile_run_is_one_the_cli_takes() -> None:
    lines = _python_m_app_lines()
    assert len(lines) == 10  # make run, demo, migrate, backup, restore, psql, admin, reset; release, web
    for where, arguments in lines:
        # --help is read first, once every name is known: a misspelt command or option still fails.
        result = _invoke(*arguments, "--help")
        assert result.exit_code == 0, f"{where}: python -m app {shlex.join(arguments)}\n{result.output}"


@pytest.mark.slow  # processes
def test_python_m_app_is_the_same_command_line() -> None:
    def python_m_app(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30
        )

    listed = python_m_app("--help")
    assert listed.returncode == 0, listed.stderr
    assert all(f"  {command}  " in listed.stdout for command in COMMANDS)
    out_of_range = python_m_app("demo", "--users", "0")
    assert out_of_range.returncode == 2
    assert "Error: Invalid value for '--users'" in out_of_range.stderr
    unknown = python_m_app("serv")
    assert (unknown.returncode, "No such command 'serv'" in unknown.stderr) == (2, True)


@pytest.mark.slow  # a process
def test_an_unexpected_error_prints_a_plain_traceback_without_local_variables() -> None:
    # Typer's pretty tracebacks print every frame's locals: the settings, with SECRET_KEY among them.
    crashing = (
        "from app.cli import cli\n"
        "@cli.command()\n"
        "def crash() -> None:\n"
        "    secret = 'not-for-' + 'the-log'\n"
        "    raise RuntimeError('crashed with ' + str(len(secret)) + ' characters')\n"
        "cli(['crash'], prog_name='python -m app')\n"
    )
    environment = {key: value for key, value in os.environ.items() if not key.endswith("_TRACEBACK")}
    result = subprocess.run(
        [sys.executable, "-c", crashing], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.rstrip().endswith("RuntimeError: crashed with 15 characters")
    assert "not-for-the-log" not in result.stderr
