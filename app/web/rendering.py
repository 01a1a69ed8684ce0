"""Answers as pages: the templates, `render`, links that honour the root path, and redirects htmx follows."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from app.web.formatting import FILTERS
from app.web.visitor import Visitor

# The vendored libraries' versions, also in their URLs so a browser drops a cached copy on upgrade
# (app/static/README.md); WEB_ASSETS_VERSION is ours, moved when app.css or app.js change.
HTMX_VERSION = "2.0.11"
CHART_JS_VERSION = "4.6.1"
WEB_ASSETS_VERSION = "8"

# htmx swaps 2xx answers only, by default; pages answer a field error (422), a lost race (412) or
# an alert (404, 403, 503) with HTML meant to be shown, so every answer is swapped. No eval, no
# inline styles (the CSP allows neither): no indicator <style>, and no copying of `style`
# attributes between an old element and its new copy while settling (setAttribute("style") is
# an inline style to the CSP; Chart.js sizes its canvas through the DOM, which is not).
HTMX_CONFIG = json.dumps(
    {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
        "attributesToSettle": ["class", "width", "height"],
        "responseHandling": [{"code": "204", "swap": False}, {"code": "...", "swap": True}],
    },
    separators=(",", ":"),
)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters.update(FILTERS)


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(
    request: Request, template: str, visitor: Visitor | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {
            "visitor": visitor,
            "static": static_url(request),
            "favicon": page_url(request, "/static/favicon.svg"),
            # The pages' own paths, for links repeated on every holding: Starlette's url_for looks
            # its route up among all the app's routes each time, which for 100 holdings was most
            # of the page's time.
            "app": page_url(request, "/app"),
            "htmx_config": HTMX_CONFIG,
            **context,
        },
        status_code=status_code,
    )


def static_url(request: Request) -> Callable[[str], str]:
    prefix = request.scope.get("root_path", "").rstrip("/")
    versions = {"htmx.min.js": HTMX_VERSION, "chart.umd.min.js": CHART_JS_VERSION}

    def url(name: str) -> str:
        return f"{prefix}/static/web/{name}?v={versions.get(name, WEB_ASSETS_VERSION)}"

    return url


def page_url(request: Request, path: str) -> str:
    return request.scope.get("root_path", "").rstrip("/") + path


def go_to(request: Request, path: str) -> Response:
    """To another page: a 303 for a browser, `HX-Redirect` for htmx (which would otherwise swap the page in)."""
    url = page_url(request, path)
    if is_htmx(request):
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
