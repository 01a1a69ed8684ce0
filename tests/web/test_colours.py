"""The allocation chart's colours: each symbol its own, whatever its rank (app/web/colours.py)."""

import itertools

from app.web.colours import PALETTE, symbol_colours

SYMBOLS = ["AAPL", "MSFT", "TSLA", "NVDA", "BRK.B"]


def test_a_symbols_colour_does_not_depend_on_the_order_of_the_others() -> None:
    expected = symbol_colours(SYMBOLS)
    for order in itertools.permutations(SYMBOLS):
        assert symbol_colours(order) == expected


def test_a_symbol_alone_has_the_colour_of_its_hash_in_every_process() -> None:
    # CRC-32, not Python's hash(), which changes from one process to the next.
    assert symbol_colours(["AAPL"]) == {"AAPL": PALETTE[2]}  # zlib.crc32(b"AAPL") % 10


def test_symbols_of_one_chart_have_distinct_colours_while_the_palette_lasts() -> None:
    symbols = [f"S{n}" for n in range(len(PALETTE))]
    assert len(set(symbol_colours(symbols).values())) == len(PALETTE)
    # Past the palette, colours repeat as evenly as they can.
    more = symbol_colours([*symbols, "EXTRA"])
    assert max(list(more.values()).count(colour) for colour in PALETTE) == 2
