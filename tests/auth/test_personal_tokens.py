"""Personal access tokens: created once and shown once, used as a Bearer token under their scopes, revoked at once.

Each rule of app/auth/personal_tokens.py and app/auth/access.py, through the
API, on real PostgreSQL. Every test runs in one rolled-back transaction, so
PostgreSQL's now() is the same throughout a test: expiry and "used a minute
ago" are set by moving the rows' times, never by waiting.
"""

import hashlib
import logging
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.auth import personal_tokens
from app.users.models import USERS
from tests.helpers import AAPL, JOHN, PASSWORD, admin_token, bearer, sign_in, sign_up

READ = {"name": "nightly report", "scopes": ["read"], "expires_in_days": 30}
WRITE = {"name": "importer", "scopes": ["read", "write"], "expires_in_days": 30}
INSUFFICIENT_SCOPE = 'Bearer error="insufficient_scope"'
INVALID_TOKEN = 'Bearer error="invalid_token"'
LOGIN_NEEDED = "A personal access token cannot manage tokens or change a password: sign in with your password for that"


async def signed_in_user(client: AsyncClient, email: str = "jane@example.com") -> tuple[int, dict[str, str]]:
    """A new user's id and the Authorization header of their password sign-in (a JWT)."""
    user = await sign_up(client, email)
    return user["id"], bearer((await sign_in(client, email))["access_token"])


async def new_token(client: AsyncClient, login: dict[str, str], body: dict[str, Any] = WRITE) -> dict[str, Any]:
    response = await client.post("/users/me/tokens", json=body, headers=login)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def token_row(session: AsyncSession, token_id: int) -> dict[str, Any] | None:
    result = await session.exec(  # type: ignore[call-overload]
        text("SELECT *, now() AS now FROM personal_access_tokens WHERE id = :id"), params={"id": token_id}
    )
    row = result.mappings().first()
    return None if row is None else dict(row)


# ---------------------------------------------------------------- creating, listing, revoking


async def test_a_new_token_is_shown_once_and_only_its_hash_is_kept(
    required_client: AsyncClient, session: AsyncSession
) -> None:
    _, login = await signed_in_user(required_client)
    response = await required_client.post("/users/me/tokens", json=WRITE, headers=login)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    created = response.json()
    token = created.pop("token")
    assert token.startswith("pat_") and len(token) == 4 + 43  # 32 random bytes, URL-safe base64
    assert created["name"] == "importer" and created["scopes"] == ["read", "write"]
    assert created["prefix"] == token[:12]
    assert created["last_used_at"] is None
    row = await token_row(session, created["id"])
    assert row is not None
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(value) for value in row.values()}
    assert (row["expires_at"] - row["created_at"]).days == 30

    listed = await required_client.get("/users/me/tokens", headers=login)
    assert listed.status_code == 200
    assert listed.json() == [created]  # the same metadata, and neither the token nor its hash
    assert token not in listed.text and row["token_hash"] not in listed.text


async def test_a_token_works_as_a_bearer_token_in_both_modes(required_client: AsyncClient, client: AsyncClient) -> None:
    for http in (required_client, client):
        user_id, login = await signed_in_user(http, f"jane-{id(http)}@example.com")
        token = bearer((await new_token(http, login, READ))["token"])
        me = await http.get("/users/me", headers=token)
        assert (me.status_code, me.json()["id"]) == (200, user_id)
        assert (await http.get(f"/users/{user_id}/stocks/", headers=token)).status_code == 200


async def test_the_list_is_the_callers_own_live_tokens_oldest_first(
    required_client: AsyncClient, session: AsyncSession
) -> None:
    _, jane = await signed_in_user(required_client)
    _, john = await signed_in_user(required_client, "john@example.com")
    first = await new_token(required_client, jane, READ)
    second = await new_token(required_client, jane, WRITE)
    expired = await new_token(required_client, jane, READ)
    await new_token(required_client, john, READ)
    await session.exec(  # type: ignore[call-overload]
        text("UPDATE personal_access_tokens SET expires_at = now() - interval '1 second' WHERE id = :id"),
        params={"id": expired["id"]},
    )
    listed = (await required_client.get("/users/me/tokens", headers=jane)).json()
    assert [token["id"] for token in listed] == [first["id"], second["id"]]


