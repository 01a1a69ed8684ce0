"""The SQLModel classes: the `users` and `stocks` tables and the API schemas built on them.

One layer, as SQLModel's docs teach it: a `...Base` holds the shared, validated
fields; the `table=True` class adds the key, the foreign key and the
server-set columns; `...Create`, `...Update` and `...Public` are what the API reads
and writes. Each field's rules live once, in an annotated type (`UserName`,
`Price`, ...), so creating, replacing and patching all apply the same rules.
Bodies are validated as `...Create`/`...Update` before anything is written
(a `table=True` class would not validate in `__init__`); the repositories
(app/users/repository.py, app/stocks/repository.py) write them to the tables
these classes define and answer with the `...Public` schemas.
"""

import re
import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import regex
from pydantic import (
    MISSING,
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    SecretStr,
    Strict,
    WithJsonSchema,
)
from pydantic import Field as Rules
from pydantic_core import PydanticCustomError
from sqlalchemy import CheckConstraint, DateTime, String, Table, func, text
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

# Names. The guide's rule, "Name must start with a capital letter", holds where
# the first letter has a case (John, Élodie, Øystein; not john); a letter from
# a script without case (李小龙, محمد) is fine. Names are trimmed; control
# characters (tab, newline) and invisible ones (zero-width spaces and joiners,
# word joiner, BOM, direction marks) are refused anywhere, since two names that
# look the same must be the same name. "At least 3 characters" counts what a
# reader sees as characters (grapheme clusters: "Zoë" is 3 however its ë is
# encoded); the 255 at most are code points, as sent, which is what the
# varchar(255) column counts.
USER_NAME_MIN_LENGTH = 3
USER_NAME_MAX_LENGTH = 255
# What str.strip() removes (tests/test_names.py checks it): every Unicode space, tab and line break.
_NAME_SPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Control (Cc), line and paragraph separators (Zl, Zp) and format characters
# (Cf) of the Basic Multilingual Plane, per Python's unicodedata
# (tests/test_names.py checks it); the validator refuses those beyond it too.
_NAME_REFUSED = (
    r"\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
)
# The first character: never ASCII other than A-Z (so not a-z, a digit or punctuation).
_NAME_FIRST = rf"[^\u0000-\u0040\u005b-\u009f{_NAME_SPACE}{_NAME_REFUSED}]"
# A stored (trimmed) name, as the database's CHECK states it; every engine here
# (Python's re, ECMA-262 for JSON Schema, PostgreSQL) reads `\uXXXX` alike.
STORED_NAME_PATTERN = rf"^{_NAME_FIRST}(?:[^{_NAME_REFUSED}]*[^{_NAME_SPACE}{_NAME_REFUSED}])?$"
# A name as sent, for the OpenAPI. A JSON Schema pattern cannot say "a letter
# that is not lower-case" in every script, so this is the part it can say:
# every name it refuses the API refuses, and the rest is the validator's.
NAME_PATTERN = rf"^[{_NAME_SPACE}]*{_NAME_FIRST}[^{_NAME_REFUSED}]*[{_NAME_SPACE}]*$"
_GRAPHEME = regex.compile(r"\X")


def user_name(value: str) -> str:
    """The name, trimmed; refused (too short, as pydantic words it, or a ValueError) naming the rule it breaks."""
    name = value.strip()
    if len(_GRAPHEME.findall(name)) < USER_NAME_MIN_LENGTH:
        raise PydanticCustomError(
            "string_too_short",
            "String should have at least {min_length} characters",
            {"min_length": USER_NAME_MIN_LENGTH},
        )
    for char in name:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            raise ValueError(f"Name must not contain control characters such as tab or newline (it has {_code(char)})")
        if category == "Cf":
            raise ValueError(
                f"Name must not contain invisible characters such as zero-width spaces (it has {_code(char)})"
            )
    first = unicodedata.category(name[0])
    if not first.startswith("L"):
        raise ValueError("Name must start with a letter")
    if first == "Ll":
        raise ValueError("Name must start with a capital letter")
    return name


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


UserName = Annotated[
    str,
    Rules(
        min_length=USER_NAME_MIN_LENGTH,
        max_length=USER_NAME_MAX_LENGTH,
        description=(
            "Full name, trimmed: at least 3 characters as a reader counts them, at most 255 as sent. "
            "It starts with a letter, a capital one where the script has case (John, Élodie; 李小龙 too), "
            "and has no control characters (tab, newline) or invisible ones (zero-width space, joiners)."
        ),
        examples=["John Doe"],
        json_schema_extra={"pattern": NAME_PATTERN},
    ),
    AfterValidator(storable_text),
    AfterValidator(user_name),
    NotNull,
]

Age = Annotated[int, Rules(ge=0, le=150, description="Age in years, 0 to 150.", examples=[30]), JsonNumber]

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

# Money is NUMERIC in the database and Decimal in Python, so it is exact. It
# leaves as a JSON number (175.5, as the guide shows), not Pydantic's default
# string: up to 15 significant digits, the shortest repr of the float is
# exactly the stored decimal.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
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

Quantity = Annotated[
    int,
    Rules(gt=0, le=INT32_MAX, description="Number of shares, 1 to 2147483647.", examples=[10]),
    JsonNumber,
    NotNull,
]


def server_timestamp(*, moves_on_update: bool = False) -> Any:
    """A timestamptz column set by PostgreSQL's clock; SQLModel's default would be naive."""
    column = {"server_default": func.now(), "nullable": False}
    if moves_on_update:
        column["onupdate"] = func.now()
    return Field(default=None, sa_type=DateTime(timezone=True), sa_column_kwargs=column)


