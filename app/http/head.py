"""HEAD answered as GET would be, without the body (RFC 9110, 9.3.2).

Every general-purpose server must support HEAD, and clients use it to read
headers alone: `curl -I localhost:8000/stocks/1` shows the ETag to send back
in If-Match. FastAPI routes answer only the methods they declare, so HEAD
would be a 405; this runs the GET and drops what it writes after the headers,
keeping its Content-Length.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        as_get = {**scope, "method": "GET"}
        await self.app(as_get, receive, headers_only)
        # The route the GET found, for the request's log line and metrics (RequestLog reads it from this scope).
        if "route" in as_get:
            scope["route"] = as_get["route"]