async def test_a_revoked_token_is_refused_at_once(required_client: AsyncClient) -> None:
    _, login = await signed_in_user(required_client)
    created = await new_token(required_client, login)
    token = bearer(created["token"])
    assert (await required_client.get("/users/me", headers=token)).status_code == 200
    revoked = await required_client.delete(f"/users/me/tokens/{created['id']}", headers=login)
    assert (revoked.status_code, revoked.content) == (204, b"")
    refused = await required_client.get("/users/me", headers=token)
    assert (refused.status_code, refused.json()["detail"]) == (401, "Invalid or expired access token")
    assert refused.headers["WWW-Authenticate"] == INVALID_TOKEN
    assert (await required_client.get("/users/me/tokens", headers=login)).json() == []
    again = await required_client.delete(f"/users/me/tokens/{created['id']}", headers=login)
    assert (again.status_code, again.json()["detail"]) == (
        404,
        f"Personal access token with ID {created['id']} not found",
    )


@pytest.mark.parametrize("token_id", [0, -1, 2**31, 2**70])
async def test_revoking_an_id_no_row_can_have_is_a_404(required_client: AsyncClient, token_id: int) -> None:
    _, login = await signed_in_user(required_client)
    response = await required_client.delete(f"/users/me/tokens/{token_id}", headers=login)
    assert (response.status_code, response.json()["detail"]) == (
        404,
        f"Personal access token with ID {token_id} not found",
    )


async def test_another_users_token_cannot_be_revoked_and_keeps_working(required_client: AsyncClient) -> None:
    _, jane = await signed_in_user(required_client)
    _, john = await signed_in_user(required_client, "john@example.com")
    johns = await new_token(required_client, john, READ)
    response = await required_client.delete(f"/users/me/tokens/{johns['id']}", headers=jane)
    assert (response.status_code, response.json()["detail"]) == (
        404,
        f"Personal access token with ID {johns['id']} not found",
    )
    assert (await required_client.get("/users/me", headers=bearer(johns["token"]))).status_code == 200


async def test_an_expired_token_is_refused(required_client: AsyncClient, session: AsyncSession) -> None:
    _, login = await signed_in_user(required_client)
    created = await new_token(required_client, login, READ)
    await session.exec(  # type: ignore[call-overload]
        text("UPDATE personal_access_tokens SET expires_at = now() WHERE id = :id"), params={"id": created["id"]}
    )
    refused = await required_client.get("/users/me", headers=bearer(created["token"]))
    assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (401, INVALID_TOKEN)


async def test_a_token_that_was_never_made_is_refused(required_client: AsyncClient, client: AsyncClient) -> None:
    for http in (required_client, client):  # a token that is sent is checked, in open mode too
        for token in (b"pat_", b"pat_" + b"A" * 43, "pat_\u00e9t\u00e9".encode("latin-1")):
            refused = await http.get("/stocks/", headers={b"Authorization": b"Bearer " + token})
            assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (401, INVALID_TOKEN), token


async def test_the_token_dies_with_its_user(required_client: AsyncClient, session: AsyncSession) -> None:
    user_id, login = await signed_in_user(required_client)
    created = await new_token(required_client, login)
    assert (await required_client.delete(f"/users/{user_id}", headers=login)).status_code == 204
    assert await token_row(session, created["id"]) is None
    assert (await required_client.get("/stocks/", headers=bearer(created["token"]))).status_code == 401


async def test_a_new_password_revokes_every_token_of_the_user_only(required_client: AsyncClient) -> None:
    _, jane = await signed_in_user(required_client)
    _, john = await signed_in_user(required_client, "john@example.com")
    janes = [await new_token(required_client, jane, body) for body in (READ, WRITE)]
    johns = await new_token(required_client, john, READ)
    changed = await required_client.put(
        "/users/me/password", json={"current_password": PASSWORD, "new_password": "another horse battery"}, headers=jane
    )
    assert changed.status_code == 204
    for token in janes:
        assert (await required_client.get("/users/me", headers=bearer(token["token"]))).status_code == 401
    assert (await required_client.get("/users/me", headers=bearer(johns["token"]))).status_code == 200


