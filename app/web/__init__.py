"""The web app for people: server-rendered pages under /app/ on the API's own repositories.

What it does and how: docs/explanation/web-app.md.
"""

from fastapi import FastAPI

from app.auth.tokens import signing_key
from app.core.config import Settings
from app.web.routes import router


def install_web_app(app: FastAPI, settings: Settings) -> None:
    """Serve the pages under /app/ (not in the OpenAPI); their scripts and styles are in app/static/web/."""
    app.state.web_cookie_key = signing_key(settings)  # the cookie's signer salts it (app/web/session.py)
    app.include_router(router)
