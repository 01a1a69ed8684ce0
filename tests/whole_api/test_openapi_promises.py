"""The OpenAPI says all the server sends, and says it once for both AUTH modes.

Clients are generated from the document (docs/how-to/generate-a-client.md), so
what it leaves out a client cannot read, and what it calls optional a client
must check for. Here every operation is called, in both modes, by the callers
the access matrix (test_access.py) knows, answering each status it decides,
and each answer is held against the document: its status is declared, every
header it carries is declared for that status (and every header declared
required is there), and every field its body holds is a field the schema
requires, so a generated model never types an always-present field as optional.
"""

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi import Response as StarletteResponse
from httpx import ASGITransport, AsyncClient, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.http.openapi import send_location
from app.main import create_app
from tests.helpers import AAPL, JOHN, bearer
from tests.processes import free_port
from tests.whole_api.test_access import (
    CALLERS,
    OPEN,
    REQUIRED,
    TOKEN_CALLERS,
    TOKENS,
    build_world,
    open_status_for_token,
    resolve_body,
    send,
)

# What HTTP itself or the server adds to any answer: framing, not the API's to declare.
FRAMING_HEADERS = frozenset({"content-type", "content-length", "date", "server", "vary", "transfer-encoding"})
# The callers whose answers, across the operations, cover each status the matrix decides (200, 201, 204, 401,
# 403, 404), without the matrix's every combination; a read-only personal token is refused (403) on every write.
SAMPLED_CALLERS = ("anonymous", "owner", "admin", "other", "read token")


async def test_both_modes_serve_the_same_document(app: FastAPI, required_app: FastAPI) -> None:
    # A client generated from one server is a client for the other.
    assert app.openapi() == required_app.openapi()


def test_public_operations_say_no_token_is_needed_and_the_rest_name_the_bearer_scheme(app: FastAPI) -> None:
    public = {"health", "liveness", "readiness", "sign_in", "refresh", "sign_out", "create_user", "read_problem"}
    for operations in app.openapi()["paths"].values():
        for operation in operations.values():
            if operation["operationId"] in public:
                assert operation["security"] == [], operation["operationId"]
            else:
                assert operation["security"] == [{"OAuth2PasswordBearer": []}], operation["operationId"]
                assert "AUTH=open" in operation["description"], operation["operationId"]


def test_a_header_parameter_is_a_string_never_null(app: FastAPI) -> None:
    # A header is sent or not; `"type": "null"` makes generated clients take None and send it as a value.
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header":
                    assert parameter["schema"]["type"] == "string", (method, path, parameter["name"])


@pytest.mark.parametrize("mode", ["required", "open"])
@pytest.mark.parametrize("operation", sorted(REQUIRED))
@pytest.mark.parametrize("caller", SAMPLED_CALLERS)
async def test_every_answer_is_what_the_document_declares(
    mode: str,
    operation: str,
    caller: str,
    app: FastAPI,
    required_app: FastAPI,
    client: AsyncClient,
    required_client: AsyncClient,
    session: AsyncSession,
) -> None:
    served, http = (required_app, required_client) if mode == "required" else (app, client)
    method, path, body, statuses = (REQUIRED if mode == "required" else OPEN)[operation]
    world = await build_world(session, served)
    request_body = await resolve_body(body, caller, world, http)
    url = path.format(
        owner=world.owner_id, stock=world.stock_id, transaction=world.transaction_id, token=world.token_id
    )
    response = await send(http, method, url, body, request_body, world.tokens[caller])
    assert response.status_code == _expected(mode, operation, caller, statuses), response.text
    assert_declared(served.openapi(), method, _template(served, url.partition("?")[0]), response)


def _expected(mode: str, operation: str, caller: str, statuses: tuple[int, ...]) -> int:
    """The access matrix's answer for this caller (test_access.py), a personal token's included."""
    if caller in CALLERS:
        return statuses[CALLERS.index(caller)]
    if mode == "required":
        return TOKENS[operation][TOKEN_CALLERS.index(caller)]
    return open_status_for_token(operation, caller)


async def test_a_page_with_a_next_page_and_a_count_declares_its_headers(
    app: FastAPI, client: AsyncClient, session: AsyncSession
) -> None:
    world = await build_world(session, app)
    await client.post(f"/users/{world.owner_id}/stocks/", json=AAPL)
    response = await client.get("/stocks/", params={"limit": 1}, headers={"Prefer": "count=exact"})
    assert {"link", "x-total-count", "preference-applied"} <= set(response.headers)
    assert_declared(app.openapi(), "GET", "/stocks/", response)
    for path in ("/users/", f"/users/{world.owner_id}/stocks/", f"/stocks/{world.stock_id}/transactions"):
        response = await client.get(path, params={"limit": 1}, headers={"Prefer": "count=exact"})
        assert_declared(app.openapi(), "GET", _template(app, path), response)