async def test_an_admin_setting_a_password_revokes_the_users_tokens(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    user_id, login = await signed_in_user(required_client)
    created = await new_token(required_client, login)
    admin = bearer(await admin_token(required_client, required_app, session))
    reset = await required_client.patch(f"/users/{user_id}", json={"password": "a brand new passphrase"}, headers=admin)
    assert reset.status_code == 200
    assert (await required_client.get("/users/me", headers=bearer(created["token"]))).status_code == 401


async def test_a_failing_password_change_revokes_no_token(required_client: AsyncClient) -> None:
    _, login = await signed_in_user(required_client)
    created = await new_token(required_client, login)
    wrong = await required_client.put(
        "/users/me/password", json={"current_password": "not the password", "new_password": "x" * 20}, headers=login
    )
    assert wrong.status_code == 403
    assert (await required_client.get("/users/me", headers=bearer(created["token"]))).status_code == 200


async def test_a_user_holds_at_most_so_many_live_tokens(
    required_client: AsyncClient, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(personal_tokens, "MAX_LIVE_TOKENS", 2)
    _, login = await signed_in_user(required_client)
    first = await new_token(required_client, login)
    await new_token(required_client, login)
    refused = await required_client.post("/users/me/tokens", json=READ, headers=login)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("You already have 2 live personal access tokens")
    # An expired one no longer counts, nor does a revoked one.
    await session.exec(  # type: ignore[call-overload]
        text("UPDATE personal_access_tokens SET expires_at = now() WHERE id = :id"), params={"id": first["id"]}
    )
    await new_token(required_client, login)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "x" * 101),
        ("name", "tab\there"),
        ("name", "zero\u200bwidth"),
        ("name", "nul\u0000"),
        ("name", None),
        ("scopes", []),
        ("scopes", ["write"]),
        ("scopes", ["read", "read"]),
        ("scopes", ["read", "delete"]),
        ("scopes", "read"),
        ("expires_in_days", 0),
        ("expires_in_days", 367),
        ("expires_in_days", "30"),
        ("expires_in_days", 1.5),
        ("expires_in_days", None),
    ],
)
async def test_a_token_breaking_a_rule_is_a_422_naming_the_field(
    required_client: AsyncClient, field: str, value: Any
) -> None:
    _, login = await signed_in_user(required_client)
    response = await required_client.post("/users/me/tokens", json={**WRITE, field: value}, headers=login)
    assert response.status_code == 422
    assert field in response.text


@pytest.mark.parametrize("missing", ["name", "scopes", "expires_in_days"])
async def test_every_field_is_required(required_client: AsyncClient, missing: str) -> None:
    _, login = await signed_in_user(required_client)
    body = {field: value for field, value in WRITE.items() if field != missing}
    response = await required_client.post("/users/me/tokens", json=body, headers=login)
    assert response.status_code == 422
    assert missing in response.text


async def test_names_are_trimmed_and_scopes_put_in_order(required_client: AsyncClient) -> None:
    _, login = await signed_in_user(required_client)
    created = await new_token(
        required_client, login, {"name": "  Übersicht 📈 ", "scopes": ["write", "read"], "expires_in_days": 366}
    )
    assert (created["name"], created["scopes"]) == ("Übersicht 📈", ["read", "write"])


async def test_managing_tokens_needs_a_signed_in_caller_in_both_modes(
    required_client: AsyncClient, client: AsyncClient
) -> None:
    for http in (required_client, client):
        for method, path in (
            ("POST", "/users/me/tokens"),
            ("GET", "/users/me/tokens"),
            ("DELETE", "/users/me/tokens/1"),
        ):
            response = await http.request(method, path, json=READ if method == "POST" else None)
            assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, "Bearer"), (method, path)


# ---------------------------------------------------------------- scopes


async def test_a_read_token_reads_and_any_write_is_a_403_insufficient_scope(
    required_client: AsyncClient, client: AsyncClient
) -> None:
    for http in (required_client, client):
        user_id, login = await signed_in_user(http, f"jane-{id(http)}@example.com")
        token = bearer((await new_token(http, login, READ))["token"])
        assert (await http.get(f"/users/{user_id}", headers=token)).status_code == 200
        assert (await http.head(f"/users/{user_id}", headers=token)).status_code == 200
        for method, path, body in (
            ("POST", f"/users/{user_id}/stocks/", AAPL),
            ("PATCH", f"/users/{user_id}", {"age": 31}),
            ("PUT", f"/users/{user_id}", JOHN),
            ("DELETE", f"/users/{user_id}", None),
            ("POST", "/users/", {**JOHN, "email": "new@example.com", "password": PASSWORD}),
        ):
            refused = await http.request(method, path, json=body, headers=token)
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["detail"] == (
                'This personal access token may only read (scope "read"); this request writes'
            )
            assert refused.headers["WWW-Authenticate"] == INSUFFICIENT_SCOPE
        assert (await http.get(f"/users/{user_id}", headers=login)).json()["age"] == 30  # nothing changed


