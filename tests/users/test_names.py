"""Names in every script, symbols that start with a letter or digit, and `null` called what it is.

The guide's rule, "Name must start with a capital letter", holds where the
first letter has a case; the API, its OpenAPI and the database's CHECK state
the same rules as far as each can.
"""

import re
import sys
import unicodedata
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.kit.fields import STORED_SYMBOL_PATTERN
from app.users import models
from app.users.models import NAME_PATTERN, STORED_NAME_PATTERN, user_name
from tests.helpers import create_stock, create_user


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("李小龙", "李小龙"),  # a script without case
        ("محمد", "محمد"),
        ("Élodie", "Élodie"),
        ("Øystein Ødegaard", "Øystein Ødegaard"),
        ("\u02bbOkalani", "\u02bbOkalani"),  # a modifier letter (the Hawaiian okina) first
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoe\u0308"),  # the same, the ë as e + combining diaeresis: still 3 characters
        ("  John Doe  ", "John Doe"),
        ("\tJohn Doe\n", "John Doe"),
        ("\u3000田中太郎\u3000", "田中太郎"),  # ideographic spaces around
        ("O'Brien-Smith", "O'Brien-Smith"),
    ],
)
async def test_names_in_any_script_are_accepted_and_stored_trimmed(client: AsyncClient, sent: str, stored: str) -> None:
    response = await client.post("/users/", json={"name": sent})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == stored


INVISIBLE = "Value error, Name must not contain invisible characters such as zero-width spaces "


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ("john", "Value error, Name must start with a capital letter"),  # the guide's answer
        ("élodie", "Value error, Name must start with a capital letter"),
        ("1John", "Value error, Name must start with a letter"),
        ("-John", "Value error, Name must start with a letter"),
        ("\u0301John", "Value error, Name must start with a letter"),  # a combining mark first
        ("John\tDoe", "Value error, Name must not contain control characters such as tab or newline (it has U+0009)"),
        ("John\nDoe", "Value error, Name must not contain control characters such as tab or newline (it has U+000A)"),
        ("Jo\u200bhn", INVISIBLE + "(it has U+200B)"),
        ("\u200bJohn", INVISIBLE + "(it has U+200B)"),
        ("Jo\u200chn", INVISIBLE + "(it has U+200C)"),
        ("Jo\u200dhn", INVISIBLE + "(it has U+200D)"),
        ("Jo\u2060hn", INVISIBLE + "(it has U+2060)"),
        ("\ufeffJohn", INVISIBLE + "(it has U+FEFF)"),
        ("Jo", "String should have at least 3 characters"),
        ("  Jo  ", "String should have at least 3 characters"),  # counted after trimming
        ("Zo\u0308", "String should have at least 3 characters"),  # 3 code points, 2 characters: Zö
        ("李小", "String should have at least 3 characters"),
        ("     ", "String should have at least 3 characters"),
    ],
)  # fmt: skip
async def test_names_that_break_a_rule_are_a_422_saying_which(client: AsyncClient, sent: str, message: str) -> None:
    for response in (
        await client.post("/users/", json={"name": sent}),
        await client.patch(f"/users/{(await create_user(client))['id']}", json={"name": sent}),
    ):
        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert (error["location"], error["message"]) == (["body", "name"], message)


def test_255_characters_at_most_are_counted_as_sent() -> None:
    assert user_name("J" * 255) == "J" * 255


async def test_a_name_over_255_code_points_is_refused(client: AsyncClient) -> None:
    response = await client.post("/users/", json={"name": "J" + "e\u0301" * 128})  # 129 characters, 257 code points
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "string_too_long"


# ---------------------------------------------------------------- the OpenAPI and the database say the same


def _ranges(text: str) -> set[int]:
    """The code points a character-class body of `\\uXXXX` and `\\uXXXX-\\uXXXX` names."""
    points: set[int] = set()
    for first, last in re.findall(r"\\u([0-9a-f]{4})(?:-\\u([0-9a-f]{4}))?", text):
        points.update(range(int(first, 16), int(last or first, 16) + 1))
    return points


BMP = [chr(point) for point in range(0x10000) if not 0xD800 <= point <= 0xDFFF]


def test_the_patterns_spaces_are_what_trimming_removes() -> None:
    assert _ranges(models._NAME_SPACE) == {ord(char) for char in BMP if char.isspace()}
    assert not any(chr(point).isspace() for point in range(0x10000, sys.maxunicode + 1))


