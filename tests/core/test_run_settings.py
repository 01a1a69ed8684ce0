"""Settings for running and deploying: HOST, DB_CONNECT_TIMEOUT, TRUSTED_PROXIES fail loudly, naming themselves."""

import socket
from typing import Any

import pytest
from pydantic import ValidationError

from app.cli.server import cannot_listen
from app.core.config import PRIVATE_NETWORKS, Settings, describe_settings_error

# Beyond loopback, accounts need a shared SECRET_KEY (docs/how-to/deploy.md).
ACCOUNTS: dict[str, Any] = {"secret_key": "a-test-key-that-is-long-enough-for-hs256-0123456789"}


def _problem(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, **values)
    return describe_settings_error(caught.value)


@pytest.mark.parametrize("host", ["not a host", "-dash.example", "host_name", "http://0.0.0.0"])
def test_a_host_that_is_no_address_fails_naming_host(host: str) -> None:
    assert _problem(host=host) == (
        f"Invalid setting HOST: {host!r} is neither an IP address nor a host name; try 127.0.0.1 or 0.0.0.0"
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "api.example.com"])
def test_addresses_and_host_names_are_accepted_as_host(host: str) -> None:
    assert Settings(_env_file=None, host=host, **ACCOUNTS).host == host


def test_a_connect_timeout_below_libpqs_minimum_of_two_seconds_is_refused() -> None:
    assert (
        _problem(db_connect_timeout=1)
        == "Invalid setting DB_CONNECT_TIMEOUT: Input should be greater than or equal to 2"
    )
    assert Settings(_env_file=None, db_connect_timeout=2).db_connect_timeout == 2


def test_no_proxy_is_trusted_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    assert Settings(_env_file=None).trusted_proxies == []


def test_trusted_proxies_are_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", ACCOUNTS["secret_key"])  # behind a proxy, accounts need it
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1,::1")
    assert Settings(_env_file=None).trusted_proxies == ["10.0.0.0/8", "127.0.0.1", "::1"]
    monkeypatch.setenv("TRUSTED_PROXIES", "*")
    assert Settings(_env_file=None).trusted_proxies == ["*"]


def test_private_stands_for_every_private_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", ACCOUNTS["secret_key"])
    monkeypatch.setenv("TRUSTED_PROXIES", "private, 203.0.113.9")
    assert Settings(_env_file=None).trusted_proxies == [*PRIVATE_NETWORKS, "203.0.113.9"]
    assert "10.0.0.0/8" in PRIVATE_NETWORKS and "100.64.0.0/10" in PRIVATE_NETWORKS


@pytest.mark.parametrize(
    ("proxies", "problem"),
    [
        (
            "proxy.internal",
            "'proxy.internal' is not an IP address or network; expected e.g. 10.0.0.5, 10.0.0.0/8, private or *",
        ),
        (
            "10.0.0.1/8",
            "'10.0.0.1/8' is not an IP address or network; expected e.g. 10.0.0.5, 10.0.0.0/8, private or *",
        ),
        ("*, 10.0.0.1", "`*` trusts every address; list addresses or give `*` alone"),
    ],
)
def test_a_trusted_proxy_that_is_no_address_fails_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, proxies: str, problem: str
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", proxies)
    assert _problem() == f"Invalid setting TRUSTED_PROXIES: {problem}"


def test_a_port_in_use_is_named_with_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert (
            cannot_listen("127.0.0.1", port)
            == f"port {port} is in use; set PORT to a free one, e.g. PORT={port + 1} make run"
        )
        assert cannot_listen("localhost", port) is not None  # uvicorn binds localhost on IPv4 too


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("no-such-host.invalid", "HOST 'no-such-host.invalid' cannot be resolved"),
        ("192.0.2.1", "HOST 192.0.2.1 is not an address of this machine; try 127.0.0.1 or 0.0.0.0"),
    ],
)
def test_a_host_this_machine_cannot_listen_on_is_named(host: str, problem: str) -> None:
    assert (cannot_listen(host, 8000) or "").startswith(problem)
