"""The field types and bases every resource's models build on.

One layer, as SQLModel's docs teach it: each resource's models.py
(app/users/, app/stocks/, app/auth/, app/portfolio/) has a `...Base` holding
the shared, validated fields, a `table=True` class adding the key and the
server-set columns, and `...Create`, `...Update` and `...Public` schemas for
what the API reads and writes. Each field's rules live once, in an annotated
type; the ones more than one resource uses are here (`Symbol` and `Price`,
which stocks and market prices share; `Email`, `Password`, `Money`, `Flag`),
with the `Schema` base and the column helpers.

Importing this module names every constraint on `SQLModel.metadata`; every
models.py imports it before declaring a table.
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, SecretStr, Strict, WithJsonSchema
from pydantic import Field as Rules
from pydantic_core import PydanticCustomError
from sqlalchemy import DateTime, func, text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig  # the type SQLModel declares model_config with; not re-exported

# Constraint names Alembic can see and diff; without them it writes
# `create_foreign_key(None, ...)`, which cannot be dropped by name later.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# PostgreSQL `integer`: every id and count column. Values outside it can never
# match a row, and must never reach the database as a parameter it rejects.
INT32_MAX = 2_147_483_647


# ---------------------------------------------------------------- field types


def storable_text(value: str) -> str:
    """Refuse NUL, which PostgreSQL text cannot hold, so it is a 422 and not a driver error.

    (Unpaired surrogates, the other unstorable case, Pydantic already refuses.)
    """
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


def _json_number(value: Any) -> Any:
    """Take a JSON number only: not `true` for 1, nor `"30"` for 30, as Pydantic's lax mode would.

    Lax mode is kept for the rest (an integral `10.0` is the integer 10, as
    JSON Schema says), so a body the OpenAPI calls invalid is refused.
    """
    if isinstance(value, (bool, str, bytes)):
        raise PydanticCustomError("number_type", "Input should be a JSON number, not {kind}", {"kind": _kind(value)})
    return value


def _kind(value: Any) -> str:
    return "a boolean" if isinstance(value, bool) else "a string"


# Place it after the Field rules: before them, Pydantic cannot turn `gt=0`
# into JSON Schema's `exclusiveMinimum` and writes a bare `"gt": 0` instead.
JsonNumber = BeforeValidator(_json_number)


def _not_null(value: Any) -> Any:
    """Refuse JSON null by saying so, where Pydantic would list the types it takes (Decimal's include strings)."""
    if value is None:
        raise PydanticCustomError("null_forbidden", "Field may not be null")
    return value


# Place it last in an Annotated type, so it runs before every other validator.
NotNull = BeforeValidator(_not_null)

# Money is NUMERIC in the database and Decimal in Python, so it is exact. It
# leaves as a JSON number (175.5, as the guide shows), not Pydantic's default
# string: up to 15 significant digits, the shortest repr of the float is
# exactly the stored decimal.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


# ---------------------------------------------------------------- days


def today() -> date:
    """Today in UTC, the day the database's connections live in (app/core/database.py: TimeZone=UTC)."""
    return datetime.now(UTC).date()


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    """`YYYY-MM-DD` and nothing else: pydantic's lax mode would also read `0` or `"0"` as 1970-01-01 (a Unix
    time) and `2024-01-02T00:00:00`, none of which the OpenAPI's `format: date` allows."""
    if isinstance(value, date):  # already a date: a default, or a test's
        return value
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "Input should be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date_format", "Input should be a real date as YYYY-MM-DD") from None


def _not_in_the_future(value: date) -> date:
    if value > today():
        raise ValueError(f"Date must not be after today ({today().isoformat()}, UTC)")
    return value


# A day as sent in a query (`from`, `to`): any day.
Day = Annotated[
    date,
    BeforeValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2024-03-15"]}),
]
# A day something happened: today (UTC) at the latest.
PastDay = Annotated[
    date,
    AfterValidator(_not_in_the_future),
    BeforeValidator(_iso_date),
    WithJsonSchema(
        {"type": "string", "format": "date", "description": "YYYY-MM-DD, not after today (UTC).",
         "examples": ["2024-03-15"]},
        mode="validation",
    ),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2024-03-15"]}, mode="serialization"),
    NotNull,
]  # fmt: skip


def server_timestamp(*, moves_on_update: bool = False) -> Any:
    """A timestamptz column set by PostgreSQL's clock; SQLModel's default would be naive."""
    column = {"server_default": func.now(), "nullable": False}
    if moves_on_update:
        column["onupdate"] = func.now()
    return Field(default=None, sa_type=DateTime(timezone=True), sa_column_kwargs=column)


def row_version() -> Any:
    """A counter PostgreSQL moves on every UPDATE; it is the row's ETag (see app/http/etags.py)."""
    return Field(
        default=None,
        sa_column_kwargs={"server_default": text("1"), "onupdate": text("version + 1"), "nullable": False},
    )


class Schema(SQLModel):
    """Base of the API schemas that are not tables (`...Create`, `...Public`, ...).

    Pydantic validates a model (a request body, each row of a list) in Rust,
    unless the class has an `__init__` of its own, and SQLModel's counts as
    one: it exists for table rows, and here it would run the whole validation
    a second time, in Python. Marking this plain `__init__` as Pydantic's
    standard one keeps the schemas on the fast path: a page of 100 stocks is
    checked in a third of the time. User and Stock, the tables, keep SQLModel's.

    `__pydantic_base_init__` is pydantic's internal flag, not public API:
    tests/kit/test_schemas.py fails if an upgrade stops honouring it.

    A field the schema does not have is refused, not dropped: a request body
    with a typo (`"agee": 31`) is a 422 naming it, and the OpenAPI says
    `additionalProperties: false`. The public schemas, which are built from
    rows holding more columns than they show, ignore extras instead (`Identified`).
    """

    # A field with a default is in every answer all the same (serialised, its default or null), so the
    # OpenAPI's response schemas list it as required, and generated clients type it as always there;
    # request schemas are unchanged (a default still means "may be left out").
    model_config = SQLModelConfig(extra="forbid", json_schema_serialization_defaults_required=True)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)

    # A function attribute pydantic reads; no type declares it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


