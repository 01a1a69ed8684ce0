"""/docs and /redoc work offline: every asset comes from the app, none from another host."""

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from httpx import ASGITransport, AsyncClient

from app.core.config import PROJECT_ROOT, Settings
from app.main import create_app

PAGES = ["/docs", "/redoc"]
STATIC_DIR = PROJECT_ROOT / "app" / "static"

CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


@pytest.fixture
async def client() -> AsyncIterator[AsyncClient]:
    """The app without a database: the docs pages and their assets need none."""
    app = create_app(Settings(_env_file=None, database_url="postgresql://unused/db"))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


class _References(HTMLParser):
    """Every URL an HTML page refers to: src, href, spec-url, url(...) in styles, and Swagger UI's config."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script_or_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]
        self.urls += _css_urls(" ".join(value for name, value in attrs if name == "style" and value))
        self._in_script_or_style = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_script_or_style = False

    def handle_data(self, data: str) -> None:
        if self._in_script_or_style:
            self.urls += _css_urls(data)
            # SwaggerUIBundle({url: '/openapi.json', oauth2RedirectUrl: window.location.origin + '/docs/...'})
            self.urls += re.findall(r"""\burl: ['"]([^'"]+)['"]""", data)
            self.urls += re.findall(r"""oauth2RedirectUrl: window\.location\.origin \+ ['"]([^'"]+)['"]""", data)


def _css_urls(css: str) -> list[str]:
    urls = [url.strip("'\" ") for url in re.findall(r"url\(([^)]*)\)", css)]
    return [url for url in urls if not url.startswith("data:")]


def _page_references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


def _expected_content_type(path: str) -> str:
    suffix = re.search(r"(\.[a-z0-9]+)$", path)
    return CONTENT_TYPES[suffix.group(1)] if suffix and suffix.group(1) in CONTENT_TYPES else "text/html"


async def _fetch_all_assets(client: AsyncClient, page: str) -> dict[str, str]:
    """Fetch `page` and, transitively (stylesheets' url(...) too), everything it refers to; {url: content type}."""
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    fetched: dict[str, str] = {}
    pending = [urljoin(page, url) for url in _page_references(response.text)]
    assert pending, f"{page} refers to nothing"
    while pending:
        url = pending.pop()
        if url in fetched:
            continue
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} refers to another host: {url}"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        content_type = asset.headers["content-type"].split(";")[0]
        assert content_type == _expected_content_type(parts.path), url
        fetched[url] = content_type
        if content_type == "text/css":
            pending += [urljoin(url, reference) for reference in _css_urls(asset.text)]
    return fetched


async def test_swagger_ui_page_loads_its_script_styles_icon_and_openapi_from_the_app(client: AsyncClient) -> None:
    fetched = await _fetch_all_assets(client, "/docs")
    assert set(fetched) == {
        "/static/swagger-ui/swagger-ui-bundle.js?v=5.35.0",
        "/static/swagger-ui/swagger-ui.css?v=5.35.0",
        "/static/docs/authorize.css?v=1",
        "/static/favicon.svg",
        "/openapi.json",
        "/docs/oauth2-redirect",
    }


async def test_redoc_page_loads_its_script_fonts_icon_and_openapi_from_the_app(client: AsyncClient) -> None:
    fetched = await _fetch_all_assets(client, "/redoc")
    fonts = {url for url, content_type in fetched.items() if content_type == "font/woff2"}
    # Montserrat and Roboto at 300, 400 and 700, latin and latin-ext: what
    # FastAPI's page would have fetched from Google Fonts.
    assert len(fonts) == 12
    assert set(fetched) - fonts == {
        "/static/redoc/redoc.standalone.js?v=2.5.2",
        "/static/fonts/fonts.css?v=2.5.2",
        "/static/favicon.svg",
        "/openapi.json",
    }


