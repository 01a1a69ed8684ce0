"""Each symbol's colour in the allocation chart: its own, whatever its rank, so it keeps it when another overtakes it.

A symbol's place in the palette is a stable hash of the symbol (CRC-32, the same in every process, unlike
Python's `hash`). Two symbols of one chart that land on the same colour are told apart by giving the later
one, in alphabetical order, the next free colour: so a colour depends on which symbols are in the chart, never
on their values or order, and changes only when a new symbol collides with it.
"""

from collections.abc import Iterable
from zlib import crc32

# app/static/web/app.js draws the value-over-time lines in the first and fifth of these.
PALETTE = (
    "#2563eb",
    "#16a34a",
    "#ea580c",
    "#9333ea",
    "#0891b2",
    "#dc2626",
    "#ca8a04",
    "#db2777",
    "#4b5563",
    "#65a30d",
)


def symbol_colours(symbols: Iterable[str]) -> dict[str, str]:
    """{symbol: colour} for the symbols of one chart; distinct while there are no more symbols than colours."""
    used = [0] * len(PALETTE)  # how many of this chart's symbols have each colour
    colours: dict[str, str] = {}
    for symbol in sorted(set(symbols)):
        start = crc32(symbol.encode()) % len(PALETTE)
        # From its own colour on, the first that the fewest others have: its own, unless taken.
        index = min(((start + step) % len(PALETTE) for step in range(len(PALETTE))), key=lambda i: used[i])
        used[index] += 1
        colours[symbol] = PALETTE[index]
    return colours
