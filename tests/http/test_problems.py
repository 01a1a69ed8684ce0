"""Every error is RFC 9457 problem details with a code from the one registry, and every code is answered somewhere.

The registry (app/http/problems.py) is held to the domain errors that name
its codes, to docs/reference/errors.md, and to the API: each code is provoked
below (`PROVOKE`), by a real request where one can, by a route raising the
failure the handler maps where only a race or a broken database can.
"""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import exc as sa_exc

import app.main  # every resource, so that every AppError subclass is defined
from app.auth.personal_tokens import TooManyTokens
from app.core.config import Settings
from app.http.problems import PROBLEM_MEDIA_TYPE, PROBLEMS
from app.idempotency.dependencies import IdempotencyKeyInUse
from app.kit.errors import AppError, Forbidden, NotFound
from app.portfolio.service import LedgerDoesNotAddUp
from tests.helpers import AAPL, JOHN, PASSWORD, bearer, create_stock, create_user, sign_in, sign_up

ERRORS_PAGE = Path(__file__).parents[2] / "docs" / "reference" / "errors.md"
JANE = "jane@example.com"


def _subclasses(cls: type[AppError]) -> list[type[AppError]]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _subclasses(direct))]


# ---------------------------------------------------------------- the registry, the errors and the page


def test_every_domain_error_names_a_code_and_title_of_the_registry() -> None:
    assert app.main  # imported for its side effect: every resource's errors defined
    errors = _subclasses(AppError)
    assert len(errors) > 10
    for error in errors:
        kind = PROBLEMS.get(error.code)
        assert kind is not None, f"{error.__name__}.code {error.code!r} is not in app/http/problems.py"
        assert (kind.title, kind.status) == (error.title, error.status_code), error.__name__


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("User", "user_not_found"),
        ("Stock", "stock_not_found"),
        ("Transaction", "transaction_not_found"),
        ("Personal access token", "personal_access_token_not_found"),
    ],
)
def test_each_resources_not_found_has_its_own_code(resource: str, expected: str) -> None:
    code = NotFound(resource, 7).problem_code
    assert (code, PROBLEMS[code].status) == (expected, 404)


