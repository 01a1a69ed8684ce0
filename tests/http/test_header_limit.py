"""The header bound, read by read: uvicorn's protocol object fed bytes as a connection would deliver them.

No server and no sockets: the protocol `python -m app` gives uvicorn, an app
that answers 200, and a transport that keeps what is written to it. Whether
the app was called is certain the moment `data_received` returns, since
uvicorn starts the app as a task only once a head is complete.
(tests/http/test_edge_server.py sends the same heads to a real server.)
"""

import asyncio
import json
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from app.http.header_limit import MAX_HEADER_BYTES, HeaderLimitedHttpToolsProtocol
from tests.helpers import problem

KIB = 1024


class RecordingTransport(asyncio.Transport):
    """What the protocol wrote, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("203.0.113.7", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)


class Connection:
    """One connection to a HeaderLimitedHttpToolsProtocol serving an app that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

        async def app(scope: Any, receive: Any, send: Any) -> None:
            self.calls += 1
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

        config = uvicorn.Config(app, http=HeaderLimitedHttpToolsProtocol, log_config=None, lifespan="off")
        self.state = ServerState()
        self.protocol = HeaderLimitedHttpToolsProtocol(config=config, server_state=self.state, app_state={})
        self.transport = RecordingTransport()
        self.protocol.connection_made(self.transport)

    async def answered(self) -> bytes:
        """What was written once every request the app was handed has been answered."""
        await asyncio.gather(*self.state.tasks)
        return self.transport.written


def head(header_bytes: int, *, end: bool = True, method: bytes = b"GET", extra: bytes = b"") -> bytes:
    """A request line and a header of `header_bytes` bytes of value, ended (or not) by the empty line."""
    return (
        method
        + b" / HTTP/1.1\r\nHost: api\r\n"
        + extra
        + b"X-Padding: "
        + b"a" * header_bytes
        + (b"\r\n\r\n" if end else b"")
    )


def refused(connection: Connection) -> bool:
    """Answered 431, closed, and the app never called."""
    return (
        connection.transport.written.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        and connection.transport.closed
        and not connection.state.tasks
        and connection.calls == 0
    )


async def test_a_100_kib_head_read_at_once_is_answered_431_without_reaching_the_app() -> None:
    connection = Connection()
    connection.protocol.data_received(head(100 * KIB))
    assert refused(connection)
    head_written, body = connection.transport.written.split(b"\r\n\r\n", 1)
    assert b"content-type: application/problem+json\r\n" in head_written
    assert json.loads(body) == problem("headers_too_large", "Request header fields are larger than 65536 bytes in all")


async def test_a_100_kib_head_of_many_headers_is_refused_too() -> None:
    many = b"".join(b"X-Part-%d: %s\r\n" % (number, b"b" * 2000) for number in range(50))
    connection = Connection()
    connection.protocol.data_received(head(10, extra=many))
    assert refused(connection)


async def test_an_unfinished_head_is_cut_off_once_past_the_bound_however_slowly_it_comes() -> None:
    connection = Connection()
    start = head(0, end=False)
    connection.protocol.data_received(start)
    sent = len(start)
    while not connection.transport.closed and sent < 100 * MAX_HEADER_BYTES:
        connection.protocol.data_received(b"a" * 1000)
        sent += 1000
    assert refused(connection)
    assert MAX_HEADER_BYTES < sent <= MAX_HEADER_BYTES + 1000  # cut off by the read that passed the bound


async def test_60_kib_of_headers_with_a_body_in_the_same_read_are_served() -> None:
    body = b"x" * (20 * KIB)
    connection = Connection()
    connection.protocol.data_received(
        head(60 * KIB, method=b"POST", extra=b"Content-Length: %d\r\n" % len(body)) + body
    )
    assert (await connection.answered()).startswith(b"HTTP/1.1 200 OK\r\n")
    assert (connection.calls, connection.transport.closed) == (1, False)


async def test_60_kib_of_headers_trickled_are_served() -> None:
    request = head(60 * KIB)
    connection = Connection()
    for start in range(0, len(request), 1000):
        connection.protocol.data_received(request[start : start + 1000])
    assert (await connection.answered()).startswith(b"HTTP/1.1 200 OK\r\n")


async def test_the_count_starts_again_for_each_request_on_a_connection() -> None:
    connection = Connection()
    for _ in range(3):  # 3 x 40 KiB on one connection: each head is within the bound
        connection.protocol.data_received(head(40 * KIB))
        await connection.answered()
    assert connection.calls == 3
    assert connection.transport.written.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert not connection.transport.closed


@pytest.mark.parametrize("pieces", [1, 7])
async def test_a_request_after_an_answered_one_is_bounded_like_the_first(pieces: int) -> None:
    connection = Connection()
    connection.protocol.data_received(head(10))
    await connection.answered()
    second = head(100 * KIB)
    size = -(-len(second) // pieces)
    for start in range(0, len(second), size):
        if not connection.transport.closed:
            connection.protocol.data_received(second[start : start + size])
    assert connection.calls == 1
    assert connection.transport.written.count(b"HTTP/1.1 200 OK\r\n") == 1
    assert b"HTTP/1.1 431 " in connection.transport.written
    assert connection.transport.closed
