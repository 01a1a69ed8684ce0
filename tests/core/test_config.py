"""Settings: what people paste as DATABASE_URL works, and a bad value fails with one clear line."""

import re
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import (
    PROJECT_ROOT,
    Settings,
    describe_settings_error,
    mask_password,
    normalize_database_url,
    unknown_env_file_keys,
)


@pytest.mark.parametrize(
    ("pasted", "used"),
    [
        ("postgresql://u:p@db.example:5432/app", "postgresql+psycopg://u:p@db.example:5432/app"),
        ("postgres://u:p@db.example/app", "postgresql+psycopg://u:p@db.example/app"),
        ("postgresql+psycopg://u:p@localhost/app", "postgresql+psycopg://u:p@localhost/app"),
        ("postgresql+psycopg2://u:p@localhost/app", "postgresql+psycopg://u:p@localhost/app"),
        (
            "postgres://u:p@ep-cool.aws.neon.tech/app?sslmode=require",
            "postgresql+psycopg://u:p@ep-cool.aws.neon.tech/app?sslmode=require",
        ),
        (
            "postgresql://postgres@/app?host=/var/run/postgresql",
            "postgresql+psycopg://postgres@/app?host=%2Fvar%2Frun%2Fpostgresql",
        ),
        ("  postgresql://u@h/app\n", "postgresql+psycopg://u@h/app"),
    ],
)
def test_database_urls_people_paste_are_accepted(pasted: str, used: str) -> None:
    assert normalize_database_url(pasted) == used
    assert Settings(_env_file=None, database_url=pasted).database_url == used


@pytest.mark.parametrize(
    ("pasted", "problem"),
    [
        ("not a url", "is not a URL"),
        ("mysql://u:p@h/app", "must be a PostgreSQL URL (postgresql://...), not mysql://..."),
        ("postgresql://u:p@h", "names no database"),
    ],
)
def test_a_bad_database_url_fails_with_one_line_naming_the_variable(pasted: str, problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, database_url=pasted)
    message = describe_settings_error(caught.value)
    assert message.startswith(f"Invalid setting DATABASE_URL: {problem}")
    assert "\n" not in message


def test_an_empty_database_url_means_the_embedded_default() -> None:
    assert Settings(_env_file=None, database_url="").database_url is None


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("SECRET_KEY", "k" * 32)
    settings = Settings(_env_file=None)
    assert (settings.port, settings.host, settings.log_level) == (9000, "0.0.0.0", "warning")
    assert (settings.auth, settings.secret_key.get_secret_value() if settings.secret_key else None) == (
        "required",
        "k" * 32,
    )
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_settings_are_read_from_a_dotenv_file(tmp_path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=8123\nDATABASE_URL=postgres://u:p@h/app\n")
    settings = Settings(_env_file=dotenv)
    assert settings.port == 8123
    assert settings.database_url == "postgresql+psycopg://u:p@h/app"


@pytest.mark.parametrize(("variable", "value"), [("PORT", "eighty"), ("PORT", "70000"), ("LOG_LEVEL", "loud")])
def test_other_bad_settings_name_their_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    assert describe_settings_error(caught.value).startswith(f"Invalid setting {variable}: ")


def test_passwords_are_masked_for_logs() -> None:
    assert mask_password("postgresql+psycopg://u:s3cret@h/app") == "postgresql+psycopg://u:***@h/app"


def test_env_example_documents_every_setting_and_parses() -> None:
    example = PROJECT_ROOT / ".env.example"
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", example.read_text(), flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields} | {"TEST_DATABASE_URL"}
    assert Settings(_env_file=example).port == 8000


def test_dotenv_stays_out_of_git_and_the_example_holds_no_secret() -> None:
    ignored = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert {".env", ".venv/", ".data/"} <= set(ignored)
    settings = [line for line in (PROJECT_ROOT / ".env.example").read_text().splitlines() if "=" in line]
    active = [line for line in settings if not line.startswith("#")]
    assert not [line for line in active if "://" in line or "PASSWORD" in line.upper()]


# Reachable from other machines ("exposed"): a HOST beyond loopback, or any proxy
# in front, even one on this machine, which passes on whatever reaches it.
KEY = SecretStr("a-test-key-that-is-long-enough-for-hs256-0123456789")


@pytest.mark.parametrize(
    ("host", "trusted_proxies", "exposed"),
    [
        ("127.0.0.1", [], False),
        ("localhost", [], False),
        ("::1", [], False),
        ("0.0.0.0", [], True),
        ("127.0.0.1", ["127.0.0.1"], True),  # nginx on the same machine, forwarding from the internet
        ("127.0.0.1", ["private"], True),
        ("127.0.0.1", ["*"], True),
    ],
)
def test_the_service_counts_as_exposed_beyond_loopback_or_behind_any_proxy(
    host: str, trusted_proxies: list[str], exposed: bool
) -> None:
    settings = Settings(_env_file=None, host=host, trusted_proxies=trusted_proxies, secret_key=KEY)
    assert settings.exposed is exposed
    assert settings.auth == ("required" if exposed else "open")


@pytest.mark.parametrize(
    ("where", "reason"),
    [({"host": "0.0.0.0"}, "HOST is 0.0.0.0"), ({"trusted_proxies": ["127.0.0.1"]}, "TRUSTED_PROXIES is set")],
)
def test_auth_open_is_refused_when_exposed_and_says_how_to_serve_open_on_purpose(
    where: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, auth="open", secret_key=KEY, **where)
    assert describe_settings_error(caught.value) == (
        f"Invalid settings: AUTH=open with {reason} lets anyone who reaches the service read, change and delete "
        "every account and portfolio; set AUTH=required (and SECRET_KEY). "
        "For a throwaway demo that anyone may change, set AUTH_OPEN_TO_ANYONE=true as well"
    )


def test_auth_open_to_anyone_serves_an_exposed_demo_open_only_with_auth_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    monkeypatch.setenv("SECRET_KEY", KEY.get_secret_value())
    monkeypatch.setenv("AUTH_OPEN_TO_ANYONE", "true")
    assert Settings(_env_file=None).auth == "required"  # the setting alone opens nothing
    monkeypatch.setenv("AUTH", "open")
    assert Settings(_env_file=None).auth == "open"


def test_behind_a_proxy_a_shared_secret_key_is_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None)
    assert describe_settings_error(caught.value).startswith(
        "Invalid settings: SECRET_KEY is needed when TRUSTED_PROXIES is set: every instance must sign tokens"
    )


def test_a_dotenv_key_that_is_no_setting_is_named_with_the_closest_setting_and_never_its_value(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "DATABASE_ULR=postgresql://u:hunter2@db/app\nPROT=8001\nport=8002\nLOG_LEVEL=debug\nTOTALLY_UNRELATED=x\n"
    )
    warnings = unknown_env_file_keys(env_file)
    assert warnings == [
        ".env: DATABASE_ULR is not a setting and is ignored; did you mean DATABASE_URL?",
        ".env: PROT is not a setting and is ignored; did you mean PORT?",
        ".env: TOTALLY_UNRELATED is not a setting and is ignored",
    ]
    assert not any("hunter2" in line or "8001" in line for line in warnings)


def test_without_a_dotenv_file_there_is_nothing_to_warn_about(tmp_path) -> None:
    assert unknown_env_file_keys(tmp_path / ".env") == []
