"""/docs (Swagger UI) and /redoc (ReDoc), served with every asset from the app itself.

FastAPI's own /docs and /redoc load their scripts from a CDN and ReDoc's fonts
from Google, so they are blank pages offline or behind a firewall. Here the
pages reference only app/static/ (vendored at pinned versions; see its
README.md), so they make no request to any other host.
"""

import mimetypes
from html import escape
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parents[1] / "static"
STATIC_PATH = "/static"
DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
REDOC_PATH = "/redoc"

# The vendored versions; they also go into the asset URLs, so a browser that
# cached one version fetches the next after an upgrade.
SWAGGER_UI_VERSION = "5.35.0"
REDOC_VERSION = "2.5.2"
# Ours (app/static/docs/), moved when they change.
DOCS_ASSETS_VERSION = "1"

router = APIRouter(include_in_schema=False)


def mount_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and app/static/; the app must be built with docs_url=None, redoc_url=None."""
    # Python knows these types only from the system's mime.types, which slim
    # images lack; without it fonts would go out as text/plain.
    mimetypes.add_type("text/javascript", ".js")
    mimetypes.add_type("font/woff2", ".woff2")
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)


def _prefix(request: Request) -> str:
    # Behind a proxy that mounts the API under a path (root_path), every URL
    # the page refers to must carry that path, as FastAPI's own pages do.
    return request.scope.get("root_path", "").rstrip("/")


def _openapi_url(request: Request) -> str:
    openapi_url = request.app.openapi_url
    assert openapi_url, "the docs pages need the app's OpenAPI"
    return _prefix(request) + openapi_url


def _static(request: Request, path: str, version: str | None = None) -> str:
    url = f"{_prefix(request)}{STATIC_PATH}/{path}"
    return f"{url}?v={version}" if version else url


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=_static(request, "swagger-ui/swagger-ui-bundle.js", SWAGGER_UI_VERSION),
        swagger_css_url=_static(request, "swagger-ui/swagger-ui.css", SWAGGER_UI_VERSION),
        swagger_favicon_url=_static(request, "favicon.svg"),
        oauth2_redirect_url=_prefix(request) + OAUTH2_REDIRECT_PATH,
        init_oauth=app.swagger_ui_init_oauth,
        # No validator badge: it would be an image from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
    )
    # The Authorize dialog as this API signs in: an email and a password, no client id or secret
    # (static/docs/authorize.css). FastAPI's page takes one stylesheet; ours goes after it.
    authorize_css = _static(request, "docs/authorize.css", DOCS_ASSETS_VERSION)
    html = (
        bytes(page.body)
        .decode()
        .replace("</head>", f'<link type="text/css" rel="stylesheet" href="{authorize_css}">\n</head>', 1)
    )
    return HTMLResponse(html)


@router.get(OAUTH2_REDIRECT_PATH)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """Where an OAuth2 login started from Swagger UI's Authorize button comes back to."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get(REDOC_PATH)
async def redoc(request: Request) -> HTMLResponse:
    # FastAPI's get_redoc_html has no place for a local font stylesheet, and
    # ReDoc's theme asks for Montserrat and Roboto, so the page is written here.
    # hide-schema-pattern: ReDoc prints each `pattern` as is, and the user name's is a wall of \uXXXX
    # ranges. Every field a request sends with a pattern says its rule in words in its description
    # (tests/http/test_docs.py); the pattern stays in the OpenAPI, for validators, client generators
    # and schemathesis, which makes its valid names from it.
    app: FastAPI = request.app
    openapi_url = _openapi_url(request)
    return HTMLResponse(f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(app.title)} - ReDoc</title>
<link rel="stylesheet" href="{_static(request, "fonts/fonts.css", REDOC_VERSION)}">
<link rel="icon" href="{_static(request, "favicon.svg")}">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc needs JavaScript; the OpenAPI it shows is at <a href="{openapi_url}">{openapi_url}</a>.</noscript>
<redoc spec-url="{openapi_url}" hide-schema-pattern></redoc>
<script src="{_static(request, "redoc/redoc.standalone.js", REDOC_VERSION)}"></script>
</body>
</html>
""")
