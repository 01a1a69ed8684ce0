"""The web app in a real Chromium (Debian's `chromium`, driven by Playwright), against `python -m app`.

The server starts as `make run` starts it: `python -m app` with no
DATABASE_URL, so an embedded PostgreSQL (here in a temporary directory) and
AUTH=required. Playwright's own browsers are never downloaded: the tests
launch the system's chromium by its path, with the Playwright release whose
bundled Chromium has the same major version (requirements.txt), and fail
saying so when the two drift apart.

Without chromium these tests are skipped with one line, except in CI (env
CI set), where .ci/run installs it and a missing one is a failure. Each page
is reviewed at 1280 and 375 px (`Tab.review`): axe-core, the accessibility
engine, pinned in tests/tools/package.json (the tests run `npm ci` there
when its node_modules is missing), finds no serious or critical violation,
and the page is photographed into tests/web/screenshots/ (git-ignored). With
UPDATE_SCREENSHOTS=1 (`make screenshots`) the pages the docs show are also
written to docs/images/, so ordinary runs leave those files alone.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    FloatRect,
    Page,
    expect,
    sync_playwright,
)

from app.core.config import PROJECT_ROOT
from tests.helpers import TEST_SECRET_KEY
from tests.processes import STARTUP_GUARD_SECONDS, free_port, run_app, stop, wait_until_serving

SCREENSHOTS = Path(__file__).with_name("screenshots")
WIDTHS = (1280, 375)
# The pages the docs show, by review name, written to docs/images/ at the first width when asked.
DOCS_IMAGES = PROJECT_ROOT / "docs" / "images"
DOCS_PAGES = {
    "portfolio": "web-portfolio.png",
    "portfolio-chart": "web-portfolio-chart.png",
    "ledger": "web-ledger.png",
    "users": "web-users.png",
}
TOOLS = PROJECT_ROOT / "tests" / "tools"
AXE = TOOLS / "node_modules" / "axe-core" / "axe.min.js"
# What fails a page: axe-core's two highest impacts (the other two, moderate and minor, are advice).
AXE_FAILING_IMPACTS = ("serious", "critical")
PASSWORD = "correct horse battery"
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "the operator's long passphrase"
# Debian's /usr/bin/chromium is a shell script that adds flags; Playwright launches the binary itself.
# CHROMIUM names another one (and only that one is tried).
CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser")


def find_chromium() -> str | None:
    candidates = [os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else CHROMIUM_CANDIDATES
    for candidate in candidates:
        found = (
            shutil.which(candidate) if "/" not in candidate else (candidate if os.access(candidate, os.X_OK) else None)
        )
        if found:
            return found
    return None


def chromium_major(executable: str) -> int:
    version = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"(\d+)\.\d+\.\d+\.\d+", version)
    assert found, f"cannot read a version from `{executable} --version`: {version!r}"
    return int(found.group(1))


def bundled_chromium_major() -> tuple[str, int]:
    """Playwright's version and the major version of the Chromium it was released for (its browsers.json)."""
    import playwright

    package = Path(playwright.__file__).parent / "driver" / "package"
    browsers = json.loads((package / "browsers.json").read_text())["browsers"]
    chromium = next(browser for browser in browsers if browser["name"] == "chromium")
    release = json.loads((package / "package.json").read_text())["version"]
    return release, int(chromium["browserVersion"].split(".")[0])


