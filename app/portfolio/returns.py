"""Returns over a period: time-weighted (TWR) and money-weighted (XIRR), exact in Decimal.

Pure functions over a daily series: the portfolio's value at each day's close and
the money its owner moved in and out that day. docs/explanation/returns.md states every
formula and convention (what a flow is, when in the day it counts, precision)
and works the tests' examples by hand.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal, localcontext
from itertools import pairwise
from typing import NamedTuple

ZERO = Decimal(0)
ONE = Decimal(1)

# Both rates are rounded half-even to 10 places (0.1234567890 is 12.3456789%).
PLACES = Decimal("1E-10")

# Working precision of XIRR and the sums (the TWR is exact): 40 significant digits, far
# beyond the 10 places reported and the 28 of Python's default context; exponents
# unbounded so that (1 + r)^t never overflows.
_WORKING = Context(prec=40, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN)

# XIRR is solved for x = ln(1 + r), so r > -1 for every real x. The search spans
# x in [-30, 30]: r from -1 + e^-30 (about -1 + 9e-14, which rounds to -1 at 10 places)
# to e^30 - 1 (about 1e13, ten trillion times the money a year).
_SEARCH_LIMIT = Decimal(30)
# Grid the bracket search walks outwards from x = 0 (r = 0): 0.01, 0.02, 0.04 … 20.48, 30.
_SEARCH_STEPS = [Decimal("0.01") * 2**k for k in range(12)] + [_SEARCH_LIMIT]
# The root is refined until it is known to within this much in x (and so in r, times 1 + r).
_TOLERANCE = Decimal("1E-24")
# Bisection alone halves a bracket of width 30 to 1e-24 in 85 steps; Newton steps only
# shorten that, and a bisection follows any step that did not halve the bracket.
_MAX_STEPS = 400


class DailyValue(NamedTuple):
    """One day of a portfolio: its value at that day's close, and the money its owner moved in and out that day.

    `inflow` is money the owner put in (a buy's cost, its fees included); `outflow` is
    money the owner took out (a sale's proceeds net of fees, a dividend paid out, net of
    tax). Both are >= 0. An inflow counts at the start of the day, an outflow at its end.
    """

    day: date
    value: Decimal
    inflow: Decimal = ZERO
    outflow: Decimal = ZERO


class CashFlow(NamedTuple):
    """Money on a date, from the owner's side as a spreadsheet's XIRR reads it: paid in < 0, received > 0."""

    day: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PeriodReturns:
    """Every figure of a performance answer for one series."""

    start_value: Decimal
    end_value: Decimal
    net_flows: Decimal
    gain: Decimal
    twr: Decimal | None
    xirr: Decimal | None


def check_series(series: Sequence[DailyValue]) -> None:
    """Refuse a series the formulas would misread: one point per calendar day, values and flows >= 0.

    The first point is the opening close, before the period: it carries no flows (money
    moved that day is already in its value; start the series a day earlier to count it).
    """
    if not series:
        raise ValueError("a series needs at least its opening point")
    if series[0].inflow or series[0].outflow:
        raise ValueError("the opening point carries no flows: start the series the day before")
    for point in series:
        for name in ("value", "inflow", "outflow"):
            amount: Decimal = getattr(point, name)
            if not amount.is_finite() or amount < 0:
                raise ValueError(f"{name} on {point.day} must be a finite amount >= 0, not {amount}")
    for before, today in pairwise(series):
        if today.day != before.day + timedelta(days=1):
            raise ValueError(f"the series must hold every calendar day: {before.day} is followed by {today.day}")


def net_flows(series: Sequence[DailyValue]) -> Decimal:
    """Money the owner put in over the period, less what they took out (the opening point's day excluded)."""
    check_series(series)
    with localcontext(_WORKING):
        return sum((point.inflow - point.outflow for point in series[1:]), ZERO)


def gain(series: Sequence[DailyValue]) -> Decimal:
    """What the period earned in money: end value - start value - net flows (dividends paid out included)."""
    with localcontext(_WORKING):
        return series[-1].value - series[0].value - net_flows(series)


def time_weighted_return(series: Sequence[DailyValue]) -> Decimal | None:
    """The growth of one unit of money left in the portfolio over the period, whatever was moved in or out.

    Each day's factor is (close + outflow) / (previous close + inflow); the return is
    their product - 1, computed exactly and rounded once, half-even, to 10 places. A
    day that starts from nothing and ends at nothing is left out; None when value
    appears from nothing (a day's base is 0 but its end is not), when nothing was ever
    invested, or when no day passes.
    """
    check_series(series)
    # Exact rational arithmetic, rounded once: chained 40-digit quotients could land a hair off
    # an exact half and round it the wrong way. The numerators and the denominators are
    # multiplied apart, as balanced product trees (one factor at a time multiplies an ever larger
    # integer by a small one, quadratic in the digits), and never reduced: the rounding divides
    # once (a gcd of integers of tens of thousands of digits cost more than the products).
    numerators: list[int] = []
    denominators: list[int] = []
    for before, today in pairwise(series):
        base_numerator, base_denominator = _exact_sum(before.value, today.inflow)
        end_numerator, end_denominator = _exact_sum(today.value, today.outflow)
        if base_numerator == 0:
            if end_numerator != 0:
                return None
            continue
        numerators.append(end_numerator * base_denominator)
        denominators.append(end_denominator * base_numerator)
    if not numerators:
        return None
    numerator, denominator = _product(numerators), _product(denominators)
    return _rounded_ratio(numerator - denominator, denominator)


def _product(factors: list[int]) -> int:
    """The product of the factors, multiplied pairwise level by level: operands of like sizes."""
    while len(factors) > 1:
        paired = [left * right for left, right in zip(factors[::2], factors[1::2], strict=False)]
        factors = paired + factors[-1:] if len(factors) % 2 else paired
    return factors[0]


def _exact_sum(first: Decimal, second: Decimal) -> tuple[int, int]:
    """first + second as an integer ratio, exactly (a Decimal sum would round at the context's precision)."""
    first_numerator, first_denominator = first.as_integer_ratio()
    second_numerator, second_denominator = second.as_integer_ratio()
    return (
        first_numerator * second_denominator + second_numerator * first_denominator,
        first_denominator * second_denominator,
    )


def investor_cash_flows(series: Sequence[DailyValue]) -> list[CashFlow]:
    """The series as XIRR reads it: the start value paid in on day 0, each day's flows, the end value received."""
    check_series(series)
    flows = [CashFlow(series[0].day, -series[0].value)]
    with localcontext(_WORKING):
        flows += [
            CashFlow(point.day, point.outflow - point.inflow) for point in series[1:] if point.outflow != point.inflow
        ]
    flows.append(CashFlow(series[-1].day, series[-1].value))
    return flows


def money_weighted_return(series: Sequence[DailyValue]) -> Decimal | None:
    """The annual rate the owner's own money earned over the series (XIRR of investor_cash_flows)."""
    return xirr(investor_cash_flows(series))


def period_returns(series: Sequence[DailyValue]) -> PeriodReturns:
    """Every figure a performance answer gives, from one series."""
    return PeriodReturns(
        start_value=series[0].value if series else ZERO,
        end_value=series[-1].value if series else ZERO,
        net_flows=net_flows(series),
        gain=gain(series),
        twr=time_weighted_return(series),
        xirr=money_weighted_return(series),
    )


def net_present_value(rate: Decimal, cash_flows: Iterable[tuple[date, Decimal]]) -> Decimal:
    """sum(amount / (1 + rate)^((day - first day) / 365)): the spreadsheet's XNPV, exact to 40 digits."""
    if rate <= -1:
        raise ValueError(f"the rate must be > -1, not {rate}")
    with localcontext(_WORKING):
        log_growth = (ONE + rate).ln()
        return _npv_and_slope(_days_and_amounts(cash_flows), log_growth)[0]


def xirr(cash_flows: Iterable[tuple[date, Decimal]]) -> Decimal | None:
    """The annual rate r that makes the net present value of the flows 0, as a spreadsheet's XIRR defines it.

    sum(amount_i / (1 + r)^((d_i - d_0) / 365)) = 0, d_0 the earliest date (Actual/365);
    paid in < 0, received > 0. Rounded to 10 places. None when the flows span fewer than
    two dates, nothing was ever paid in, or no rate in (-1, e^30 - 1] solves it; -1 when
    money was paid in and nothing came back (a total loss: the limit of the rate as what
    came back goes to 0), or when the rate lies within e^-30 of -1.
    """
    listed = list(cash_flows)
    if len({day for day, _ in listed}) < 2:
        return None
    with localcontext(_WORKING):
        flows = _days_and_amounts(listed)
        if all(amount > 0 for _, amount in flows):
            return None
        if all(amount < 0 for _, amount in flows):
            return _rounded(-ONE)
        log_growth = _solve(flows)
        if log_growth is None:
            return None
        return _rounded(log_growth.exp() - 1)


# ------------------------------------------------------------------ the solver


def _days_and_amounts(cash_flows: Iterable[tuple[date, Decimal]]) -> list[tuple[int, Decimal]]:
    """(days since the earliest date, the net amount that day), by date, days netting to 0 left out."""
    by_day: dict[date, Decimal] = {}
    for day, amount in cash_flows:
        by_day[day] = by_day.get(day, ZERO) + amount
    if not by_day:
        return []
    first = min(by_day)
    return [((day - first).days, amount) for day, amount in sorted(by_day.items()) if amount != 0]


def _npv_and_slope(flows: list[tuple[int, Decimal]], log_growth: Decimal) -> tuple[Decimal, Decimal]:
    """The net present value at 1 + r = e^x, sum(a_i e^(-x d_i / 365)), and its derivative in x.

    One exp a call: e^(-x d_i / 365) is e^(-x / 365) raised to d_i, carried along the
    flows in date order (n multiplications at 40 digits lose about n x 1e-39).
    """
    daily = (-log_growth / 365).exp()
    powers: dict[int, Decimal] = {}  # daily ** gap, for the few gaps between flows (the same digits each time)
    discount = ONE
    previous_days = 0
    value = weighted = ZERO
    for days, amount in flows:
        gap = days - previous_days
        power = powers.get(gap)
        if power is None:
            power = powers[gap] = daily**gap
        discount *= power
        previous_days = days
        term = amount * discount
        value += term
        weighted += days * term
    return value, -weighted / 365


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def _solve(flows: list[tuple[int, Decimal]]) -> Decimal | None:
    """x = ln(1 + r) zeroing the NPV, nearest 0 on the search grid; -30 stands for a root below it."""
    value_at = {ZERO: _npv_and_slope(flows, ZERO)[0]}
    if value_at[ZERO] == 0:
        return ZERO
    inner_high = inner_low = ZERO
    for step in _SEARCH_STEPS:
        for inner, outer in ((inner_high, step), (inner_low, -step)):
            value_at[outer] = _npv_and_slope(flows, outer)[0]
            if value_at[outer] == 0:
                return outer
            if _sign(value_at[outer]) != _sign(value_at[inner]):
                low, high = sorted((inner, outer))
                return _refine(flows, low, value_at[low], high)
        inner_high, inner_low = step, -step
    # No sign change on the grid. As x falls to -infinity (r to -1) the NPV takes the sign
    # of the latest amount; if it has not yet at -30, a root lies below, where r rounds to -1.
    if _sign(value_at[-_SEARCH_LIMIT]) != _sign(flows[-1][1]):
        return -_SEARCH_LIMIT
    return None


def _refine(flows: list[tuple[int, Decimal]], low: Decimal, value_low: Decimal, high: Decimal) -> Decimal:
    """Newton's method kept inside a bracket [low, high] holding a sign change; bisection when it strays or stalls.

    A Newton step is taken when it lands inside the bracket and is at most half the step
    before the last (it converges); otherwise the bracket is halved (Numerical Recipes'
    rtsafe). Newton converges quadratically near the root, so a handful of evaluations
    reach the tolerance where alternating with bisection took some sixty.
    """
    x = (low + high) / 2
    step = step_before = high - low
    for _ in range(_MAX_STEPS):
        value, slope = _npv_and_slope(flows, x)
        if value == 0:
            return x
        if _sign(value) == _sign(value_low):
            low, value_low = x, value
        else:
            high = x
        if high - low <= _TOLERANCE:
            break
        newton = x - value / slope if slope != 0 else None
        if newton is not None and low <= newton <= high and abs(newton - x) <= _TOLERANCE:
            return newton
        if newton is not None and low < newton < high and 2 * abs(newton - x) <= step_before:
            step_before, step = step, abs(newton - x)
            x = newton
        else:
            step_before, step = step, (high - low) / 2
            x = (low + high) / 2
    return (low + high) / 2


def _rounded_ratio(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator (> 0) exactly, half-even to 10 places, as round() on a Fraction rounds it."""
    tenth_billionths, remainder = divmod(numerator * 10**10, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and tenth_billionths % 2):
        tenth_billionths += 1
    return _rounded(Decimal(f"{tenth_billionths}E-10"))


def _rounded(rate: Decimal) -> Decimal:
    """Half-even to 10 places, and never -0."""
    rounded = rate.quantize(PLACES, context=_WORKING)
    return rounded.copy_abs() if rounded.is_zero() else rounded
