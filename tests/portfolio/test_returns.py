"""Returns over a period (app/portfolio/returns.py), on examples worked by hand in the comments.

docs/explanation/returns.md writes the same examples out; the expected figures here come from
the arithmetic in the comments, never from the code's own output.
"""

from datetime import date, timedelta
from decimal import Decimal, localcontext

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.portfolio.returns import (
    CashFlow,
    DailyValue,
    gain,
    investor_cash_flows,
    money_weighted_return,
    net_flows,
    net_present_value,
    period_returns,
    time_weighted_return,
    xirr,
)

D = Decimal


def daily(start: date, *points: tuple[str, str, str] | tuple[str, str] | str) -> list[DailyValue]:
    """A series from `start`, one point a day: "value", or (value, inflow) or (value, inflow, outflow)."""
    series = []
    for offset, point in enumerate(points):
        value, inflow, outflow = (point, "0", "0") if isinstance(point, str) else (*point, "0", "0")[:3]
        series.append(DailyValue(start + timedelta(days=offset), D(value), D(inflow), D(outflow)))
    return series


def held(start: date, end: date, value: str) -> list[DailyValue]:
    """Every day from start to end inclusive at one value, no flows: filler between the days that matter."""
    return [DailyValue(start + timedelta(days=n), D(value)) for n in range((end - start).days + 1)]


# ------------------------------------------------------------------ time-weighted


def test_without_flows_the_time_weighted_return_is_the_simple_return() -> None:
    # 100 -> 110: one factor, 110 / 100 = 1.1, so 1.1 - 1 = 0.1.
    assert time_weighted_return(daily(date(2025, 1, 1), "100", "110")) == D("0.1")
    # 100 -> 120 -> 110: 1.2 x (110 / 120) = 1.1; the path between does not matter.
    assert time_weighted_return(daily(date(2025, 1, 1), "100", "120", "110")) == D("0.1")


def test_a_buy_between_two_price_moves_does_not_count_as_performance() -> None:
    series = daily(
        date(2025, 1, 1),
        "1000",  # the opening close
        "1100",  # +10%: factor 1100 / 1000 = 1.1
        # 1100 more bought at the start of the day at yesterday's close (the units double),
        # then the price falls 10%: 2 x 990 = 1980. Factor 1980 / (1100 + 1100) = 0.9.
        ("1980", "1100"),
    )
    # 1.1 x 0.9 - 1 = 0.99 - 1 = -0.01: the holding went up 10% then down 10%.
    assert time_weighted_return(series) == D("-0.01")
    # In money: 1980 - 1000 - 1100 = -120; the owner lost though the price is down only 1%,
    # because twice the money was in for the fall. The money-weighted return sees that.
    assert net_flows(series) == D(1100)
    assert gain(series) == D(-120)


def test_more_money_in_for_the_fall_makes_the_money_weighted_return_worse_than_the_time_weighted() -> None:
    # 2025-01-01: 1000 held. The price ends 2025 up 10% (1100 on 2025-12-31). On 2026-01-01
    # 1100 more is bought at that close (2200, no move that day). The price ends 2026 down
    # 10% (1980 on 2026-12-31), held to 2027-01-01. 2025 and 2026 have 365 days each.
    series = [
        *held(date(2025, 1, 1), date(2025, 12, 30), "1000"),
        DailyValue(date(2025, 12, 31), D(1100)),
        DailyValue(date(2026, 1, 1), D(2200), inflow=D(1100)),
        *held(date(2026, 1, 2), date(2026, 12, 30), "2200"),
        DailyValue(date(2026, 12, 31), D(1980)),
        DailyValue(date(2027, 1, 1), D(1980)),
    ]
    # TWR: 1.1 x (2200 / (1100 + 1100)) x (1980 / 2200) - 1 = 1.1 x 1 x 0.9 - 1 = -0.01.
    assert time_weighted_return(series) == D("-0.01")
    # XIRR: -1000 at year 0, -1100 at year 1, +1980 at year 2. With y = 1 + r, times y^2:
    #   -1000 y^2 - 1100 y + 1980 = 0  ->  100 y^2 + 110 y - 198 = 0
    #   y = (-110 + sqrt(110^2 + 4 x 100 x 198)) / 200 = (sqrt(91300) - 110) / 200
    # sqrt(91300) = 302.158899… (302.1589^2 = 91300.0009), y = 0.960794…, r = -0.0392055…
    assert investor_cash_flows(series) == [
        CashFlow(date(2025, 1, 1), D(-1000)),
        CashFlow(date(2026, 1, 1), D(-1100)),
        CashFlow(date(2027, 1, 1), D(1980)),
    ]
    with localcontext() as context:
        context.prec = 40
        by_the_formula = (D(91300).sqrt() - 110) / 200 - 1
    assert money_weighted_return(series) == by_the_formula.quantize(D("1E-10")) == D("-0.0392055070")


