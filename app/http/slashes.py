"""A path one slash away from an endpoint (`/users` for `/users/`): answered, or redirected with a body that says where.

Starlette's router answers such a path with an empty 307, which `curl` without
`-L` shows as nothing at all. Instead, `answer_slash_variants` (installed on
the app's router by `create_app`):

- GET (and HEAD, which app/http/head.py turns into a GET) of an operation
  in the OpenAPI: served directly, as if the slash were right. Reading is safe, and a
  student's `curl localhost:8000/users` gets the list.
- Any other method, or a path that is not in the OpenAPI (the pages under
  `/app/`, whose relative links need the canonical URL): the 307 as before,
  which keeps the method and body, now with a JSON body naming the URL.

The variants are not routes of their own, so the OpenAPI lists each path once.
"""

import re
from functools import cached_property

from fastapi import FastAPI
from starlette.datastructures import URL
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send


def answer_slash_variants(app: FastAPI) -> None:
    """Let the app's router answer `/users` as `/users/` (GET) or say where it is (other methods)."""
    router = app.router
    router.redirect_slashes = False
    router.default = _SlashVariants(app, router.default)


class _SlashVariants:
    """The router's last resort: what it does when no route matched the path as given."""

    def __init__(self, app: FastAPI, not_found: ASGIApp) -> None:
        self.app = app
        self.not_found = not_found

    @cached_property
    def _readable_paths(self) -> list[re.Pattern[str]]:
        """The OpenAPI's paths with a GET, as patterns: `/users/{user_id}` matches /users/42."""
        return [
            re.compile(re.sub(r"\{[^}]*\}", "[^/]+", re.escape(path).replace(r"\{", "{").replace(r"\}", "}")))
            for path, operations in self.app.openapi().get("paths", {}).items()
            if "get" in operations
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] != "http" or path == "/":
            await self.not_found(scope, receive, send)
            return
        variant = path.rstrip("/") if path.endswith("/") else path + "/"
        variant_scope = {**scope, "path": variant, "raw_path": variant.encode()}
        if not any(route.matches(variant_scope)[0] is not Match.NONE for route in self.app.router.routes):
            await self.not_found(scope, receive, send)
            return
        if scope["method"] == "GET" and any(path.fullmatch(variant) for path in self._readable_paths):
            # Served as the canonical path: links and the request log name it.
            scope["path"], scope["raw_path"] = variant, variant.encode()
            await self.app.router(scope, receive, send)
            return
        url = str(URL(scope=variant_scope))
        response = JSONResponse(
            {"detail": f"The URL is {url}; send the request there (this 307 keeps the method and body)"},
            status_code=307,
            headers={"Location": url},
        )
        await response(scope, receive, send)