async def test_a_write_token_writes(required_client: AsyncClient) -> None:
    user_id, login = await signed_in_user(required_client)
    token = bearer((await new_token(required_client, login, WRITE))["token"])
    created = await required_client.post(f"/users/{user_id}/stocks/", json=AAPL, headers=token)
    assert created.status_code == 201
    assert (await required_client.patch(f"/users/{user_id}", json={"age": 31}, headers=token)).json()["age"] == 31


async def test_a_token_never_manages_tokens_nor_passwords_nor_deletes_its_own_account(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    user_id, login = await signed_in_user(required_client)
    await session.exec(update(USERS).where(USERS.c.id == user_id).values(is_admin=True))
    login = bearer(required_app.state.access_tokens.issue(user_id, is_admin=True))
    every_scope = {**WRITE, "scopes": ["read", "write", "admin"]}
    created = await new_token(required_client, login, every_scope)
    token = bearer(created["token"])
    for method, path, body, detail in (
        ("POST", "/users/me/tokens", WRITE, LOGIN_NEEDED),
        ("GET", "/users/me/tokens", None, LOGIN_NEEDED),
        ("DELETE", f"/users/me/tokens/{created['id']}", None, LOGIN_NEEDED),
        ("PUT", "/users/me/password", {"current_password": PASSWORD, "new_password": "x" * 20}, LOGIN_NEEDED),
        ("PATCH", f"/users/{user_id}", {"password": "a brand new passphrase"}, LOGIN_NEEDED),
        (
            "DELETE",
            f"/users/{user_id}",
            None,
            "A personal access token cannot delete its own account: sign in with your password for that",
        ),
    ):
        refused = await required_client.request(method, path, json=body, headers=token)
        assert (refused.status_code, refused.json()["detail"]) == (403, detail), (method, path)
        assert refused.headers["WWW-Authenticate"] == INSUFFICIENT_SCOPE
    # Nothing happened: the token still works, the password is the same, the account is there.
    assert (await required_client.get("/users/me", headers=token)).status_code == 200
    await sign_in(required_client, "jane@example.com", PASSWORD)
    assert [listed["id"] for listed in (await required_client.get("/users/me/tokens", headers=login)).json()] == [
        created["id"]
    ]


async def test_only_an_admin_may_ask_for_the_admin_scope(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    _, login = await signed_in_user(required_client)
    refused = await required_client.post(
        "/users/me/tokens", json={**WRITE, "scopes": ["read", "write", "admin"]}, headers=login
    )
    assert (refused.status_code, refused.json()["detail"]) == (
        403,
        'Only an admin may create a token with the "admin" scope',
    )
    assert (await required_client.get("/users/me/tokens", headers=login)).json() == []
    admin = bearer(await admin_token(required_client, required_app, session))
    assert (await new_token(required_client, admin, {**READ, "scopes": ["read", "admin"]}))["scopes"] == [
        "read",
        "admin",
    ]


async def test_an_admins_token_is_an_admins_only_with_the_admin_scope_and_while_she_is_one(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    admin_id, login = await signed_in_user(required_client, "admin@example.com")
    await session.exec(update(USERS).where(USERS.c.id == admin_id).values(is_admin=True))
    login = bearer(required_app.state.access_tokens.issue(admin_id, is_admin=True))
    other_id, _ = await signed_in_user(required_client, "john@example.com")
    plain = bearer((await new_token(required_client, login, WRITE))["token"])
    with_admin = bearer(
        (await new_token(required_client, login, {**WRITE, "scopes": ["read", "write", "admin"]}))["token"]
    )
    price = {"close": 185.64}

    assert (await required_client.get(f"/users/{other_id}", headers=plain)).status_code == 404
    assert (await required_client.put("/prices/AAPL/2024-01-02", json=price, headers=plain)).status_code == 403
    assert [user["id"] for user in (await required_client.get("/users/", headers=plain)).json()] == [admin_id]

    assert (await required_client.get(f"/users/{other_id}", headers=with_admin)).status_code == 200
    assert (await required_client.put("/prices/AAPL/2024-01-02", json=price, headers=with_admin)).status_code == 201

    # Demoted: the admin scope is worth nothing now, and the token is an ordinary user's.
    await session.exec(update(USERS).where(USERS.c.id == admin_id).values(is_admin=False))
    assert (await required_client.get(f"/users/{other_id}", headers=with_admin)).status_code == 404
    assert (await required_client.put("/prices/AAPL/2024-01-03", json=price, headers=with_admin)).status_code == 403
    assert (await required_client.get("/users/me", headers=with_admin)).status_code == 200


async def test_an_admin_token_deletes_another_user_but_not_its_own(
    required_client: AsyncClient, required_app: FastAPI, session: AsyncSession
) -> None:
    admin_id, _ = await signed_in_user(required_client, "admin@example.com")
    await session.exec(update(USERS).where(USERS.c.id == admin_id).values(is_admin=True))
    login = bearer(required_app.state.access_tokens.issue(admin_id, is_admin=True))
    other_id, _ = await signed_in_user(required_client, "john@example.com")
    token = bearer((await new_token(required_client, login, {**WRITE, "scopes": ["read", "write", "admin"]}))["token"])
    assert (await required_client.delete(f"/users/{other_id}", headers=token)).status_code == 204
    assert (await required_client.delete(f"/users/{admin_id}", headers=token)).status_code == 403


# ---------------------------------------------------------------- last use, logs


async def test_last_use_is_noted_at_most_once_a_minute(required_client: AsyncClient, session: AsyncSession) -> None:
    _, login = await signed_in_user(required_client)
    created = await new_token(required_client, login, READ)
    token = bearer(created["token"])
    await required_client.get("/users/me", headers=token)
    row = await token_row(session, created["id"])
    assert row is not None and row["last_used_at"] == row["now"]

    async def used_at_after_a_request(ago: str) -> tuple[Any, Any]:
        await session.exec(  # type: ignore[call-overload]
            text(f"UPDATE personal_access_tokens SET last_used_at = now() - interval '{ago}' WHERE id = :id"),
            params={"id": created["id"]},
        )
        await required_client.get("/users/me", headers=token)
        row = await token_row(session, created["id"])
        assert row is not None
        return row["last_used_at"], row["now"]

    used_at, now = await used_at_after_a_request("59 seconds")
    assert (now - used_at).total_seconds() == 59  # not written again within the minute
    used_at, now = await used_at_after_a_request("61 seconds")
    assert used_at == now
    listed = (await required_client.get("/users/me/tokens", headers=login)).json()
    assert listed[0]["last_used_at"] is not None


async def test_no_token_appears_in_any_log_line_or_other_answer(
    required_client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        user_id, login = await signed_in_user(required_client)
        created = await required_client.post("/users/me/tokens", json=WRITE, headers=login)
        token = created.json()["token"]
        digest = hashlib.sha256(token.encode()).hexdigest()
        answers = [
            await required_client.get("/users/me/tokens", headers=login),
            await required_client.get(f"/users/{user_id}", headers=bearer(token)),
            await required_client.post(f"/users/{user_id}/stocks/", json=AAPL, headers=bearer(token)),
            await required_client.post("/users/me/tokens", json=WRITE, headers=bearer(token)),  # refused
            await required_client.get("/users/me", headers=bearer(token + "x")),  # unknown
            await required_client.delete(f"/users/me/tokens/{created.json()['id']}", headers=login),
            await required_client.get("/users/me", headers=bearer(token)),  # revoked
        ]
    assert [answer.status_code for answer in answers] == [200, 200, 201, 403, 401, 204, 401]
    assert caplog.records  # the request log was captured
    for secret in (token, token[12:], digest):
        assert secret not in caplog.text
        for answer in answers:
            assert secret not in answer.text
            assert secret not in str(answer.headers)


async def test_a_number_of_days_too_long_to_read_is_a_400_as_any_unreadable_body(required_client: AsyncClient) -> None:
    _, login = await signed_in_user(required_client)
    body = '{"name": "x", "scopes": ["read"], "expires_in_days": ' + "9" * 5000 + "}"
    response = await required_client.post(
        "/users/me/tokens", content=body, headers={**login, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
