"""POST /auth/token speaks OAuth2 (RFC 6749): both grants, its error shape; and the throttles tell what is left.

The RateLimit-* headers (IETF draft httpapi-ratelimit-headers) are on every
answer of the throttled operations, and count down as the throttle counts.
"""

import pytest
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from app.auth.repository import MAX_FAILURES_PER_EMAIL
from app.core.config import Settings
from tests.auth.test_auth_throttles import WRONG, required_client_with
from tests.helpers import INVALID_GRANT, JOHN, PASSWORD, bearer, sign_in, sign_up

JANE = "jane@example.com"
NO_STORE = "no-store"


async def token(client: AsyncClient, **form: str) -> Response:
    return await client.post("/auth/token", data=form)


def rate_limit(response: Response) -> tuple[int, int, int]:
    headers = response.headers
    return int(headers["ratelimit-limit"]), int(headers["ratelimit-remaining"]), int(headers["ratelimit-reset"])


# ---------------------------------------------------------------- the refresh-token grant


async def test_the_refresh_grant_answers_a_new_pair_and_uses_the_token_up(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    first = await sign_in(required_client, JANE)
    response = await token(required_client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == NO_STORE
    second = response.json()
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert second["refresh_token"] != first["refresh_token"]
    assert (await required_client.get("/users/me", headers=bearer(second["access_token"]))).status_code == 200
    # /auth/refresh and the grant share their rules: the successor works once at either door.
    assert (await required_client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})).is_success


async def test_a_refresh_token_reused_past_the_grace_window_is_invalid_grant_and_ends_the_login(
    required_client: AsyncClient, connection: AsyncConnection
) -> None:
    from sqlalchemy import text

    await sign_up(required_client, JANE)
    stolen = (await sign_in(required_client, JANE))["refresh_token"]
    owners = (await token(required_client, grant_type="refresh_token", refresh_token=stolen)).json()
    await connection.execute(text("UPDATE refresh_tokens SET used_at = used_at - interval '11 seconds'"))
    reused = await token(required_client, grant_type="refresh_token", refresh_token=stolen)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert stolen not in reused.text
    owner_refreshes = await token(required_client, grant_type="refresh_token", refresh_token=owners["refresh_token"])
    assert (owner_refreshes.status_code, owner_refreshes.json()["error"]) == (400, "invalid_grant")


# ---------------------------------------------------------------- RFC 6749, 5.2 errors


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password", "username": JANE}, "invalid_request"),
        ({"grant_type": "password", "password": PASSWORD}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token", "refresh_token": "never issued"}, "invalid_grant"),
        ({"username": JANE, "password": WRONG}, "invalid_grant"),  # grant_type defaults to password
    ],
)
async def test_token_errors_are_oauth2s_400s_not_cached(
    required_client: AsyncClient, form: dict[str, str], error: str
) -> None:
    await sign_up(required_client, JANE)
    response = await token(required_client, **form)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == NO_STORE
    body = response.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error
    assert WRONG not in response.text and "never issued" not in response.text


async def test_a_wrong_password_is_invalid_grant_and_counted_as_before(
    required_client: AsyncClient, connection: AsyncConnection
) -> None:
    from sqlalchemy import text

    await sign_up(required_client, JANE)
    response = await token(required_client, username=JANE, password=WRONG)
    assert (response.status_code, response.json()) == (400, INVALID_GRANT)
    assert await connection.scalar(text("SELECT count(*) FROM login_failures WHERE email = :e"), {"e": JANE}) == 1


async def test_a_throttled_sign_in_is_a_429_slow_down_with_retry_after(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    for _ in range(MAX_FAILURES_PER_EMAIL):
        assert (await token(required_client, username=JANE, password=WRONG)).status_code == 400
    throttled = await token(required_client, username=JANE, password=PASSWORD)
    assert throttled.status_code == 429
    assert throttled.json() == {"error": "slow_down", "error_description": "Too many failed sign-ins; try again later"}
    assert throttled.headers["cache-control"] == NO_STORE
    retry_after = int(throttled.headers["retry-after"])
    assert 14 * 60 < retry_after <= 15 * 60
    assert rate_limit(throttled) == (MAX_FAILURES_PER_EMAIL, 0, retry_after)


async def test_the_other_auth_routes_still_speak_problem_details(required_client: AsyncClient) -> None:
    response = await required_client.post("/auth/refresh", json={"refresh_token": "never issued"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_refresh_token"
    assert "never issued" not in response.text


# ---------------------------------------------------------------- RateLimit-* counting down


async def test_sign_in_failures_count_the_remaining_tries_down(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    first = await token(required_client, username=JANE, password=PASSWORD)
    assert rate_limit(first)[:2] == (MAX_FAILURES_PER_EMAIL, MAX_FAILURES_PER_EMAIL)
    remaining = []
    for _ in range(3):
        failed = await token(required_client, username=JANE, password=WRONG)
        limit, left, reset = rate_limit(failed)
        assert limit == MAX_FAILURES_PER_EMAIL
        assert 0 < reset <= 15 * 60
        remaining.append(left)
    assert remaining == [4, 3, 2]
    # A sign-in forgives its email's failures: the email's 5 are back.
    assert rate_limit(await token(required_client, username=JANE, password=PASSWORD))[:2] == (5, 5)


async def test_wrong_current_passwords_count_down_and_a_right_one_says_what_is_left(
    required_client: AsyncClient,
) -> None:
    await sign_up(required_client, JANE)
    access = (await sign_in(required_client, JANE))["access_token"]
    wrong = {"current_password": WRONG, "new_password": "a whole new passphrase"}
    answers = [await required_client.put("/users/me/password", json=wrong, headers=bearer(access)) for _ in range(2)]
    assert [(answer.status_code, rate_limit(answer)[1]) for answer in answers] == [(403, 4), (403, 3)]
    assert [answer.json()["code"] for answer in answers] == ["wrong_current_password"] * 2
    right = {"current_password": PASSWORD, "new_password": "a whole new passphrase"}
    changed = await required_client.put("/users/me/password", json=right, headers=bearer(access))
    assert changed.status_code == 204
    assert rate_limit(changed)[:2] == (MAX_FAILURES_PER_EMAIL, 3)


async def test_sign_ups_count_the_addresss_remaining_down_to_the_429(
    settings: Settings, connection: AsyncConnection
) -> None:
    async with required_client_with(settings, connection, signups_per_hour=3) as client:
        answers = [
            await client.post("/users/", json={**JOHN, "email": f"user{n}@example.com", "password": PASSWORD})
            for n in range(4)
        ]
    assert [answer.status_code for answer in answers] == [201, 201, 201, 429]
    assert [rate_limit(answer)[:2] for answer in answers] == [(3, 2), (3, 1), (3, 0), (3, 0)]
    assert all(0 < rate_limit(answer)[2] <= 3600 for answer in answers)
    assert answers[3].headers["content-type"] == "application/problem+json"
    assert answers[3].json()["code"] == "rate_limited"
    assert int(answers[3].headers["retry-after"]) == rate_limit(answers[3])[2]


async def test_an_open_api_and_an_admin_get_no_sign_up_rate_limit(client: AsyncClient) -> None:
    response = await client.post("/users/", json=JOHN)
    assert response.status_code == 201
    assert "ratelimit-limit" not in response.headers
