"""The README's and the tutorial's examples run top to bottom on a fresh `make run`, answering what they show.

The pages' convention, which a writer follows and this module checks:

- In a ```bash block, every curl command ends with a comment whose first word
  is the HTTP status it answers (`# 201`, `# 204, empty body`). A command may
  go on over lines ending in a backslash; what it pipes into (`| grep ...`)
  is for the reader, and the test runs the curl alone.
- A ```json block right after a ```bash block (nothing but blank lines
  between) is the body that block's *last* curl answers, and the replay
  compares it as JSON: the same keys, the same values, in the same order in
  lists. Two things are not compared: the values of timestamps (keys ending
  in `_ts` or `_at`) and of tokens (`access_token`, `refresh_token`), which
  differ every run, only that they are there; and any value the page writes
  as the string "...", which matches anything (for what the page chooses not
  to show). Ids are compared: every page starts from an empty database.
- Commands that carry one answer into the next (tokens) are ```console
  blocks, for the reader only; their flows are tested elsewhere.
- The README's one ```sh block is a script a reader runs whole (a personal
  access token and an Idempotency-Key, issue 21's proof): the replay leaves
  it alone, and a test of its own runs it with bash on a fresh server.

Each page replays on a fresh server of its own (`python -m app` as `make run`
starts it, on an empty embedded PostgreSQL), so its ids start at 1.

When answers change on purpose (a new field, a new error format), recapture
the pages from fresh servers: `.venv/bin/python -m tests.whole_api.test_readme`
prints every command with its answer, and with `--rewrite` it replaces each
expected body that no longer matches with the answer received, in place.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.core.config import PROJECT_ROOT
from tests.processes import free_port, run_app, stop, wait_until_serving

README = PROJECT_ROOT / "README.md"
TUTORIAL = PROJECT_ROOT / "docs" / "tutorial"
README_ADDRESS = "localhost:8000"

# Values that differ from one run to the next: compared for presence and type, never for value.
VARYING_KEYS = re.compile(r".*(_ts|_at)$|access_token|refresh_token")
ANYTHING = "..."


def replayed_pages() -> list[Path]:
    """The README and every tutorial page (each replays on a server of its own, so their order does not matter)."""
    return [README, *sorted(TUTORIAL.glob("*.md"))]


def page_name(page: Path) -> str:
    return str(page.relative_to(PROJECT_ROOT))


@dataclass(frozen=True)
class Example:
    page: Path
    line: int
    command: str  # the curl command alone, continuation lines joined, without comment or pipe
    status: int | None  # None: the page states none
    body: str | None = None  # the ```json block after the command's block, if it is the block's last curl
    body_lines: tuple[int, int] | None = None  # the json block's first and last content lines (1-based)

    @property
    def where(self) -> str:
        return f"{page_name(self.page)}:{self.line}"


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


@dataclass
class _Block:
    language: str
    first_line: int  # the opening fence's line
    lines: list[str]


def _blocks(text: str) -> list[tuple[_Block, bool]]:
    """Every fenced block, with whether only blank lines separate it from the block before it."""
    blocks: list[tuple[_Block, bool]] = []
    current: _Block | None = None
    only_blank_since_last = False
    for number, line in enumerate(text.splitlines(), start=1):
        if current is None and line.startswith("```"):
            current = _Block(line[3:].strip(), number, [])
        elif current is not None and line.startswith("```"):
            blocks.append((current, only_blank_since_last))
            current, only_blank_since_last = None, True
        elif current is not None:
            current.lines.append(line)
        elif line.strip():
            only_blank_since_last = False
    return blocks


def _curls(block: _Block, page: Path) -> list[Example]:
    examples: list[Example] = []
    joined, first_line = "", 0
    for number, line in enumerate(block.lines, start=block.first_line + 1):
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
        examples.append(Example(page, first_line, command, int(status.group(1)) if status else None))
    return examples


def page_examples(page: Path, text: str | None = None) -> list[Example]:
    """Every curl command in the page's ```bash blocks, in order, with its status and any body shown after it."""
    blocks = _blocks(page.read_text(encoding="utf-8") if text is None else text)
    examples: list[Example] = []
    for index, (block, _) in enumerate(blocks):
        if block.language != "bash":
            continue
        curls = _curls(block, page)
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if curls and following is not None and following[0].language == "json" and following[1]:
            json_block = following[0]
            last = curls[-1]
            span = (json_block.first_line + 1, json_block.first_line + len(json_block.lines))
            curls[-1] = Example(last.page, last.line, last.command, last.status, "\n".join(json_block.lines), span)
        examples.extend(curls)
    return examples