def test_no_vendored_file_fetches_from_a_cdn_or_font_service() -> None:
    # What an upgrade of the vendored files must keep out: ReDoc 2.5.2 loads
    # its sidebar logo from cdn.redoc.ly (patched out; see static/README.md).
    scripts_and_styles = [path for path in STATIC_DIR.rglob("*") if path.suffix in (".js", ".css")]
    # the docs pages' 4 and their Authorize dialog's stylesheet, and the web app's 4 (app/static/web/)
    assert len(scripts_and_styles) == 9
    for path in scripts_and_styles:
        text = path.read_text(encoding="utf-8")
        for host in ("cdn.redoc.ly", "cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com", "fonts.gstatic.com"):
            assert host not in text, f"{path.relative_to(STATIC_DIR)} refers to {host}"


async def test_swagger_ui_keeps_its_oauth2_redirect_for_the_authorize_button(client: AsyncClient) -> None:
    docs = await client.get("/docs")
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in docs.text
    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert "window.opener.swaggerUIRedirectOauth2" in redirect.text


async def test_behind_a_proxy_prefix_every_docs_url_carries_the_prefix() -> None:
    app = create_app(Settings(_env_file=None, database_url="postgresql://unused/db"))
    transport = ASGITransport(app=app, root_path="/api")
    async with AsyncClient(transport=transport, base_url="http://test") as client:
        for page in PAGES:
            response = await client.get(page)
            assert response.status_code == 200
            references = _page_references(response.text)
            assert references
            assert all(url.startswith("/api/") for url in references), references


async def test_docs_pages_and_static_files_are_not_api_operations(client: AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc", "/static"))]


async def test_head_on_the_docs_pages_and_assets_answers_their_headers(client: AsyncClient) -> None:
    for url in ["/docs", "/redoc", "/static/redoc/redoc.standalone.js"]:
        response = await client.head(url)
        assert response.status_code == 200, url
        assert response.content == b""


async def test_swagger_uis_authorize_dialog_asks_for_an_email_and_a_password_only(client: AsyncClient) -> None:
    docs = (await client.get("/docs")).text
    # Its stylesheet comes after Swagger UI's, so its rules win.
    assert docs.index("swagger-ui/swagger-ui.css") < docs.index("docs/authorize.css") < docs.index("</head>")
    css = (await client.get("/static/docs/authorize.css")).text
    # The ids and labels Swagger UI 5 gives the password flow's fields.
    for hidden in ('label[for="password_type"]', 'label[for^="client_id"]', 'label[for^="client_secret"]'):
        assert f".wrapper:has(> {hidden})" in css
    assert 'label[for="oauth_username"]::before' in css and 'content: "Email:"' in css
    bundle = (STATIC_DIR / "swagger-ui" / "swagger-ui-bundle.js").read_text(encoding="utf-8")
    for markup in ('htmlFor:"oauth_username"},"username:"', 'htmlFor:"password_type"', "htmlFor:`client_id_${"):
        assert markup in bundle, f"Swagger UI no longer renders {markup}: update static/docs/authorize.css"
    scheme = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert "email" in scheme["description"]


async def test_redoc_hides_raw_patterns_and_each_request_field_with_one_says_its_rule_in_words(
    client: AsyncClient,
) -> None:
    assert '<redoc spec-url="/openapi.json" hide-schema-pattern>' in (await client.get("/redoc")).text
    openapi = (await client.get("/openapi.json")).json()
    requests = {name for name in openapi["components"]["schemas"] if not name.endswith("Public")}
    undescribed = []
    for name in requests:
        for field, schema in openapi["components"]["schemas"][name].get("properties", {}).items():
            for part in [schema, *schema.get("anyOf", [])]:
                if "pattern" in part and part["pattern"] != "^password$" and not part.get("description"):
                    undescribed.append(f"{name}.{field}")
    assert requests and not undescribed
    name = openapi["components"]["schemas"]["UserCreate"]["properties"]["name"]
    assert "capital" in name["description"] and "\\u" not in name["description"]
    assert name["pattern"]  # kept for validators and schemathesis