def version_drift(executable: str) -> str | None:
    """Why this chromium and the pinned Playwright do not go together, or None when their majors match."""
    release, expected = bundled_chromium_major()
    installed = chromium_major(executable)
    if installed == expected:
        return None
    return (
        f"{executable} is Chromium {installed}, but Playwright {release} (requirements.txt) drives Chromium "
        f"{expected}: pin the Playwright release whose bundled Chromium is {installed} (its "
        "driver/package/browsers.json says which), or install a matching chromium"
    )


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, whose major version must be the one the pinned Playwright was released for."""
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, and CI must run the browser tests: apt-get install -y chromium")
        pytest.skip("chromium is not installed (apt-get install chromium); browser tests skipped")
    if problem := version_drift(executable):
        pytest.fail(problem)
    return executable


def test_a_chromium_of_another_major_version_is_named_with_the_playwright_to_pin(tmp_path: Path) -> None:
    release, expected = bundled_chromium_major()
    for major, drifted in ((expected, False), (expected + 1, True)):
        fake = tmp_path / f"chromium-{major}"
        fake.write_text(f"#!/bin/sh\necho 'Chromium {major}.0.1234.5 built on Debian GNU/Linux 12 (bookworm)'\n")
        fake.chmod(0o755)
        problem = version_drift(str(fake))
        if not drifted:
            assert problem is None
        else:
            assert problem == (
                f"{fake} is Chromium {major}, but Playwright {release} (requirements.txt) drives Chromium {expected}: "
                f"pin the Playwright release whose bundled Chromium is {major} (its driver/package/browsers.json "
                "says which), or install a matching chromium"
            )


def npm_ci_unless_installed() -> str | None:
    """axe-core's path, after `npm ci` in tests/tools/ if it is not there yet; None when npm is missing."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            return None
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=TOOLS, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"npm ci in {TOOLS} failed:\n{done.stdout}\n{done.stderr}"
    assert AXE.exists(), f"npm ci in {TOOLS} did not install {AXE}"
    return str(AXE)


@pytest.fixture(scope="module")
def axe() -> str:
    """axe-core's script, from tests/tools/package-lock.json; without npm, skipped, except in CI (as chromium)."""
    path = npm_ci_unless_installed()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("npm is not installed, and CI must run axe-core over the pages: apt-get install -y npm")
        pytest.skip("npm is not installed (apt-get install npm), so axe-core is not; browser tests skipped")
    return path


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """`python -m app` as `make run` starts it (embedded PostgreSQL), with AUTH=required and a first admin."""
    # Not pytest's tmp_path: its 0700 parents keep out the user PostgreSQL runs as when we are root.
    with tempfile.TemporaryDirectory(prefix="portfolio-web-") as scratch:
        yield from _serve(Path(scratch) / "postgres")


def _serve(data_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {
        "DATABASE_URL": "",
        "EMBEDDED_DATA_DIR": str(data_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AUTH": "required",
        "SECRET_KEY": TEST_SECRET_KEY,
        "LOG_FORMAT": "text",
    }
    admin = subprocess.run(
        [sys.executable, "-m", "app", "create-admin", ADMIN_EMAIL],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env, "ADMIN_PASSWORD": ADMIN_PASSWORD},
        capture_output=True,
        text=True,
        timeout=STARTUP_GUARD_SECONDS * 2,
    )
    assert admin.returncode == 0, admin.stderr
    process = run_app(env, output=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url, process)
        yield base_url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_context(browser: Browser, axe: str) -> Iterator[Callable[[], BrowserContext]]:
    """Browser contexts whose every page has axe-core loaded, closed after the test.

    An init script, not `add_script_tag`: a tag's inline script is what the pages' CSP
    (script-src 'self') refuses, and turning the CSP off for the tests would hide the
    violations they look for. Init scripts run outside the page's CSP, before its own.
    """
    contexts: list[BrowserContext] = []

    def opened() -> BrowserContext:
        context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
        context.add_init_script(path=axe)
        contexts.append(context)
        return context

    yield opened
    for context in contexts:
        context.close()


def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each, naming the elements."""
    found = page.evaluate(
        """async (impacts) => {
        const results = await window.axe.run(document, {resultTypes: ["violations"]});
        return results.violations.filter(v => impacts.includes(v.impact)).map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
        }));
    }""",
        list(AXE_FAILING_IMPACTS),
    )
    return [f"{v['impact']} {v['id']} ({v['help']}): {', '.join(v['targets'])}" for v in found]


@pytest.mark.slow
def test_axe_finds_a_serious_violation_where_there_is_one(new_context: Callable[[], BrowserContext]) -> None:
    """The review's check can fail: an image without a text alternative and an unlabelled field are named."""
    page = new_context().new_page()
    page.set_content(
        '<html lang="en"><head><title>Not fine</title></head>'
        '<body><main><img src="data:,"><input type="text"></main></body></html>'
    )
    found = axe_violations(page)
    assert [line.split(" (")[0] for line in found] == ["critical image-alt", "critical label"], found
    page.set_content('<html lang="en"><head><title>Fine</title></head><body><main><h1>Fine</h1></main></body></html>')
    assert axe_violations(page) == []


