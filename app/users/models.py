"""The `users` table and the API schemas built on it (the SQLModel pattern: see app/kit/fields.py).

Bodies are validated as `UserCreate`/`UserUpdate`/`UserReplace` before
anything is written (a `table=True` class would not validate in `__init__`);
app/users/repository.py writes them to `users` and answers with `UserPublic`.
"""

import unicodedata
from datetime import datetime
from typing import Annotated

import regex
from pydantic import MISSING, AfterValidator
from pydantic import Field as Rules
from pydantic_core import PydanticCustomError
from sqlalchemy import CheckConstraint, String, Table, text
from sqlmodel import Field, SQLModel

from app.kit.fields import (
    EMAIL_MAX_LENGTH,
    Email,
    Flag,
    Identified,
    JsonNumber,
    NotNull,
    Password,
    Schema,
    row_version,
    server_timestamp,
    storable_text,
)

# One way only: users sit above stocks, so a user's answer may include their
# stocks' schema; nothing in app/stocks/ imports from here.
from app.stocks.models import StockPublic

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
# What str.strip() removes (tests/users/test_names.py checks it): every Unicode space, tab and line break.
_NAME_SPACE = r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# Control (Cc), line and paragraph separators (Zl, Zp) and format characters
# (Cf) of the Basic Multilingual Plane, per Python's unicodedata
# (tests/users/test_names.py checks it); the validator refuses those beyond it too.
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
        examples=["Jane Doe"],
        json_schema_extra={"pattern": NAME_PATTERN},
    ),
    AfterValidator(storable_text),
    AfterValidator(user_name),
    NotNull,
]

Age = Annotated[int, Rules(ge=0, le=150, description="Age in years, 0 to 150.", examples=[30]), JsonNumber]


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


# POST /users/'s example in the docs: one person (the name and the address agree), and what anyone may send,
# so no `is_admin` (the schema's own examples would compose one, with its default).
SIGN_UP_EXAMPLE = {
    "name": "Jane Doe",
    "age": 30,
    "email": "jane@example.com",
    "password": "correct horse battery staple",
}


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
    stocks: list[StockPublic] = []


# The Core table behind the class, for the repositories' statements.
# SQLModel sets `__table__` on every table=True class; its type hints do not declare it.
USERS: Table = User.__table__  # type: ignore[attr-defined]
