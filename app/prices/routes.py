"""Market prices: a symbol's close on a day (PUT), a quote site's CSV of them (POST /prices/import), and the list.

Reading needs a signed-in caller with AUTH=required; writing, an admin
(app/auth/access.py). A symbol nobody has written a price for answers an
empty list, not a 404: no price yet is a fact about the symbol, and the
valuation above asks for many symbols at once.
"""

from typing import Any

from fastapi import APIRouter, Request, Response, status

from app.http.paging import LIST_RESPONSE_HEADERS, PageParamsDep, send_page
from app.http.problems import Problem
from app.idempotency.dependencies import IDEMPOTENT
from app.prices.dependencies import (
    FromDate,
    ImportSymbol,
    PriceDate,
    PriceReaderDep,
    PriceSymbol,
    PriceWriterDep,
    ToDate,
)
from app.prices.models import CloseCreate, DailyClose, Imported, MarketPricePublic
from app.prices.service import CsvQuotes, import_closes, require_csv

router = APIRouter(prefix="/prices", tags=["prices"])

FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "AUTH=required and the caller is not an admin"}
}
CSV_EXAMPLE = "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,187.15,188.44,183.89,185.64,184.53,82488700\n"
CSV_BODY = {
    "required": True,
    "description": (
        "A daily-quote CSV: `Date,Open,High,Low,Close,Adj Close,Volume` as the quote sites export it, "
        "or just `Date,Close`. The `Close` column is read (not `Adj Close`, which the sites rewrite after "
        "every dividend or split); dates are `YYYY-MM-DD`; a close with more than 4 decimal places is "
        "rounded half up to 4; a `null` close (no quote that day) is skipped."
    ),
    "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
}


@router.put(
    "/{symbol}/{date}",
    responses={201: {"model": MarketPricePublic, "description": "A new close"}, **FORBIDDEN},
)
async def put_price(
    symbol: PriceSymbol, date: PriceDate, payload: CloseCreate, prices: PriceWriterDep, response: Response
) -> MarketPricePublic:
    """Set the symbol's close on that day: 201 when it is new, 200 when it replaces one."""
    written, new = await prices.put(symbol, date, payload.close)
    response.status_code = status.HTTP_201_CREATED if new else status.HTTP_200_OK
    return written


@router.post(
    "/import",
    responses={
        **FORBIDDEN,
        415: {"model": Problem, "description": "The body was not sent as `Content-Type: text/csv`"},
        422: {"description": "A broken line (`broken_csv`): `errors[0].message` says which and what is wrong"},
    },
    openapi_extra={"requestBody": CSV_BODY},
    dependencies=[IDEMPOTENT],
)
async def import_prices(symbol: ImportSymbol, request: Request, prices: PriceWriterDep) -> Imported:
    """Import a CSV of daily closes for one symbol, all of it or nothing; existing days' closes are replaced.

    A broken line (a bad date or close, a date given twice, a missing field) refuses the whole file with a
    422 naming the line's number. The file is at most MAX_BODY_BYTES (1 MiB unless configured: about
    15 000 lines of a full quote CSV, 60 years of trading days).
    """
    require_csv(request.headers.get("content-type"))
    return await import_closes(prices, symbol, CsvQuotes(await request.body()))


@router.get("/{symbol}", responses={200: {"headers": LIST_RESPONSE_HEADERS}})
async def read_prices(
    symbol: PriceSymbol,
    page: PageParamsDep,
    prices: PriceReaderDep,
    request: Request,
    response: Response,
    date_from: FromDate = None,
    date_to: ToDate = None,
) -> list[DailyClose]:
    """The symbol's closes, oldest first, `from` and `to` included; an empty list when it has none."""
    return send_page(await prices.list(symbol, date_from, date_to, page), request, response)
