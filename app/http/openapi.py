"""The OpenAPI's last pass: what every operation shares, stated on each, so the document says all the server sends.

Routes declare their own headers where they send them (an `ETag` on a single
row, `Link` on a list, `Location` on a 201). What is on every answer of every
operation, the request's `X-Request-ID` (app/http/request_log.py), no route
declares; this pass adds it to each response, errors included, as one shared
definition under `components.headers`. docs/how-to/generate-a-client.md says
what the document promises. `location_header` is the declaration a 201 that
sends `Location` shares, and `send_location` sends it.
"""

from typing import Any

from fastapi import FastAPI, Request, Response

from app.http.request_log import REQUEST_ID_HEADER

# Where the shared header definitions live in the document, and the one this pass adds.
HEADERS_REF = "#/components/headers/"
REQUEST_ID_DEFINITION = {
    "description": (
        "The request's id: the client's own `X-Request-ID` when it sent a sane one (1 to 128 of letters, "
        "digits and `._:@+=/-`), else a new one. Every log line of the request carries it."
    ),
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
}


def location_header(row: str, path: str) -> dict[str, Any]:
    """For a 201's OpenAPI: `Location`, the new row's URL (`path`, e.g. `/stocks/{id}`)."""
    return {"Location": {"description": f"The new {row}'s URL, `{path}`.", "schema": {"type": "string"}}}


def send_location(request: Request, response: Response, path: str) -> None:
    """`Location: path` (e.g. `/stocks/7`) on a 201, behind the proxy prefix (ASGI's `root_path`) as `url_for` puts it.

    Not `request.url_for`: it walks every route of the app to find one by name,
    about 50 µs on every create, a tenth of the cheapest request's CPU.
    """
    response.headers["Location"] = request.scope.get("root_path", "") + path


def document_request_ids(app: FastAPI) -> None:
    """Declare `X-Request-ID` on every response of every operation of `app`'s OpenAPI."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()  # FastAPI's cached copy once built; completing it again changes nothing
        document.setdefault("components", {}).setdefault("headers", {})[REQUEST_ID_HEADER] = REQUEST_ID_DEFINITION
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for response in operation.get("responses", {}).values():
                    # A new dict: a route's declared headers may be a constant other responses share.
                    response["headers"] = {
                        **response.get("headers", {}),
                        REQUEST_ID_HEADER: {"$ref": HEADERS_REF + REQUEST_ID_HEADER},
                    }
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend its OpenAPI
