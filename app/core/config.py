"""Settings: every knob the service reads from the environment or `.env`, validated once."""

import difflib
import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from starlette.requests import HTTPConnection

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# HS256 keys shorter than the hash's 32 bytes weaken it (RFC 7518, 3.2).
MIN_SECRET_KEY_BYTES = 32
MIN_METRICS_TOKEN_CHARACTERS = 16
# Pruning more often than this buys nothing; less often than daily lets tables grow.
MIN_HOUSEKEEPING_INTERVAL_SECONDS = 10
MAX_HOUSEKEEPING_INTERVAL_SECONDS = 24 * 60 * 60

# Spellings people paste from docs and cloud consoles; all mean "PostgreSQL",
# and all are served by the one driver we ship (psycopg 3).
_POSTGRES_SCHEMES = {
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
}


# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


# TRUSTED_PROXIES=private: every address no client on the internet can have.
# Behind a platform's router (Heroku, Render, Railway) the router connects
# from such an address, and it is the only way in.
PRIVATE_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "fc00::/7", "::1"]


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def normalize_database_url(raw: str) -> str:
    """Turn any PostgreSQL URL people paste into one SQLAlchemy + psycopg 3 understands."""
    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise ValueError("is not a URL; expected postgresql://user:password@host:5432/dbname") from None
    if url.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(f"must be a PostgreSQL URL (postgresql://...), not {url.drivername}://...")
    if not url.database:
        raise ValueError("names no database; expected postgresql://user:password@host:5432/dbname")
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def mask_password(url: str) -> str:
    """The URL as it may appear in logs: password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


class Settings(BaseSettings):
    """Configuration from environment variables (upper-case names) or `.env`; see `.env.example`."""

    model_config = SettingsConfigDict(env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: `python -m app` starts an embedded PostgreSQL in .data/postgres.",
    )
    database_replica_urls: Annotated[list[str], NoDecode] = Field(
        default=[],
        description=(
            "Comma-separated PostgreSQL URLs of streaming replicas of DATABASE_URL. Set: GET and HEAD requests read "
            "from a healthy replica that has replayed the caller's own writes (X-Read-After), every other request "
            "runs on the primary. Empty (the default): everything runs on DATABASE_URL."
        ),
    )
    replica_max_lag_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description=(
            "A replica further behind the primary than this, or down, gets no reads until it catches up; with "
            "none healthy, reads go to the primary."
        ),
    )
    replica_check_seconds: float = Field(
        default=1.0,
        ge=0.1,
        le=60,
        description=(
            "How often each worker asks each replica how far it has replayed (and the primary where its WAL is): "
            "the health and lag that route reads are at most this old."
        ),
    )
    embedded_data_dir: Path = Field(
        default=Path(".data/postgres"),
        description="Where the embedded PostgreSQL keeps its data (relative to the project root).",
    )
    host: str = Field(default="127.0.0.1", description="Address to listen on: an IP address or a host name.")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default=1, ge=1, le=64, description="uvicorn worker processes; each has its own pool of connections."
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log: bool = Field(
        default=True, description="Log a line per request (app/http/request_log.py); false turns only that line off."
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="Log lines as JSON objects or as text; auto: text on a terminal, JSON otherwise."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["*"],
        description="Comma-separated origins allowed by CORS; `*` (the default) allows any, without credentials.",
    )

    # A small fixed pool per worker: PostgreSQL is fastest with few busy
    # connections, and connections opened for a burst (overflow) are closed
    # again as soon as they are returned, paying a connect each time.
    db_pool_size: int = Field(default=8, ge=1, le=100)
    db_max_overflow: int = Field(default=0, ge=0, le=100)
    db_pool_timeout: float = Field(
        default=2.0, gt=0, description="Seconds a request waits for a pooled connection before a 503."
    )
    db_connect_timeout: int = Field(
        # libpq treats a connect_timeout of 1 as 2; accepting 1 would promise what it does not do.
        default=2,
        ge=2,
        le=60,
        description="Seconds to wait for PostgreSQL to accept a connection.",
    )
    db_statement_timeout_ms: int = Field(
        default=5000, ge=0, description="Longest a single SQL statement may run; 0 disables the limit."
    )
    db_prepared_statements: bool = Field(
        default=True,
        description="Let psycopg prepare statements it runs often; false behind PgBouncer in transaction mode.",
    )
    sql_echo: bool = False
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=[],
        description=(
            "Comma-separated addresses or networks (10.0.0.0/8) of the proxies in front of the API, `private` "
            "for every private network, or `*`; X-Forwarded-For and X-Forwarded-Proto are believed only from "
            "them. Empty: from nobody."
        ),
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="Largest request body accepted; larger ones get a 413 unread."
    )

    # Accounts and tokens (docs/explanation/security.md).
    auth: Literal["required", "open"] | None = Field(
        default=None,
        description=(
            "`required`: every endpoint but sign-up, login and the docs needs a token, and each user reaches only "
            "their own data. `open`: the guide's API, anyone reaches everything. Unset: open when the service is "
            "reachable from this machine only (a loopback HOST and no TRUSTED_PROXIES), required otherwise, "
            "where open is refused unless AUTH_OPEN_TO_ANYONE."
        ),
    )
    auth_open_to_anyone: bool = Field(
        default=False,
        description=(
            "With AUTH=open on a service reachable from other machines (HOST not loopback, or TRUSTED_PROXIES "
            "set): true serves it anyway, letting anyone who reaches it read, change and delete every account "
            "and portfolio. For a throwaway demo only."
        ),
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Signs access tokens; at least 32 bytes, the same for every instance. Unset while reachable from "
            "this machine only (a loopback HOST, no TRUSTED_PROXIES): generated once into .data/secret-key."
        ),
    )
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60, description="Lifetime of an access token.")
    refresh_token_days: int = Field(default=30, ge=1, le=365, description="Lifetime of a refresh token.")
    # Longer would give a copied token that much time to be used unnoticed.
    refresh_grace_seconds: int = Field(
        default=10,
        ge=0,
        le=60,
        description=(
            "Seconds after its first use during which a refresh token presented again still gives a new pair in "
            "the same login (two tabs or processes refreshing at once); later, its reuse ends the login. 0: never."
        ),
    )

    # Each address's sign-ups of the last hour are kept in one array (app/auth/models.py); past this, set 0.
    signups_per_hour: int = Field(
        default=10,
        ge=0,
        le=1000,
        description=(
            "Sign-ups (POST /users/) one client address may make per hour with AUTH=required; further ones get a "
            "429 with Retry-After. An admin creating users is not counted. 0: no limit."
        ),
    )

    # Operations (docs/reference/metrics.md, docs/explanation/housekeeping.md).
    metrics_enabled: bool = Field(default=False, description="Serve Prometheus metrics at GET /metrics.")
    metrics_token: SecretStr | None = Field(
        default=None,
        description=(
            "The bearer token /metrics asks for; required when METRICS_ENABLED and HOST is not loopback "
            "or TRUSTED_PROXIES is set (a proxy would hand /metrics to anyone)."
        ),
    )
    housekeeping_interval_seconds: int = Field(
        default=300,
        description=(
            "How often each worker tries to prune expired refresh tokens, old login failures, old sign-up counts "
            "and expired idempotency keys (one instance at a time does it); 0 turns pruning off."
        ),
    )

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return normalize_database_url(value)

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _split_replica_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _normalize_replica_urls(cls, value: list[str]) -> list[str]:
        return [normalize_database_url(url) for url in value]

    @model_validator(mode="after")
    def _replicas_need_a_primary(self) -> "Settings":
        if self.database_replica_urls and self.database_url is None:
            raise ValueError(
                "DATABASE_REPLICA_URLS needs DATABASE_URL: replicas follow a primary, and the embedded PostgreSQL "
                "has none"
            )
        return self

    @field_validator("embedded_data_dir")
    @classmethod
    def _anchor_to_project(cls, value: Path) -> Path:
        return PROJECT_ROOT / value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        value = value.strip()
        if not _is_ip_address(value) and not _HOST_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is neither an IP address nor a host name; try 127.0.0.1 or 0.0.0.0")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [proxy.strip() for proxy in value.split(",") if proxy.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        if "*" in value:
            if len(value) > 1:
                raise ValueError("`*` trusts every address; list addresses or give `*` alone")
            return value
        value = [network for proxy in value for network in (PRIVATE_NETWORKS if proxy == "private" else [proxy])]
        for proxy in value:
            try:
                ipaddress.ip_network(proxy)
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an IP address or network; expected e.g. 10.0.0.5, 10.0.0.0/8, private or *"
                ) from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value().encode()) < MIN_SECRET_KEY_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_KEY_BYTES} bytes; make one with: "
                'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        return value

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_METRICS_TOKEN_CHARACTERS:
            raise ValueError(
                f"must be at least {MIN_METRICS_TOKEN_CHARACTERS} characters; make one with: "
                'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        return value

    @field_validator("housekeeping_interval_seconds")
    @classmethod
    def _check_housekeeping_interval(cls, value: int) -> int:
        if value != 0 and not MIN_HOUSEKEEPING_INTERVAL_SECONDS <= value <= MAX_HOUSEKEEPING_INTERVAL_SECONDS:
            raise ValueError(
                f"must be 0 (off) or from {MIN_HOUSEKEEPING_INTERVAL_SECONDS} to {MAX_HOUSEKEEPING_INTERVAL_SECONDS}"
            )
        return value

    @model_validator(mode="after")
    def _guard_metrics(self) -> "Settings":
        """/metrics reachable from other machines answers only with METRICS_TOKEN."""
        if self.metrics_enabled and self.metrics_token is None and self.exposed:
            raise ValueError(
                f"METRICS_ENABLED with {self._why_exposed()} needs METRICS_TOKEN, or anyone could read /metrics; "
                'make one with: python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        return self

    @property
    def exposed(self) -> bool:
        """Whether other machines can reach the service: a HOST other than loopback, or a proxy in front.

        A proxy on this machine (TRUSTED_PROXIES=127.0.0.1 with HOST=127.0.0.1)
        passes on whatever reaches it, so a loopback HOST is no protection then.
        """
        return not self.on_loopback or bool(self.trusted_proxies)

    def _why_exposed(self) -> str:
        return f"HOST is {self.host}" if not self.on_loopback else "TRUSTED_PROXIES is set"

    @model_validator(mode="after")
    def _choose_auth_safely(self) -> "Settings":
        """AUTH defaults by exposure; nothing exposed serves without accounts (unless told so) or a shared key."""
        if self.auth is None:
            self.auth = "required" if self.exposed else "open"
        if self.auth == "open" and self.exposed and not self.auth_open_to_anyone:
            raise ValueError(
                f"AUTH=open with {self._why_exposed()} lets anyone who reaches the service read, change and "
                "delete every account and portfolio; set AUTH=required (and SECRET_KEY). "
                "For a throwaway demo that anyone may change, set AUTH_OPEN_TO_ANYONE=true as well"
            )
        if self.secret_key is None and self.exposed:
            raise ValueError(
                f"SECRET_KEY is needed when {self._why_exposed()}: every instance must sign tokens with the same "
                'key; make one with: python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
            )
        return self

    @property
    def on_loopback(self) -> bool:
        """Whether HOST is reachable only from this machine."""
        if self.host == "localhost":
            return True
        return _is_ip_address(self.host) and ipaddress.ip_address(self.host).is_loopback

    @property
    def auth_required(self) -> bool:
        return self.auth == "required"

    @field_validator("log_level", "log_format", "auth", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


def settings_of(connection: HTTPConnection) -> Settings:
    """The settings the app was built with (`create_app` keeps them on its state)."""
    settings: Settings = connection.app.state.settings
    return settings


def unknown_env_file_keys(env_file: Path | None = None) -> list[str]:
    """A line per key of `.env` that is no setting, with the closest one: `DATABASE_ULR` is easy to miss.

    Only the file's keys: the machine's environment holds too many other
    variables to judge. The value is never read out: it may be a secret.
    """
    path = Path(env_file or Settings.model_config["env_file"])  # type: ignore[arg-type]  # one path, set above
    if not path.is_file():
        return []
    known = [name.upper() for name in Settings.model_fields]
    lines = []
    for key in dotenv_values(path, encoding=Settings.model_config["env_file_encoding"]):
        if key.upper() in known:
            continue
        closest = difflib.get_close_matches(key.upper(), known, n=1)
        hint = f"; did you mean {closest[0]}?" if closest else ""
        lines.append(f"{path.name}: {key} is not a setting and is ignored{hint}")
    return lines


def describe_settings_error(error: ValidationError) -> str:
    """One line per bad variable, named as the user sets it: `DATABASE_URL: is not a URL ...`."""
    lines = []
    for problem in error.errors():
        variable = ".".join(str(part) for part in problem["loc"]).upper()
        message = problem["msg"].removeprefix("Value error, ")
        # A rule across settings has no single variable; its message names them.
        lines.append(f"Invalid setting {variable}: {message}" if variable else f"Invalid settings: {message}")
    return "\n".join(lines)
