"""The web app's pages through the ASGI client: what they show, how they refuse, whose data they reach.

The browser tests (tests/web/test_web_browser.py) drive the same pages in Chromium.
"""

import base64
import json
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from httpx import AsyncClient
from markupsafe import escape
from sqlalchemy import update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.users.models import USERS
from app.web.colours import symbol_colours
from app.web.csrf import CSRF_REFUSED
from app.web.formatting import money
from app.web.routes import BROKEN_PAGE_LINK, FORM_VERSION_DAMAGED
from app.web.session import COOKIE_NAME

HTMX = {"HX-Request": "true"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def open_page(client: AsyncClient, path: str) -> tuple[str, str]:
    """The page's HTML and the CSRF token it carries (the session cookie is in the client now)."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return page.text, csrf_of(page.text)


async def new_user(client: AsyncClient, name: str = "Ada Lovelace", **extra: object) -> int:
    created = await client.post("/users/", json={"name": name, **extra})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def add_stock(
    client: AsyncClient, user_id: int, name: str, price: str, quantity: int, active: bool = True
) -> int:
    body = f'{{"name": "{name}", "price": {price}, "quantity": {quantity}, "is_active": {str(active).lower()}}}'
    created = await client.post(f"/users/{user_id}/stocks/", content=body, headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


# ---------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("175.5000", "175.50"),
        ("0.1234", "0.1234"),
        ("1234567.125", "1,234,567.125"),
        ("99999999.9999", "99,999,999.9999"),
        ("0", "0.00"),
        ("0.0000", "0.00"),
        ("-61.8000", "-61.80"),
        ("1E+3", "1,000.00"),
        ("0.1000000000000000055511151231257827", "0.1000000000000000055511151231257827"),
    ],
)
def test_money_is_shown_exactly_with_thousands_separators(stored: str, shown: str) -> None:
    assert money(Decimal(stored)) == shown


# ---------------------------------------------------------------- open mode


async def test_open_mode_entry_page_is_the_users_list(client: AsyncClient) -> None:
    answer = await client.get("/app/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("/app/users")
    html, _ = await open_page(client, "/app/users")
    assert '<h1 id="users-heading">Users</h1>' in html


async def test_users_page_searches_by_name_and_pages_by_cursor(client: AsyncClient) -> None:
    for number in range(25):
        await new_user(client, f"Pager Person {number:02}")
    await new_user(client, "Someone Else")
    html, _ = await open_page(client, "/app/users?name=pager")
    assert html.count("Pager Person") == 20
    assert "Someone Else" not in html
    next_link = re.search(r'rel="next" href="([^"]+)"', html)
    assert next_link, "a next page is linked"
    second = await client.get(next_link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert second.text.count("Pager Person") == 5
    assert 'rel="next"' not in second.text


async def test_portfolio_page_shows_totals_positions_and_every_holding(client: AsyncClient) -> None:
    user_id = await new_user(client)
    await add_stock(client, user_id, "AAPL", "175.50", 10)
    await add_stock(client, user_id, "AAPL", "160", 5)
    await add_stock(client, user_id, "MSFT", "1234567.125", 2)
    await add_stock(client, user_id, "TSLA", "250", 4, active=False)
    html, _ = await open_page(client, f"/app/users/{user_id}")
    api = (await client.get(f"/users/{user_id}/portfolio")).json()
    assert Decimal(str(api["total_value"])) == Decimal("2471689.25")
    assert '<p class="total money" data-total="2471689.2500">2,471,689.25</p>' in html
    assert '<tr data-symbol="AAPL"><th scope="row">AAPL</th><td class="num">15</td>' in html
    assert "2,469,134.25" in html  # MSFT's value, exact
    assert "99.9%" in html
    assert "TSLA" in html and "Inactive" in html  # inactive holdings are listed, not counted
    assert '<canvas class="allocation"' in html and 'data-values=\'["2469134.2500", "2555.0000"]\'' in html
    # Each symbol's own colour (app/web/colours.py), in the chart's order (by value), not one by rank.
    colours = symbol_colours(["AAPL", "MSFT"])
    assert f"data-colours='{json.dumps([colours['MSFT'], colours['AAPL']])}'" in html


async def test_pages_carry_a_csp_that_allows_only_the_apps_own_scripts(client: AsyncClient) -> None:
    page = await client.get("/app/users")
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "style=" not in page.text
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/app" in cookie
    assert "Secure" not in cookie  # served over http here


async def test_the_cookie_is_secure_over_https(app: object, client: AsyncClient) -> None:
    page = await client.get("https://test/app/users")
    assert "Secure" in page.headers["set-cookie"]


async def test_a_post_without_the_csrf_token_is_refused(client: AsyncClient) -> None:
    user_id = await new_user(client)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"name": "AAPL", "price": "10", "quantity": "1", "is_active": "on"}
    refused = await client.post(f"/app/users/{user_id}/stocks", data=form)
    assert refused.status_code == 403
    assert CSRF_REFUSED in refused.text
    wrong = await client.post(f"/app/users/{user_id}/stocks", data=form, headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status_code == 403
    assert (await client.get(f"/users/{user_id}/stocks/")).json() == []
    accepted = await client.post(f"/app/users/{user_id}/stocks", data={**form, "csrf_token": csrf})
    assert accepted.status_code == 303


async def test_adding_a_holding_with_htmx_answers_the_new_portfolio_section(client: AsyncClient) -> None:
    user_id = await new_user(client)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"name": " brk.b ", "price": "412.25", "quantity": "3", "is_active": "on"}
    answer = await client.post(f"/app/users/{user_id}/stocks", data=form, headers={**HTMX, "X-CSRF-Token": csrf})
    assert answer.status_code == 200
    assert answer.text.startswith('<div id="portfolio">') or '<div id="portfolio">' in answer.text[:200]
    assert "<html" not in answer.text
    assert "Added BRK.B: 3 shares." in answer.text
    assert "1,236.75" in answer.text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", "0", "Input should be greater than 0"),
        ("price", "abc", "Input should be a valid number"),
        ("price", "1.23456", "Decimal input should have no more than 4 decimal places"),
        ("name", "$$$", "Symbol may contain only letters A-Z, digits, '.' and '-'"),
        ("quantity", "", "Field required"),
    ],
)
async def test_a_bad_holding_shows_the_apis_own_message_beside_the_field(
    client: AsyncClient, field: str, value: str, message: str
) -> None:
    user_id = await new_user(client)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"name": "AAPL", "price": "10", "quantity": "1", "is_active": "on", field: value}
    answer = await client.post(f"/app/users/{user_id}/stocks", data=form, headers={**HTMX, "X-CSRF-Token": csrf})
    assert answer.status_code == 422
    assert f'<p class="error" id="add-{field}-error">{message}</p>'.replace("'", "&#39;") in answer.text
    assert (await client.get(f"/users/{user_id}/stocks/")).json() == []
    if field in ("name", "price") and value != "abc":  # the JSON API's own words (abc is no JSON number there)
        body = {"name": "AAPL", "price": 10, "quantity": 1, field: value if field == "name" else float(value)}
        api = await client.post(f"/users/{user_id}/stocks/", json=body)
        assert message in api.json()["errors"][0]["message"]


async def test_a_lower_case_user_name_shows_the_guides_message(client: AsyncClient) -> None:
    _, csrf = await open_page(client, "/app/users")
    answer = await client.post("/app/users", data={"name": "john", "csrf_token": csrf})
    assert answer.status_code == 422
    assert "Name must start with a capital letter" in answer.text
    created = await client.post("/app/users", data={"name": "John Doe", "age": "30", "csrf_token": csrf})
    assert created.status_code == 303
    assert re.fullmatch(r".*/app/users/\d+", created.headers["location"])


async def test_editing_sends_the_version_it_read_and_a_stale_edit_is_a_conflict(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "175.50", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    headers = {**HTMX, "X-CSRF-Token": csrf}
    form_html = (await client.get(f"/app/stocks/{stock_id}/edit", headers=HTMX)).text
    version = re.search(r'name="version" value="(\d+)"', form_html)
    assert version and 'value="175.50"' in form_html
    form = {"version": version.group(1), "price": "180.25", "quantity": "12", "is_active": "on"}
    saved = await client.post(f"/app/stocks/{stock_id}", data=form, headers=headers)
    assert saved.status_code == 200
    assert saved.headers["HX-Retarget"] == "#portfolio"
    assert "2,163.00" in saved.text
    stale = await client.post(f"/app/stocks/{stock_id}", data={**form, "quantity": "1"}, headers=headers)
    assert stale.status_code == 412
    assert "Someone changed AAPL since you opened this form: it is now 12 at 180.25" in stale.text
    assert "Reload to see the current values" in stale.text
    assert (await client.get(f"/stocks/{stock_id}")).json()["quantity"] == 12


async def test_deleting_a_holding_updates_the_totals(client: AsyncClient) -> None:
    user_id = await new_user(client)
    keep = await add_stock(client, user_id, "AAPL", "10", 1)
    gone = await add_stock(client, user_id, "MSFT", "20", 1)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    answer = await client.post(f"/app/stocks/{gone}/delete", headers={**HTMX, "X-CSRF-Token": csrf})
    assert answer.status_code == 200
    assert 'data-total="10.0000"' in answer.text and "Deleted MSFT (1 shares)." in answer.text
    assert [stock["id"] for stock in (await client.get(f"/users/{user_id}/stocks/")).json()] == [keep]


async def test_a_missing_portfolio_is_a_404_page(client: AsyncClient) -> None:
    answer = await client.get("/app/users/999999")
    assert answer.status_code == 404
    assert "User with ID 999999 not found" in answer.text and "<h1>Not found</h1>" in answer.text
    for path in ("/app/users/abc", "/app/no/such/page"):
        missing = await client.get(path)
        assert missing.status_code == 404 and "<h1>Not found</h1>" in missing.text


async def test_pages_are_not_in_the_openapi(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/app")]


# ---------------------------------------------------------------- required mode


async def sign_up_through_the_page(client: AsyncClient, name: str, email: str) -> int:
    _, csrf = await open_page(client, "/app/sign-up")
    answer = await client.post(
        "/app/sign-up",
        data={"name": name, "email": email, "password": "correct horse battery", "csrf_token": csrf},
    )
    assert answer.status_code == 303, answer.text
    entry = await client.get("/app/", follow_redirects=False)
    return int(entry.headers["location"].rsplit("/", 1)[1])


async def test_required_mode_sends_a_stranger_to_sign_in(required_client: AsyncClient) -> None:
    for path in ("/app/", "/app/users", "/app/users/1"):
        answer = await required_client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].endswith("/app/sign-in")
    html, _ = await open_page(required_client, "/app/sign-in")
    assert '<label for="email">Email</label>' in html and '<label for="password">Password</label>' in html


async def test_sign_up_sign_in_and_out(required_client: AsyncClient) -> None:
    user_id = await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    html, csrf = await open_page(required_client, f"/app/users/{user_id}")
    assert "Grace Hopper\u2019s portfolio" in html and "Sign out" in html
    # The users list is an admin's; a user is shown their own portfolio.
    assert (
        (await required_client.get("/app/users", follow_redirects=False))
        .headers["location"]
        .endswith(f"/app/users/{user_id}")
    )
    out = await required_client.post("/app/sign-out", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert (await required_client.get(f"/app/users/{user_id}", follow_redirects=False)).status_code == 303
    wrong = await required_client.post(
        "/app/sign-in",
        data={"email": "grace@example.com", "password": "wrong password!", "csrf_token": csrf_of(html)},
    )
    # The CSRF token changed at sign-out; the sign-in page's own works.
    assert wrong.status_code == 403
    _, csrf = await open_page(required_client, "/app/sign-in")
    wrong = await required_client.post(
        "/app/sign-in", data={"email": "grace@example.com", "password": "wrong password!", "csrf_token": csrf}
    )
    assert wrong.status_code == 401 and "Incorrect email or password" in wrong.text
    right = await required_client.post(
        "/app/sign-in", data={"email": "grace@example.com", "password": "correct horse battery", "csrf_token": csrf}
    )
    assert right.status_code == 303
    assert (await required_client.get(f"/app/users/{user_id}")).status_code == 200


async def test_sign_up_errors_are_shown_beside_their_fields(required_client: AsyncClient) -> None:
    _, csrf = await open_page(required_client, "/app/sign-up")
    answer = await required_client.post(
        "/app/sign-up", data={"name": "grace", "email": "not-an-email", "password": "short", "csrf_token": csrf}
    )
    assert answer.status_code == 422
    assert 'id="name-error">Name must start with a capital letter' in answer.text
    assert 'id="email-error">' in answer.text and 'id="password-error">' in answer.text
    assert "short" not in answer.text.replace("shortly", "")  # the password is never echoed


async def test_sign_ups_through_the_page_count_against_the_address_as_the_apis_do(
    required_client: AsyncClient,
) -> None:
    """Finding 9: the page is a second door to sign-up, and counts against the same SIGNUPS_PER_HOUR."""
    for n in range(10):
        required_client.cookies.clear()
        await sign_up_through_the_page(required_client, "Grace Hopper", f"grace{n}@example.com")
    required_client.cookies.clear()
    _, csrf = await open_page(required_client, "/app/sign-up")
    refused = await required_client.post(
        "/app/sign-up",
        data={
            "name": "Grace Hopper",
            "email": "grace10@example.com",
            "password": "correct horse battery",
            "csrf_token": csrf,
        },
    )
    assert refused.status_code == 429
    assert "Too many sign-ups from this address in the last hour" in refused.text
    assert 'value="grace10@example.com"' in refused.text  # what was typed is kept, the password never
    assert (
        await required_client.post(
            "/users/", json={"name": "Ada Byron", "email": "ada@example.com", "password": "correct horse battery"}
        )
    ).status_code == 429


async def test_another_users_portfolio_is_a_404_page(required_client: AsyncClient) -> None:
    other = await sign_up_through_the_page(required_client, "Alan Turing", "alan@example.com")
    required_client.cookies.clear()
    mine = await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    assert (await required_client.get(f"/app/users/{mine}")).status_code == 200
    theirs = await required_client.get(f"/app/users/{other}")
    assert theirs.status_code == 404
    assert f"User with ID {other} not found" in theirs.text
    _, csrf = await open_page(required_client, f"/app/users/{mine}")
    adding = await required_client.post(
        f"/app/users/{other}/stocks",
        data={"name": "AAPL", "price": "1", "quantity": "1", "is_active": "on", "csrf_token": csrf},
    )
    assert adding.status_code == 404


async def test_an_expired_access_token_is_refreshed_from_the_cookie(required_client: AsyncClient) -> None:
    from app.web import session as cookies

    user_id = await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    app = required_client._transport.app  # type: ignore[attr-defined]
    key = app.state.web_cookie_key
    current = cookies.decode(required_client.cookies[COOKIE_NAME], key)
    assert current is not None and current.refresh_token is not None
    expired = cookies.BrowserSession(current.csrf, "not-a-valid-token", current.refresh_token)
    required_client.cookies.set(COOKIE_NAME, cookies.encode(expired, key), path="/app")
    answer = await required_client.get(f"/app/users/{user_id}")
    assert answer.status_code == 200
    renewed = cookies.decode(answer.cookies[COOKIE_NAME], key)
    assert renewed is not None and renewed.refresh_token not in (None, current.refresh_token)


# ---------------------------------------------------------------- failures


async def test_a_database_outage_is_a_clear_page_not_a_stack_trace() -> None:
    from fastapi import FastAPI
    from httpx import ASGITransport

    from app.core.config import Settings
    from app.main import create_app
    from tests.processes import free_port

    app: FastAPI = create_app(
        Settings(_env_file=None, database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/portfolio")
    )
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        page = await client.get("/app/users/1")
        assert page.status_code == 503
        assert page.headers["retry-after"] == "1"
        assert "<h1>Database unavailable</h1>" in page.text
        assert "The database cannot be reached just now" in page.text and "Traceback" not in page.text
        csrf = csrf_of(page.text)
        partial = await client.post(
            "/app/users/1/stocks",
            data={"name": "AAPL", "price": "1", "quantity": "1"},
            headers={**HTMX, "X-CSRF-Token": csrf},
        )
        assert partial.status_code == 503
        # htmx puts it in the page's alert area, whatever the form meant to replace.
        assert partial.headers["HX-Retarget"] == "#alert" and "<html" not in partial.text
        assert "The database cannot be reached just now" in partial.text


async def test_an_htmx_request_for_a_missing_row_gets_an_alert(client: AsyncClient) -> None:
    user_id = await new_user(client)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    answer = await client.post("/app/stocks/999999/delete", headers={**HTMX, "X-CSRF-Token": csrf})
    assert answer.status_code == 404
    assert answer.headers["HX-Retarget"] == "#alert"
    assert "Stock with ID 999999 not found" in answer.text


async def test_without_javascript_the_forms_post_and_redirect(client: AsyncClient) -> None:
    user_id = await new_user(client)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    added = await client.post(
        f"/app/users/{user_id}/stocks",
        data={"name": "AAPL", "price": "10", "quantity": "1", "is_active": "on", "csrf_token": csrf},
    )
    assert added.status_code == 303 and added.headers["location"].endswith(f"/app/users/{user_id}")
    stock_id = (await client.get(f"/users/{user_id}/stocks/")).json()[0]["id"]
    editing = await client.get(f"/app/stocks/{stock_id}/edit")
    assert (
        editing.status_code == 200
        and '<h1 id="portfolio-heading">' in editing.text
        and 'aria-label="Edit AAPL"' in editing.text
    )
    version = re.search(r'name="version" value="(\d+)"', editing.text)
    assert version
    form = {"version": version.group(1), "price": "11", "quantity": "2", "csrf_token": csrf}
    assert (await client.post(f"/app/stocks/{stock_id}", data=form)).status_code == 303
    stock = (await client.get(f"/stocks/{stock_id}")).json()
    assert (stock["price"], stock["quantity"], stock["is_active"]) == (11, 2, False)  # an unticked box is false
    stale = await client.post(f"/app/stocks/{stock_id}", data=form)
    assert (
        stale.status_code == 412 and '<h1 id="portfolio-heading">' in stale.text and "Nothing was saved." in stale.text
    )
    deleted = await client.post(f"/app/stocks/{stock_id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert (await client.get(f"/users/{user_id}/stocks/")).json() == []


async def test_open_mode_has_no_sign_in(client: AsyncClient) -> None:
    for path in ("/app/sign-in", "/app/sign-up"):
        answer = await client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].endswith("/app/")
    html, _ = await open_page(client, "/app/users")
    assert "Sign out" not in html and "Email (optional)" in html


async def test_an_unforeseen_error_is_a_page_and_its_traceback_goes_to_the_log(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from app.portfolio.repository import PortfolioRepository

    async def broken(self: PortfolioRepository, user_id: int, until: object) -> None:
        raise RuntimeError("a bug, with a secret in its message")

    user_id = await new_user(client)
    monkeypatch.setattr(PortfolioRepository, "ledger", broken)
    page = await client.get(f"/app/users/{user_id}")
    assert page.status_code == 500
    assert "<h1>Something went wrong</h1>" in page.text and "secret" not in page.text
    assert "a bug, with a secret in its message" in caplog.text


# ---------------------------------------------------------------- what an outside attack sent (issue 18)


def shown_errors(html: str) -> list[str]:
    """The messages a page shows about what was sent: beside a field, over a form, or as an alert."""
    return re.findall(r'<p class="(?:error|conflict|alert)"[^>]*>([^<]*)', html)


@pytest.mark.parametrize(
    "version", ["²", "\u0663", "9" * 5000, str(2**40), str(2**31), "0", "-1", "1.0", " 1", "1\x00"]
)
@pytest.mark.parametrize("htmx", [True, False])
async def test_a_stock_form_whose_version_no_row_can_have_is_refused_with_a_reason(
    client: AsyncClient, version: str, htmx: bool
) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "175.50", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"version": version, "price": "180", "quantity": "12", "is_active": "on"}
    answer = await client.post(
        f"/app/stocks/{stock_id}", data=form, headers={**(HTMX if htmx else {}), "X-CSRF-Token": csrf}
    )
    assert answer.status_code == 422
    assert shown_errors(answer.text) == [FORM_VERSION_DAMAGED]
    assert 'value="180"' in answer.text and 'value="12"' in answer.text  # what was typed is kept
    assert (await client.get(f"/stocks/{stock_id}")).json()["quantity"] == 10


async def test_a_bad_version_and_a_bad_price_are_both_shown(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "175.50", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"version": "²", "price": "1²", "quantity": "1"}
    answer = await client.post(f"/app/stocks/{stock_id}", data=form, headers={**HTMX, "X-CSRF-Token": csrf})
    assert answer.status_code == 422
    assert shown_errors(answer.text) == [FORM_VERSION_DAMAGED, "Input should be a valid number"]


@pytest.mark.parametrize("price", ["1²", "\u0661\u0660", "1.\u0665", "1e\u0663", "\uff11"])
async def test_a_price_in_unicode_digits_is_refused_beside_the_field(client: AsyncClient, price: str) -> None:
    user_id = await new_user(client)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"name": "AAPL", "price": price, "quantity": "1", "is_active": "on"}
    answer = await client.post(f"/app/users/{user_id}/stocks", data=form, headers={**HTMX, "X-CSRF-Token": csrf})
    assert answer.status_code == 422
    assert '<p class="error" id="add-price-error">Input should be a valid number</p>' in answer.text


def cursor_of(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["junk", "", "%%%", "x" * 600, cursor_of('["id", 1, 1099511627776]'), cursor_of('["id", 1099511627776, 1]'),
     cursor_of('["name", "A", 1]'), cursor_of('["id", 1, true]')],
)  # fmt: skip
async def test_a_users_page_link_with_a_broken_cursor_starts_the_list_again(client: AsyncClient, cursor: str) -> None:
    await new_user(client, "Pager Person")
    answer = await client.get("/app/users", params={"name": "pager", "cursor": cursor})
    assert answer.status_code == (200 if cursor == "" else 422)
    if cursor:
        assert shown_errors(answer.text) == [BROKEN_PAGE_LINK]
    assert "Pager Person" in answer.text and 'value="pager"' in answer.text  # the search still applies


@pytest.mark.parametrize(
    ("name", "message"),
    [("\x00", "must not contain NUL (\\u0000) characters"), ("a" * 256, "String should have at most 255 characters")],
)
async def test_a_search_the_api_would_refuse_is_refused_beside_the_search_field(
    client: AsyncClient, name: str, message: str
) -> None:
    await new_user(client, "Pager Person")
    answer = await client.get("/app/users", params={"name": name})
    assert answer.status_code == 422
    assert shown_errors(answer.text) == [message]
    assert 'aria-invalid="true" aria-describedby="search-name-error"' in answer.text
    assert "Pager Person" in answer.text  # every user: the search was not applied


async def test_a_body_the_page_cannot_read_is_a_4xx_page(client: AsyncClient) -> None:
    user_id = await new_user(client)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    path, headers = f"/app/users/{user_id}/stocks", {"X-CSRF-Token": csrf}
    no_boundary = await client.post(path, content=b"x", headers={**headers, "Content-Type": "multipart/form-data"})
    assert no_boundary.status_code == 400 and "Missing boundary in multipart." in no_boundary.text
    fields = "&".join(f"field{number}=1" for number in range(1001))
    too_many = await client.post(
        path, content=fields, headers={**headers, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert too_many.status_code == 400 and "Maximum number of fields is 1000" in too_many.text
    a_file = await client.post(path, files={"name": ("name.txt", b"AAPL")}, data={"price": "1"}, headers=headers)
    assert a_file.status_code == 422 and "name: Input should be a valid string" in a_file.text
    assert (await client.get(f"/users/{user_id}/stocks/")).json() == []


async def test_a_value_that_slips_past_the_pages_checks_is_a_422_and_the_log_shows_no_value(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from app.kit.repository import IfMatch
    from app.web import routes

    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "175.50", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    # A check that lets through what the integer column refuses, as `int(version)` once did.
    monkeypatch.setattr(routes, "if_match_of", lambda version: IfMatch(any_version=False, versions=(2**40,)))
    form = {"version": "1", "price": "180", "quantity": "12"}
    answer = await client.post(f"/app/stocks/{stock_id}", data=form, headers={**HTMX, "X-CSRF-Token": csrf})
    assert answer.status_code == 422 and answer.headers["HX-Retarget"] == "#alert"
    assert "A value is out of range or malformed; nothing was saved." in answer.text
    assert "NumericValueOutOfRange (22003)" in caplog.text
    assert str(2**40) not in caplog.text and "Traceback" not in caplog.text


# ---------------------------------------------------------------- a holding's ledger


def record_form(kind: str, **fields: str) -> dict[str, str]:
    """The record form as a browser sends it: every field, the hidden ones too (the page sends the API the type's)."""
    blank = {"occurred_on": date.today().isoformat(), "quantity": "", "price": "", "fee": "", "amount": "", "note": ""}
    return {"type": kind, **blank, **fields}


def lot(quantity: str) -> str:
    """A holding row's quantity, as shown before its average cost."""
    return f'<span class="lot">{quantity} \N{MULTIPLICATION SIGN} <span'


async def ledger_of(client: AsyncClient, stock_id: int) -> list[dict[str, object]]:
    answer = await client.get(f"/stocks/{stock_id}/transactions")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def test_a_holdings_ledger_opens_under_its_row_with_the_record_form(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100.5", 10)
    html, _ = await open_page(client, f"/app/users/{user_id}")
    assert f'href="/app/stocks/{stock_id}/transactions"' in html and f'id="ledger-{stock_id}"' not in html
    row = await client.get(f"/app/stocks/{stock_id}/transactions", headers=HTMX)
    assert row.status_code == 200 and "<html" not in row.text
    assert row.headers["HX-Retarget"] == f"#holding-{stock_id}"
    assert row.text.lstrip().startswith(f'<li id="holding-{stock_id}" class="holding open">')
    assert 'aria-expanded="true"' in row.text and "Close transactions" in row.text
    opening = re.findall(r"<td[^>]*>([^<]*)</td>", row.text.split('id="transaction-')[1].split("</tr>")[0])
    assert opening[:8] == [date.today().isoformat(), "Buy", "10", "100.50", "0.00", "", "", ""]
    today = date.today().isoformat()
    assert f'name="occurred_on" type="date" value="{today}" max="{today}"' in row.text
    # Without JavaScript: the whole page, the ledger open under its row.
    page = await client.get(f"/app/stocks/{stock_id}/transactions")
    assert (
        page.status_code == 200
        and '<h1 id="portfolio-heading">' in page.text
        and f'id="ledger-{stock_id}"' in page.text
    )


async def test_recording_a_buy_then_a_sell_moves_the_holding_and_shows_the_realized_gain(client: AsyncClient) -> None:
    """docs/reference/ledger.md's worked example: 10 at 100.5, buy 5 at 110 with fee 2, sell 4 at 120 with fee 3."""
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100.5", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    headers = {**HTMX, "X-CSRF-Token": csrf}
    path = f"/app/stocks/{stock_id}/transactions"
    bought = await client.post(path, data=record_form("buy", quantity="5", price="110", fee="2"), headers=headers)
    assert bought.status_code == 200, bought.text
    assert bought.headers["HX-Retarget"] == "#portfolio"
    assert "Recorded a buy of 5 AAPL at 110.00. Now 15 at 103.80." in bought.text
    assert 'data-total="1557.0000"' in bought.text and lot("15") in bought.text
    assert f'id="ledger-{stock_id}"' in bought.text  # the ledger stays open
    sold = await client.post(path, data=record_form("sell", quantity="4", price="120", fee="3"), headers=headers)
    assert sold.status_code == 200, sold.text
    assert "Recorded a sell of 4 AAPL at 120.00: realized gain 61.80. Now 11 at 103.80." in sold.text
    assert '<td class="num money gain">61.80</td>' in sold.text
    assert 'data-total="1141.8000"' in sold.text
    stock = (await client.get(f"/stocks/{stock_id}")).json()
    assert (stock["quantity"], Decimal(str(stock["price"]))) == (11, Decimal("103.8"))
    assert [(entry["type"], entry["realized_gain"]) for entry in await ledger_of(client, stock_id)] == [
        ("buy", None),
        ("buy", None),
        ("sell", 61.8),
    ]


async def test_a_dividend_records_its_amount_and_leaves_the_holding(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    # The trade fields a browser still sends (hidden for a dividend) go nowhere.
    form = record_form("dividend", amount="12.5", quantity="3", price="1", note="Q2")
    answer = await client.post(
        f"/app/stocks/{stock_id}/transactions", data=form, headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert answer.status_code == 200, answer.text
    assert "Recorded a dividend of 12.50 on AAPL." in answer.text
    assert '<td class="num money">12.50</td>' in answer.text and '<td class="note">Q2</td>' in answer.text
    dividend = (await ledger_of(client, stock_id))[-1]
    assert (dividend["type"], dividend["amount"], dividend["quantity"], dividend["note"]) == (
        "dividend",
        12.5,
        None,
        "Q2",
    )
    assert (await client.get(f"/stocks/{stock_id}")).json()["quantity"] == 10


async def test_selling_more_than_held_shows_the_ledgers_message_beside_quantity(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = record_form("sell", quantity="11", price="120")
    answer = await client.post(
        f"/app/stocks/{stock_id}/transactions", data=form, headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert answer.status_code == 422
    api = await client.post(
        f"/stocks/{stock_id}/transactions",
        json={"type": "sell", "occurred_on": form["occurred_on"], "quantity": 11, "price": 120},
    )
    message = api.json()["errors"][0]["message"]
    assert message == f"Cannot sell 11 shares on {form['occurred_on']}: 10 held then (no short positions)"
    assert shown_errors(answer.text) == [message]
    assert f'<p class="error" id="record-{stock_id}-quantity-error">{message}</p>' in answer.text
    assert f'id="record-{stock_id}-quantity" name="quantity" type="text" value="11"' in answer.text
    assert 'inputmode="numeric" autofocus' in answer.text  # the field at fault takes the focus
    assert '<option value="sell" selected>' in answer.text
    assert len(await ledger_of(client, stock_id)) == 1


@pytest.mark.parametrize(
    ("kind", "field", "value", "message"),
    [
        ("buy", "price", "0", "Input should be greater than 0"),
        ("buy", "price", "1²", "Input should be a valid number"),
        ("buy", "quantity", "", "Field required"),
        ("sell", "fee", "-1", "Input should be greater than or equal to 0"),
        ("dividend", "amount", "", "Field required"),
        ("buy", "occurred_on", "2024-02-30", "Input should be a real date as YYYY-MM-DD"),
        ("buy", "note", "a\x00", "must not contain NUL (\\u0000) characters"),
        ("split", "type", "split", "Input should be 'buy', 'sell' or 'dividend'"),
    ],
)
async def test_a_bad_transaction_shows_the_apis_message_beside_its_field(
    client: AsyncClient, kind: str, field: str, value: str, message: str
) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {**record_form(kind, quantity="1", price="100", amount="1"), field: value}
    answer = await client.post(f"/app/stocks/{stock_id}/transactions", data={**form, "csrf_token": csrf})
    assert answer.status_code == 422 and '<h1 id="portfolio-heading">' in answer.text
    found = re.search(rf'<p class="error" id="record-{stock_id}-{field}-error">([^<]*)</p>', answer.text)
    assert found and message.replace("'", "&#39;") in found.group(1), shown_errors(answer.text)
    assert len(await ledger_of(client, stock_id)) == 1


async def test_a_date_after_today_is_refused_in_the_apis_words(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    form = record_form("buy", quantity="1", price="1", occurred_on=tomorrow)
    answer = await client.post(
        f"/app/stocks/{stock_id}/transactions", data=form, headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert answer.status_code == 422
    assert shown_errors(answer.text) == [f"Date must not be after today ({date.today().isoformat()}, UTC)"]


async def test_deleting_a_transaction_replays_the_holding(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    day = date.today().isoformat()
    for body in ({"type": "buy", "quantity": 10, "price": 110}, {"type": "sell", "quantity": 5, "price": 120}):
        assert (
            await client.post(f"/stocks/{stock_id}/transactions", json={**body, "occurred_on": day})
        ).status_code == 201
    opening, bought, sold = [int(str(entry["id"])) for entry in await ledger_of(client, stock_id)]
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    headers = {**HTMX, "X-CSRF-Token": csrf}
    # Without the second buy, the sell still fits: the holding is 10 at 100, less 5.
    answer = await client.post(f"/app/transactions/{bought}/delete", headers=headers)
    assert answer.status_code == 200, answer.text
    assert f"Deleted the buy of {day}. AAPL is now 5 at 100.00." in answer.text
    assert 'data-total="500.0000"' in answer.text and f'id="transaction-{bought}"' not in answer.text
    assert '<td class="num money gain">100.00</td>' in answer.text  # the sell's gain, replayed at 100
    stock = (await client.get(f"/stocks/{stock_id}")).json()
    assert (stock["quantity"], stock["price"]) == (5, 100)
    # Without the opening buy the sell would sell what is not held: the ledger refuses, and says why over it.
    refused = await client.post(f"/app/transactions/{opening}/delete", headers=headers)
    assert refused.status_code == 422 and refused.headers["HX-Retarget"] == f"#holding-{stock_id}"
    assert shown_errors(refused.text) == [
        f"Without this transaction: Cannot sell 5 shares on {day}: 0 held then (no short positions)"
    ]
    assert [entry["id"] for entry in await ledger_of(client, stock_id)] == [opening, sold]


async def test_a_long_ledger_shows_its_first_page_and_a_more_link(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    day = date.today().isoformat()
    for number in range(22):
        dividend = {"type": "dividend", "occurred_on": day, "amount": number + 1}
        assert (await client.post(f"/stocks/{stock_id}/transactions", json=dividend)).status_code == 201
    first = await client.get(f"/app/stocks/{stock_id}/transactions", headers=HTMX)
    assert first.text.count('<tr id="transaction-') == 20
    more = re.search(r'<a href="([^"]+)" hx-get="[^"]+" hx-target="#ledger-\d+-more"', first.text)
    assert more, "a long ledger links its next page"
    rows = await client.get(more.group(1).replace("&amp;", "&"), headers=HTMX)
    assert rows.status_code == 200 and rows.text.count('<tr id="transaction-') == 3
    assert "<li" not in rows.text and "More transactions" not in rows.text
    assert '<td class="num money">22.00</td>' in rows.text
    whole = await client.get(more.group(1).replace("&amp;", "&"))  # without JavaScript: that page, in the portfolio
    assert (
        whole.status_code == 200
        and whole.text.count('<tr id="transaction-') == 3
        and "First transactions" in whole.text
    )
    broken = await client.get(f"/app/stocks/{stock_id}/transactions", params={"cursor": "junk"}, headers=HTMX)
    assert broken.status_code == 422 and shown_errors(broken.text) == [BROKEN_PAGE_LINK]
    assert broken.text.count('<tr id="transaction-') == 20


async def test_without_javascript_recording_posts_and_redirects_to_the_ledger(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    path = f"/app/stocks/{stock_id}/transactions"
    refused = await client.post(path, data=record_form("sell", quantity="1", price="120"))
    assert refused.status_code == 403  # no CSRF token
    sold = await client.post(path, data={**record_form("sell", quantity="1", price="120"), "csrf_token": csrf})
    assert sold.status_code == 303 and sold.headers["location"].endswith(path)
    page = await client.get(path)
    assert '<td class="num money gain">20.00</td>' in page.text and lot("9") in page.text
    sell_id = int(str((await ledger_of(client, stock_id))[-1]["id"]))
    deleted = await client.post(f"/app/transactions/{sell_id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and deleted.headers["location"].endswith(path)
    assert (await client.get(f"/stocks/{stock_id}")).json()["quantity"] == 10


async def test_another_users_ledger_is_a_404_page(required_client: AsyncClient) -> None:
    other = await sign_up_through_the_page(required_client, "Alan Turing", "alan@example.com")
    _, csrf = await open_page(required_client, f"/app/users/{other}")
    theirs_html = await required_client.post(
        f"/app/users/{other}/stocks",
        data={"name": "AAPL", "price": "100", "quantity": "10", "is_active": "on", "csrf_token": csrf},
        follow_redirects=True,
    )
    theirs = int(re.findall(r'id="holding-(\d+)"', theirs_html.text)[0])
    their_entry = re.search(
        r'id="transaction-(\d+)"', (await required_client.get(f"/app/stocks/{theirs}/transactions")).text
    )
    assert their_entry
    required_client.cookies.clear()
    mine = await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    _, csrf = await open_page(required_client, f"/app/users/{mine}")
    page = await required_client.get(f"/app/stocks/{theirs}/transactions")
    assert (
        page.status_code == 404
        and f"Stock with ID {theirs} not found" in page.text
        and "<h1>Not found</h1>" in page.text
    )
    recording = await required_client.post(
        f"/app/stocks/{theirs}/transactions",
        data={**record_form("sell", quantity="10", price="1"), "csrf_token": csrf},
    )
    assert recording.status_code == 404
    deleting = await required_client.post(f"/app/transactions/{their_entry.group(1)}/delete", data={"csrf_token": csrf})
    assert deleting.status_code == 404 and f"Transaction with ID {their_entry.group(1)} not found" in deleting.text
    # Their ledger is as it was; a ledger of one's own takes a record.
    required_client.cookies.clear()
    _, csrf = await open_page(required_client, "/app/sign-in")
    await required_client.post(
        "/app/sign-in", data={"email": "alan@example.com", "password": "correct horse battery", "csrf_token": csrf}
    )
    theirs_now = await required_client.get(f"/app/stocks/{theirs}/transactions")
    assert theirs_now.text.count('<tr id="transaction-') == 1 and lot("10") in theirs_now.text
    bought = await required_client.post(
        f"/app/stocks/{theirs}/transactions",
        data={**record_form("buy", quantity="2", price="100"), "csrf_token": csrf_of(theirs_now.text)},
    )
    assert bought.status_code == 303
    assert (await required_client.get(f"/app/stocks/{theirs}/transactions")).text.count('<tr id="transaction-') == 2


# ---------------------------------------------------------------- gains and the value over time (issue 20)

# The chart's "today", fixed, so each range's period is known: 2025-03-15 is a Saturday.
CHART_TODAY = date(2025, 3, 15)


async def put_close(client: AsyncClient, symbol: str, day: str, close: str) -> None:
    answer = await client.put(
        f"/prices/{symbol}/{day}", content=f'{{"close": {close}}}', headers={"Content-Type": "application/json"}
    )
    assert answer.status_code in (200, 201), answer.text


def chart_points(html: str) -> list[str]:
    dates = re.search(r"data-dates='([^']*)'", html)
    assert dates, html
    return list(json.loads(dates.group(1)))


async def test_positions_show_their_market_price_value_and_unrealized_gain(client: AsyncClient) -> None:
    """Bought 10 at 100, closed at 110: worth 1,100.00, +100.00 unrealized; a symbol without a close: "no price"."""
    user_id = await new_user(client)
    await client.post(
        f"/users/{user_id}/stocks/", json={"name": "XYZ", "price": 100, "quantity": 10, "acquired_on": "2025-01-02"}
    )
    await client.post(
        f"/users/{user_id}/stocks/", json={"name": "NOPR", "price": 50, "quantity": 2, "acquired_on": "2025-01-02"}
    )
    await put_close(client, "XYZ", "2025-01-03", "110")
    await put_close(client, "LOSS", "2025-01-03", "95.9")
    loss = await client.post(
        f"/users/{user_id}/stocks/", json={"name": "LOSS", "price": 100, "quantity": 1, "acquired_on": "2025-01-02"}
    )
    assert loss.status_code == 201
    html, _ = await open_page(client, f"/app/users/{user_id}")
    xyz = re.search(r'<tr data-symbol="XYZ">(.*?)</tr>', html)
    assert xyz, html
    assert re.findall(r"<td[^>]*>([^<]*)</td>", xyz.group(1)) == [
        "10", "100.00", "1,000.00", "110.00", "1,100.00", "+100.00", "83.3%",
    ]  # fmt: skip
    assert 'class="num money gain up">+100.00' in xyz.group(1)
    nopr = re.search(r'<tr data-symbol="NOPR">(.*?)</tr>', html)
    assert nopr and '<td class="num market-price unpriced">no price</td>' in nopr.group(1)
    assert '<td class="num money market-value">100.00</td>' in nopr.group(1)  # at cost
    assert 'class="num money gain flat">0.00' in nopr.group(1)
    assert 'class="num money gain down">\N{MINUS SIGN}4.10' in html  # LOSS: 95.90 - 100
    assert "no close is known for the symbol yet, so it is valued at cost" in html
    api = (await client.get(f"/users/{user_id}/portfolio", params={"as_of": date.today().isoformat()})).json()
    assert Decimal(str(api["market_value"])) == Decimal("1295.90")
    assert '<dd class="money market-value">1,295.90</dd>' in html
    assert '<dd class="money gain unrealized up">+95.90</dd>' in html
    assert '<dd class="money gain realized flat">0.00</dd>' in html


async def test_totals_show_the_realized_gain_dividends_and_fees(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock = await add_stock(client, user_id, "AAPL", "100", 10)
    day = date.today().isoformat()
    for entry in (
        {"type": "sell", "occurred_on": day, "quantity": 4, "price": 120, "fee": 3},
        {"type": "dividend", "occurred_on": day, "amount": 12.5},
    ):
        assert (await client.post(f"/stocks/{stock}/transactions", json=entry)).status_code == 201
    html, _ = await open_page(client, f"/app/users/{user_id}")
    assert '<dd class="money gain realized up">+77.00</dd>' in html  # 4 x (120 - 100) - 3
    assert '<dd class="money dividends">12.50</dd>' in html
    assert '<dd class="money fees">3.00</dd>' in html


async def test_the_page_loads_its_chart_after_itself(client: AsyncClient) -> None:
    user_id = await new_user(client)
    html, _ = await open_page(client, f"/app/users/{user_id}")
    assert f'hx-get="/app/users/{user_id}/performance?range=1Y" hx-trigger="load"' in html
    assert "data-dates" not in html  # the series is not computed for the page itself
    empty = await client.get(f"/app/users/{user_id}/performance", headers=HTMX)
    assert empty.status_code == 200 and "The chart appears with the first transaction." in empty.text


@pytest.mark.parametrize(
    ("chosen", "points", "first"),
    [
        ("1M", 29, "2025-02-15"),  # the close before 16 February, then each day to 15 March
        ("YTD", 75, "2024-12-31"),
        ("1Y", 366, "2024-03-15"),
        ("Max", 69, "2023-11-30"),  # 470 days: the opening, each Sunday (67), and the last day
    ],
)
async def test_each_range_answers_its_chart_with_a_point_a_day_or_a_week(
    client: AsyncClient, monkeypatch: pytest.MonkeyPatch, chosen: str, points: int, first: str
) -> None:
    import app.web.dependencies

    monkeypatch.setattr(app.web.dependencies, "today", lambda: CHART_TODAY)
    user_id = await new_user(client)
    await client.post(
        f"/users/{user_id}/stocks/", json={"name": "XYZ", "price": 100, "quantity": 10, "acquired_on": "2023-12-01"}
    )
    await put_close(client, "XYZ", "2024-06-03", "110")
    answer = await client.get(f"/app/users/{user_id}/performance", params={"range": chosen}, headers=HTMX)
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith('<div id="performance"') and "<html" not in answer.text
    dates = chart_points(answer.text)
    assert len(dates) == points and dates[0] == first and dates[-1] == "2025-03-15"
    assert re.findall(r'id="range-(\w+)"[^>]*aria-pressed="true"', answer.text) == [chosen]
    assert answer.text.count('aria-pressed="false"') == 3
    assert "data-invested=" in answer.text and "<script" not in answer.text and "style=" not in answer.text
    if chosen == "Max":  # 1,000 in on 1 December 2023, worth 1,100 since June 2024
        assert '<dd class="twr gain up">+10.00%</dd>' in answer.text
        assert '<dd class="money gain up">+100.00</dd>' in answer.text
    if chosen == "1M":  # no money moved and no close changed: 0, and XIRR defined (paid in: the opening value)
        assert '<dd class="twr gain flat">0.00%</dd>' in answer.text


async def test_a_return_that_is_undefined_is_a_dash_with_a_reason(client: AsyncClient) -> None:
    user_id = await new_user(client)
    await add_stock(client, user_id, "AAPL", "100", 10)  # bought today: no day passes in the period before it
    answer = await client.get(f"/app/users/{user_id}/performance", params={"range": "1M"}, headers=HTMX)
    assert '<dd class="xirr">— <span class="muted">(too short a period, or nothing paid in)</span></dd>' in answer.text


@pytest.mark.parametrize("chosen", ["", "1W", "max", "1m", "\u0661Y", "Max " * 100])
async def test_a_range_the_page_does_not_offer_is_a_422_page(client: AsyncClient, chosen: str) -> None:
    user_id = await new_user(client)
    for headers in (HTMX, {}):
        answer = await client.get(f"/app/users/{user_id}/performance", params={"range": chosen}, headers=headers)
        assert answer.status_code == 422, answer.text
        assert "range" in answer.text


async def test_without_javascript_the_chart_is_a_page_of_its_own(client: AsyncClient) -> None:
    user_id = await new_user(client)
    await add_stock(client, user_id, "AAPL", "100", 10)
    answer = await client.get(f"/app/users/{user_id}/performance?range=Max")
    assert answer.status_code == 200
    assert "<h1>Ada Lovelace\u2019s portfolio over time</h1>" in answer.text and "data-dates=" in answer.text
    assert f'action="/app/users/{user_id}/performance"' in answer.text  # the range buttons submit a GET form


async def test_another_users_chart_is_a_404_page(required_client: AsyncClient) -> None:
    other = await sign_up_through_the_page(required_client, "Alan Turing", "alan@example.com")
    required_client.cookies.clear()
    mine = await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    assert (await required_client.get(f"/app/users/{mine}/performance")).status_code == 200
    for headers in (HTMX, {}):
        theirs = await required_client.get(f"/app/users/{other}/performance?range=Max", headers=headers)
        assert theirs.status_code == 404
        assert f"User with ID {other} not found" in theirs.text


# ---------------------------------------------------------------- the users list's totals (issue 22)


def users_row(html: str, user_id: int) -> list[str]:
    """The cells of a user's row in the users list, as text: name, details, holdings, at cost, market value."""
    row = re.search(rf'<tr data-user="{user_id}">(.*?)</tr>', html, re.S)
    assert row, f"no row for user {user_id}"
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
    ]


def total_row(html: str) -> list[str]:
    row = re.search(r'<tr class="total">(.*?)</tr>', html, re.S)
    assert row, "no total row"
    return [
        re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
    ]


async def test_the_users_list_shows_each_users_holdings_at_cost_and_market_and_a_total(client: AsyncClient) -> None:
    ada = await new_user(client, "Ada Lovelace")
    await add_stock(client, ada, "AAPL", "175.50", 10)
    await add_stock(client, ada, "AAPL", "160", 5)
    await add_stock(client, ada, "TSLA", "250", 4, active=False)  # listed and counted, not valued
    alan = await new_user(client, "Alan Turing")
    await add_stock(client, alan, "MSFT", "1234567.125", 2)
    nobody = await new_user(client, "Nobody Holds")
    await put_close(client, "AAPL", (date.today() - timedelta(days=3)).isoformat(), "200")  # MSFT: no close, at cost
    html, _ = await open_page(client, "/app/users")
    assert users_row(html, ada)[2:] == ["3", "2,555.00", "3,000.00"]
    assert users_row(html, alan)[2:] == ["1", "2,469,134.25", "2,469,134.25"]
    assert users_row(html, nobody)[2:] == ["0", "0.00", "0.00"]
    assert total_row(html) == ["Total, these 3 users", "4", "2,471,689.25", "2,472,134.25"]
    # The same figures as each user's valuation today (GET /users/{id}/portfolio?as_of=).
    for user_id in (ada, alan, nobody):
        api = (await client.get(f"/users/{user_id}/portfolio", params={"as_of": date.today().isoformat()})).json()
        shown = users_row(html, user_id)
        assert Decimal(shown[3].replace(",", "")) == Decimal(str(api["total_value"]))
        assert Decimal(shown[4].replace(",", "")) == Decimal(str(api["market_value"]))


async def test_the_users_list_totals_only_the_users_it_shows(client: AsyncClient) -> None:
    shown = await new_user(client, "Shown Person")
    await add_stock(client, shown, "AAPL", "10", 1)
    hidden = await new_user(client, "Hidden Person")
    await add_stock(client, hidden, "AAPL", "1000", 1)
    html, _ = await open_page(client, "/app/users?name=shown")
    assert f'data-user="{hidden}"' not in html
    assert total_row(html) == ["Total", "1", "10.00", "10.00"]


# ---------------------------------------------------------------- renaming and deleting a user (issue 22)


def version_of(html: str, form_action: str) -> str:
    """The hidden version of the form posting to `form_action`."""
    form = re.search(rf'action="{re.escape(form_action)}".*?name="version" value="(\d+)"', html, re.S)
    assert form, f"no form to {form_action} with a version"
    return form.group(1)


async def test_renaming_a_user_answers_htmx_with_the_section_and_the_new_heading(client: AsyncClient) -> None:
    user_id = await new_user(client, "Ada Byron")
    html, csrf = await open_page(client, f"/app/users/{user_id}")
    version = version_of(html, f"/app/users/{user_id}/name")
    form = {"version": version, "name": "  Ada Lovelace ", "csrf_token": csrf}
    answer = await client.post(f"/app/users/{user_id}/name", data=form, headers=HTMX)
    assert answer.status_code == 200
    assert '<p class="notice" role="status" tabindex="-1" autofocus>Renamed to Ada Lovelace.</p>' in answer.text
    assert '<h1 id="portfolio-heading" hx-swap-oob="true">Ada Lovelace\u2019s portfolio</h1>' in answer.text
    assert (await client.get(f"/users/{user_id}")).json()["name"] == "Ada Lovelace"  # trimmed, as the API does
    # The section carries the new version: renaming again from it works.
    again = {"version": version_of(answer.text, f"/app/users/{user_id}/name"), "name": "Countess Lovelace"}
    assert again["version"] != version
    second = await client.post(f"/app/users/{user_id}/name", data={**again, "csrf_token": csrf}, headers=HTMX)
    assert second.status_code == 200 and "Renamed to Countess Lovelace." in second.text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ada lovelace", "Name must start with a capital letter"),
        ("Al", "String should have at least 3 characters"),
        ("", "String should have at least 3 characters"),
        ("Ada\tLovelace", "Name must not contain control characters such as tab or newline (it has U+0009)"),
        ("A" * 256, "String should have at most 255 characters"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
async def test_a_name_the_api_refuses_is_shown_beside_the_field_and_nothing_changes(
    client: AsyncClient, name: str, message: str, htmx: bool
) -> None:
    user_id = await new_user(client, "Ada Lovelace")
    html, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"version": version_of(html, f"/app/users/{user_id}/name"), "name": name, "csrf_token": csrf}
    answer = await client.post(f"/app/users/{user_id}/name", data=form, headers=HTMX if htmx else {})
    assert answer.status_code == 422
    assert f'<p class="error" id="rename-name-error">{message}</p>' in answer.text
    assert 'id="rename-name"' in answer.text and 'aria-invalid="true"' in answer.text
    assert ('<h1 id="portfolio-heading">' in answer.text) is not htmx  # without htmx, the whole page again
    assert (await client.get(f"/users/{user_id}")).json()["name"] == "Ada Lovelace"


@pytest.mark.parametrize("htmx", [True, False])
async def test_a_rename_after_someone_else_changed_the_user_is_a_conflict(client: AsyncClient, htmx: bool) -> None:
    user_id = await new_user(client, "Ada Lovelace")
    html, csrf = await open_page(client, f"/app/users/{user_id}")
    version = version_of(html, f"/app/users/{user_id}/name")
    assert (await client.patch(f"/users/{user_id}", json={"name": "Ada King"})).status_code == 200
    form = {"version": version, "name": "Ada Byron", "csrf_token": csrf}
    answer = await client.post(f"/app/users/{user_id}/name", data=form, headers=HTMX if htmx else {})
    assert answer.status_code == 412
    assert "Someone changed this user since you opened this page: the name is now Ada King." in answer.text
    assert (await client.get(f"/users/{user_id}")).json()["name"] == "Ada King"
    # What was typed is kept, with the current version: saving again renames.
    assert 'value="Ada Byron"' in answer.text
    again = {"version": version_of(answer.text, f"/app/users/{user_id}/name"), "name": "Ada Byron", "csrf_token": csrf}
    assert (await client.post(f"/app/users/{user_id}/name", data=again)).status_code == 303
    assert (await client.get(f"/users/{user_id}")).json()["name"] == "Ada Byron"


@pytest.mark.parametrize("version", ["abc", "0", "\u0661", str(2**31)])
async def test_a_rename_whose_version_the_page_did_not_write_changes_nothing(client: AsyncClient, version: str) -> None:
    user_id = await new_user(client, "Ada Lovelace")
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"version": version, "name": "Ada Byron", "csrf_token": csrf}
    answer = await client.post(f"/app/users/{user_id}/name", data=form, headers=HTMX)
    assert answer.status_code == 422 and FORM_VERSION_DAMAGED in answer.text
    assert (await client.get(f"/users/{user_id}")).json()["name"] == "Ada Lovelace"


async def test_deleting_a_user_asks_first_then_deletes_them_with_their_holdings(client: AsyncClient) -> None:
    user_id = await new_user(client, "Ada Lovelace", email="ada@example.com")
    stock_id = await add_stock(client, user_id, "AAPL", "10", 3)
    await add_stock(client, user_id, "MSFT", "20", 1)
    html, csrf = await open_page(client, f"/app/users/{user_id}")
    assert f'href="/app/users/{user_id}/delete">Delete Ada Lovelace\u2026</a>' in html
    confirm = await client.get(f"/app/users/{user_id}/delete")
    assert confirm.status_code == 200 and "<h1>Delete Ada Lovelace?</h1>" in confirm.text
    assert (
        f"This deletes Ada Lovelace (#{user_id}, ada@example.com) and\n  "
        "their 2 holdings, with every transaction of them." in confirm.text
    )
    assert (await client.get(f"/users/{user_id}")).status_code == 200  # asking deletes nothing
    form = {"version": version_of(confirm.text, f"/app/users/{user_id}/delete"), "csrf_token": csrf}
    deleted = await client.post(f"/app/users/{user_id}/delete", data=form, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"].endswith("/app/users")
    assert (await client.get(f"/users/{user_id}")).status_code == 404
    assert (await client.get(f"/stocks/{stock_id}")).status_code == 404
    htmx = await client.post(f"/app/users/{user_id}/delete", data=form, headers=HTMX)
    assert htmx.status_code == 404 and f"User with ID {user_id} not found" in htmx.text


async def test_a_delete_confirmed_before_someone_changed_the_user_deletes_nothing(client: AsyncClient) -> None:
    user_id = await new_user(client, "Ada Lovelace")
    confirm, csrf = await open_page(client, f"/app/users/{user_id}/delete")
    version = version_of(confirm, f"/app/users/{user_id}/delete")
    assert (await client.patch(f"/users/{user_id}", json={"name": "Ada King"})).status_code == 200
    answer = await client.post(f"/app/users/{user_id}/delete", data={"version": version, "csrf_token": csrf})
    assert answer.status_code == 412
    assert "This user changed since you opened this page, so nothing was deleted." in answer.text
    assert "<h1>Delete Ada King?</h1>" in answer.text
    assert (await client.get(f"/users/{user_id}")).status_code == 200
    again = {"version": version_of(answer.text, f"/app/users/{user_id}/delete"), "csrf_token": csrf}
    assert (await client.post(f"/app/users/{user_id}/delete", data=again)).status_code == 303
    assert (await client.get(f"/users/{user_id}")).status_code == 404


async def test_a_person_cannot_rename_or_delete_another_user_through_the_pages(required_client: AsyncClient) -> None:
    other = await sign_up_through_the_page(required_client, "Alan Turing", "alan@example.com")
    their_page, _ = await open_page(required_client, f"/app/users/{other}")
    their_version = version_of(their_page, f"/app/users/{other}/name")
    required_client.cookies.clear()
    mine = await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    _, csrf = await open_page(required_client, f"/app/users/{mine}")
    renaming = await required_client.post(
        f"/app/users/{other}/name", data={"version": their_version, "name": "Alan Mathison", "csrf_token": csrf}
    )
    assert renaming.status_code == 404 and f"User with ID {other} not found" in renaming.text
    asking = await required_client.get(f"/app/users/{other}/delete")
    assert asking.status_code == 404 and f"User with ID {other} not found" in asking.text
    deleting = await required_client.post(
        f"/app/users/{other}/delete", data={"version": their_version, "csrf_token": csrf}
    )
    assert deleting.status_code == 404 and f"User with ID {other} not found" in deleting.text
    # Alan is as he was; Grace renames herself.
    required_client.cookies.clear()
    _, csrf = await open_page(required_client, "/app/sign-in")
    await required_client.post(
        "/app/sign-in", data={"email": "alan@example.com", "password": "correct horse battery", "csrf_token": csrf}
    )
    assert "Alan Turing\u2019s portfolio" in (await required_client.get(f"/app/users/{other}")).text


async def test_a_person_deleting_themselves_is_signed_out(required_client: AsyncClient) -> None:
    user_id = await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    confirm, csrf = await open_page(required_client, f"/app/users/{user_id}/delete")
    assert "This is your own account: you will be signed out." in confirm
    form = {"version": version_of(confirm, f"/app/users/{user_id}/delete"), "csrf_token": csrf}
    deleted = await required_client.post(f"/app/users/{user_id}/delete", data=form, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"].endswith("/app/sign-in")
    assert (await required_client.get("/app/", follow_redirects=False)).headers["location"].endswith("/app/sign-in")
    _, csrf = await open_page(required_client, "/app/sign-in")
    again = await required_client.post(
        "/app/sign-in", data={"email": "grace@example.com", "password": "correct horse battery", "csrf_token": csrf}
    )
    assert again.status_code == 401


async def test_an_admin_renames_and_deletes_anyone_through_the_pages(
    required_client: AsyncClient, session: AsyncSession
) -> None:
    other = await sign_up_through_the_page(required_client, "Alan Turing", "alan@example.com")
    required_client.cookies.clear()
    admin = await sign_up_through_the_page(required_client, "Root Admin", "root@example.com")
    await session.exec(update(USERS).where(USERS.c.id == admin).values(is_admin=True))
    required_client.cookies.clear()
    _, csrf = await open_page(required_client, "/app/sign-in")
    await required_client.post(
        "/app/sign-in", data={"email": "root@example.com", "password": "correct horse battery", "csrf_token": csrf}
    )
    html, csrf = await open_page(required_client, f"/app/users/{other}")
    form = {"version": version_of(html, f"/app/users/{other}/name"), "name": "Alan Mathison Turing", "csrf_token": csrf}
    assert (await required_client.post(f"/app/users/{other}/name", data=form)).status_code == 303
    confirm, _ = await open_page(required_client, f"/app/users/{other}/delete")
    assert "<h1>Delete Alan Mathison Turing?</h1>" in confirm and "your own account" not in confirm
    form = {"version": version_of(confirm, f"/app/users/{other}/delete"), "csrf_token": csrf}
    deleted = await required_client.post(f"/app/users/{other}/delete", data=form, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"].endswith("/app/users")
    users, _ = await open_page(required_client, "/app/users")
    assert f'data-user="{other}"' not in users and f'data-user="{admin}"' in users


# ---------------------------------------------------------------- a holding's symbol (issue 22)


async def test_editing_a_symbol_keeps_the_holdings_shares_cost_and_ledger(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "APPL", "100", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    bought = await client.post(
        f"/app/stocks/{stock_id}/transactions",
        data={**record_form("buy", quantity="5", price="130"), "csrf_token": csrf},
    )
    assert bought.status_code == 303
    before = await ledger_of(client, stock_id)
    editing = await client.get(f"/app/stocks/{stock_id}/edit", headers=HTMX)
    assert f'id="edit-{stock_id}-name" name="name" type="text" value="APPL"' in editing.text
    assert f'aria-describedby="edit-{stock_id}-name-hint"' in editing.text
    form = {
        "version": re.search(r'name="version" value="(\d+)"', editing.text).group(1),  # type: ignore[union-attr]
        "name": " aapl ",
        "price": "110",
        "quantity": "15",
        "is_active": "on",
        "csrf_token": csrf,
    }
    saved = await client.post(f"/app/stocks/{stock_id}", data=form, headers=HTMX)
    assert saved.status_code == 200 and "Saved AAPL." in saved.text
    stock = (await client.get(f"/stocks/{stock_id}")).json()
    assert (stock["name"], stock["quantity"], Decimal(str(stock["price"]))) == ("AAPL", 15, Decimal(110))
    assert await ledger_of(client, stock_id) == before  # no transaction: the holding is the one it was
    assert '<tr data-symbol="AAPL">' in saved.text and "APPL" not in saved.text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Symbol must not be empty"),
        ("   ", "Symbol must not be empty"),
        ("$$$", "Symbol may contain only letters A-Z, digits, '.' and '-'"),
        ("ABCDEFGHIJK", "Symbol must be at most 10 characters"),
        (".A", "Symbol must start with a letter A-Z or a digit"),
    ],
)
async def test_a_symbol_the_api_refuses_is_shown_beside_the_field(client: AsyncClient, name: str, message: str) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"version": "", "name": name, "price": "100", "quantity": "10", "is_active": "on", "csrf_token": csrf}
    answer = await client.post(f"/app/stocks/{stock_id}", data=form, headers=HTMX)
    assert answer.status_code == 422
    assert f'<p class="error" id="edit-{stock_id}-name-error">{escape(message)}</p>' in answer.text
    assert (await client.get(f"/stocks/{stock_id}")).json()["name"] == "AAPL"


async def test_a_holding_form_without_the_symbol_leaves_it_as_it_is(client: AsyncClient) -> None:
    user_id = await new_user(client)
    stock_id = await add_stock(client, user_id, "AAPL", "100", 10)
    _, csrf = await open_page(client, f"/app/users/{user_id}")
    form = {"version": "", "price": "100", "quantity": "12", "is_active": "on", "csrf_token": csrf}
    assert (await client.post(f"/app/stocks/{stock_id}", data=form)).status_code == 303
    stock = (await client.get(f"/stocks/{stock_id}")).json()
    assert (stock["name"], stock["quantity"]) == ("AAPL", 12)
