"""Tables as tables: numbers a lecture computes, written as Markdown for ``display(Markdown(...))``.

A slide shows a table better than printed columns: it is aligned, wraps inside its cells and
never breaks a number. ``markdown_table`` writes one from a header and rows, formatting numbers
for people: integers with thousands separators, other numbers rounded (no float noise).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence


def format_number(value: object, digits: int = 3) -> str:
    """A number for a person: 3072000 -> "3,072,000", 0.30000000000000004 -> "0.3", 1.531 -> "1.53".

    Integers (and floats equal to one) get thousands separators; other floats keep ``digits``
    significant digits; anything else is ``str(value)``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    if abs(number) >= 10 ** (digits - 1):  # no digits after the point to keep
        return f"{number:,.0f}"
    return f"{number:.{digits}g}"


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None
) -> str:
    """A Markdown table: ``header`` then one line per row, numbers through ``format_number``.

    ``align`` has one letter per column, ``l``, ``r`` or ``c`` (default: numbers right, text
    left). Raises ``ValueError`` when a row's length differs from the header's.
    """
    width = len(header)
    if width == 0:
        raise ValueError("header must name at least one column")
    for index, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"row {index} has {len(row)} cells, the header {width}")
    if align is None:
        first = rows[0] if rows else [""] * width
        align = "".join(
            "r" if isinstance(v, numbers.Number) and not isinstance(v, bool) else "l" for v in first
        )
    if len(align) != width or set(align) - set("lrc"):
        raise ValueError(f"align must be {width} letters of l, r, c, got {align!r}")
    rule = {"l": ":---", "r": "---:", "c": ":---:"}

    def line(cells: Sequence[object]) -> str:
        texts = [format_number(cell).replace("|", "\\|") for cell in cells]
        return "| " + " | ".join(texts) + " |"

    lines = [line(header), "| " + " | ".join(rule[a] for a in align) + " |"]
    lines += [line(row) for row in rows]
    return "\n".join(lines)
