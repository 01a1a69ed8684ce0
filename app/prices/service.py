"""Where closes come from: `PriceSource`, the shape of any provider, and `CsvQuotes`, the quote sites' daily CSV.

A source yields (date, close) pairs and nothing else; writing them is the
repository's. The CSV one reads a whole file and refuses it at its first
broken line, naming the line's number and what is wrong, before anything is
written, so an import lands whole or not at all. docs/how-to/import-prices.md says how to
add another source (a vendor's HTTP API, say).
"""

import csv
import io
import re
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import NamedTuple, Protocol

from pydantic import TypeAdapter, ValidationError

from app.kit.errors import AppError
from app.kit.fields import ISO_DATE, PRICE_DECIMAL_PLACES, Price
from app.prices.models import Imported
from app.prices.repository import PriceRepository


class PriceSource(Protocol):
    """Anything that yields a symbol's closes: (date, close) pairs, each date once."""

    def closes(self) -> Iterator[tuple[date, Decimal]]: ...


class BrokenCsv(AppError):
    """A CSV the import cannot read: a 422 naming the line and what is wrong with it."""

    status_code = 422
    code = "broken_csv"
    title = "Broken CSV"
    location = ("body",)

    def __init__(self, line: int, problem: str, text: str = "") -> None:
        super().__init__(f"Line {line}: {problem}", rejected=text)
        self.line = line


class UnsupportedCsvMediaType(AppError):
    """An import body not sent as `text/csv` (curl's `--data-binary` sends a form unless told)."""

    status_code = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})

# The column read, and why not `Adj Close`: an adjusted close is rewritten back
# through history each time a dividend or split happens, so the same day has a
# different "adjusted close" in every download; the close is what the market
# paid that day, it never changes, and it is what a holding's price means.
DATE_COLUMN, CLOSE_COLUMN = "date", "close"
# A day the site has no quote for: Yahoo writes `null` in every column.
NO_QUOTE = "null"
# A plain decimal: no sign, exponent, underscore, NaN or Infinity (all of which Decimal() would take).
_PLAIN_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # ASCII digits: Decimal() reads ١٢ as 12
# Longer is no close (the largest is 99999999.9999); checked before any arithmetic on it.
_CLOSE_MAX_CHARACTERS = 30
_FOUR_PLACES = Decimal(1).scaleb(-PRICE_DECIMAL_PLACES)
_PRICE = TypeAdapter(Price)


class CsvQuotes:
    """A daily-quote CSV as the quote sites export it: `Date,Open,High,Low,Close,Adj Close,Volume`, or `Date,Close`.

    Columns are found by name in the header (any case, any order, others
    ignored). Accepted: a UTF-8 byte order mark, CRLF or LF, quoted fields,
    empty lines. Dates are `YYYY-MM-DD`. A close with more than 4 decimal
    places is rounded half up to 4 (as PostgreSQL's NUMERIC(12, 4) would):
    the sites write float noise such as `185.639999` for 185.64. A day whose
    close is `null` (no quote that day) is skipped. Anything else that is not
    a close the stocks' rules accept, or a date given twice, refuses the file.
    """

    def __init__(self, body: bytes) -> None:
        self.text = _decoded(body)

    def closes(self) -> Iterator[tuple[date, Decimal]]:
        rows = csv.reader(io.StringIO(self.text, newline=""), strict=True)
        header: _Columns | None = None
        seen: dict[date, int] = {}
        line = 1
        while True:
            try:
                fields = next(rows)
            except StopIteration:
                break
            except csv.Error as error:
                raise BrokenCsv(rows.line_num, f"not CSV: {error}") from None
            if not any(field.strip() for field in fields):  # an empty line
                line = rows.line_num + 1
                continue
            if header is None:
                header = _header(fields, line)
            else:
                found = _close_on(fields, header, line, seen)
                if found is not None:
                    yield found
            line = rows.line_num + 1
        if header is None:
            raise BrokenCsv(1, "the file is empty; expected a header such as Date,Close")


def _decoded(body: bytes) -> str:
    """The body as text: UTF-8, its byte order mark dropped; a broken byte or a NUL refuses its line."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BrokenCsv(body[: error.start].count(b"\n") + 1, "not UTF-8 text") from None
    if "\x00" in text:
        raise BrokenCsv(text[: text.index("\x00")].count("\n") + 1, "contains a NUL character")
    return text


class _Columns(NamedTuple):
    """What the header says: how many fields a line has, and where the date and the close are."""

    fields: int
    date: int
    close: int


def _header(fields: list[str], line: int) -> _Columns:
    names = [field.strip().lower() for field in fields]
    missing = [name.title() for name in (DATE_COLUMN, CLOSE_COLUMN) if name not in names]
    if missing:
        problem = f"the header has no {' and no '.join(missing)} column; expected a header such as Date,Close"
        raise BrokenCsv(line, problem, ",".join(fields))
    return _Columns(len(names), names.index(DATE_COLUMN), names.index(CLOSE_COLUMN))


def _close_on(fields: list[str], columns: _Columns, line: int, seen: dict[date, int]) -> tuple[date, Decimal] | None:
    """One line's (date, close); None for a day without a quote."""
    text = ",".join(fields)
    if len(fields) != columns.fields:
        raise BrokenCsv(line, f"{len(fields)} fields where the header has {columns.fields}", text)
    day_text, close_text = fields[columns.date].strip(), fields[columns.close].strip()
    # ISO 8601 only: 01/02/2024 is the 2nd of January in one country and the 1st of February in another.
    if not ISO_DATE.fullmatch(day_text):
        raise BrokenCsv(line, f"Date {day_text!r} is not a date written YYYY-MM-DD", text)
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise BrokenCsv(line, f"Date {day_text!r} is no such day", text) from None
    if day in seen:
        raise BrokenCsv(line, f"Date {day_text} is given twice, also on line {seen[day]}", text)
    seen[day] = line
    if close_text.lower() == NO_QUOTE:
        return None
    if len(close_text) > _CLOSE_MAX_CHARACTERS:
        raise BrokenCsv(line, f"Close {close_text[:_CLOSE_MAX_CHARACTERS]!r}... is too long to be a price", text)
    if not _PLAIN_DECIMAL.fullmatch(close_text):
        raise BrokenCsv(line, f"Close {close_text!r} is not a number such as 185.64", text)
    try:
        # Enough digits for any close the length allows: at 28 (the default), 25 digits and 4 places overflow.
        with localcontext(prec=_CLOSE_MAX_CHARACTERS + 10):
            rounded = Decimal(close_text).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)
        close = _PRICE.validate_python(rounded)
    except ValidationError as error:
        raise BrokenCsv(line, f"Close {close_text}: {error.errors()[0]['msg']}", text) from None
    return day, close


async def import_closes(prices: PriceRepository, symbol: str, source: PriceSource) -> Imported:
    """Every close `source` yields written for `symbol`, new or replaced: all of them, in one statement, or none.

    The whole source is read (and checked) before anything is written.
    """
    closes = dict(source.closes())
    if closes:
        await prices.put_many(symbol, closes)
    return Imported(imported=len(closes))


def require_csv(content_type: str | None) -> None:
    """Refuse an import body that is not declared as CSV, saying how to send one."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type not in CSV_MEDIA_TYPES:
        sent = f"it was sent as {content_type}" if content_type else "it was sent without a Content-Type"
        raise UnsupportedCsvMediaType(f"The body must be CSV, sent with `Content-Type: text/csv`; {sent}")
