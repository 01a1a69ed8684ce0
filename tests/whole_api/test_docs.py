"""The documentation site (docs/, mkdocs.yml) cannot drift from the code: every setting, every operation, every page.

`make docs-build` (mkdocs build --strict, in CI) fails on a broken link, a
missing page or a page outside the nav; these tests hold what mkdocs cannot
know: that the reference tables name everything the code has. The pages'
examples are replayed by tests/whole_api/test_readme.py.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.core.config import PROJECT_ROOT, Settings
from app.main import create_app

DOCS = PROJECT_ROOT / "docs"
SETTINGS_PAGE = DOCS / "reference" / "settings.md"
ENDPOINTS_PAGE = DOCS / "reference" / "endpoints.md"
# Read by the tests alone (tests/conftest.py), not by Settings: documented, since `make test` reads it.
SETTINGS_OUTSIDE_THE_CLASS = {"TEST_DATABASE_URL"}


def _table_rows(page: Path, header: str) -> dict[str, str]:
    """The table whose header row starts with `header`: each row's first cell's code span, to the row's text."""
    rows: dict[str, str] = {}
    lines = iter(page.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.startswith(header):
            break
    for line in lines:
        if not line.startswith("|"):
            break
        found = re.match(r"\| `([^`]+)` \|", line)
        if found:
            rows[found.group(1)] = line
    assert rows, f"{page}: no table headed {header!r}"
    return rows


def _shown(default: Any) -> str | None:
    """A default as the settings table writes it, for the defaults a table can state plainly; None otherwise."""
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float):
        return f"{default:g}"
    if isinstance(default, int | str):
        return str(default)
    return None


def test_every_setting_is_in_the_settings_reference_with_its_default() -> None:
    rows = _table_rows(SETTINGS_PAGE, "| variable |")
    names = {name.upper() for name in Settings.model_fields}
    assert names - rows.keys() == set(), "settings missing from docs/reference/settings.md"
    assert rows.keys() - names - SETTINGS_OUTSIDE_THE_CLASS == set(), "rows naming no setting"
    for name, field in Settings.model_fields.items():
        shown = _shown(field.default)
        if shown is not None:
            default_cell = rows[name.upper()].split("|")[2]
            assert f"`{shown}`" in default_cell, f"{name.upper()}: the default is {shown}, the page says {default_cell}"


def test_every_operation_in_the_openapi_is_in_the_endpoints_reference() -> None:
    documented = set(_table_rows(ENDPOINTS_PAGE, "| operation |"))
    operations = {
        f"{method.upper()} {path}" for path, item in create_app().openapi()["paths"].items() for method in item
    }
    assert operations - documented == set(), "operations missing from docs/reference/endpoints.md"
    undocumented_extra = documented - operations - {"GET /metrics"}
    assert undocumented_extra == set(), "rows naming no operation (GET /metrics is left out of the OpenAPI on purpose)"


def _nav_pages() -> list[str]:
    """The pages mkdocs.yml's nav names (the last key of the file: every `x.md` after `nav:`)."""
    config = (PROJECT_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return re.findall(r"[\w/.-]+\.md\b", config[config.index("\nnav:") :])


def test_every_page_is_in_the_nav_once_and_every_nav_entry_is_a_page() -> None:
    nav = _nav_pages()
    pages = sorted(str(page.relative_to(DOCS)) for page in DOCS.rglob("*.md"))
    assert sorted(nav) == pages


def test_the_docs_requirements_are_pinned_and_apart_from_the_apps() -> None:
    pins = (DOCS / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^mkdocs-material==\S+", pins, re.MULTILINE)
    assert "mkdocs" not in (PROJECT_ROOT / "requirements.txt").read_text(encoding="utf-8")


def _mkdocs() -> str | None:
    """mkdocs beside the running Python (make docs-build installs it into .venv), or on PATH."""
    beside = Path(sys.executable).with_name("mkdocs")
    return str(beside) if beside.exists() else shutil.which("mkdocs")


@pytest.mark.slow
def test_the_built_site_fetches_nothing_from_elsewhere(tmp_path: Path) -> None:
    """Scripts, styles, fonts and images all come from the site itself; links to other sites may stay links."""
    mkdocs = _mkdocs()
    if mkdocs is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed: .ci/run runs make docs-build, which installs it, before make test")
        pytest.skip("mkdocs is not installed: make docs-build installs it (docs/requirements.txt)")
    built = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stderr
    fetched_elsewhere = re.compile(
        r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"']?(?:https?:)?//"
        r"|<link\b[^>]*\bhref=[\"']?(?:https?:)?//[^>]*>"
        r"|@import\s+url\([\"']?(?:https?:)?//"
        r"|url\([\"']?(?:https?:)?//",
        re.IGNORECASE,
    )
    offenders = []
    for page in (tmp_path / "site").rglob("*"):
        if page.suffix in {".html", ".css"}:
            for match in fetched_elsewhere.finditer(page.read_text(encoding="utf-8", errors="replace")):
                offenders.append(f"{page.relative_to(tmp_path)}: {match.group(0)[:120]}")
    assert offenders == []
    assert (tmp_path / "site" / "search" / "search_index.js").exists(), "the offline plugin's search index"


def test_no_page_draws_a_mermaid_diagram() -> None:
    """mkdocs.yml leaves mermaid's script on unpkg.com (the theme loads it only for a diagram): none, so none loads."""
    pages = [page for page in DOCS.rglob("*.md") if "```mermaid" in page.read_text(encoding="utf-8")]
    assert pages == []


def test_the_readme_is_a_front_door_under_12_kb_whose_test_command_ci_runs() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 12_000
    assert "make test" in readme and "\nmake test\n" in (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
