"""SECRET_KEY: given, it signs; unset on a loopback HOST, one is generated once, private, and shared."""

import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.auth import tokens
from app.core.config import Settings

LIFETIME = timedelta(minutes=5)


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / ".data" / "secret-key"
    monkeypatch.setattr(tokens, "GENERATED_KEY_FILE", path)
    return path


def test_a_given_secret_key_is_the_signing_key(key_file: Path) -> None:
    settings = Settings(_env_file=None, secret_key=SecretStr("k" * 40))
    assert tokens.signing_key(settings) == b"k" * 40
    assert not key_file.exists()


def test_without_one_a_key_is_generated_once_readable_only_by_its_owner(key_file: Path) -> None:
    settings = Settings(_env_file=None)
    first = tokens.signing_key(settings)
    assert len(first) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert tokens.signing_key(settings) == first  # a restart keeps it, and so its tokens
    assert [path.name for path in key_file.parent.iterdir()] == ["secret-key"]  # no draft left behind


def test_workers_starting_together_all_get_the_same_key(key_file: Path) -> None:
    settings = Settings(_env_file=None)
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: tokens.signing_key(settings), range(32)))
    assert len(keys) == 1
    assert keys == {key_file.read_bytes().strip()}


def test_a_token_signed_before_a_restart_is_good_after_it(key_file: Path) -> None:
    settings = Settings(_env_file=None)
    token = tokens.AccessTokens(tokens.signing_key(settings), LIFETIME).issue(7, is_admin=False)
    restarted = tokens.AccessTokens(tokens.signing_key(settings), LIFETIME)
    assert restarted.check(token).user_id == 7


def test_no_key_is_generated_for_a_host_beyond_loopback(key_file: Path) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY is needed"):
        Settings(_env_file=None, host="0.0.0.0")
    assert not key_file.exists()


def test_no_key_is_generated_behind_a_proxy_on_this_machine(key_file: Path) -> None:
    with pytest.raises(ValueError, match="SECRET_KEY is needed when TRUSTED_PROXIES is set"):
        Settings(_env_file=None, host="127.0.0.1", trusted_proxies=["127.0.0.1"])
    assert not key_file.exists()
