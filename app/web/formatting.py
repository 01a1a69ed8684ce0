"""The templates' filters for amounts: `money`, `signed`, `plain`, `share` and `percent`, in Decimal, never float."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any


def money(value: Decimal) -> str:
    """A stored amount exactly, with thousands separators: 1234567.5 is "1,234,567.50", 0.1234 stays "0.1234".

    At least two decimal places; more only where the stored value has them. Decimal formatting, never float.
    """
    digits, exponent = value.as_tuple().digits, value.as_tuple().exponent
    assert isinstance(exponent, int), "money is finite"
    places = -exponent
    # NUMERIC(12,4) keeps 175.5 as 175.5000, and 0 as 0.0000 (one digit, 0, which goes too).
    while places > 2 and (not digits or digits[-1] == 0):
        digits, places = digits[:-1], places - 1
    return f"{value:,.{max(places, 2)}f}"


MINUS = "\N{MINUS SIGN}"


def signed(value: Decimal) -> str:
    """A gain with its sign in text, so it reads without colour: "+12.30", "\u22124.10", "0.00"."""
    if not value:
        return money(abs(value))
    return ("+" if value > 0 else MINUS) + money(abs(value))


def sign_of(value: Decimal) -> str:
    """The class a gain is coloured by: "up", "down" or "flat" (the text carries the sign too)."""
    return "up" if value > 0 else "down" if value < 0 else "flat"


def percent(fraction: Decimal) -> str:
    """A return as a percentage with two decimal places and its sign: 0.1234 is "+12.34%"."""
    shown = (fraction * 100).quantize(Decimal("0.01"))
    if not shown:
        return "0.00%"
    return ("+" if shown > 0 else MINUS) + f"{abs(shown):,}%"


def share(value: Decimal, total: Decimal) -> str:
    """A position's share of the total as a percentage with one decimal place ("45.2%")."""
    if not total:
        return "0.0%"
    return f"{(value * 100 / total).quantize(Decimal('0.1'))}%"


def plain(value: Decimal) -> str:
    """An amount as an input field holds it: exact, no separators ("1234567.50")."""
    return money(value).replace(",", "")


FILTERS: dict[str, Callable[..., Any]] = {
    "money": money,
    "signed": signed,
    "sign_of": sign_of,
    "percent": percent,
    "plain": plain,
    "share": share,
}