class Tab:
    """One browser page, failing the test on any console error (a CSP violation is one)."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        # A 4xx a page answers on purpose (a field error, a lost race, a wrong password) is logged as a failed load.
        if message.type == "error" and not re.match(r"Failed to load resource: .* status of 4\d\d", text):
            self.errors.append(f"{text} at {message.location}")

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def review(self, name: str) -> None:
        """The page at each width: no wider than the screen, no serious or critical axe-core violation, photographed.

        Into tests/web/screenshots/NAME-WIDTH.png, whole; with UPDATE_SCREENSHOTS=1, a page the docs
        show (DOCS_PAGES) also into docs/images/, at the first width, as a screen shows it.
        """
        SCREENSHOTS.mkdir(exist_ok=True)
        page = self.page
        settled(page)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            # The chart follows a resize a frame or two later; no page may be wider than the screen.
            page.wait_for_function("() => document.documentElement.scrollWidth <= window.innerWidth")
            violations = axe_violations(page)
            assert violations == [], f"axe-core on {name} at {width} px:\n" + "\n".join(violations)
            page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
            if width == WIDTHS[0] and name in DOCS_PAGES and os.environ.get("UPDATE_SCREENSHOTS"):
                DOCS_IMAGES.mkdir(exist_ok=True)
                # The page's top, as it opens, wherever the test has scrolled to.
                top = FloatRect(x=0, y=0, width=width, height=900)
                page.screenshot(path=DOCS_IMAGES / DOCS_PAGES[name], full_page=True, clip=top, animations="disabled")
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def api_token(base_url: str, email: str, password: str) -> str:
    answer = httpx.post(f"{base_url}/auth/token", data={"username": email, "password": password}, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def check_against_the_api(tab: Tab, user_id: int, token: str) -> dict[str, Any]:
    """The page's total and positions are exactly GET /users/{id}/portfolio's."""
    api = httpx.get(
        f"{tab.base_url}/users/{user_id}/portfolio", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    page = tab.page
    total = page.locator(".summary .total")
    expect(total).to_have_attribute("data-total", re.compile(r"[\d.]+"))
    assert Decimal(total.get_attribute("data-total") or "NaN") == Decimal(str(api["total_value"]))
    rows = page.locator("table.positions tbody tr")
    expect(rows).to_have_count(len(api["positions"]))
    for row, position in zip(rows.all(), api["positions"], strict=True):
        cells = row.locator("th, td").all_inner_texts()
        assert cells[0] == position["name"]
        assert int(cells[1].replace(",", "")) == position["quantity"]
        assert Decimal(cells[3].replace(",", "")) == Decimal(str(position["value"]))
    return dict(api)


def chart_state(tab: Tab) -> dict[str, Any] | None:
    """The Chart.js instance on the allocation canvas: its labels, and how many pixels it painted."""
    tab.page.wait_for_function("() => window.Chart.getChart(document.querySelector('canvas.allocation'))")
    return tab.page.evaluate(
        """() => {
        const canvas = document.querySelector('canvas.allocation');
        const chart = canvas && window.Chart.getChart(canvas);
        if (!chart) return null;
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
        return {labels: chart.data.labels, painted};
    }"""
    )


def settled(page: Page) -> None:
    """Wait until htmx has no request out and no swap still settling: the page is still, for typing into."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )


