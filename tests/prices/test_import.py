"""POST /prices/import: the quote sites' CSV, all or nothing, a broken line named by its number."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.prices.models import PRICES

YAHOO_HEADER = "Date,Open,High,Low,Close,Adj Close,Volume"
YAHOO = (
    f"{YAHOO_HEADER}\n"
    "2024-01-02,187.149994,188.440002,183.889999,185.639999,184.532089,82488700\n"
    "2024-01-03,184.220001,185.880005,183.429993,184.250000,183.150391,58414500\n"
)


async def import_csv(client: AsyncClient, text: str | bytes, symbol: str = "AAPL", **headers: str):
    return await client.post(
        "/prices/import", params={"symbol": symbol}, content=text, headers={"Content-Type": "text/csv", **headers}
    )


async def closes(client: AsyncClient, symbol: str = "AAPL") -> list[tuple[str, float]]:
    response = await client.get(f"/prices/{symbol}", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return [(row["date"], row["close"]) for row in response.json()]


def broken(response) -> str:
    """The one message of a 422 about a broken line."""
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["location"] == ["body"]
    return str(error["message"])


async def test_a_quote_sites_export_imports_its_close_rounded_to_4_places(client: AsyncClient) -> None:
    response = await import_csv(client, YAHOO)
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 2}
    # Close, not Adj Close; 185.639999 is float noise for 185.64.
    assert await closes(client) == [("2024-01-02", 185.64), ("2024-01-03", 184.25)]


async def test_closes_are_rounded_half_up_and_stored_exactly(client: AsyncClient, session: AsyncSession) -> None:
    text = "Date,Close\n2024-01-02,1.00005\n2024-01-03,1.000049999\n2024-01-04,0.1\n"
    assert (await import_csv(client, text)).json() == {"imported": 3}
    stored = (await session.exec(select(PRICES.c.close).order_by(PRICES.c.date))).scalars().all()  # type: ignore[call-overload]
    assert stored == [Decimal("1.0001"), Decimal("1.0000"), Decimal("0.1000")]


@pytest.mark.parametrize(
    "text",
    [
        "Date,Close\n2024-01-02,185.64\n2024-01-03,184.25\n",
        "\ufeffDate,Close\r\n2024-01-02,185.64\r\n2024-01-03,184.25\r\n",  # BOM and CRLF, as Excel saves it
        '"Date","Close"\n"2024-01-02","185.64"\n"2024-01-03","184.25"\n',  # every field quoted
        "Date,Close\n2024-01-02,185.64\n\n2024-01-03,184.25\n\n\n",  # empty lines, trailing ones too
        "\n\nDate,Close\n2024-01-02,185.64\n2024-01-03,184.25",  # empty lines first, no final newline
        " date , CLOSE \n 2024-01-02 , 185.64 \n2024-01-03,184.25\n",  # any case, spaces around
        "Close,Volume,Date\n185.64,1,2024-01-02\n184.25,2,2024-01-03\n",  # any order
        "Date,Close\n2024-01-02,185.64\n,,\n2024-01-03,184.25\n",  # a line of empty fields, as spreadsheets leave
    ],
)
async def test_the_formats_quote_sites_and_spreadsheets_write(client: AsyncClient, text: str) -> None:
    response = await import_csv(client, text.encode())
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 2}
    assert await closes(client) == [("2024-01-02", 185.64), ("2024-01-03", 184.25)]


async def test_a_day_without_a_quote_is_skipped(client: AsyncClient) -> None:
    text = (
        f"{YAHOO_HEADER}\n2020-03-09,1,1,1,10,10,1\n"
        "2020-03-10,null,null,null,null,null,null\n"  # Yahoo's line for a day it has no quote for
        "2020-03-11,1,1,1,11,11,1\n"
    )
    assert (await import_csv(client, text)).json() == {"imported": 2}
    assert await closes(client) == [("2020-03-09", 10.0), ("2020-03-11", 11.0)]


async def test_the_symbol_is_normalised_and_checked_as_the_stocks_are(client: AsyncClient) -> None:
    assert (await import_csv(client, YAHOO, symbol=" brk.b ")).status_code == 200
    assert len(await closes(client, "BRK.B")) == 2
    response = await import_csv(client, YAHOO, symbol=".B")
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == ["query", "symbol"]
    assert (await client.post("/prices/import", content=YAHOO, headers={"Content-Type": "text/csv"})).status_code == 422


async def test_reimporting_replaces_the_closes_of_days_already_there(client: AsyncClient) -> None:
    await client.put("/prices/AAPL/2024-01-01", json={"close": 1})
    await import_csv(client, "Date,Close\n2024-01-02,2\n2024-01-03,3\n")
    response = await import_csv(client, "Date,Close\n2024-01-03,30\n2024-01-04,40\n")
    assert response.json() == {"imported": 2}
    assert await closes(client) == [
        ("2024-01-01", 1.0),
        ("2024-01-02", 2.0),
        ("2024-01-03", 30.0),
        ("2024-01-04", 40.0),
    ]


async def test_another_symbols_closes_are_untouched(client: AsyncClient) -> None:
    await import_csv(client, "Date,Close\n2024-01-02,2\n", symbol="MSFT")
    await import_csv(client, "Date,Close\n2024-01-02,3\n", symbol="AAPL")
    assert await closes(client, "MSFT") == [("2024-01-02", 2.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Date,Close\n2024-01-02,1\n2024-02-30,1\n", "Line 3: Date '2024-02-30' is no such day"),
        ("Date,Close\n2024-01-02,1\n01/03/2024,1\n", "Line 3: Date '01/03/2024' is not a date written YYYY-MM-DD"),
        ("Date,Close\n2024-01-02,abc\n", "Line 2: Close 'abc' is not a number such as 185.64"),
        ("Date,Close\n2024-01-02,-5\n", "Line 2: Close '-5' is not a number such as 185.64"),
        ("Date,Close\n2024-01-02,1e3\n", "Line 2: Close '1e3' is not a number such as 185.64"),
        ("Date,Close\n2024-01-02,NaN\n", "Line 2: Close 'NaN' is not a number such as 185.64"),
        ("Date,Close\n2024-01-02,\n", "Line 2: Close '' is not a number such as 185.64"),
        ("Date,Close\n2024-01-02,0\n", "Line 2: Close 0: Input should be greater than 0"),
        ("Date,Close\n2024-01-02,0.00004\n", "Line 2: Close 0.00004: Input should be greater than 0"),
        (
            "Date,Close\n2024-01-02,100000000\n",
            "Line 2: Close 100000000: Decimal input should have no more than 8 digits before the decimal point",
        ),
        (  # 30 digits: within the length bound, and once past Decimal's default precision when rounded
            "Date,Close\n2024-01-02,123456789012345678901234567890\n",
            "Line 2: Close 123456789012345678901234567890: Decimal input should have no more than 12 digits in total",
        ),
        (
            "Date,Close\n2024-01-02,1" + "0" * 5000 + "\n",
            "Line 2: Close '100000000000000000000000000000'... is too long to be a price",
        ),
        ("Date,Close\n2024-01-02,1\n2024-01-03\n", "Line 3: 1 fields where the header has 2"),
        ("Date,Close\n2024-01-02,1,7\n", "Line 2: 3 fields where the header has 2"),
        (
            "Date,Close\n2024-01-02,1\n\n2024-01-03,1\n2024-01-02,2\n",
            "Line 5: Date 2024-01-02 is given twice, also on line 2",
        ),
        (
            "Date,Adj Close\n2024-01-02,1\n",
            "Line 1: the header has no Close column; expected a header such as Date,Close",
        ),
        ("2024-01-02,1\n", "Line 1: the header has no Date and no Close column; expected a header such as Date,Close"),
        ("", "Line 1: the file is empty; expected a header such as Date,Close"),
        ("\r\n\n", "Line 1: the file is empty; expected a header such as Date,Close"),
        ('Date,Close\n2024-01-02,"1\n', "Line 2: not CSV: unexpected end of data"),
        ('Date,Close\n2024-01-02,"1"x\n', "Line 2: not CSV: ',' expected after '\"'"),
        ("Date,Close\n2024-01-02,1\n2024-01-03,1\x00\n", "Line 3: contains a NUL character"),
    ],
)
async def test_a_broken_line_refuses_the_file_naming_the_line(client: AsyncClient, text: str, message: str) -> None:
    assert broken(await import_csv(client, text)) == message
    assert await closes(client) == []


async def test_bytes_that_are_not_utf8_name_their_line(client: AsyncClient) -> None:
    assert broken(await import_csv(client, b"Date,Close\n2024-01-02,1\n2024-01-03,\xff\n")) == "Line 3: not UTF-8 text"


async def test_a_quoted_field_over_two_lines_is_named_by_its_first(client: AsyncClient) -> None:
    text = 'Date,Close\n2024-01-02,"1\n2"\n2024-01-04,x\n'
    assert broken(await import_csv(client, text)) == "Line 2: Close '1\\n2' is not a number such as 185.64"
    text = 'Date,Note,Close\n2024-01-02,"two\nlines",1\n2024-01-04,,x\n'
    assert broken(await import_csv(client, text)) == "Line 4: Close 'x' is not a number such as 185.64"


async def test_the_broken_line_is_echoed_cut(client: AsyncClient) -> None:
    response = await import_csv(client, "Date,Close\n2024-01-02,1,extra\n")
    assert response.json()["errors"][0]["input"] == "2024-01-02,1,extra"
    response = await import_csv(client, "Date,Close\n2024-01-02," + "x" * 5000 + "\n")
    assert response.json()["errors"][0]["input"].endswith("…[cut: 5011 characters in all]")


async def test_a_bad_line_500_of_1000_leaves_nothing_even_committed_for_real(committed_client: AsyncClient) -> None:
    # Autocommit, as in production: nothing is written before every line has been read.
    await committed_client.put("/prices/AAPL/2000-01-01", json={"close": 7})
    start = date(2001, 1, 1)
    lines = [f"{(start + timedelta(days=n)).isoformat()},{n + 1}" for n in range(999)]
    lines.insert(498, "2001-13-01,1")  # line 500, counting the header
    response = await import_csv(committed_client, "Date,Close\n" + "\n".join(lines) + "\n")
    assert broken(response) == "Line 500: Date '2001-13-01' is no such day"
    assert await closes(committed_client) == [("2000-01-01", 7.0)]


async def test_three_years_of_daily_quotes_in_one_request(client: AsyncClient, settings: Settings) -> None:
    start = date(2021, 1, 4)
    trading_days = [day for n in range(3 * 365) if (day := start + timedelta(days=n)).weekday() < 5][:756]
    rows = [
        f"{day.isoformat()},100.0,101.0,99.0,{100 + n / 100:.6f},{99 + n / 100:.6f},1234567"
        for n, day in enumerate(trading_days)
    ]
    body = "\ufeff" + YAHOO_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n"
    assert len(body.encode()) < settings.max_body_bytes
    response = await import_csv(client, body.encode())
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 756}
    stored = await closes(client)
    assert len(stored) == 756
    assert stored[0] == (trading_days[0].isoformat(), 100.0)
    assert stored[-1] == (trading_days[-1].isoformat(), 107.55)


async def test_more_rows_than_a_statement_has_parameters_for(client: AsyncClient, settings: Settings) -> None:
    # 30 000 rows: a VALUES list of 3 parameters a row would pass PostgreSQL's 65535 limit.
    start = date(1900, 1, 1)
    body = "Date,Close\n" + "".join(f"{start + timedelta(days=n)},1\n" for n in range(30_000))
    assert len(body) < settings.max_body_bytes
    response = await import_csv(client, body)
    assert response.json() == {"imported": 30_000}


async def test_a_million_lines_is_over_the_body_limit(client: AsyncClient) -> None:
    body = "Date,Close\n" + "2024-01-02,1\n" * 1_000_000
    response = await import_csv(client, body)
    assert response.status_code == 413
    assert await closes(client) == []


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "application/x-www-form-urlencoded", "text/html", "multipart/form-data"]
)
async def test_a_body_not_sent_as_csv_is_a_415_saying_how(client: AsyncClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post("/prices/import?symbol=AAPL", content=YAHOO, headers=headers)
    assert response.status_code == 415, response.text
    assert response.json()["detail"].startswith("The body must be CSV, sent with `Content-Type: text/csv`")


@pytest.mark.parametrize("content_type", ["text/csv; charset=utf-8", "TEXT/CSV", "text/plain", "application/csv"])
async def test_csv_media_types_with_parameters_are_taken(client: AsyncClient, content_type: str) -> None:
    response = await client.post("/prices/import?symbol=AAPL", content=YAHOO, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


async def test_the_openapi_declares_the_csv_body(client: AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/prices/import"]["post"]
    assert list(operation["requestBody"]["content"]) == ["text/csv"]
    assert operation["requestBody"]["required"] is True
    assert {"200", "403", "415", "422"} <= set(operation["responses"])


async def test_digits_of_other_scripts_are_not_closes(client: AsyncClient) -> None:
    # Decimal("١٢") is 12; a close is written in ASCII digits.
    assert (
        broken(await import_csv(client, "Date,Close\n2024-01-02,١٢\n"))
        == "Line 2: Close '١٢' is not a number such as 185.64"
    )