def test_a_sale_of_everything_mid_period_then_a_new_buy() -> None:
    series = daily(
        date(2025, 1, 1),
        "1000",  # the opening close
        "1200",  # +20%: factor 1.2
        # +5% (1260), everything sold at the close: the outflow counts at the end of the day.
        # Factor (0 + 1260) / 1200 = 1.05.
        ("0", "0", "1260"),
        "0",  # nothing held: base 0, end 0, the day is left out
        ("500", "500"),  # 500 bought, no move: factor 500 / (0 + 500) = 1
        "550",  # +10%: factor 1.1
    )
    # 1.2 x 1.05 x 1.1 - 1 = 1.386 - 1 = 0.386
    assert time_weighted_return(series) == D("0.386")
    # net flows 500 - 1260 = -760; gain 550 - 1000 - (-760) = 310 (260 on the first holding, 50 on the second)
    assert net_flows(series) == D(-760)
    assert gain(series) == D(310)


def test_a_dividend_paid_out_counts_as_performance() -> None:
    # 1000 held, the price unchanged, a dividend of 20 paid out at the end of the day:
    # factor (1000 + 20) / 1000 = 1.02, so 0.02; the money gained is the dividend.
    series = daily(date(2025, 1, 1), "1000", ("1000", "0", "20"))
    assert time_weighted_return(series) == D("0.02")
    assert gain(series) == D(20)


def test_a_buy_and_a_sale_on_one_day_from_nothing_is_that_days_return() -> None:
    # Nothing held; 1000 bought and sold for 1100 the same day: factor (0 + 1100) / (0 + 1000) = 1.1.
    # Netted into one flow of -100 it would have no base; kept apart it has one.
    assert time_weighted_return(daily(date(2025, 1, 1), "0", ("0", "1000", "1100"))) == D("0.1")


def test_a_total_loss_is_minus_one_both_ways() -> None:
    series = daily(date(2025, 1, 1), "1000", "500", "0")  # factors 0.5 and 0: 0 - 1 = -1
    assert time_weighted_return(series) == D(-1)
    # The owner paid 1000 and got nothing back: no rate zeroes -1000 + 0, and -1 is the limit
    # of the rate as what came back goes to 0.
    assert money_weighted_return(series) == D(-1)
    # Money put in after the loss earns on itself, but the product already holds a 0.
    assert time_weighted_return([*series, DailyValue(date(2025, 1, 4), D(100), inflow=D(100))]) == D(-1)


def test_a_fee_on_a_buy_shows_as_that_days_loss() -> None:
    # 1010 paid for shares worth 1000 at the close (10 of fees): factor 1000 / (0 + 1010).
    # 1000 / 1010 - 1 = -10 / 1010 = -0.00990099009900… -> -0.0099009901 at 10 places.
    assert time_weighted_return(daily(date(2025, 1, 1), "0", ("1000", "1010"))) == D("-0.0099009901")