class Identified(Schema):
    """A row's id, for the public schemas.

    Mixed in as the last base, so Pydantic (which orders fields by reversed
    MRO) puts `id` first in every response, as the guide shows them.
    """

    model_config = SQLModelConfig(extra="ignore")

    id: int = Field(schema_extra={"examples": [1]})


# ---------------------------------------------------------------- market (stocks and prices share them)

# Symbols are stored trimmed and upper-case, so " brk.b " and "BRK.B" are one
# symbol and filtering by symbol is an index lookup. Only ASCII is accepted
# (checked before upper-casing, which would turn "ß" into "SS").
SYMBOL_MAX_LENGTH = 10
_SYMBOL_WHITESPACE = " \t\n\r"
_SYMBOL = re.compile(r"[A-Za-z0-9.\-]+")
# A stored symbol, as the database's CHECK states it: `.` and `-` only after a letter or digit (BRK.B, RDS-A).
STORED_SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9.\-]*$"
# ... and as a client may send it, any case, before trimming.
_SYMBOL_CLIENT = rf"[A-Za-z0-9][A-Za-z0-9.\-]{{0,{SYMBOL_MAX_LENGTH - 1}}}"


def normalize_symbol(value: str) -> str:
    """`" brk.b "` -> `"BRK.B"`; refused: anything but A-Z, digits, `.` and `-`, and a first character of `.` or `-`."""
    symbol = value.strip(_SYMBOL_WHITESPACE)
    if not symbol:
        raise ValueError("Symbol must not be empty")
    if len(symbol) > SYMBOL_MAX_LENGTH:
        raise ValueError(f"Symbol must be at most {SYMBOL_MAX_LENGTH} characters")
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError("Symbol may contain only letters A-Z, digits, '.' and '-'")
    if not symbol[0].isalnum():
        raise ValueError("Symbol must start with a letter A-Z or a digit")
    return symbol.upper()


Symbol = Annotated[
    str,
    AfterValidator(normalize_symbol),
    # What clients may send: surrounding spaces and lower case are fine.
    WithJsonSchema(
        {
            "type": "string",
            "pattern": rf"^[{_SYMBOL_WHITESPACE}]*{_SYMBOL_CLIENT}[{_SYMBOL_WHITESPACE}]*$",
            "description": (
                "Stock symbol: 1 to 10 of A-Z, 0-9, '.' and '-', starting with a letter or digit; "
                "trimmed and upper-cased."
            ),
            "examples": ["AAPL"],
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": rf"^[A-Z0-9][A-Z0-9.\-]{{0,{SYMBOL_MAX_LENGTH - 1}}}$", "examples": ["AAPL"]},
        mode="serialization",
    ),
    NotNull,
]

PRICE_MAX_DIGITS = 12
PRICE_DECIMAL_PLACES = 4
PRICE_DESCRIPTION = "Price per share: more than 0, at most 99999999.9999, 4 decimal places at most. Stored exactly."
Price = Annotated[
    Money,
    Rules(gt=0, max_digits=PRICE_MAX_DIGITS, decimal_places=PRICE_DECIMAL_PLACES),
    JsonNumber,
    # Pydantic would document a Decimal input as "number or any string"; it is a number.
    # The same rule as above, in JSON Schema's words: 4 decimal places is a
    # multiple of 0.0001, so the smallest price is 0.0001.
    WithJsonSchema(
        {
            "type": "number",
            "minimum": 0.0001,
            "maximum": 99999999.9999,
            "multipleOf": 0.0001,
            "description": PRICE_DESCRIPTION,
            "examples": [175.5],
        },
        mode="validation",
    ),
    WithJsonSchema({"type": "number", "description": PRICE_DESCRIPTION, "examples": [175.5]}, mode="serialization"),
    NotNull,
]


# ---------------------------------------------------------------- accounts (users and auth share them)

# Accounts (docs/explanation/security.md). Emails are stored lower-cased, so one
# address is one account whatever its spelling; the pattern is the pragmatic
# subset of RFC 5322 that mail providers hand out, and the OpenAPI says the same.
EMAIL_MAX_LENGTH = 254
_EMAIL_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_EMAIL_LABEL}(?:\.{_EMAIL_LABEL})+$"
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128


def _lower_case(value: str) -> str:
    return value.lower()


Email = Annotated[
    str,
    Rules(
        max_length=EMAIL_MAX_LENGTH,
        pattern=EMAIL_PATTERN,
        description="Email address, used to sign in; case does not matter (stored lower-case).",
        examples=["jane@example.com"],
    ),
    AfterValidator(_lower_case),
]
# Write-only: SecretStr keeps it out of reprs and logs; no response schema has it.
Password = Annotated[
    SecretStr,
    Rules(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        description=(
            f"{PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters, not containing the email's part "
            "before the @. Never returned."
        ),
        examples=["correct horse battery staple"],
    ),
]
# `true` or `false` only; lax mode would also take 0, 1, "yes" and "off".
Flag = Annotated[bool, Strict()]


def password_problem(password: SecretStr, email: str | None) -> str | None:
    """Why `password` is refused for an account with `email`, beyond its length; None if it is not."""
    local_part = email.partition("@")[0].lower() if email else ""
    if local_part and local_part in password.get_secret_value().lower():
        return "Password must not contain the part of the email before the @"
    return None
