"""Accounts and tokens: sign-up, sign-in, every way a token is refused, rotation, reuse, sign-out, passwords."""

import base64
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth.tokens import AUDIENCE, ISSUER
from tests.helpers import (
    INVALID_GRANT,
    JOHN,
    PASSWORD,
    TEST_SECRET_KEY,
    admin_token,
    bearer,
    error_locations,
    sign_in,
    sign_up,
)

JANE = "jane@example.com"


def claims(**changes: Any) -> dict[str, Any]:
    """The claims of a valid access token for user 1, with `changes` (None removes a claim)."""
    now = datetime.now(UTC)
    valid = {
        "sub": "1", "adm": False, "typ": "access", "iss": ISSUER, "aud": AUDIENCE,
        "iat": now, "exp": now + timedelta(minutes=5), "jti": "x",
    }  # fmt: skip
    merged = valid | changes
    return {key: value for key, value in merged.items() if value is not None}


def unsigned(payload: dict[str, Any]) -> str:
    """A token with `alg: none`, as an attacker would forge one."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


# ---------------------------------------------------------------- sign-up


async def test_signing_up_needs_an_email_and_a_password_when_auth_is_required(required_client: AsyncClient) -> None:
    response = await required_client.post("/users/", json=JOHN)
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "email")]
    response = await required_client.post("/users/", json={**JOHN, "email": JANE})
    assert error_locations(response.json()) == [("body", "password")]


async def test_a_sign_up_answers_the_user_without_any_password(required_client: AsyncClient) -> None:
    user = await sign_up(required_client, "Jane@Example.COM")
    assert user["email"] == JANE  # stored lower-case
    assert user["is_admin"] is False
    assert "password" not in json.dumps(user) and PASSWORD not in json.dumps(user)


@pytest.mark.parametrize(
    ("password", "why"),
    [("tiny-pw", "at least 12"), ("x" * 129, "at most 128"), ("my jane secret!", "before the @")],
)
async def test_a_weak_password_is_a_422_that_does_not_repeat_it(
    required_client: AsyncClient, password: str, why: str
) -> None:
    response = await required_client.post("/users/", json={**JOHN, "email": JANE, "password": password})
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "password")]
    assert why in response.text
    assert password not in response.text


async def test_an_email_is_one_account_whatever_its_case(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    response = await required_client.post("/users/", json={**JOHN, "email": "JANE@example.com", "password": PASSWORD})
    assert (response.status_code, response.json()["detail"]) == (409, "A user with this email already exists")


async def test_only_an_admin_makes_an_admin(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    body = {**JOHN, "email": JANE, "password": PASSWORD, "is_admin": True}
    assert (await required_client.post("/users/", json=body)).status_code == 403
    user = await sign_up(required_client, JANE)
    own_token = required_app.state.access_tokens.issue(user["id"], is_admin=False)
    patched = await required_client.patch(f"/users/{user['id']}", json={"is_admin": True}, headers=bearer(own_token))
    assert (patched.status_code, patched.json()["detail"]) == (403, "Only an admin may set is_admin")
    admin = await admin_token(required_client, required_app, session)
    patched = await required_client.patch(f"/users/{user['id']}", json={"is_admin": True}, headers=bearer(admin))
    assert (patched.status_code, patched.json()["is_admin"]) == (200, True)


# ---------------------------------------------------------------- sign-in


async def test_signing_in_answers_a_bearer_token_pair_that_is_not_cached(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    response = await required_client.post("/auth/token", data={"username": "JANE@example.com", "password": PASSWORD})
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (pair["token_type"], pair["expires_in"]) == ("bearer", 15 * 60)
    assert response.headers["cache-control"] == "no-store"
    me = await required_client.get("/users/me", headers=bearer(pair["access_token"]))
    assert (me.status_code, me.json()["email"], me.json()["stocks"]) == (200, JANE, [])


async def test_an_access_token_carries_every_claim_and_pins_the_algorithm(required_client: AsyncClient) -> None:
    user = await sign_up(required_client, JANE)
    token = (await sign_in(required_client, JANE))["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, TEST_SECRET_KEY, algorithms=["HS256"], audience=AUDIENCE)
    assert set(payload) == {"sub", "adm", "typ", "iss", "aud", "iat", "exp", "jti"}
    assert (payload["sub"], payload["typ"], payload["adm"]) == (str(user["id"]), "access", False)
    assert payload["exp"] - payload["iat"] == 15 * 60


@pytest.mark.parametrize("email", ["nobody@example.com", JANE])
async def test_a_wrong_email_and_a_wrong_password_get_the_same_invalid_grant(
    required_client: AsyncClient, email: str
) -> None:
    await sign_up(required_client, JANE)
    response = await required_client.post("/auth/token", data={"username": email, "password": "wrong password!"})
    assert (response.status_code, response.json()) == (400, INVALID_GRANT)
    assert response.headers["cache-control"] == "no-store"  # RFC 6749, 5.2 (as 5.1)


@pytest.mark.parametrize("email", ["jane\x00@example.com", "x" * 10_000, "   "])
async def test_an_odd_username_is_the_same_invalid_grant(required_client: AsyncClient, email: str) -> None:
    response = await required_client.post("/auth/token", data={"username": email, "password": "wrong password!"})
    assert (response.status_code, response.json()) == (400, INVALID_GRANT)


async def test_a_user_without_a_password_cannot_sign_in(client: AsyncClient) -> None:
    user = (await client.post("/users/", json={**JOHN, "email": JANE})).json()  # AUTH=open: no password needed
    response = await client.post("/auth/token", data={"username": JANE, "password": PASSWORD})
    assert response.status_code == 400
    # ... until a password is set on them
    assert (await client.patch(f"/users/{user['id']}", json={"password": PASSWORD})).status_code == 200
    assert (await sign_in(client, JANE))["token_type"] == "bearer"


async def test_unknown_emails_are_answered_as_slowly_as_wrong_passwords(required_client: AsyncClient) -> None:
    """No timing oracle: an unknown email is checked against a dummy hash. Medians, one run, a wide margin."""
    await sign_up(required_client, JANE)

    async def seconds(email: str) -> float:
        started = time.perf_counter()
        response = await required_client.post("/auth/token", data={"username": email, "password": "wrong password!"})
        assert response.status_code == 400
        return time.perf_counter() - started

    unknown, wrong = [], []
    for n in range(8):  # alternate, so drift in the machine's speed hits both alike; under the throttle's 20
        unknown.append(await seconds(f"nobody{n}@example.com"))
        wrong.append(await seconds(JANE) if n < 4 else await seconds(f"jane{n}@example.com"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2, (unknown, wrong)


# ---------------------------------------------------------------- refused tokens


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("not-a-jwt", id="malformed"),
        pytest.param(jwt.encode(claims(exp=datetime.now(UTC) - timedelta(seconds=5)), TEST_SECRET_KEY), id="expired"),
        pytest.param(jwt.encode(claims(), "another-key-that-is-also-long-enough-for-hs256"), id="wrongly-signed"),
        pytest.param(jwt.encode(claims(aud="another-service"), TEST_SECRET_KEY), id="wrong-audience"),
        pytest.param(jwt.encode(claims(iss="someone-else"), TEST_SECRET_KEY), id="wrong-issuer"),
        pytest.param(jwt.encode(claims(typ="refresh"), TEST_SECRET_KEY), id="not-an-access-token"),
        pytest.param(jwt.encode(claims(jti=None), TEST_SECRET_KEY), id="missing-claim"),
        pytest.param(jwt.encode(claims(sub="admin"), TEST_SECRET_KEY), id="malformed-subject"),
        pytest.param(jwt.encode(claims(), TEST_SECRET_KEY, algorithm="HS512"), id="another-algorithm"),
        pytest.param(unsigned(claims()), id="alg-none"),
    ],
)
@pytest.mark.parametrize("mode", ["required", "open"])
async def test_a_bad_token_is_a_401_saying_invalid_token_in_either_mode(
    required_client: AsyncClient, client: AsyncClient, token: str, mode: str
) -> None:
    caller = required_client if mode == "required" else client
    for method, path in [("GET", "/users/"), ("GET", "/stocks/"), ("GET", "/users/me")]:
        response = await caller.request(method, path, headers=bearer(token))
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert response.json()["detail"] == "Invalid or expired access token"


async def test_a_refresh_token_is_not_an_access_token(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    pair = await sign_in(required_client, JANE)
    response = await required_client.get("/users/me", headers=bearer(pair["refresh_token"]))
    assert response.status_code == 401


async def test_no_token_is_a_401_where_one_is_required(required_client: AsyncClient, client: AsyncClient) -> None:
    response = await required_client.get("/stocks/")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/stocks/")).status_code == 200  # AUTH=open: the guide's API
    assert (await client.get("/users/me")).status_code == 401  # "me" needs someone to be


# ---------------------------------------------------------------- refresh, reuse, sign-out


async def test_a_refresh_token_works_once_and_its_successor_works(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    first = await sign_in(required_client, JANE)
    response = await required_client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await required_client.get("/users/me", headers=bearer(second["access_token"]))).status_code == 200
    third = await required_client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


async def test_a_refresh_token_reused_after_the_grace_window_ends_the_whole_login(
    required_client: AsyncClient, connection: AsyncConnection
) -> None:
    await sign_up(required_client, JANE)
    stolen = (await sign_in(required_client, JANE))["refresh_token"]
    owners = (await required_client.post("/auth/refresh", json={"refresh_token": stolen})).json()
    # REFRESH_GRACE_SECONDS (10) have passed since it was used.
    await connection.execute(text("UPDATE refresh_tokens SET used_at = used_at - interval '11 seconds'"))
    reused = await required_client.post("/auth/refresh", json={"refresh_token": stolen})
    assert reused.status_code == 401
    assert reused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    # The successor the owner holds is revoked too: whoever has it must sign in again.
    assert (await required_client.post("/auth/refresh", json=owners | {})).status_code in (401, 422)
    response = await required_client.post("/auth/refresh", json={"refresh_token": owners["refresh_token"]})
    assert response.status_code == 401
    # Another login of the same user is untouched.
    other_login = await sign_in(required_client, JANE)
    assert (
        await required_client.post("/auth/refresh", json={"refresh_token": other_login["refresh_token"]})
    ).status_code == 200


async def test_signing_out_revokes_that_login_only(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    phone, laptop = await sign_in(required_client, JANE), await sign_in(required_client, JANE)
    response = await required_client.post("/auth/logout", json={"refresh_token": phone["refresh_token"]})
    assert (response.status_code, response.content) == (204, b"")
    assert (
        await required_client.post("/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    ).status_code == 401
    assert (
        await required_client.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    ).status_code == 200
    # Signing out twice, or with a token nobody issued, says nothing either way.
    assert (
        await required_client.post("/auth/logout", json={"refresh_token": phone["refresh_token"]})
    ).status_code == 204
    assert (await required_client.post("/auth/logout", json={"refresh_token": "made-up"})).status_code == 204


async def test_an_unknown_refresh_token_is_a_401(required_client: AsyncClient) -> None:
    response = await required_client.post("/auth/refresh", json={"refresh_token": "made-up"})
    assert response.status_code == 401


# ---------------------------------------------------------------- passwords


async def test_changing_a_password_ends_every_login(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    pair = await sign_in(required_client, JANE)
    new = "a completely new passphrase"
    wrong = await required_client.put(
        "/users/me/password",
        json={"current_password": "not my password", "new_password": new},
        headers=bearer(pair["access_token"]),
    )
    assert wrong.status_code == 403
    assert "not my password" not in wrong.text
    changed = await required_client.put(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": new},
        headers=bearer(pair["access_token"]),
    )
    assert (changed.status_code, changed.content) == (204, b"")
    assert (
        await required_client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    ).status_code == 401
    failed = await required_client.post("/auth/token", data={"username": JANE, "password": PASSWORD})
    assert failed.status_code == 400
    assert (await sign_in(required_client, JANE, new))["token_type"] == "bearer"


async def test_a_new_password_follows_the_same_rules(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    token = (await sign_in(required_client, JANE))["access_token"]
    response = await required_client.put(
        "/users/me/password",
        json={"current_password": PASSWORD, "new_password": "jane's new password"},
        headers=bearer(token),
    )
    assert response.status_code == 422
    assert error_locations(response.json()) == [("body", "new_password")]


async def test_a_password_is_changed_by_patch_only_where_there_was_none(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    user = await sign_up(required_client, JANE)
    token = (await sign_in(required_client, JANE))["access_token"]
    response = await required_client.patch(
        f"/users/{user['id']}", json={"password": "another passphrase"}, headers=bearer(token)
    )
    assert response.status_code == 403
    assert "PUT /users/me/password" in response.json()["detail"]
    admin = await admin_token(required_client, required_app, session)
    reset = await required_client.patch(
        f"/users/{user['id']}", json={"password": "another passphrase"}, headers=bearer(admin)
    )
    assert reset.status_code == 200
    assert (await sign_in(required_client, JANE, "another passphrase"))["token_type"] == "bearer"


# ---------------------------------------------------------------- throttling


async def test_five_failures_for_one_email_throttle_it_with_retry_after(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    for _ in range(5):
        response = await required_client.post("/auth/token", data={"username": JANE, "password": "wrong password!"})
        assert response.status_code == 400
    throttled = await required_client.post("/auth/token", data={"username": JANE, "password": PASSWORD})
    assert throttled.status_code == 429  # even with the right password now
    assert 14 * 60 < int(throttled.headers["retry-after"]) <= 15 * 60
    # Another email from the same address is not throttled yet.
    await sign_up(required_client, "joe@example.com")
    assert (await sign_in(required_client, "joe@example.com"))["token_type"] == "bearer"


async def test_twenty_failures_from_one_address_throttle_it(required_client: AsyncClient) -> None:
    for n in range(20):
        response = await required_client.post("/auth/token", data={"username": f"u{n}@example.com", "password": "x"})
        assert response.status_code == 400
    response = await required_client.post("/auth/token", data={"username": "u99@example.com", "password": "x"})
    assert response.status_code == 429


async def test_a_successful_sign_in_forgives_its_emails_failures(required_client: AsyncClient) -> None:
    await sign_up(required_client, JANE)
    for _ in range(4):
        await required_client.post("/auth/token", data={"username": JANE, "password": "wrong password!"})
    await sign_in(required_client, JANE)
    for _ in range(4):
        await required_client.post("/auth/token", data={"username": JANE, "password": "wrong password!"})
    assert (await sign_in(required_client, JANE))["token_type"] == "bearer"


# ---------------------------------------------------------------- what never leaks


async def test_no_password_or_token_appears_in_a_log_line_or_an_error_body(
    required_client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    bodies: list[str] = []

    async def call(method: str, path: str, **kwargs: Any) -> Any:
        response = await required_client.request(method, path, **kwargs)
        if response.status_code >= 400:
            bodies.append(response.text)
        return response

    await call("POST", "/users/", json={**JOHN, "email": JANE, "password": PASSWORD})
    await call("POST", "/users/", json={**JOHN, "email": JANE, "password": PASSWORD})  # 409
    await call("POST", "/users/", json={"email": "x@example.com", "password": "short-secret"})  # 422s
    await call("POST", "/users/", json={"name": "bob", "email": "x@example.com", "password": "long enough secret"})
    await call("POST", "/auth/token", data={"username": JANE, "password": "wrong password!"})
    pair = (await call("POST", "/auth/token", data={"username": JANE, "password": PASSWORD})).json()
    await call("GET", "/users/me", headers=bearer(pair["access_token"]))
    await call("GET", "/users/1", headers=bearer(pair["access_token"] + "x"))
    refreshed = (await call("POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]})).json()
    await call("POST", "/auth/refresh", json={"refresh_token": pair["refresh_token"]})  # again, within the grace
    await call("PUT", "/users/me/password", json={"current_password": "wrong password!", "new_password": "short"},
               headers=bearer(refreshed["access_token"]))  # fmt: skip
    await call("POST", "/auth/logout", json={"refresh_token": refreshed["refresh_token"]})

    secrets = [PASSWORD, "wrong password!", "short-secret", "long enough secret", pair["access_token"],
               pair["refresh_token"], refreshed["access_token"], refreshed["refresh_token"]]  # fmt: skip
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    assert len(bodies) >= 6
    for secret in secrets:
        assert secret not in logged
        for body in bodies:
            assert secret not in body


async def test_a_failed_statements_error_text_names_no_bound_value(engine: AsyncEngine) -> None:
    """The engine hides bound parameters: a failed INSERT's error, which the 500 path logs, holds no hash."""
    secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$never-in-a-log"
    statement = text("INSERT INTO users (name, age, password_hash) VALUES (:name, :age, :hash)")
    async with engine.connect() as connection:
        with pytest.raises(DBAPIError) as failure:
            await connection.execute(statement, {"name": "Jane Doe", "age": 2**40, "hash": secret_hash})
    assert "never-in-a-log" not in str(failure.value)
    assert "hidden due to hide_parameters" in str(failure.value)


def test_the_account_queries_read_columns_the_users_table_has() -> None:
    """auth reads four columns of `users` through a view of its own (it sits below users): same names, same types."""
    from app.auth.repository import ACCOUNTS
    from app.users.models import USERS

    assert ACCOUNTS.name == USERS.name
    assert [column.name for column in ACCOUNTS.c] == ["id", "email", "password_hash", "is_admin"]
    for column in ACCOUNTS.c:
        assert isinstance(USERS.c[column.name].type, type(column.type)), column.name