def orphan_json_blocks(page: Path) -> list[int]:
    """Lines of ```json blocks that do not follow a block of curls: a body the replay would silently skip."""
    blocks = _blocks(page.read_text(encoding="utf-8"))
    orphans = []
    for index, (block, right_after) in enumerate(blocks):
        if block.language != "json":
            continue
        before = blocks[index - 1][0] if index > 0 else None
        if not (right_after and before is not None and before.language == "bash" and _curls(before, page)):
            orphans.append(block.first_line)
    return orphans


def differences(shown: Any, answered: Any, path: str = "") -> list[str]:
    """Where `answered` differs from the body the page shows, by the convention above; [] when it matches."""
    if shown == ANYTHING:
        return []
    if isinstance(shown, dict) and isinstance(answered, dict):
        found = []
        if list(shown) != list(answered):
            found.append(f"{path or 'body'}: keys {list(shown)} shown, {list(answered)} answered")
        for key in shown.keys() & answered.keys():
            if VARYING_KEYS.fullmatch(key) and shown[key] is not None:
                if type(shown[key]) is not type(answered[key]):
                    found.append(f"{path}.{key}: {shown[key]!r} shown, {answered[key]!r} answered")
                continue
            found += differences(shown[key], answered[key], f"{path}.{key}")
        return found
    if isinstance(shown, list) and isinstance(answered, list):
        if len(shown) != len(answered):
            return [f"{path or 'body'}: {len(shown)} items shown, {len(answered)} answered"]
        pairs = enumerate(zip(shown, answered, strict=True))
        return [found for index, (one, other) in pairs for found in differences(one, other, f"{path}[{index}]")]
    if type(shown) is not type(answered) or shown != answered:
        return [f"{path or 'body'}: {shown!r} shown, {answered!r} answered"]
    return []


def parse_body(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)  # 175.5 stays 175.5: money compares exactly


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


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


def replay(examples: list[Example]) -> Iterator[tuple[Example, Answer]]:
    with fresh_server() as address:
        for example in examples:
            result = run_example(example, address, "--write-out", "\n%{http_code}")
            assert result.returncode == 0, f"{example.where}: {example.command}\n{result.stderr}"
            body, status = result.stdout.rsplit("\n", 1)
            yield example, Answer(int(status), body)


def mismatch(example: Example, answer: Answer) -> str | None:
    """What is wrong with `answer` against what the page shows for `example`, or None."""
    if answer.status != example.status:
        return f"shows {example.status}, answered {answer.status}: {answer.body[:300]}"
    if example.body is None:
        return None
    try:
        found = differences(parse_body(example.body), parse_body(answer.body))
    except json.JSONDecodeError as error:
        return f"the body shown or answered is not JSON ({error}): {answer.body[:300]}"
    return "; ".join(found) + f"\n    answered: {answer.body[:500]}" if found else None


def test_the_replay_compares_bodies_by_the_pages_convention() -> None:
    shown = parse_body('{"id":1,"price":175.5,"signup_ts":"2026-11-25T23:47Z","stocks":[{"name":"..."}],"email":null}')
    same = parse_body('{"id":1,"price":175.50,"signup_ts":"2030-01-01T00:00Z","stocks":[{"name":"AAPL"}],"email":null}')
    assert differences(shown, same) == []
    assert differences(shown, {**same, "id": 2}) == [".id: 1 shown, 2 answered"]
    assert differences(shown, {**same, "price": Decimal("175.51")})
    assert differences(shown, {**same, "signup_ts": None})  # a timestamp's value varies; its presence does not
    assert differences(shown, {**same, "is_admin": False})  # a new field is a difference
    assert differences(shown, {**same, "stocks": []})
    assert differences({"a": 1}, {"a": True})  # JSON's types: 1 is not true


@pytest.mark.parametrize("page", replayed_pages(), ids=page_name)
def test_every_curl_states_its_status_and_every_body_shown_belongs_to_a_curl(page: Path) -> None:
    examples = page_examples(page)
    unstated = [f"{example.where}: {example.command}" for example in examples if example.status is None]
    assert not unstated, "no status comment:\n" + "\n".join(unstated)
    assert orphan_json_blocks(page) == [], f"{page_name(page)}: ```json blocks not right after a block of curls"
    for example in examples:
        if example.body is not None:
            parse_body(example.body)  # a body shown must be JSON the replay can compare