def test_the_patterns_refused_characters_are_the_control_and_invisible_ones() -> None:
    refused = {ord(char) for char in BMP if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp")}
    assert _ranges(models._NAME_REFUSED) == refused


@pytest.mark.parametrize("where", ["first", "inside", "around"])
def test_every_name_the_api_accepts_matches_the_openapi_pattern(where: str) -> None:
    """The pattern is what JSON Schema can say: it may accept names the API refuses, never the reverse."""
    pattern = re.compile(NAME_PATTERN)
    for char in BMP:
        name = {"first": f"{char}bcd", "inside": f"Ab{char}cd", "around": f"{char}Abc{char}"}[where]
        try:
            accepted = user_name(name)
        except ValueError:
            continue
        assert pattern.fullmatch(name), f"U+{ord(char):04X}"
        assert re.fullmatch(STORED_NAME_PATTERN, accepted), f"U+{ord(char):04X}"


async def test_the_openapi_states_the_name_and_symbol_patterns(client: AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for body in ("UserCreate", "UserUpdate"):
        assert schemas[body]["properties"]["name"]["pattern"] == NAME_PATTERN
    symbol = schemas["StockCreate"]["properties"]["name"]["pattern"]
    assert [bool(re.fullmatch(symbol, sent)) for sent in (" brk.b ", "0700", ".", "-", "...", ".A", "-1")] == [
        True, True, False, False, False, False, False
    ]  # fmt: skip
    assert schemas["StockPublic"]["properties"]["name"]["pattern"] == r"^[A-Z0-9][A-Z0-9.\-]{0,9}$"


@pytest.mark.parametrize("name", ["john", " John", "John ", "Jo\u200bhn", "John\tDoe", "1John", "-John"])
async def test_the_database_refuses_names_that_break_the_rules(connection: AsyncConnection, name: str) -> None:
    with pytest.raises(sa_exc.IntegrityError, match="ck_users_name_format"):
        async with connection.begin_nested():
            await connection.execute(text("INSERT INTO users (name) VALUES (:name)"), {"name": name})


@pytest.mark.parametrize("name", ["李小龙", "محمد", "Élodie", "\u02bbOkalani", "John Doe", "Zoe\u0308"])
async def test_the_database_takes_the_names_the_api_takes(connection: AsyncConnection, name: str) -> None:
    await connection.execute(text("INSERT INTO users (name) VALUES (:name)"), {"name": name})


async def test_the_database_refuses_symbols_of_punctuation(connection: AsyncConnection) -> None:
    user_id = (await connection.execute(text("INSERT INTO users (name) VALUES ('John Doe') RETURNING id"))).scalar()
    insert = text("INSERT INTO stocks (name, price, quantity, user_id) VALUES (:name, 1, 1, :user_id)")
    for symbol in (".", "-", "...", ".A"):
        with pytest.raises(sa_exc.IntegrityError, match="ck_stocks_symbol_format"):
            async with connection.begin_nested():
                await connection.execute(insert, {"name": symbol, "user_id": user_id})
    await connection.execute(insert, {"name": "BRK.B", "user_id": user_id})
    assert re.fullmatch(STORED_SYMBOL_PATTERN, "BRK.B")


# ---------------------------------------------------------------- symbols


@pytest.mark.parametrize("symbol", [".", "-", "...", " . ", ".A", "-1"])
async def test_a_symbol_must_start_with_a_letter_or_digit(client: AsyncClient, symbol: str) -> None:
    user = await create_user(client)
    response = await client.post(f"/users/{user['id']}/stocks/", json={"name": symbol, "price": 1, "quantity": 1})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert (error["location"], error["message"]) == (
        ["body", "name"],
        "Value error, Symbol must start with a letter A-Z or a digit",
    )


# ---------------------------------------------------------------- null


@pytest.mark.parametrize("field", ["name", "price", "quantity"])
async def test_null_for_a_stock_field_says_it_may_not_be_null(client: AsyncClient, field: str) -> None:
    user = await create_user(client)
    stock = await create_stock(client, user["id"])
    patched = await client.patch(f"/stocks/{stock['id']}", json={field: None})
    created = await client.post(f"/users/{user['id']}/stocks/", json={**_stock(), field: None})
    for response in (patched, created):
        assert response.status_code == 422
        (error,) = response.json()["errors"]
        assert (error["type"], error["location"], error["message"]) == (
            "null_forbidden",
            ["body", field],
            "Field may not be null",
        )


async def test_null_for_a_users_name_says_it_may_not_be_null_and_age_still_clears(client: AsyncClient) -> None:
    user = await create_user(client, age=30)
    response = await client.patch(f"/users/{user['id']}", json={"name": None})
    (error,) = response.json()["errors"]
    assert (error["location"], error["message"]) == (["body", "name"], "Field may not be null")
    response = await client.patch(f"/users/{user['id']}", json={"age": None})
    assert (response.status_code, response.json()["age"]) == (200, None)


def _stock() -> dict[str, Any]:
    return {"name": "AAPL", "price": 1, "quantity": 1}


@pytest.mark.parametrize(
    ("constraint", "pattern"),
    [("ck_users_name_format", STORED_NAME_PATTERN), ("ck_stocks_symbol_format", STORED_SYMBOL_PATTERN)],
)
async def test_the_migrated_checks_state_the_models_patterns(
    connection: AsyncConnection, constraint: str, pattern: str
) -> None:
    """Alembic's autogenerate does not compare CHECKs; this holds the models and the migrations together."""
    definition = await connection.scalar(
        text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = :name AND convalidated"),
        {"name": constraint},
    )
    assert definition is not None and f"'{pattern}'" in definition, definition
