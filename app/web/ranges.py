"""The value chart's ranges (1M, YTD, 1Y, Max): which period each asks GET /users/{id}/performance's service for.

Only dates: the figures are the portfolio service's (app/portfolio/service.py). A period up to a year
is drawn a point a day; a longer one (Max, for an older portfolio) a point a week, so a chart of
ten years has some 520 points rather than 3,650.
"""

from datetime import date, timedelta
from typing import Literal, get_args

from app.portfolio.models import Interval
from app.portfolio.service import MAX_PERIOD_DAYS, default_period

Range = Literal["1M", "YTD", "1Y", "Max"]
RANGES: tuple[Range, ...] = get_args(Range)
DEFAULT_RANGE: Range = "1Y"
# What a person reads on each button's label (the button shows the short name).
RANGE_NAMES: dict[Range, str] = {
    "1M": "one month",
    "YTD": "year to date",
    "1Y": "one year",
    "Max": "since the first transaction",
}
DAILY_UP_TO_DAYS = 366  # a year, leap or not: one point a day; beyond it, one a week


def _month_before(day: date) -> date:
    """The same date a month before, or that month's last day when it has no such date (31 March: 28/29 Feb)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    for candidate in (day.day, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=candidate)
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")  # pragma: no cover


def period_of(chosen: Range, today: date, first_transaction: date | None) -> tuple[date, date, Interval]:
    """The period's first and last day (both included) and the series' spacing.

    1M: from the day after the same date a month before; YTD: from 1 January; 1Y: as the API's default
    (the day after the same date a year before); Max: from the first transaction (the opening point is
    the day before it, at nothing), at most the API's longest period back.
    """
    if chosen == "1M":
        first = _month_before(today) + timedelta(days=1)
    elif chosen == "YTD":
        first = today.replace(month=1, day=1)
    elif chosen == "1Y":
        first, _ = default_period(None, today, today)
    else:
        first = min(first_transaction or today, today)
        first = max(first, today - timedelta(days=MAX_PERIOD_DAYS - 1))
    interval: Interval = "day" if (today - first).days < DAILY_UP_TO_DAYS else "week"
    return first, today, interval
