"""Typed reads of what `create_app()` and `install_web_app()` keep on `app.state`, so no page reads it untyped."""

from fastapi import Request

from app.auth.tokens import AccessTokens
from app.config import Settings


def settings_of(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings), "create_app() sets app.state.settings"
    return settings


def access_tokens_of(request: Request) -> AccessTokens:
    access_tokens = request.app.state.access_tokens
    assert isinstance(access_tokens, AccessTokens), "create_app() sets app.state.access_tokens"
    return access_tokens


def cookie_key_of(request: Request) -> bytes:
    """The key the session cookie is signed with (app/web/session.py salts it for the cookie alone)."""
    key = request.app.state.web_cookie_key
    assert isinstance(key, bytes), "install_web_app() sets app.state.web_cookie_key"
    return key