def row_version() -> Any:
    """A counter PostgreSQL moves on every UPDATE; it is the row's ETag (see app/etags.py)."""
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
    tests/test_schemas.py fails if an upgrade stops honouring it.

    A field the schema does not have is refused, not dropped: a request body
    with a typo (`"agee": 31`) is a 422 naming it, and the OpenAPI says
    `additionalProperties: false`. The public schemas, which are built from
    rows holding more columns than they show, ignore extras instead (`Identified`).
    """

    model_config = SQLModelConfig(extra="forbid")

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


# ---------------------------------------------------------------- users

# Accounts (README, Authentication). Emails are stored lower-cased, so one
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


class UserBase(SQLModel):
    name: UserName
    age: Age | None = None


class User(UserBase, table=True):
    __tablename__ = "users"
    # The rules hold in the database too, for writes that do not come through the API.
    __table_args__ = (
        CheckConstraint("char_length(name) >= 3", name="name_length"),
        # The name rules a pattern can state (see UserName); PostgreSQL reads its \uXXXX escapes as Python does.
        CheckConstraint(f"name ~ '{STORED_NAME_PATTERN}'", name="name_format"),
        CheckConstraint("age BETWEEN 0 AND 150", name="age_range"),
        # One address, one account, whatever its spelling.
        CheckConstraint("email = lower(email)", name="email_lower_case"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: UserName = Field(sa_type=String(USER_NAME_MAX_LENGTH))
    email: Email | None = Field(default=None, sa_type=String(EMAIL_MAX_LENGTH), unique=True)
    # argon2id (app/auth/passwords.py); NULL: the user cannot sign in (the guide's users).
    password_hash: str | None = Field(default=None, sa_type=String(255))
    is_admin: Flag = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    signup_ts: datetime | None = server_timestamp()
    updated_at: datetime | None = server_timestamp(moves_on_update=True)
    version: int | None = row_version()


class UserCreate(UserBase, Schema):
    """POST: sign-up. With AUTH=required, `email` and `password` are required."""

    email: Email | None = None
    password: Password | None = None
    is_admin: Flag = Rules(default=False, description="Only an admin may set it.")


class UserReplace(UserBase, Schema):
    """PUT: replaces name and age, as in the guide (an `age` left out becomes null). Account fields change by PATCH."""


class UserUpdate(Schema):
    """PATCH: only the fields sent change. `age` and `email` may be set to null; `name` may not."""

    name: UserName | MISSING = MISSING
    age: Age | MISSING | None = MISSING
    email: Email | MISSING | None = MISSING
    password: Password | MISSING = Rules(
        default=MISSING, description="Sets a password on a user without one; an admin may reset any."
    )
    is_admin: Flag | MISSING = Rules(default=MISSING, description="Only an admin may set it.")


class UserPublic(UserBase, Identified):
    email: str | None
    is_admin: bool
    signup_ts: datetime
    updated_at: datetime


class UserWithStocks(UserPublic):
    stocks: list["StockPublic"] = []


# ---------------------------------------------------------------- stocks


class StockBase(SQLModel):
    name: Symbol
    price: Price
    quantity: Quantity
    is_active: Flag = Field(
        default=True,
        sa_column_kwargs={"server_default": text("true")},
        description="Whether the stock is actively tracked; inactive stocks are left out of the portfolio.",
    )


class Stock(StockBase, table=True):
    __tablename__ = "stocks"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint(f"name ~ '{STORED_SYMBOL_PATTERN}'", name="symbol_format"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: Symbol = Field(sa_type=String(SYMBOL_MAX_LENGTH), index=True)
    # NOT NULL and ON DELETE CASCADE: a stock never outlives its user.
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime | None = server_timestamp()
    updated_at: datetime | None = server_timestamp(moves_on_update=True)
    version: int | None = row_version()


# The Core tables behind the two classes, for the repositories' statements.
# SQLModel sets `__table__` on every table=True class; its type hints do not declare it.
USERS: Table = User.__table__  # type: ignore[attr-defined]
STOCKS: Table = Stock.__table__  # type: ignore[attr-defined]


class StockCreate(StockBase, Schema):
    """POST, and PUT, which replaces every field as in the guide."""


class StockUpdate(Schema):
    """PATCH: only the fields sent change; none of them may be null."""

    name: Symbol | MISSING = MISSING
    price: Price | MISSING = MISSING
    quantity: Quantity | MISSING = MISSING
    is_active: Flag | MISSING = MISSING


class StockPublic(StockBase, Identified):
    user_id: int = Field(schema_extra={"examples": [1]})
    created_at: datetime
    updated_at: datetime


# UserWithStocks names StockPublic before it exists; complete it now, not on first use.
UserWithStocks.model_rebuild()


# ---------------------------------------------------------------- portfolio


class Position(Schema):
    """A user's active holdings of one symbol, added up."""

    name: str = Field(description="Stock symbol.", schema_extra={"examples": ["AAPL"]})
    quantity: int = Field(description="Shares held, summed over the active stocks.", schema_extra={"examples": [10]})
    value: Money = Field(description="Sum of price x quantity.", schema_extra={"examples": [1755.0]})
    average_price: Money = Field(
        description="value / quantity, rounded to 4 decimal places.", schema_extra={"examples": [175.5]}
    )


class Portfolio(Schema):
    user_id: int = Field(schema_extra={"examples": [1]})
    total_value: Money = Field(description="Sum of the positions' values.", schema_extra={"examples": [1755.0]})
    positions: list[Position] = Field(description="By value, largest first.")
