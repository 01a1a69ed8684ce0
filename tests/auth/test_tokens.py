"""Access tokens are verified once, remembered, and still refused the moment they expire."""

import time
from datetime import timedelta

import jwt
import pytest

from app.auth.tokens import AccessTokens, InvalidToken

KEY = b"a-key-for-these-tests-long-enough-for-hs256"


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    access = AccessTokens(KEY, timedelta(minutes=15))
    token = access.issue(3, is_admin=False)
    assert access.check(token).user_id == 3
    assert access.check(token).user_id == 3  # from memory now
    later = time.time() + 15 * 60 + 1
    monkeypatch.setattr(time, "time", lambda: later)  # the clock tokens.py reads
    with pytest.raises(InvalidToken, match="expired"):
        access.check(token)


def test_only_tokens_that_verified_are_remembered() -> None:
    access = AccessTokens(KEY, timedelta(minutes=15))
    forged = jwt.encode({"sub": "1", "typ": "access"}, b"another-key-entirely-long-enough-for-hs256", algorithm="HS256")
    for _ in range(3):
        with pytest.raises(InvalidToken):
            access.check(forged)
    assert access._verified.cache_info().currsize == 0
    access.check(access.issue(1, is_admin=True))
    assert access._verified.cache_info().currsize == 1