def add_holding(tab: Tab, symbol: str, price: str, quantity: str) -> None:
    page = tab.page
    settled(page)
    page.locator("#add-name").fill(symbol)
    page.locator("#add-price").fill(price)
    page.locator("#add-quantity").fill(quantity)
    page.get_by_role("button", name="Add holding").click()


@pytest.mark.slow
def test_a_person_signs_up_and_manages_a_portfolio(new_context: Callable[[], BrowserContext], server: str) -> None:
    context = new_context()
    tab = Tab(context.new_page(), server)
    page = tab.page

    # A stranger is sent to sign in; from there, to sign up.
    tab.go("/app/")
    expect(page).to_have_url(re.compile(r"/app/sign-in$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    tab.review("sign-in")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create an account")
    tab.review("sign-up")
    page.get_by_label("Name").fill("grace hopper")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#name-error")).to_have_text("Name must start with a capital letter")
    tab.review("sign-up-error")
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper\u2019s portfolio")
    user_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    tab.review("portfolio-empty")

    # Signing out and in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/app/sign-in$"))
    tab.go(f"/app/users/{user_id}")
    expect(page).to_have_url(re.compile(r"/app/sign-in$"))
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="Incorrect email or password")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper\u2019s portfolio")

    # Three holdings, the last from the keyboard alone; totals and chart follow without a reload.
    page.evaluate("window.notReloaded = true")
    add_holding(tab, "AAPL", "175.50", "10")
    expect(page.locator(".notice")).to_have_text("Added AAPL: 10 shares.")
    add_holding(tab, "MSFT", "1234.5678", "7")
    expect(page.locator(".notice")).to_have_text("Added MSFT: 7 shares.")
    settled(page)
    expect(page.locator("#add-name")).to_be_focused()  # after an add, ready for the next
    page.keyboard.type("brk.b")
    page.keyboard.press("Tab")
    page.keyboard.type("412.25")
    page.keyboard.press("Tab")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(page.locator(".notice")).to_have_text("Added BRK.B: 3 shares.")
    assert page.evaluate("window.notReloaded") is True
    token = api_token(server, "grace@example.com", PASSWORD)
    api = check_against_the_api(tab, user_id, token)
    assert Decimal(str(api["total_value"])) == Decimal("11633.7246")
    expect(page.locator(".summary .total")).to_have_text("11,633.7246")  # exact, with separators
    chart = chart_state(tab)
    assert chart is not None, "no Chart.js chart on the allocation canvas"
    assert chart["labels"] == [position["name"] for position in api["positions"]]
    assert chart["painted"] > 1000, "the chart's canvas is blank"
    tab.review("portfolio")

    # A bad price: the API's own message, beside the field; nothing added.
    add_holding(tab, "TSLA", "0", "4")
    expect(page.locator("#add-price-error")).to_have_text("Input should be greater than 0")
    expect(page.locator("#add-price")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".holding")).to_have_count(3)
    tab.review("portfolio-bad-price")

    # Inline edit.
    page.get_by_role("link", name=re.compile(r"^Edit AAPL")).click()
    edit = page.get_by_role("form", name="Edit AAPL")
    expect(edit.get_by_label("Price")).to_be_focused()
    edit.get_by_label("Quantity").fill("12")
    edit.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_have_text("Saved AAPL.")
    expect(page.locator(".notice")).to_be_focused()  # a keyboard user is told, and goes on from there
    check_against_the_api(tab, user_id, token)
    assert chart_state(tab) is not None, "the chart is redrawn after a change"

    # Someone who went into another field while a form was on its way keeps their place: focus stays there.
    page.evaluate(
        """() => document.body.addEventListener(
            "htmx:beforeSwap", () => document.getElementById("add-name").focus(), {once: true})"""
    )
    page.get_by_role("link", name=re.compile(r"^Edit MSFT")).click()
    expect(page.get_by_role("form", name="Edit MSFT")).to_be_visible()
    settled(page)
    expect(page.locator("#add-name")).to_be_focused()
    page.get_by_role("form", name="Edit MSFT").get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("link", name=re.compile(r"^Edit MSFT"))).to_be_visible()

    # A stale edit: a second tab changes MSFT while this one has its form open.
    page.get_by_role("link", name=re.compile(r"^Edit MSFT")).click()
    second = Tab(context.new_page(), server)
    second.go(f"/app/users/{user_id}")
    second.page.get_by_role("link", name=re.compile(r"^Edit MSFT")).click()
    second.page.get_by_role("form", name="Edit MSFT").get_by_label("Price").fill("1300")
    second.page.get_by_role("form", name="Edit MSFT").get_by_role("button", name="Save").click()
    expect(second.page.locator(".notice")).to_have_text("Saved MSFT.")
    edit = page.get_by_role("form", name="Edit MSFT")
    edit.get_by_label("Quantity").fill("5")
    edit.get_by_role("button", name="Save").click()
    conflict = page.locator(".conflict")
    expect(conflict).to_contain_text("Someone changed MSFT since you opened this form: it is now 7 at 1,300.00")
    tab.review("portfolio-conflict")
    conflict.get_by_role("link", name="Reload to see the current values").click()
    expect(page.locator("#holding-" + edit_id(page, "MSFT"))).to_contain_text("1,300.00")
    check_against_the_api(tab, user_id, token)

    # Delete, after a confirmation; dismissing it deletes nothing.
    dialogs: list[str] = []

    def answer(accept: bool) -> Callable[[Dialog], None]:
        def handle(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    page.once("dialog", answer(accept=False))
    page.get_by_role("button", name=re.compile(r"^Delete BRK\.B")).click()
    expect(page.locator(".holding")).to_have_count(3)
    page.once("dialog", answer(accept=True))
    page.get_by_role("button", name=re.compile(r"^Delete BRK\.B")).click()
    expect(page.locator(".notice")).to_have_text("Deleted BRK.B (3 shares).")
    expect(page.locator(".holding")).to_have_count(2)
    assert dialogs == ["Delete BRK.B, 3 shares at 412.25?"] * 2
    check_against_the_api(tab, user_id, token)

    # Headings, labels and the keyboard.
    assert page.get_by_role("heading", level=2).all_inner_texts()[:6] == [
        "Total value",
        "Value over time",
        "Positions",
        "Allocation",
        "Holdings",
        "Add a holding",
    ]
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden])')].filter(i => i.labels.length === 0).length"
    )
    assert unlabelled == 0
    page.reload()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # from the skip link's target, the first control of the page's content
    expect(page.get_by_role("link", name=re.compile(r"^Edit "))).to_have_count(2)
    tab.review("portfolio-after-changes")

    # Signing out ends the login: the pages send to sign-in again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/app/sign-in$"))
    tab.go(f"/app/users/{user_id}")
    expect(page).to_have_url(re.compile(r"/app/sign-in$"))
    assert tab.errors == [] and second.errors == [], tab.errors + second.errors


