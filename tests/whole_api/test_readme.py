"""The README's examples run top to bottom against a fresh `make run`, each answering the status it shows.

The README's convention: in a ```bash block, every curl command ends with a
comment whose first word is the HTTP status it answers (`# 201`, `# 204,
empty body`). A command may go on over lines ending in a backslash; what it
pipes into (`| grep ...`) is for the reader, and the test runs the curl alone.

To recapture the README's answers after a change, from a fresh server:
`.venv/bin/python -m tests.whole_api.test_readme` prints every command with its answer.
"""

import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.core.config import PROJECT_ROOT
from tests.processes import free_port, run_app, stop, wait_until_serving

README = PROJECT_ROOT / "README.md"
README_ADDRESS = "localhost:8000"


@dataclass(frozen=True)
class Example:
    line: int
    command: str  # the curl command alone, continuation lines joined, without comment or pipe
    status: int | None  # None: the README states none


def _first_unquoted(text: str, wanted: str) -> int:
    """Where the first of `wanted` stands outside shell quotes ('#' only at a word's start); -1 if nowhere."""
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in wanted and (char != "#" or index == 0 or text[index - 1].isspace()):
            return index
    return -1


def readme_examples(text: str) -> list[Example]:
    """Every curl command in the README's ```bash blocks, in order, with the status its comment states."""
    examples: list[Example] = []
    fence: str | None = None
    joined, first_line = "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
            continue
        if fence != "bash":
            continue
        if not joined:
            first_line = number
        if line.rstrip().endswith("\\"):
            joined += line.rstrip()[:-1] + " "
            continue
        joined, line = "", joined + line
        if not line.lstrip().startswith("curl "):
            continue
        comment_at = _first_unquoted(line, "#")
        comment = line[comment_at + 1 :].strip() if comment_at >= 0 else ""
        command = line[:comment_at] if comment_at >= 0 else line
        pipe_at = _first_unquoted(command, "|")
        command = (command[:pipe_at] if pipe_at >= 0 else command).strip()
        status = re.match(r"(\d{3})\b", comment)
        examples.append(Example(first_line, command, int(status.group(1)) if status else None))
    return examples


def run_example(example: Example, base_address: str, *extra_curl_arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the example's curl against `base_address` (host:port) instead of localhost:8000."""
    arguments = [argument.replace(README_ADDRESS, base_address) for argument in shlex.split(example.command)]
    assert arguments[0] == "curl"
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "10", *extra_curl_arguments, *arguments[1:]],
        capture_output=True,
        text=True,
        timeout=20,
        cwd=PROJECT_ROOT,  # where a reader runs them: `@docs/examples/AAPL.csv` is relative to it
    )


@contextmanager
def fresh_server() -> Iterator[str]:
    """`python -m app` as `make run` starts it, on an embedded PostgreSQL of its own; yields host:port."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="portfolio-readme-") as scratch:
        env = {
            "DATABASE_URL": "",
            "EMBEDDED_DATA_DIR": str(Path(scratch) / "pgdata"),
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        process = run_app(env)
        try:
            wait_until_serving(f"http://127.0.0.1:{port}", process)
            yield f"127.0.0.1:{port}"
        finally:
            stop(process)


def test_every_curl_in_the_readme_states_the_status_it_answers() -> None:
    examples = readme_examples(README.read_text(encoding="utf-8"))
    assert len(examples) > 20
    unstated = [f"README.md:{example.line}: {example.command}" for example in examples if example.status is None]
    assert not unstated, "no status comment:\n" + "\n".join(unstated)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's examples are curl commands")
def test_the_readme_examples_run_top_to_bottom_on_a_fresh_server_with_the_statuses_shown() -> None:
    examples = readme_examples(README.read_text(encoding="utf-8"))
    mismatches = []
    with fresh_server() as address:
        for example in examples:
            result = run_example(example, address, "--write-out", "\n%{http_code}")
            assert result.returncode == 0, f"README.md:{example.line}: {example.command}\n{result.stderr}"
            body, status = result.stdout.rsplit("\n", 1)
            if int(status) != example.status:
                where = f"README.md:{example.line}: {example.command}"
                mismatches.append(f"{where}\n    shows {example.status}, answered {status}: {body[:300]}")
    assert not mismatches, "\n".join(mismatches)


def test_the_bench_results_kept_are_the_runs_the_readme_cites_and_nothing_kept_is_ignored() -> None:
    """bench/results/*.json stays on the machine that ran it, but for the runs the README quotes (.gitignore)."""

    def git_files(*options: str) -> list[str]:
        listed = subprocess.run(["git", "ls-files", *options], cwd=PROJECT_ROOT, capture_output=True, text=True)
        if listed.returncode != 0:
            pytest.skip("not a git checkout")
        return listed.stdout.split()

    kept = {Path(path).name for path in git_files("bench/results")}
    cited = set(re.findall(r"\b\d{8}-\d{6}(?:-large)?-w\d+\.json\b", README.read_text(encoding="utf-8")))
    assert kept == cited
    assert git_files("--cached", "--ignored", "--exclude-standard") == []


def main() -> None:
    """Print every README example with its answer from a fresh server, for recapturing the README."""
    examples = readme_examples(README.read_text(encoding="utf-8"))
    with fresh_server() as address:
        for example in examples:
            answer = run_example(example, address, "--include").stdout
            print(f"### README.md:{example.line} (shows {example.status})\n$ {example.command}\n{answer}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
