"""The edge of a real `python -m app`: request headers bounded, and X-Forwarded-For trusted from anyone yet harmless.

One server for the module, as a platform runs it behind its router
(TRUSTED_PROXIES=*), spoken to over raw sockets where an ordinary client
would not send what an attacker does. The header bound read by read, without
a server, is in tests/http/test_header_limit.py; the client's address, behind the
same proxy handling without a server, in tests/http/test_client_address.py.
"""

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest

from app.auth.repository import MAX_FAILURES_PER_EMAIL
from app.http.header_limit import MAX_HEADER_BYTES
from tests.helpers import TEST_SECRET_KEY, empty_every_table, problem
from tests.processes import STARTUP_GUARD_SECONDS, free_port, run_app, stop, wait_until_serving

# Each test here talks to a server process: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow

KIB, MIB = 1024, 1024 * 1024


@dataclass(frozen=True)
class Server:
    address: tuple[str, int]
    pid: int

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m app serve` behind TRUSTED_PROXIES=*; the tables are emptied afterwards."""
    port = free_port()
    # A file, not a pipe: a pipe nobody reads would stop the server once full of warnings.
    log = (tmp_path_factory.mktemp("edge") / "server.log").open("w")
    environment = {
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "TRUSTED_PROXIES": "*",
        "SECRET_KEY": TEST_SECRET_KEY,
        "HOUSEKEEPING_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "warning",
    }
    process = run_app(environment, "serve", "--no-migrate", output=log)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
        yield Server(("127.0.0.1", port), process.pid)
    finally:
        stop(process)
        log.close()
        empty_every_table(database_url)


def _connect(server: Server) -> socket.socket:
    connection = socket.create_connection(server.address)
    connection.settimeout(STARTUP_GUARD_SECONDS)  # a guard against hanging, not a measure
    return connection


def _answer_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes; b"" when it resets the connection instead."""
    received = b""
    try:
        while chunk := connection.recv(64 * KIB):
            received += chunk
    except ConnectionResetError:
        return b""
    return received


def _resident_bytes(server: Server) -> int:
    """The server's resident memory, its workers' included."""
    process = psutil.Process(server.pid)
    return sum(member.memory_info().rss for member in [process, *process.children(recursive=True)])


@pytest.mark.parametrize("finished", [True, False], ids=["sent whole", "never finished"])
def test_a_100_kib_header_is_answered_431_or_the_connection_closed(server: Server, finished: bool) -> None:
    head = b"GET /health/live HTTP/1.1\r\nHost: api\r\nX-Padding: " + b"a" * (100 * KIB)
    with _connect(server) as connection:
        connection.sendall(head + (b"\r\n\r\n" if finished else b""))
        answer = _answer_until_closed(connection)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    if answer:
        detail = f"Request header fields are larger than {MAX_HEADER_BYTES} bytes in all"
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == problem("headers_too_large", detail)
    assert httpx.get(server.url + "/health/live").status_code == 200  # and serves on


def test_many_headers_adding_up_to_100_kib_are_refused_too(server: Server) -> None:
    headers = {f"X-Part-{number}": "b" * (2 * KIB) for number in range(50)}
    try:
        status = httpx.get(server.url + "/health/live", headers=headers).status_code
    except httpx.TransportError:
        status = None  # closed before the answer could be read
    assert status in (431, None)


def test_60_kib_of_headers_are_served_with_a_body_in_the_same_read(server: Server) -> None:
    headers = {f"X-Part-{number}": "c" * 4000 for number in range(15)}  # 60,000 bytes of values
    base_url = server.url
    assert httpx.get(base_url + "/health/live", headers=headers).status_code == 200
    # The head and a body arriving together: more than the bound in one read, yet the head is within it.
    wrong_password = {"username": "nobody@example.com", "password": "d" * (20 * KIB)}
    assert httpx.post(base_url + "/auth/token", headers=headers, data=wrong_password).status_code == 400


def test_unfinished_headers_trickled_on_four_connections_are_cut_off_and_memory_stays_flat(
    server: Server,
) -> None:
    connections, offered, piece = 4, 8 * MIB, b"e" * (16 * KIB)
    before = _resident_bytes(server)
    sockets = [_connect(server) for _ in range(connections)]
    sent = [0] * connections
    cut_off = [False] * connections
    try:
        for connection in sockets:
            connection.sendall(b"POST /users/ HTTP/1.1\r\nHost: api\r\nX-Trickle: ")
        # Round after round, a piece on each connection still open, as four slow clients would.
        while not all(cut_off) and min(sent) < offered:
            for index, connection in enumerate(sockets):
                if cut_off[index] or sent[index] >= offered:
                    continue
                try:
                    connection.sendall(piece)
                    sent[index] += len(piece)
                except (BrokenPipeError, ConnectionResetError):
                    cut_off[index] = True
        grown = _resident_bytes(server) - before
    finally:
        for connection in sockets:
            connection.close()
    assert cut_off == [True] * connections, sent  # the server closed each, well before 8 MiB
    # What the four held would be 32 MiB; the server kept less than half of it (in fact, about nothing).
    assert grown < connections * offered // 2, f"RSS grew {grown / MIB:.1f} MiB"
    assert httpx.get(server.url + "/health/live").status_code == 200


@pytest.mark.parametrize(
    "forwarded_for",
    ["x" * 100, "not an address", ", ".join(f"10.0.{hop // 256}.{hop % 256}" for hop in range(1000))],
    ids=["100 characters", "garbage", "1000 hops"],
)
def test_a_wrong_password_through_a_real_server_is_counted_whatever_x_forwarded_for_says(
    server: Server, forwarded_for: str
) -> None:
    base_url = server.url
    credentials = {"username": f"{len(forwarded_for)}-{forwarded_for[:3]}@example.com", "password": "wrong"}
    headers = {"X-Forwarded-For": forwarded_for}
    with httpx.Client(base_url=base_url) as client:
        statuses = [client.post("/auth/token", data=credentials, headers=headers).status_code for _ in range(6)]
    assert statuses == [400] * MAX_FAILURES_PER_EMAIL + [429]