def edit_id(page: Page, symbol: str) -> str:
    """The stock id of the holding row showing `symbol`."""
    row = page.locator(".holding").filter(has_text=symbol).first
    return str(row.get_attribute("id")).removeprefix("holding-")


@pytest.mark.slow
def test_an_admin_browses_users_and_opens_a_portfolio(new_context: Callable[[], BrowserContext], server: str) -> None:
    context = new_context()
    tab = Tab(context.new_page(), server)
    page = tab.page
    tab.go("/app/sign-in")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    page.get_by_label("Name", exact=True).fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace\u2019s portfolio")
    ada_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    add_holding(tab, "NVDA", "120", "5")
    expect(page.locator(".notice")).to_have_text("Added NVDA: 5 shares.")

    # The list shows each user's holdings, at cost and at the latest closes, and the page's total.
    tab.go("/app/users")
    ada = page.locator(f'.users tr[data-user="{ada_id}"]')
    expect(ada.locator(".holding-count")).to_have_text("1")
    expect(ada.locator(".cost")).to_have_text("600.00")
    expect(ada.locator(".market-value")).to_have_text("600.00")
    rows = page.locator(".users tbody tr")
    shown = [Decimal(text.replace(",", "")) for text in rows.locator(".cost").all_inner_texts()]
    expect(page.locator(".users tfoot .cost")).to_have_text(f"{sum(shown):,.2f}")
    tab.review("users")
    page.get_by_label("Name contains").fill("ada")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    page.get_by_role("link", name="Ada Lovelace").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace\u2019s portfolio")

    # Renaming: the API's rule beside the field, then the new name in the heading, without a reload.
    page.evaluate("window.notReloaded = true")
    rename = page.get_by_role("form", name="Rename Ada Lovelace")
    rename.get_by_label("Name").fill("ada king")
    rename.get_by_role("button", name="Rename").click()
    expect(page.locator("#rename-name-error")).to_have_text("Name must start with a capital letter")
    expect(rename.get_by_label("Name")).to_be_focused()
    tab.review("user-rename-refused")
    rename.get_by_label("Name").fill("Ada King")
    rename.get_by_role("button", name="Rename").click()
    expect(page.locator("#user-account .notice")).to_have_text("Renamed to Ada King.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada King\u2019s portfolio")
    assert page.evaluate("window.notReloaded") is True

    # Deleting asks first, on a page that says what goes; Cancel keeps her, confirming deletes her.
    page.get_by_role("link", name="Delete Ada King\u2026").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete Ada King?")
    expect(page.locator("main")).to_contain_text("their 1 holding, with every transaction of it.")
    tab.review("user-delete")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada King\u2019s portfolio")
    page.get_by_role("link", name="Delete Ada King\u2026").click()
    page.get_by_role("button", name="Delete Ada King").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.locator(f'.users tr[data-user="{ada_id}"]')).to_have_count(0)
    tab.go(f"/app/users/{ada_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    tab.review("not-found")
    assert tab.errors == [], tab.errors


@pytest.mark.slow
def test_a_person_keeps_a_holdings_ledger(new_context: Callable[[], BrowserContext], server: str) -> None:
    context = new_context()
    tab = Tab(context.new_page(), server)
    page = tab.page
    tab.go("/app/sign-up")
    page.get_by_label("Name").fill("Katherine Johnson")
    page.get_by_label("Email").fill("katherine@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Katherine Johnson\u2019s portfolio")
    user_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    token = api_token(server, "katherine@example.com", PASSWORD)
    add_holding(tab, "AAPL", "100.5", "10")
    expect(page.locator(".notice")).to_have_text("Added AAPL: 10 shares.")
    settled(page)
    page.evaluate("window.notReloaded = true")

    # The ledger opens under the holding's row, from the keyboard; the focus stays on the link, now "Close".
    page.get_by_role("link", name=re.compile(r"^Transactions of AAPL")).focus()
    page.keyboard.press("Enter")
    ledger = page.get_by_role("region", name="AAPL: transactions")
    expect(ledger.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="Close transactions of AAPL")).to_be_focused()
    form = page.get_by_role("form", name="Record a transaction of AAPL")
    day = form.get_by_label("Date").input_value()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", day), day
    expect(form.get_by_label("Amount received")).to_be_hidden()  # a buy has no amount
    tab.review("ledger")

    # A buy, then a sell from the keyboard alone: the gain, the holding and the totals follow without a reload.
    form.get_by_label("Quantity").fill("5")
    form.get_by_label("Price per share").fill("110")
    form.get_by_label("Fee").fill("2")
    form.get_by_role("button", name="Record").click()
    expect(page.locator(".notice")).to_have_text("Recorded a buy of 5 AAPL at 110.00. Now 15 at 103.80.")
    settled(page)
    form.get_by_label("Type").focus()
    page.keyboard.press("ArrowDown")  # buy, then sell
    expect(form.get_by_label("Type")).to_have_value("sell")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    expect(form.get_by_label("Type")).to_be_focused()
    form.get_by_label("Quantity").focus()
    page.keyboard.type("4")
    page.keyboard.press("Tab")
    page.keyboard.type("120")
    page.keyboard.press("Tab")
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    expect(form.get_by_label("Note (optional)")).to_be_focused()  # the hidden amount is not in the way
    page.keyboard.type("Trimmed")
    page.keyboard.press("Enter")
    notice = page.locator(".notice")
    expect(notice).to_have_text("Recorded a sell of 4 AAPL at 120.00: realized gain 61.80. Now 11 at 103.80.")
    expect(notice).to_be_focused()
    expect(ledger.locator("tr.sell .gain")).to_have_text("61.80")
    expect(page.locator(".holding .lot")).to_have_text("11 \N{MULTIPLICATION SIGN} 103.80")
    expect(page.locator(".summary .total")).to_have_text("1,141.80")
    assert page.evaluate("window.notReloaded") is True
    check_against_the_api(tab, user_id, token)
    tab.review("ledger-sold")

    # A dividend shows its own field only; selling more than held is refused beside quantity, in the API's words.
    form.get_by_label("Type").select_option("dividend")
    expect(form.get_by_label("Quantity")).to_be_hidden()
    form.get_by_label("Amount received").fill("12.5")
    form.get_by_role("button", name="Record").click()
    expect(notice).to_have_text("Recorded a dividend of 12.50 on AAPL.")
    settled(page)
    form.get_by_label("Type").select_option("sell")
    form.get_by_label("Quantity").fill("20")
    form.get_by_label("Price per share").fill("130")
    form.get_by_role("button", name="Record").click()
    error = form.locator(".field.invalid .error")
    expect(error).to_have_text(f"Cannot sell 20 shares on {day}: 11 held then (no short positions)")
    expect(form.get_by_label("Quantity")).to_be_focused()
    expect(form.get_by_label("Quantity")).to_have_attribute("aria-invalid", "true")
    expect(ledger.locator("tbody tr")).to_have_count(4)
    tab.review("ledger-refused")

    # Deleting the dividend, after a confirmation: the holding is the rest replayed.
    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name=f"Delete the dividend of {day}").click()
    expect(notice).to_have_text(f"Deleted the dividend of {day}. AAPL is now 11 at 103.80.")
    assert dialogs == [f"Delete the dividend of {day}? AAPL will be its other transactions replayed."]
    expect(ledger.locator("tbody tr")).to_have_count(3)
    check_against_the_api(tab, user_id, token)

    page.get_by_role("link", name="Close transactions of AAPL").click()
    expect(ledger).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"^Transactions of AAPL"))).to_be_focused()

    # A symbol corrected: the holding keeps its shares, cost and transactions.
    page.get_by_role("link", name=re.compile(r"^Edit AAPL")).click()
    edit = page.get_by_role("form", name="Edit AAPL")
    expect(edit.get_by_label("Symbol")).to_have_value("AAPL")
    tab.review("holding-edit")
    edit.get_by_label("Symbol").fill("aapl.us")
    edit.get_by_role("button", name="Save").click()
    expect(notice).to_have_text("Saved AAPL.US.")
    expect(page.locator(".holding .lot")).to_have_text("11 \N{MULTIPLICATION SIGN} 103.80")
    check_against_the_api(tab, user_id, token)
    page.get_by_role("link", name=re.compile(r"^Transactions of AAPL\.US")).click()
    expect(page.get_by_role("region", name="AAPL.US: transactions").locator("tbody tr")).to_have_count(3)
    assert tab.errors == [], tab.errors