def test_the_readme_and_the_tutorial_show_answers() -> None:
    readme = page_examples(README)
    assert len(readme) >= 5 and sum(example.body is not None for example in readme) >= 3
    tutorial = [example for page in replayed_pages()[1:] for example in page_examples(page)]
    assert len(tutorial) > 30 and sum(example.body is not None for example in tutorial) >= 10


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the pages' examples are curl commands")
@pytest.mark.parametrize("page", [page for page in replayed_pages() if page_examples(page)], ids=page_name)
def test_the_examples_run_top_to_bottom_on_a_fresh_server_answering_what_the_page_shows(page: Path) -> None:
    mismatches = []
    for example, answer in replay(page_examples(page)):
        if (wrong := mismatch(example, answer)) is not None:
            mismatches.append(f"{example.where}: {example.command}\n    {wrong}")
    assert not mismatches, "\n".join(mismatches)


def readme_script() -> str:
    """The README's ```sh block, the script run whole: there is exactly one."""
    scripts = [block for block, _ in _blocks(README.read_text(encoding="utf-8")) if block.language == "sh"]
    assert len(scripts) == 1, "the README shows one ```sh script"
    return "\n".join(scripts[0].lines) + "\n"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="a bash script of curls")
def test_the_readme_script_creates_with_a_personal_token_and_its_retry_is_replayed() -> None:
    """Sign up, sign in, create a token, and with the token alone: one stock, whatever the retries."""
    script = readme_script()
    assert "Idempotency-Key" in script and "/users/me/tokens" in script
    with fresh_server() as address:
        ran = subprocess.run(
            ["bash", "-c", script.replace(README_ADDRESS, address)],
            capture_output=True,
            text=True,
            timeout=60,
            # python3 as the reader has it; the tests' own first, should the machine have none on PATH
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = [line.strip() for line in ran.stdout.splitlines() if line.strip()]
    status_lines = [index for index, line in enumerate(lines) if line.startswith("HTTP/")]
    assert [lines[index].split(" ", 2)[1] for index in status_lines] == ["201", "201"], ran.stdout
    replay_header = [index for index, line in enumerate(lines) if line.lower() == "idempotent-replayed: true"]
    assert replay_header == [status_lines[1] + 1], ran.stdout  # on the retry's answer alone
    created, replayed = (json.loads(line) for line in lines if line.startswith("{"))
    assert replayed == created  # the same id, the same timestamps: the first answer again
    listed = json.loads(lines[-1])
    assert [stock["id"] for stock in listed] == [created["id"]]  # the retry created nothing


def _cited_bench_runs() -> set[str]:
    pages = [README, *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    return set(re.findall(r"\b\d{8}-\d{6}(?:-large)?-w\d+\.json\b", text))


def test_the_bench_results_kept_are_the_runs_the_docs_cite_and_nothing_kept_is_ignored() -> None:
    """bench/results/*.json stays on the machine that ran it, but for the runs the docs quote (.gitignore)."""

    def git_files(*options: str) -> list[str]:
        listed = subprocess.run(["git", "ls-files", *options], cwd=PROJECT_ROOT, capture_output=True, text=True)
        if listed.returncode != 0:
            pytest.skip("not a git checkout")
        return listed.stdout.split()

    kept = {Path(path).name for path in git_files("bench/results")}
    assert kept == _cited_bench_runs()
    assert git_files("--cached", "--ignored", "--exclude-standard") == []


def _rewrite(page: Path, answered: list[tuple[Example, Answer]]) -> int:
    """Replace each body shown that no longer matches with the one answered; the count replaced."""
    lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
    replaced = 0
    for example, answer in reversed(answered):  # from the bottom, so earlier line numbers hold
        if example.body_lines is None or mismatch(example, answer) is None or answer.status != example.status:
            continue
        first, last = example.body_lines
        lines[first - 1 : last] = [answer.body + "\n"]
        replaced += 1
    page.write_text("".join(lines), encoding="utf-8")
    return replaced


def main(arguments: list[str]) -> None:
    """Print every example with its answer from a fresh server; `--rewrite` also updates the bodies shown."""
    for page in replayed_pages():
        examples = page_examples(page)
        if not examples:
            continue
        answered = list(replay(examples))
        for example, answer in answered:
            print(f"### {example.where} (shows {example.status}, answered {answer.status})\n$ {example.command}")
            print(f"{answer.body}\n")
        if "--rewrite" in arguments:
            print(f"### {page_name(page)}: {_rewrite(page, answered)} bodies rewritten\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