def test_the_errors_page_lists_every_code_and_no_other() -> None:
    page = ERRORS_PAGE.read_text()
    # A code is named in the first cell of a table row, its status in the second: "| `user_not_found` | 404 | ...".
    named = re.findall(r"^\| `([a-z_]+)` \| \d{3} \|", page, flags=re.M)
    assert len(named) == len(set(named)), "a code is listed twice"
    assert set(named) == set(PROBLEMS)
    for code, kind in PROBLEMS.items():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{code}` |"))
        assert f"| {kind.status} |" in row, code
        assert kind.title in row, code


async def test_each_codes_page_is_served_publicly(required_client: AsyncClient) -> None:
    for code, kind in PROBLEMS.items():
        response = await required_client.get(f"/problems/{code}")
        assert response.status_code == 200
        assert response.json() == {
            "code": code,
            "status": kind.status,
            "title": kind.title,
            "meaning": kind.meaning,
            "what_to_do": kind.what_to_do,
            "field_error": kind.field_error,
        }
    unknown = await required_client.get("/problems/no_such_code")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


# ---------------------------------------------------------------- every code, provoked


async def _wrong_current_password(client: AsyncClient) -> Response:
    await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["access_token"]
    body = {"current_password": "not my password at all", "new_password": "a whole new passphrase"}
    return await client.put("/users/me/password", json=body, headers=bearer(token))


async def _rate_limited(client: AsyncClient) -> Response:
    await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["access_token"]
    body = {"current_password": "not my password at all", "new_password": "a whole new passphrase"}
    for _ in range(5):
        assert (await client.put("/users/me/password", json=body, headers=bearer(token))).status_code == 403
    return await client.put("/users/me/password", json=body, headers=bearer(token))


async def _admin_only(client: AsyncClient) -> Response:
    user = await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["access_token"]
    return await client.patch(f"/users/{user['id']}", json={"is_admin": True}, headers=bearer(token))


async def _current_password_required(client: AsyncClient) -> Response:
    user = await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["access_token"]
    return await client.patch(f"/users/{user['id']}", json={"password": "another passphrase"}, headers=bearer(token))


async def _email_taken(client: AsyncClient) -> Response:
    await sign_up(client, JANE)
    return await client.post("/users/", json={**JOHN, "email": JANE, "password": PASSWORD})


async def _version_mismatch(client: AsyncClient) -> Response:
    user = await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["access_token"]
    headers = {**bearer(token), "If-Match": '"99"'}
    return await client.put(f"/users/{user['id']}", json={"name": "Jane Doe"}, headers=headers)


async def _ledger_refused(client: AsyncClient) -> Response:
    user = await create_user(client)
    stock = await create_stock(client, user["id"], quantity=1)
    sell = {"type": "sell", "occurred_on": "2024-06-03", "quantity": 5, "price": 10}
    return await client.post(f"/stocks/{stock['id']}/transactions", json=sell)


async def _period_refused(client: AsyncClient) -> Response:
    user = await create_user(client)
    return await client.get(f"/users/{user['id']}/performance", params={"from": "2024-06-01", "to": "2024-01-01"})


async def _idempotency_key_reused(client: AsyncClient) -> Response:
    key = {"Idempotency-Key": "one-key-two-requests"}
    assert (await client.post("/users/", json=JOHN, headers=key)).status_code == 201
    return await client.post("/users/", json={**JOHN, "age": 31}, headers=key)


async def _insufficient_scope(client: AsyncClient) -> Response:
    user = await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["access_token"]
    read_only = {"name": "reader", "scopes": ["read"], "expires_in_days": 1}
    created = await client.post("/users/me/tokens", json=read_only, headers=bearer(token))
    return await client.post(f"/users/{user['id']}/stocks/", json=AAPL, headers=bearer(created.json()["token"]))


async def _personal_access_token_not_found(client: AsyncClient) -> Response:
    await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["access_token"]
    return await client.delete("/users/me/tokens/999999", headers=bearer(token))


async def _admin_scope_refused(client: AsyncClient) -> Response:
    await sign_up(client, JANE)
    token = (await sign_in(client, JANE))["access_token"]
    admin = {"name": "mine", "scopes": ["read", "admin"], "expires_in_days": 1}
    return await client.post("/users/me/tokens", json=admin, headers=bearer(token))


def _raising(failure: Exception) -> Callable[[AsyncClient], Awaitable[Response]]:
    """For a code only a race or a broken database produces: a route raising what the handler maps."""

    async def provoke(client: AsyncClient) -> Response:
        return await client.get(f"/raise/{type(failure).__name__}")

    provoke.failure = failure  # type: ignore[attr-defined]  # read by the fixture that adds the route
    return provoke


def _database_error(kind: type[sa_exc.DBAPIError]) -> sa_exc.DBAPIError:
    return kind("SELECT 1", {}, psycopg.Error("refused by the database"))


# code -> (the client's AUTH mode, how to provoke it)
PROVOKE: dict[str, tuple[str, Callable[[AsyncClient], Awaitable[Response]]]] = {
    "bad_request": ("open", lambda c: c.post(
        "/auth/token", content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data"}
    )),
    "not_authenticated": ("required", lambda c: c.get("/users/me")),
    "invalid_token": ("required", lambda c: c.get("/users/", headers=bearer("not.a.token"))),
    "invalid_refresh_token": ("required", lambda c: c.post("/auth/refresh", json={"refresh_token": "unknown"})),
    "forbidden": ("open", _raising(Forbidden("Not yours to do"))),
    "admin_only": ("required", _admin_only),
    "insufficient_scope": ("required", _insufficient_scope),
    "admin_scope_refused": ("required", _admin_scope_refused),
    "current_password_required": ("required", _current_password_required),
    "wrong_current_password": ("required", _wrong_current_password),
    "not_found": ("open", lambda c: c.get("/no/such/thing")),
    "user_not_found": ("open", lambda c: c.get("/users/999999")),
    "stock_not_found": ("open", lambda c: c.get("/stocks/999999")),
    "transaction_not_found": ("open", lambda c: c.get("/transactions/999999")),
    "personal_access_token_not_found": ("required", _personal_access_token_not_found),
    "method_not_allowed": ("open", lambda c: c.delete("/users/")),
    "email_taken": ("required", _email_taken),
    # Only while the first request with the key runs: tests/idempotency/test_races_and_failures.py races two.
    "idempotency_key_in_use": ("open", _raising(IdempotencyKeyInUse())),
    # 50 live tokens first: tests/auth/test_personal_tokens.py fills them.
    "too_many_tokens": ("open", _raising(TooManyTokens())),
    "ledger_does_not_add_up": ("open", _raising(LedgerDoesNotAddUp("Stock with ID 1: its ledger does not add up"))),
    "conflict": ("open", _raising(_database_error(sa_exc.IntegrityError))),
    "version_mismatch": ("required", _version_mismatch),
    "body_too_large": ("open", lambda c: c.post("/users/", content=b"x" * (1024 * 1024 + 1))),
    "unsupported_media_type": ("open", lambda c: c.post("/users/", data={"name": "John Doe"})),
    "validation_failed": ("open", lambda c: c.post("/users/", json={})),
    "rate_limited": ("required", _rate_limited),
    "internal_error": ("open", _raising(RuntimeError("secret internals: password=hunter2"))),
    "database_unavailable": ("open", _raising(psycopg.OperationalError("connection refused"))),
    # Only ever the `type` of an entry in a validation_failed's `errors`:
    "invalid_cursor": ("open", lambda c: c.get("/users/", params={"cursor": "garbage"})),
    "ledger_refused": ("open", _ledger_refused),
    "period_refused": ("open", _period_refused),
    "broken_csv": ("open", lambda c: c.post(
        "/prices/import", params={"symbol": "AAPL"}, content=b"Date,Close\nyesterday,1\n",
        headers={"Content-Type": "text/csv"},
    )),
    "idempotency_key_reused": ("open", _idempotency_key_reused),
    "value_out_of_range": ("open", _raising(_database_error(sa_exc.DataError))),
}  # fmt: skip
# Answered below the app, by the server's protocol, where no client of the app reaches.
PROVOKED_ELSEWHERE = {"headers_too_large": "tests/http/test_header_limit.py"}


def test_every_code_is_provoked() -> None:
    assert set(PROVOKE) | set(PROVOKED_ELSEWHERE) == set(PROBLEMS)
    for code, test_file in PROVOKED_ELSEWHERE.items():
        assert f'"{code}"' in (Path(__file__).parents[2] / test_file).read_text()


def _raiser(failure: Exception) -> Callable[[], Awaitable[None]]:
    async def raise_it() -> None:
        raise failure

    return raise_it


@pytest.fixture(scope="module")
def raising_app(settings: Settings) -> FastAPI:
    """An app whose extra routes raise each failure `_raising` names (no database needed: they never reach one)."""
    raising: FastAPI = app.main.create_app(settings)
    for _, provoke in PROVOKE.values():
        if failure := getattr(provoke, "failure", None):
            raising.add_api_route(f"/raise/{type(failure).__name__}", _raiser(failure))
    return raising


@pytest.fixture
async def raising_clients(
    raising_app: FastAPI, client: AsyncClient, required_client: AsyncClient
) -> AsyncIterator[dict[str, AsyncClient]]:
    """The suite's clients, and one for `raising_app`."""
    transport = ASGITransport(app=raising_app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as raising:
        yield {"open": client, "required": required_client, "raising": raising}


@pytest.mark.parametrize("code", sorted(PROVOKE))
async def test_each_code_is_answered_as_problem_details(code: str, raising_clients: dict[str, AsyncClient]) -> None:
    mode, provoke = PROVOKE[code]
    client = raising_clients["raising" if hasattr(provoke, "failure") else mode]
    response = await provoke(client)
    kind = PROBLEMS[code]
    assert response.status_code == kind.status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    if kind.field_error:
        assert (body["code"], body["status"], body["type"]) == ("validation_failed", 422, "/problems/validation_failed")
        assert [error["type"] for error in body["errors"]] == [code]
    else:
        assert {key: body[key] for key in ("type", "title", "status", "code")} == {
            "type": f"/problems/{code}",
            "title": kind.title,
            "status": kind.status,
            "code": code,
        }
    assert isinstance(body["detail"], str) and "\n" not in body["detail"]
    assert "hunter2" not in response.text and "secret internals" not in response.text


# ---------------------------------------------------------------- the headers that go with some codes


async def test_the_guides_404_sentence_stays_the_detail(client: AsyncClient) -> None:
    response = await client.get("/users/42424242")
    assert response.json() == {
        "type": "/problems/user_not_found",
        "title": "User not found",
        "status": 404,
        "detail": "User with ID 42424242 not found",
        "code": "user_not_found",
    }


async def test_a_401_keeps_its_challenge_and_a_412_its_etag(required_client: AsyncClient) -> None:
    assert (await required_client.get("/users/me")).headers["www-authenticate"] == "Bearer"
    refused = await required_client.get("/users/", headers=bearer("not.a.token"))
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    stale = await _version_mismatch(required_client)
    assert stale.headers["etag"] == '"1"'


async def test_the_answer_is_problem_json_whatever_the_client_accepts(client: AsyncClient) -> None:
    for accept in ("application/json", "application/problem+json", "text/html", "*/*"):
        response = await client.get("/users/999999", headers={"Accept": accept})
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert response.json()["code"] == "user_not_found"


async def test_the_pages_under_app_keep_their_html_error_pages(client: AsyncClient) -> None:
    response = await client.get("/app/users/999999")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


# ---------------------------------------------------------------- a validation error


async def test_a_422_lists_each_field_under_errors_and_names_them_in_one_line(client: AsyncClient) -> None:
    response = await client.post("/users/", json={"name": "jo", "age": 200, "nickname": "x" * 500})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "3 invalid fields: body.name, body.age, body.nickname"
    assert [(error["location"], error["type"]) for error in body["errors"]] == [
        (["body", "name"], "string_too_short"),
        (["body", "age"], "less_than_equal"),
        (["body", "nickname"], "extra_forbidden"),
    ]
    assert all(set(error) == {"location", "message", "type", "input"} for error in body["errors"])
    assert body["errors"][2]["input"] == "x" * 200 + "…[cut: 500 characters in all]"


async def test_a_single_invalid_field_is_named_with_its_message(client: AsyncClient) -> None:
    response = await client.get("/users/", params={"limit": 0})
    assert response.json()["detail"] == "query.limit: Input should be greater than or equal to 1"


async def test_a_422_never_echoes_a_password(required_client: AsyncClient) -> None:
    secret = "Sh0rt!x"
    response = await required_client.post("/users/", json={**JOHN, "email": JANE, "password": secret})
    assert response.status_code == 422
    assert secret not in response.text
    assert response.json()["errors"][0]["input"] == "[hidden]"


async def test_a_422_about_a_list_sent_for_an_object_never_echoes_the_password_inside(
    required_client: AsyncClient,
) -> None:
    secret = "correct horse battery staple"
    response = await required_client.post("/users/", json=[{**JOHN, "email": JANE, "password": secret}])
    assert response.status_code == 422
    assert secret not in response.text
    assert response.json()["errors"][0]["input"] == [{**JOHN, "email": JANE, "password": "[hidden]"}]


# ---------------------------------------------------------------- the OpenAPI


def _error_responses(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (path, method, status, response)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if int(status) >= 400
    ]


# Answers that are not problem details, on purpose: OAuth2's refusals, and the health report a probe reads.
NOT_PROBLEMS = {("/auth/token", "400"), ("/auth/token", "429"), ("/", "503"), ("/health/ready", "503")}


async def test_every_error_response_in_the_openapi_is_problem_details_with_its_headers(
    required_app: FastAPI, app: FastAPI
) -> None:
    for served in (required_app, app):
        document = served.openapi()
        assert {"Problem", "ValidationProblem", "ValidationIssue"} <= set(document["components"]["schemas"])
        assert "HTTPValidationError" not in document["components"]["schemas"]
        for path, method, status, response in _error_responses(document):
            if (path, status) not in NOT_PROBLEMS:
                schema = "ValidationProblem" if status == "422" else "Problem"
                assert response["content"] == {
                    PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                }, (path, method, status)
            headers = set(response.get("headers", {}))
            expected = {
                "401": {"WWW-Authenticate"},
                "412": {"ETag"},
                "429": {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
                "503": {"Retry-After"},
            }.get(status, set())
            assert expected <= headers, (path, method, status)


async def test_every_operation_declares_the_500_and_503_and_the_throttled_ones_a_429(app: FastAPI) -> None:
    document = app.openapi()
    for operations in document["paths"].values():
        for operation in operations.values():
            assert {"500", "503"} <= set(operation["responses"]), operation["operationId"]
    throttled = {
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
        if "429" in operation["responses"]
    }
    assert throttled == {"sign_in", "create_user", "change_my_password"}


def test_the_oauth2_scheme_declares_where_to_refresh(app: FastAPI) -> None:
    flow = app.openapi()["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
    assert (flow["tokenUrl"], flow["refreshUrl"]) == ("/auth/token", "/auth/token")


def test_the_problem_pages_need_no_token(required_app: FastAPI) -> None:
    assert required_app.openapi()["paths"]["/problems/{code}"]["get"]["security"] == []


async def test_behind_a_proxy_prefix_the_type_carries_the_prefix(settings: Settings) -> None:
    served = app.main.create_app(settings)
    transport = ASGITransport(app=served, root_path="/api")
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/no/such/thing")
    assert (response.status_code, response.json()["type"]) == (404, "/api/problems/not_found")
