"""The tokens page (/app/tokens): a signed-in person lists, creates (the token shown once) and revokes their tokens."""

import logging
import re

import pytest
from httpx import AsyncClient

from tests.web.test_web import csrf_of, open_page, sign_up_through_the_page

TOKEN = re.compile(r'id="new-token" type="text" value="(pat_[A-Za-z0-9_-]{43})"')


async def create_through_the_page(client: AsyncClient, csrf: str, **fields: str) -> tuple[int, str]:
    answer = await client.post(
        "/app/tokens", data={"name": "nightly", "expires_in_days": "30", "csrf_token": csrf, **fields}
    )
    return answer.status_code, answer.text


async def test_a_stranger_is_sent_to_sign_in(required_client: AsyncClient) -> None:
    answer = await required_client.get("/app/tokens", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].endswith("/app/sign-in")


async def test_in_open_mode_the_page_explains_there_is_no_account_to_hold_tokens(client: AsyncClient) -> None:
    html, csrf = await open_page(client, "/app/tokens")
    assert "AUTH=open" in html and "Create token" not in html
    answer = await client.post("/app/tokens", data={"name": "x", "expires_in_days": "30", "csrf_token": csrf})
    assert answer.status_code == 303


async def test_a_token_is_created_shown_once_used_and_revoked(required_client: AsyncClient) -> None:
    user_id = await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    html, csrf = await open_page(required_client, "/app/tokens")
    assert "No tokens yet." in html and ">Tokens</a>" in html
    assert 'name="admin"' not in html  # not an admin: no admin scope offered

    status, html = await create_through_the_page(required_client, csrf, write="on")
    assert status == 201
    found = TOKEN.search(html)
    assert found, "the new token is shown"
    token = found.group(1)
    assert "Copy it now" in html and "shown only this once" in html
    headers = {"Authorization": f"Bearer {token}"}
    stock = {"name": "AAPL", "price": 1, "quantity": 1, "is_active": True}
    assert (await required_client.post(f"/users/{user_id}/stocks/", json=stock, headers=headers)).status_code == 201

    listed, csrf = await open_page(required_client, "/app/tokens")
    assert token not in listed and f"<code>{token[:12]}…</code>" in listed  # recognised, never shown again
    assert "read, write" in listed
    token_id = re.search(r'data-token-id="(\d+)"', listed)
    assert token_id
    revoked = await required_client.post(
        f"/app/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303 and revoked.headers["location"].endswith("/app/tokens")
    assert (await required_client.get("/users/me", headers=headers)).status_code == 401
    assert "No tokens yet." in (await open_page(required_client, "/app/tokens"))[0]


async def test_a_read_token_is_the_default(required_client: AsyncClient) -> None:
    await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    _, csrf = await open_page(required_client, "/app/tokens")
    status, html = await create_through_the_page(required_client, csrf)
    assert status == 201
    found = TOKEN.search(html)
    assert found
    refused = await required_client.delete("/users/1", headers={"Authorization": f"Bearer {found.group(1)}"})
    assert refused.status_code == 403


async def test_without_the_csrf_token_nothing_is_created_or_revoked(required_client: AsyncClient) -> None:
    await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    assert (await required_client.post("/app/tokens", data={"name": "x", "expires_in_days": "30"})).status_code == 403
    _, csrf = await open_page(required_client, "/app/tokens")
    await create_through_the_page(required_client, csrf)
    listed, _ = await open_page(required_client, "/app/tokens")
    token_id = re.search(r'data-token-id="(\d+)"', listed)
    assert token_id
    assert (await required_client.post(f"/app/tokens/{token_id.group(1)}/revoke")).status_code == 403
    assert 'data-token-id="' in (await open_page(required_client, "/app/tokens"))[0]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "   "}, "new-token-name"),
        ({"name": "x" * 101}, "new-token-name"),
        ({"expires_in_days": "400"}, "new-token-expires_in_days"),
        ({"expires_in_days": "thirty"}, "new-token-expires_in_days"),
        ({"expires_in_days": ""}, "new-token-expires_in_days"),
    ],
)
async def test_a_bad_field_is_shown_beside_it_and_nothing_is_created(
    required_client: AsyncClient, fields: dict[str, str], field: str
) -> None:
    await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    _, csrf = await open_page(required_client, "/app/tokens")
    status, html = await create_through_the_page(required_client, csrf, **fields)
    assert status == 422
    assert f'id="{field}-error"' in html
    assert TOKEN.search(html) is None and "No tokens yet." in html


async def test_an_admin_scope_asked_by_a_non_admin_is_refused_with_the_apis_words(required_client: AsyncClient) -> None:
    await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    _, csrf = await open_page(required_client, "/app/tokens")
    status, html = await create_through_the_page(required_client, csrf, admin="on")
    assert status == 403
    assert "Only an admin may create a token with the &#34;admin&#34; scope" in html


async def test_another_persons_token_is_a_404_page(required_client: AsyncClient) -> None:
    await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    _, csrf = await open_page(required_client, "/app/tokens")
    await create_through_the_page(required_client, csrf)
    listed, csrf = await open_page(required_client, "/app/tokens")
    token_id = re.search(r'data-token-id="(\d+)"', listed)
    assert token_id
    await required_client.post("/app/sign-out", data={"csrf_token": csrf})
    await sign_up_through_the_page(required_client, "Alan Turing", "alan@example.com")
    _, csrf = await open_page(required_client, "/app/tokens")
    answer = await required_client.post(f"/app/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf})
    assert answer.status_code == 404
    assert f"Personal access token with ID {token_id.group(1)} not found" in answer.text


async def test_the_new_token_is_in_no_log_line(required_client: AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    await sign_up_through_the_page(required_client, "Grace Hopper", "grace@example.com")
    html, _ = await open_page(required_client, "/app/tokens")
    with caplog.at_level(logging.DEBUG):
        status, html = await create_through_the_page(required_client, csrf_of(html))
    assert status == 201 and caplog.records
    found = TOKEN.search(html)
    assert found and found.group(1) not in caplog.text
