"""Request bodies over MAX_BODY_BYTES get a 413 before they are parsed.

FastAPI's own `max_body_size` answers a text/plain "Content Too Large" that
no handler can replace; every other error here is problem details (code
`body_too_large`), and the OpenAPI says so. This is the same limit with our answer: a declared
`Content-Length` over the limit is refused unread, and a body without one
(chunked) is counted as it arrives and refused as soon as it passes the limit.
"""

from fastapi import HTTPException, status
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http.problems import problem_response


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.detail = f"Request body is larger than {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response("body_too_large", self.detail, root=scope.get("root_path", ""))
            await response(scope, receive, send)
            return

        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised while FastAPI reads the body; it reaches our HTTP error handler.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=self.detail)
            return message

        await self.app(scope, receive_within_limit, send)
