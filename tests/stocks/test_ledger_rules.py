"""The ledger's formulas (app/stocks/ledger/rules.py) on examples worked out by hand in the comments."""

from datetime import date
from decimal import Decimal

import pytest

from app.stocks.ledger.rules import Entry, Holding, Refused, apply, in_order, replay

D = Decimal
DAY = date(2024, 1, 2)


def buy(quantity: int, price: str, fee: str = "0", on: date = DAY, id: int | None = None) -> Entry:
    return Entry("buy", on, quantity=quantity, price=D(price), fee=D(fee), id=id)


def sell(quantity: int, price: str, fee: str = "0", on: date = DAY, id: int | None = None) -> Entry:
    return Entry("sell", on, quantity=quantity, price=D(price), fee=D(fee), id=id)


def split(ratio: str, on: date = DAY) -> Entry:
    return Entry("split", on, ratio=D(ratio))


def test_a_buy_adds_its_cost_fee_included_and_averages() -> None:
    # 10 at 100 + fee 5: cost 1005, 10 shares, average 100.5.
    # Then 5 at 110 + fee 2: cost 10 x 100.5 + 5 x 110 + 2 = 1005 + 550 + 2 = 1557; 15 shares;
    # average 1557 / 15 = 103.8 exactly.
    result = replay([buy(10, "100", "5"), buy(5, "110", "2")])
    assert result.holding == Holding(15, D("103.8000"))
    assert result.gains == [None, None]


def test_an_average_is_rounded_to_4_places_half_to_even() -> None:
    # 3 at 1 then 3 at 1.0001 + fee 0: cost 3 + 3.0003 = 6.0003; 6 shares; 6.0003 / 6 = 1.00005 exactly,
    # a tie at the 5th place: half to even keeps 1.0000 (half up would give 1.0001).
    assert replay([buy(3, "1"), buy(3, "1.0001")]).holding == Holding(6, D("1.0000"))
    # 3 at 1 then 3 at 1.0003: 6.0009 / 6 = 1.00015, a tie: even is 1.0002.
    assert replay([buy(3, "1"), buy(3, "1.0003")]).holding == Holding(6, D("1.0002"))
    # 1 at 1, then 2 at 1 + fee 0.0001: cost 1 + 2 + 0.0001 = 3.0001; / 3 = 1.000033...: 1.0000.
    assert replay([buy(1, "1"), buy(2, "1", "0.0001")]).holding == Holding(3, D("1.0000"))


def test_a_sell_realizes_its_gain_at_the_average_cost_which_does_not_move() -> None:
    # Bought 10 at 100 + fee 5 (average 100.5). Sell 4 at 120, fee 3:
    # gain = 4 x 120 - 3 - 4 x 100.5 = 480 - 3 - 402 = 75. Left: 6 shares, average still 100.5.
    result = replay([buy(10, "100", "5"), sell(4, "120", "3")])
    assert result.holding == Holding(6, D("100.5000"))
    assert result.gains == [None, D("75.0000")]


def test_a_sell_at_a_loss_has_a_negative_gain() -> None:
    # 2 at 50 (average 50); sell 2 at 40, fee 1: 80 - 1 - 100 = -21; nothing left, average kept.
    result = replay([buy(2, "50"), sell(2, "40", "1")])
    assert result.holding == Holding(0, D("50"))
    assert result.gains[1] == D("-21")


def test_a_sold_out_holding_buys_again_from_nothing() -> None:
    # Sold out at average 50 (0 shares): a buy of 1 at 70 + fee 1 costs 0 x 50 + 70 + 1 = 71; average 71.
    result = replay([buy(2, "50"), sell(2, "60"), buy(1, "70", "1")])
    assert result.holding == Holding(1, D("71.0000"))


def test_a_split_multiplies_the_quantity_and_divides_the_average() -> None:
    # 10 at 100.5, split 2: 20 shares at 50.25. Then 3-for-2 (1.5): 30 shares at 50.25 / 1.5 = 33.5.
    result = replay([buy(10, "100", "5"), split("2"), split("1.5")])
    assert result.holding == Holding(30, D("33.5000"))
    # 1-for-3 (ratio 1/3 is not exact, so 0.5): 30 x 0.5 = 15 shares at 33.5 / 0.5 = 67.
    assert apply(result.holding, split("0.5"))[0] == Holding(15, D("67.0000"))
    # 3 at 10, split 3: 9 shares at 10 / 3 = 3.33333...: 3.3333.
    assert replay([buy(3, "10"), split("3")]).holding == Holding(9, D("3.3333"))


def test_a_split_into_fractions_is_refused_naming_ratio() -> None:
    # 3 shares x 1.5 = 4.5 shares: not whole.
    with pytest.raises(Refused) as refused:
        replay([buy(3, "10"), split("1.5")])
    assert refused.value.field == "ratio"
    assert "4.5" in refused.value.reason


def test_dividends_and_fees_leave_the_holding_as_it_was() -> None:
    holding = Holding(10, D("100.5"))
    dividend = Entry("dividend", DAY)
    fee = Entry("fee", DAY)
    assert apply(holding, dividend) == (holding, None)
    assert apply(holding, fee) == (holding, None)


def test_an_adjustment_sets_quantity_and_average() -> None:
    # Whatever came before, a PUT of 7 at 12.34 is the holding from then on; a sell after it
    # realizes against 12.34: 2 x 20 - 0 - 2 x 12.34 = 40 - 24.68 = 15.32.
    adjustment = Entry("adjustment", DAY, quantity=7, price=D("12.34"))
    result = replay([buy(10, "100"), adjustment, sell(2, "20")])
    assert result.holding == Holding(5, D("12.34"))
    assert result.gains[2] == D("15.32")


def test_selling_more_than_is_held_is_refused_naming_quantity() -> None:
    with pytest.raises(Refused) as refused:
        replay([buy(5, "10"), sell(6, "10")])
    assert refused.value.field == "quantity"
    assert "5 held" in refused.value.reason


def test_a_fee_that_would_push_the_average_past_the_column_is_refused_naming_fee() -> None:
    # 1 share at 1 + fee 9999999999: average 10000000000 > 99999999.9999.
    with pytest.raises(Refused) as refused:
        apply(Holding(), buy(1, "1", "9999999999"))
    assert refused.value.field == "fee"


def test_replay_order_is_by_day_then_as_written_with_the_new_entry_last_of_its_day() -> None:
    later = buy(1, "1", on=date(2024, 2, 1), id=1)
    earlier = buy(1, "1", on=date(2024, 1, 1), id=2)
    new = buy(1, "1", on=date(2024, 1, 1))
    same_day_written_after = buy(1, "1", on=date(2024, 1, 1), id=3)
    assert in_order([later, new, same_day_written_after, earlier]) == [earlier, same_day_written_after, new, later]


def test_a_backdated_buy_moves_a_later_sells_gain() -> None:
    # Ledger: 10 at 100 on Jan 2, sell 5 at 120 on Mar 1: gain 5 x 120 - 5 x 100 = 100.
    # A buy of 10 at 80 backdated to Feb 1: average (1000 + 800) / 20 = 90 before the sell;
    # gain 600 - 450 = 150; left 15 at 90.
    ledger = [buy(10, "100", on=date(2024, 1, 2), id=1), sell(5, "120", on=date(2024, 3, 1), id=2)]
    assert replay(ledger).gains[1] == D("100")
    result = replay(in_order([*ledger, buy(10, "80", on=date(2024, 2, 1))]))
    assert result.holding == Holding(15, D("90.0000"))
    assert result.gains == [None, None, D("150")]