def history_state(page: Page) -> dict[str, Any]:
    """The Chart.js instance on the value-over-time canvas: its datasets' labels and its number of points."""
    page.wait_for_function("() => window.Chart.getChart(document.querySelector('canvas.history'))")
    return dict(
        page.evaluate(
            """() => {
            const chart = window.Chart.getChart(document.querySelector('canvas.history'));
            return {datasets: chart.data.datasets.map(d => d.label), points: chart.data.labels.length,
                    lengths: chart.data.datasets.map(d => d.data.length)};
        }"""
        )
    )


def pressed_range(page: Page, name: str) -> None:
    """Wait until the chart for `name` is in, its button pressed, and drawn."""
    expect(page.locator(f"#range-{name}")).to_have_attribute("aria-pressed", "true")
    settled(page)


@pytest.mark.slow
def test_a_person_sees_gains_and_the_value_over_time(new_context: Callable[[], BrowserContext], server: str) -> None:
    context = new_context()
    tab = Tab(context.new_page(), server)
    page = tab.page
    tab.go("/app/sign-up")
    page.get_by_label("Name").fill("Dorothy Vaughan")
    page.get_by_label("Email").fill("dorothy@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dorothy Vaughan\u2019s portfolio")
    user_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    mine = {"Authorization": f"Bearer {api_token(server, 'dorothy@example.com', PASSWORD)}"}
    admin = {"Authorization": f"Bearer {api_token(server, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
    today = date.today()
    # 10 bought at 100 some 400 days ago, closed at 110 since; 2 of a symbol no close is known for.
    for name, price, quantity, bought in (("GAIN", 100, 10, today - timedelta(days=400)), ("NOPX", 50, 2, today)):
        stock = {"name": name, "price": price, "quantity": quantity, "acquired_on": bought.isoformat()}
        answer = httpx.post(f"{server}/users/{user_id}/stocks/", json=stock, headers=mine, timeout=10)
        assert answer.status_code == 201, answer.text
    closed_on = (today - timedelta(days=300)).isoformat()
    answer = httpx.put(f"{server}/prices/GAIN/{closed_on}", json={"close": 110}, headers=admin, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    page.reload()

    # Gains: per position, signed in text, and in the totals.
    gain_row = page.locator('tr[data-symbol="GAIN"]')
    expect(gain_row.locator(".market-value")).to_have_text("1,100.00")
    expect(gain_row.locator(".gain")).to_have_text("+100.00")
    expect(page.locator('tr[data-symbol="NOPX"] .market-price')).to_have_text("no price")
    expect(page.locator(".totals .unrealized")).to_have_text("+100.00")
    expect(page.locator(".totals .market-value")).to_have_text("1,200.00")

    # The chart comes after the page: two lines, a point a day over the last year.
    pressed_range(page, "1Y")
    year = history_state(page)
    assert year["datasets"] == ["Value", "Invested"]
    assert year["points"] in (366, 367) and year["lengths"] == [year["points"]] * 2
    expect(page.locator("#performance .twr")).to_have_text(re.compile(r"^(\+|\u2212)?\d+\.\d\d%$"))
    tab.review("portfolio-chart")

    # 1M by mouse, then Max from the keyboard: each swaps the chart, and focus stays on the pressed button.
    page.get_by_role("button", name="1M").click()
    pressed_range(page, "1M")
    month = history_state(page)
    assert 29 <= month["points"] <= 32, month
    expect(page.locator("#range-1M")).to_be_focused()
    expect(page.locator("#range-1Y")).to_have_attribute("aria-pressed", "false")
    for _ in range(3):
        page.keyboard.press("Tab")
    expect(page.locator("#range-Max")).to_be_focused()
    page.keyboard.press("Enter")
    pressed_range(page, "Max")
    longest = history_state(page)
    assert 58 <= longest["points"] <= 60, longest  # 401 days: a point a week, and the first and last days
    expect(page.locator("#range-Max")).to_be_focused()
    expect(page.locator("#performance .twr")).to_have_text("+10.00%")
    tab.review("portfolio-chart-max")

    # Without JavaScript, the chart is a page of its own.
    tab.go(f"/app/users/{user_id}/performance?range=1Y")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dorothy Vaughan\u2019s portfolio over time")
    tab.review("performance-page")
    assert tab.errors == [], tab.errors