async def test_a_201_says_where_the_new_row_is(client: AsyncClient) -> None:
    user = await client.post("/users/", json=JOHN)
    assert user.headers["location"] == f"/users/{user.json()['id']}"
    stock = await client.post(user.headers["location"] + "/stocks/", json=AAPL)
    assert stock.headers["location"] == f"/stocks/{stock.json()['id']}"
    for created in (user, stock):
        assert (await client.get(created.headers["location"])).json()["id"] == created.json()["id"]


async def test_a_sign_in_declares_that_it_is_not_to_be_cached(
    required_app: FastAPI, required_client: AsyncClient, session: AsyncSession
) -> None:
    world = await build_world(session, required_app)
    credentials = await resolve_body("credentials", "owner", world, required_client)
    response = await required_client.post("/auth/token", data=credentials)
    assert response.headers["cache-control"] == "no-store"
    assert_declared(required_app.openapi(), "POST", "/auth/token", response)


async def test_a_stale_write_is_declared_with_its_request_id(
    required_app: FastAPI, required_client: AsyncClient, session: AsyncSession
) -> None:
    # Its other headers (the current ETag) are the error answers' own declarations (app/http/errors.py).
    world = await build_world(session, required_app)
    stale = await required_client.patch(
        f"/stocks/{world.stock_id}",
        json={"quantity": 2},
        headers={**bearer(world.tokens["owner"] or ""), "If-Match": '"999"'},
    )
    assert stale.status_code == 412
    assert_status_and_request_id_declared(required_app.openapi(), "PATCH", "/stocks/{stock_id}", stale)


async def test_the_probes_declare_when_to_ask_again_with_the_database_down() -> None:
    app = create_app(Settings(_env_file=None, database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/portfolio"))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        for path in ("/", "/health/ready"):
            response = await client.get(path)
            assert (response.status_code, response.headers["retry-after"]) == (503, "1")
            assert_declared(app.openapi(), "GET", path, response)


# ---------------------------------------------------------------- holding an answer against the document


def assert_declared(document: dict[str, Any], method: str, path: str, response: Response) -> None:
    declared = assert_status_and_request_id_declared(document, method, path, response)
    where = f"{method} {path} {response.status_code}"
    headers = declared.get("headers", {})
    undeclared = {name for name in response.headers if name not in FRAMING_HEADERS} - {name.lower() for name in headers}
    assert not undeclared, f"{where} sends headers its OpenAPI does not declare: {sorted(undeclared)}"
    for name, header in headers.items():
        if _resolve(document, header).get("required"):
            assert name in response.headers, f"{where} declares {name} required and did not send it"
    if 200 <= response.status_code < 300 and response.content:
        schema = declared["content"]["application/json"]["schema"]
        assert_fields_required(document, response.json(), schema, where)


def assert_status_and_request_id_declared(
    document: dict[str, Any], method: str, path: str, response: Response
) -> dict[str, Any]:
    operation = document["paths"][path][method.lower()]
    assert str(response.status_code) in operation["responses"], f"{method} {path}: {response.status_code} undeclared"
    declared: dict[str, Any] = operation["responses"][str(response.status_code)]
    assert "X-Request-ID" in declared.get("headers", {}), f"{method} {path} {response.status_code}"
    assert response.headers["x-request-id"]
    return declared


def assert_fields_required(document: dict[str, Any], value: Any, schema: dict[str, Any], where: str) -> None:
    """Each object in `value` has exactly the fields its schema requires; nested objects and lists too."""
    schema = _resolve(document, schema)
    if value is None:
        return
    if "anyOf" in schema:  # `X | null`: the branch that is not null
        schema = next(_resolve(document, branch) for branch in schema["anyOf"] if branch.get("type") != "null")
    if isinstance(value, list):
        for item in value:
            assert_fields_required(document, item, schema["items"], where)
    elif isinstance(value, dict) and "properties" in schema:
        assert set(value) == set(schema.get("required", [])), (
            f"{where}: {schema.get('title')} answered {sorted(value)}, requires {sorted(schema.get('required', []))}"
        )
        for name, item in value.items():
            assert_fields_required(document, item, schema["properties"][name], where)


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = document["components"][section][name]
    return node


def _template(app: FastAPI, path: str) -> str:
    """The OpenAPI path template a concrete path is served by (`/users/7/stocks/` -> `/users/{user_id}/stocks/`)."""
    for template in app.openapi()["paths"]:
        parts, concrete = template.split("/"), path.split("/")
        if len(parts) == len(concrete) and all(
            p == c or p.startswith("{") for p, c in zip(parts, concrete, strict=True)
        ):
            return template
    raise AssertionError(f"no operation serves {path}")


def test_behind_a_proxy_prefix_a_201s_location_carries_it() -> None:
    """As `url_for` would say it, without walking the routes: the prefix (ASGI's root_path), then the row's path."""
    response = StarletteResponse()
    send_location(Request({"type": "http", "root_path": "/api", "headers": []}), response, "/stocks/7")
    assert response.headers["location"] == "/api/stocks/7"
