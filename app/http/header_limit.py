"""Request headers are bounded: over MAX_HEADER_BYTES in all, a 431 and the connection closed.

uvicorn's httptools protocol sets no bound on a request's head, and httptools
keeps a header that has not ended yet in memory, growing with every read: a
64 MiB header was answered 200, and four connections each trickling 128 MiB
of an unfinished header took the server from 127 to 761 MB. (uvicorn's h11
protocol has a bound, but parses in pure Python, at a cost to every request.)

`HeaderLimitedHttpToolsProtocol` is the httptools protocol counting what each
request's head holds, reset for every request on a connection:

- While a head is still arriving, every byte read for it counts (the request
  line and headers as sent; for the read that began the head, also whatever
  of an earlier pipelined request that read carried). Past the bound, the
  connection is answered 431 and closed, so an unfinished header never holds
  more than the bound plus one read (uvloop reads at most 250 KiB at a time).
- A head that ends within one read counts its URL and header names and
  values, and over the bound it never reaches the app. This is reckoned
  only when that read together with the head's earlier reads passes the
  bound: an ordinary request, read at once, costs one comparison (with the
  override itself, about 0.3 us of a GET /users/{id}'s 1,000 us of CPU).

`python -m app` passes the class to uvicorn (app/cli/server.py, `http=`);
`make bench` serves with it too, and measures what it costs.
"""

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.http.problems import PROBLEM_MEDIA_TYPE, problem_bytes

# Browsers send a few KiB; nginx's largest default is 32 KiB (4 x 8k buffers).
MAX_HEADER_BYTES = 64 * 1024

_DETAIL = f"Request header fields are larger than {MAX_HEADER_BYTES} bytes in all"
_BODY = problem_bytes("headers_too_large", _DETAIL)
_TOO_LARGE = 431  # Request Header Fields Too Large (RFC 6585)


class _HeadersTooLarge(Exception):
    """Raised inside the parser's callback, so that httptools stops before the app is called."""


class HeaderLimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request heads bounded to MAX_HEADER_BYTES."""

    # Per connection: the bytes read so far for a head still arriving (none
    # once it is complete), and the size of the read being parsed.
    _head_bytes = 0
    _reading = 0

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, with the count and the refusal added.
        self._unset_keepalive_if_required()
        self._reading = len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, _HeadersTooLarge):
                self._refuse_headers()
                return
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # A head is still arriving when the request parsed last has no cycle
        # yet (uvicorn makes one when the head is complete).
        if self.cycle is None or self.cycle.scope is not self.scope:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEADER_BYTES:
                self._refuse_headers()

    def on_headers_complete(self) -> None:
        if self._head_bytes + self._reading > MAX_HEADER_BYTES:
            size = len(self.url) + sum(len(name) + len(value) for name, value in self.headers)
            if size > MAX_HEADER_BYTES:
                raise _HeadersTooLarge
        self._head_bytes = 0  # the next request's head starts from nothing
        HttpToolsProtocol.on_headers_complete(self)

    def _refuse_headers(self) -> None:
        """431 and close; only close if an earlier request's answer is still being written."""
        self.logger.warning("Request header fields over %d bytes: answered 431, connection closed", MAX_HEADER_BYTES)
        if self.cycle is None or self.cycle.response_complete:
            content = [STATUS_LINE[_TOO_LARGE]]
            for name, value in self.server_state.default_headers:
                content.extend([name, b": ", value, b"\r\n"])
            content.extend(
                [
                    b"content-type: " + PROBLEM_MEDIA_TYPE.encode("ascii") + b"\r\n",
                    b"content-length: " + str(len(_BODY)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n",
                    b"\r\n",
                    _BODY,
                ]
            )
            self.transport.write(b"".join(content))
        self.transport.close()
