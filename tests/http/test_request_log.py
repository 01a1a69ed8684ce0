"""The request log line, and the request id on every answer and every log line of its request."""

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError

from app.core.config import Settings, describe_settings_error
from app.http.request_log import JsonFormatter, RequestIdFilter, TextFormatter, configure_logging, log_format
from app.main import create_app
from tests.helpers import create_user

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.fixture
def request_records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at INFO, with the request id filter a production handler carries."""
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO):
        yield caplog


def request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "app.request" and hasattr(record, "request_line")]


def request_id_of(record: logging.LogRecord) -> str | None:
    """What RequestIdFilter put on the record."""
    return record.__dict__["request_id"]


def fields_of(line: logging.LogRecord) -> dict[str, Any]:
    """The request's fields on its log line."""
    return line.__dict__["request_line"]


def app_with_extra_routes(settings: Settings, **overrides: object) -> FastAPI:
    """The app (without its lifespan: these routes need no database) plus routes that fail, log or sign in."""
    app = create_app(settings.model_copy(update=overrides))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @app.get("/chatty")
    async def chatty() -> dict[str, str]:
        logging.getLogger("app.somewhere").warning("something to look into")
        return {}

    @app.get("/signed-in")
    async def signed_in(request: Request) -> dict[str, str]:
        request.state.user_id = 7  # what the authentication will do
        return {}

    return app