@pytest.mark.parametrize(
    "series",
    [
        pytest.param(daily(date(2025, 1, 1), "1000"), id="no day passes"),
        pytest.param(daily(date(2025, 1, 1), "0", "0", "0"), id="nothing ever invested"),
        pytest.param(daily(date(2025, 1, 1), "0", "100"), id="value from nothing"),
    ],
)
def test_an_undefined_time_weighted_return_is_none(series: list[DailyValue]) -> None:
    assert time_weighted_return(series) is None


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ([], "at least its opening point"),
        (daily(date(2025, 1, 1), ("1000", "1000")), "opening point carries no flows"),
        ([DailyValue(date(2025, 1, 1), D(1)), DailyValue(date(2025, 1, 3), D(1))], "every calendar day"),
        (daily(date(2025, 1, 1), "1000", "-1"), "value on 2025-01-02 must be a finite amount >= 0"),
        (daily(date(2025, 1, 1), "1000", ("1000", "NaN")), "inflow on 2025-01-02"),
    ],
)
def test_a_series_the_formulas_would_misread_is_refused(series: list[DailyValue], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        time_weighted_return(series)


# ------------------------------------------------------------------ money-weighted


def test_xirr_of_ten_percent_over_one_year() -> None:
    # 2025-01-01 to 2026-01-01 is 365 days, one year: 1000 x (1 + r) = 1100, r = 0.1 exactly.
    assert xirr([(date(2025, 1, 1), D(-1000)), (date(2026, 1, 1), D(1100))]) == D("0.1")


def test_xirr_of_ten_percent_a_year_over_730_days() -> None:
    # 730 days = 2 years: 1000 x (1 + r)^2 = 1210, (1 + r)^2 = 1.21, r = 0.1.
    assert xirr([(date(2025, 1, 1), D(-1000)), (date(2027, 1, 1), D(1210))]) == D("0.1")


def test_xirr_counts_a_leap_year_as_366_of_365() -> None:
    # 2024-01-01 to 2025-01-01 is 366 days, 366/365 of a year: 1000 x (1 + r)^(366/365) = 1100, so
    # r = 1.1^(365/366) - 1 = exp(ln 1.1 x 365/366) - 1 = exp(0.0953102 x 0.9972678) - 1 = exp(0.0950498) - 1
    # = 0.0950498 + 0.0045172 + 0.0001431 + 0.0000034 + … = 0.0997136…, a little under 0.1.
    with localcontext() as context:
        context.prec = 40
        expected = (D("1.1").ln() * 365 / 366).exp() - 1
    assert xirr([(date(2024, 1, 1), D(-1000)), (date(2025, 1, 1), D(1100))]) == expected.quantize(D("1E-10"))
    assert expected.quantize(D("1E-7")) == D("0.0997136")


SPREADSHEET_EXAMPLE = [
    (date(2008, 1, 1), D(-10000)),
    (date(2008, 3, 1), D(2750)),
    (date(2008, 10, 30), D(4250)),
    (date(2009, 2, 15), D(3250)),
    (date(2009, 4, 1), D(2750)),
]


def test_xirr_agrees_with_the_spreadsheets_published_example() -> None:
    # The spreadsheet documents 0.373362535; it stops iterating at 0.000001%, so its last
    # digit is not settled: we agree to 8 places and find the root at 0.3733625335.
    rate = xirr(SPREADSHEET_EXAMPLE)
    assert rate is not None
    assert abs(rate - D("0.373362535")) < D("1E-8")
    # That it is the root, by an NPV computed here with Decimal's own power, on each side of it:
    # days from 2008-01-01: 0, 60, 303, 411, 456.
    assert _npv_here(rate - D("1E-10"), SPREADSHEET_EXAMPLE) > 0 > _npv_here(rate + D("1E-10"), SPREADSHEET_EXAMPLE)
    assert abs(net_present_value(rate, SPREADSHEET_EXAMPLE)) < D("0.001")


def test_xirr_takes_its_flows_in_any_order_and_nets_each_day() -> None:
    # Same as one year at 10%, written backwards with the 1100 in two parts.
    flows = [(date(2026, 1, 1), D(600)), (date(2025, 1, 1), D(-1000)), (date(2026, 1, 1), D(500))]
    assert xirr(flows) == D("0.1")


def test_a_rate_a_hair_above_minus_one_rounds_to_minus_one() -> None:
    # 1000 -> 1e-30 in a day: 1 + r = (1e-33)^365, far below e^-30; at 10 places that is -1.
    assert xirr([(date(2025, 1, 1), D(-1000)), (date(2025, 1, 2), D("1E-30"))]) == D(-1)


def test_a_short_loss_annualises_as_the_spreadsheet_does() -> None:
    # -1000 then +880 two days later: 1 + r = 0.88^(365/2) = exp(182.5 x ln 0.88)
    # = exp(182.5 x -0.1278334) = exp(-23.32959…) = 7.4e-11, so r = -0.99999999993, -0.9999999999 at 10 places.
    assert xirr([(date(2025, 1, 1), D(-1000)), (date(2025, 1, 3), D(880))]) == D("-0.9999999999")


@pytest.mark.parametrize(
    "flows",
    [
        pytest.param([], id="no flows"),
        pytest.param([(date(2025, 1, 1), D(-1000)), (date(2025, 1, 1), D(1100))], id="one date"),
        pytest.param([(date(2025, 1, 1), D(1000)), (date(2026, 1, 1), D(1100))], id="nothing paid in"),
        pytest.param([(date(2025, 1, 1), D(0)), (date(2026, 1, 1), D(0))], id="all zero"),
        # 1 -> 1e60 in a day: r = 1e60^365 - 1, far beyond e^30 - 1.
        pytest.param([(date(2025, 1, 1), D(-1)), (date(2025, 1, 2), D("1E60"))], id="beyond any sensible rate"),
    ],
)
def test_an_undefined_xirr_is_none(flows: list[tuple[date, Decimal]]) -> None:
    assert xirr(flows) is None


def test_the_period_figures_together() -> None:
    # The buy between two price moves again: every figure the performance answer gives.
    series = daily(date(2025, 1, 1), "1000", "1100", ("1980", "1100"))
    figures = period_returns(series)
    assert (figures.start_value, figures.end_value, figures.net_flows, figures.gain, figures.twr) == (
        D(1000),
        D(1980),
        D(1100),
        D(-120),
        D("-0.01"),
    )
    # -1000 on day 0, -1100 + 1980 = +880 on day 2: the short loss above.
    assert figures.xirr == D("-0.9999999999")


# ------------------------------------------------------------------ properties


def _npv_here(rate: Decimal, flows: list[tuple[date, Decimal]]) -> Decimal:
    """The net present value by Decimal's power operator, not the module's exp/ln."""
    first = min(day for day, _ in flows)
    with localcontext() as context:
        context.prec = 50
        return sum((amount / (1 + rate) ** (D((day - first).days) / 365) for day, amount in flows), D(0))


money = st.decimals(min_value=D("0.01"), max_value=D(1_000_000), places=2)


@given(start=money, moves=st.lists(st.decimals(min_value=D("0.5"), max_value=D(2), places=4), min_size=1, max_size=20))
def test_with_money_put_in_only_at_the_start_twr_is_the_simple_return(start: Decimal, moves: list[Decimal]) -> None:
    # Nothing held, `start` bought on day 1 at the start of the day, then the price moves each day.
    values = []
    value = start
    for move in moves:
        value = (value * move).quantize(D("0.01"))
        values.append(value)
    series = [
        DailyValue(date(2025, 1, 1), D(0)),
        DailyValue(date(2025, 1, 2), values[0], inflow=start),
        *(DailyValue(date(2025, 1, 3) + timedelta(days=n), v) for n, v in enumerate(values[1:])),
    ]
    with localcontext() as context:
        context.prec = 40
        simple = values[-1] / start - 1
    assert time_weighted_return(series) == simple.quantize(D("1E-10"))


@given(
    flows=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=5 * 365),  # days after 2025-01-01
            st.decimals(min_value=-100_000, max_value=100_000, places=2),
        ),
        min_size=2,
        max_size=8,
    )
)
def test_whenever_xirr_answers_its_rate_zeroes_the_npv(flows: list[tuple[int, Decimal]]) -> None:
    dated = [(date(2025, 1, 1) + timedelta(days=days), amount) for days, amount in flows]
    rate = xirr(dated)
    assume(rate is not None and rate - D("1E-10") > -1)
    assert rate is not None
    # Rounded to 10 places, the true root lies within 0.5e-10 of the rate: the NPV changes
    # sign (or is 0) between rate - 1e-10 and rate + 1e-10.
    below, above = _npv_here(rate - D("1E-10"), dated), _npv_here(rate + D("1E-10"), dated)
    assert below == 0 or above == 0 or (below > 0) != (above > 0)