@pytest.fixture
async def extra_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    transport = ASGITransport(app=app_with_extra_routes(settings))
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_sane_request_id_is_sent_back(client: AsyncClient) -> None:
    response = await client.get("/users/424242", headers={"X-Request-ID": "checkout-7f3a:retry/2"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "checkout-7f3a:retry/2"


async def test_without_a_request_id_one_is_made_up(client: AsyncClient) -> None:
    first = await client.get("/users/424242")
    second = await client.get("/users/424242")
    assert UUID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "unsafe",
    ["two words", "x" * 129, "", 'quote"d', "<script>", "semi;colon", "tab\there", "caf\u00e9".encode()],
)
async def test_an_unsafe_request_id_is_replaced(client: AsyncClient, unsafe: str | bytes) -> None:
    value = unsafe if isinstance(unsafe, bytes) else unsafe.encode("latin-1")
    response = await client.get("/users/424242", headers=[(b"X-Request-ID", value)])
    assert UUID.fullmatch(response.headers["X-Request-ID"])


async def test_the_longest_sane_request_id_is_kept(client: AsyncClient) -> None:
    response = await client.get("/users/424242", headers={"X-Request-ID": "x" * 128})
    assert response.headers["X-Request-ID"] == "x" * 128


async def test_every_kind_of_answer_carries_the_request_id(client: AsyncClient, extra_client: AsyncClient) -> None:
    headers = {"X-Request-ID": "same-id"}
    answers = [
        await client.post("/users/", json={"name": "John Doe"}, headers=headers),  # 201
        await client.get("/users/424242", headers=headers),  # 404
        await client.post("/users/", json={"name": "john"}, headers=headers),  # 422
        await client.post("/users/", content=b"{}", headers={**headers, "Content-Length": "99999999"}),  # 413
        await client.head("/users/424242", headers=headers),  # HEAD, 404
        await extra_client.get("/boom", headers=headers),  # 500
    ]
    assert [answer.status_code for answer in answers] == [201, 404, 422, 413, 404, 500]
    assert [answer.headers.get("X-Request-ID") for answer in answers] == ["same-id"] * len(answers)


async def test_a_503_carries_the_request_id(settings: Settings) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    app = create_app(settings.model_copy(update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        response = await client.get("/users/1", headers={"X-Request-ID": "while-down"})
    assert response.status_code == 503
    assert response.headers["X-Request-ID"] == "while-down"


async def test_one_line_per_request_with_its_fields(
    client: AsyncClient, request_records: pytest.LogCaptureFixture
) -> None:
    user = await create_user(client)
    request_records.clear()
    response = await client.get(f"/users/{user['id']}?skip=0", headers={"X-Request-ID": "line-1"})
    [line] = request_lines(request_records)
    assert line.levelno == logging.INFO
    assert request_id_of(line) == "line-1" == response.headers["X-Request-ID"]
    fields = dict(fields_of(line))
    assert fields.pop("duration_ms") > 0
    assert fields == {
        "method": "GET",
        "route": "/users/{user_id}",
        "path": f"/users/{user['id']}",
        "status": 200,
        "user_id": None,
        "client": "127.0.0.1",
    }


async def test_a_head_request_names_the_route_its_get_found(
    client: AsyncClient, request_records: pytest.LogCaptureFixture
) -> None:
    user = await create_user(client)
    request_records.clear()
    await client.head(f"/users/{user['id']}")
    [line] = request_lines(request_records)
    assert (fields_of(line)["method"], fields_of(line)["route"], fields_of(line)["status"]) == (
        "HEAD",
        "/users/{user_id}",
        200,
    )


async def test_an_unknown_path_has_no_route(client: AsyncClient, request_records: pytest.LogCaptureFixture) -> None:
    await client.get("/no/such/thing")
    [line] = request_lines(request_records)
    assert (fields_of(line)["route"], fields_of(line)["status"]) == (None, 404)


async def test_the_signed_in_user_is_read_from_request_state(
    extra_client: AsyncClient, request_records: pytest.LogCaptureFixture
) -> None:
    await extra_client.get("/signed-in")
    [line] = request_lines(request_records)
    assert fields_of(line)["user_id"] == 7


async def test_access_log_off_drops_the_line_but_not_the_id(
    settings: Settings, request_records: pytest.LogCaptureFixture
) -> None:
    app = app_with_extra_routes(settings, access_log=False)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/chatty", headers={"X-Request-ID": "quiet"})
    assert response.headers["X-Request-ID"] == "quiet"
    assert request_lines(request_records) == []
    [warning] = [record for record in request_records.records if record.name == "app.somewhere"]
    assert request_id_of(warning) == "quiet"


async def test_log_lines_written_during_a_request_carry_its_id(
    extra_client: AsyncClient, request_records: pytest.LogCaptureFixture
) -> None:
    await extra_client.get("/chatty", headers={"X-Request-ID": "chatty-1"})
    [warning] = [record for record in request_records.records if record.name == "app.somewhere"]
    assert request_id_of(warning) == "chatty-1"
    # ... and lines outside any request carry none.
    logging.getLogger("app.somewhere").warning("between requests")
    assert request_id_of(request_records.records[-1]) is None


async def test_an_unhandled_error_is_logged_once_with_the_request_id(
    extra_client: AsyncClient, request_records: pytest.LogCaptureFixture
) -> None:
    response = await extra_client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.json()["detail"] == "Internal server error"
    errors = [record for record in request_records.records if record.levelno >= logging.ERROR]
    assert [(request_id_of(record), record.exc_info and record.exc_info[0]) for record in errors] == [
        ("boom-1", RuntimeError)
    ]
    [line] = request_lines(request_records)
    assert (request_id_of(line), fields_of(line)["status"]) == ("boom-1", 500)


async def test_json_lines_parse_and_name_every_field(
    extra_client: AsyncClient, request_records: pytest.LogCaptureFixture
) -> None:
    await extra_client.get("/boom", headers={"X-Request-ID": "json-1"})
    entries = [json.loads(JsonFormatter().format(record)) for record in request_records.records]
    error = next(entry for entry in entries if entry["level"] == "ERROR")
    assert error["request_id"] == "json-1"
    assert "RuntimeError" in error["exception"]
    line = next(entry for entry in entries if entry["logger"] == "app.request" and "status" in entry)
    assert set(line) == {
        "time", "level", "logger", "message", "request_id",
        "method", "route", "path", "status", "duration_ms", "user_id", "client",
    }  # fmt: skip
    assert (line["method"], line["route"], line["status"], line["request_id"]) == ("GET", "/boom", 500, "json-1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])


async def test_text_lines_read_as_one_line_each(client: AsyncClient, request_records: pytest.LogCaptureFixture) -> None:
    await client.get("/users/424242", headers={"X-Request-ID": "text-1"})
    [line] = request_lines(request_records)
    text = TextFormatter().format(line)
    assert re.fullmatch(
        r"\S+Z INFO    app\.request \[text-1\] GET /users/424242 404 \d+\.\d ms "
        r"route=/users/\{user_id\} client=127\.0\.0\.1 user=-",
        text,
    ), text


async def test_a_path_cannot_forge_a_second_line(
    client: AsyncClient, request_records: pytest.LogCaptureFixture
) -> None:
    await client.get("/users/%0A2026-01-01T00:00:00.000Z%20INFO%20app.request%20forged")
    [line] = request_lines(request_records)
    assert len(TextFormatter().format(line).splitlines()) == 1
    assert json.loads(JsonFormatter().format(line))["path"].startswith("/users/\n2026")


async def test_no_secret_reaches_a_log_line(client: AsyncClient, request_records: pytest.LogCaptureFixture) -> None:
    secrets = {
        "Authorization": "Bearer sekrit-token",
        "Cookie": "session=sekrit-cookie",
        "X-Api-Key": "sekrit-key",
    }
    await client.post(
        "/users/?access_token=sekrit-query",
        json={"name": "John Doe", "password": "sekrit-password"},
        headers=secrets,
    )
    await client.get("/users/424242?token=sekrit-query", headers=secrets)
    assert len(request_lines(request_records)) == 2
    written = "\n".join(
        formatter.format(record)
        for record in request_records.records
        if record.name != "httpx"  # the test's client logging its own requests
        for formatter in (JsonFormatter(), TextFormatter())
    )
    assert "sekrit" not in written


def test_log_format_auto_is_text_on_a_terminal_and_json_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    settings = Settings(_env_file=None)
    monkeypatch.setattr("sys.stderr", Terminal())
    assert log_format(settings) == "text"
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert log_format(settings) == "json"
    monkeypatch.setenv("LOG_FORMAT", "TEXT")
    assert log_format(Settings(_env_file=None)) == "text"


def test_a_bad_log_format_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    assert describe_settings_error(refused.value) == (
        "Invalid setting LOG_FORMAT: Input should be 'auto', 'json' or 'text'"
    )


def test_configure_logging_writes_json_with_the_request_id_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    root = logging.getLogger()
    kept_handlers, kept_level = root.handlers[:], root.level
    try:
        configure_logging(Settings(_env_file=None, log_format="json", log_level="info"))
        configure_logging(Settings(_env_file=None, log_format="json", log_level="info"))  # twice: still one line
        logging.getLogger("uvicorn.error").info("from uvicorn")
    finally:
        root.handlers[:] = kept_handlers
        root.setLevel(kept_level)
    [line] = stderr.getvalue().splitlines()
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "uvicorn.error",
        "message": "from uvicorn",
    }
    assert not logging.getLogger("uvicorn.access").hasHandlers()
