"""Shared primitives of every picture: colours, sizes, cells, titles and argument checks."""

from __future__ import annotations

import numbers
import re
import textwrap
from collections.abc import Sequence
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..arithmetic import (
    conv_output_size,
    effective_kernel_size,
    resolve_padding,
)
from ..validation import check_array, check_int, check_ints

# Colours shared by every diagram.
INPUT_COLOR = "#deebf7"
PAD_COLOR = "#eeeeee"
UNVISITED_COLOR = "#bdbdbd"
WINDOW_COLOR = "#9ecae1"
KERNEL_COLOR = "#fdd0a2"
OUTPUT_COLOR = "#e5f5e0"
CURRENT_OUTPUT_COLOR = "#a1d99b"
HIGHLIGHT_COLOR = "#d62728"
EDGE_COLOR = "#555555"
DIVERGING_CMAP = "RdBu_r"

CELL_INCHES = 0.45  # side of one diagram cell when the figure is not too wide
MAX_FIGURE_WIDTH = 10.0  # a 1280x720 slide holds about 10 x 4.5 inches
MAX_FIGURE_HEIGHT = 4.0
MIN_FIGURE_WIDTH = 5.5  # room for a two-line title
MAX_GRID_WITH_VALUES = 12  # larger grids are drawn without numbers
MAX_KERNEL_WITH_VALUES = 5  # show_kernels writes values into kernels up to 5x5
MAX_RECEPTIVE_FIELD_DRAWN = 128
PANEL_INCHES = 1.7  # side of one panel in image grids
TITLE_FONTSIZE = 10
TITLE_INCHES_PER_LINE = 0.2

Pair = int | tuple[int, int]
Padding = int | tuple[int, int] | str


def _check_axes(ax: object) -> None:
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")


def _format_value(value: float) -> str:
    """Write a cell value briefly: 3 -> "3", 0.5 -> "0.5", 1/3 -> "1/3", 3.333 -> "3.33".

    A value that two decimals cannot write exactly but a fraction with a denominator up to 16
    can (1/3, 10/3, -7/6) is written as that fraction; 1234.5 -> "1.23e+03".
    """
    if abs(value) >= 1000:
        return f"{value:.3g}"
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    if abs(value - round(value, 2)) > 1e-9:
        fraction = Fraction(value).limit_denominator(16)
        if abs(float(fraction) - value) < 1e-9:
            return f"{fraction.numerator}/{fraction.denominator}"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _signed(value: float) -> str:
    """A value for a sum of products: negatives in parentheses, "2·(-1)"."""
    text = _format_value(value)
    return f"({text})" if value < 0 else text


def _pair_text(pair: Sequence[int]) -> str:
    return str(pair[0]) if len(set(pair)) == 1 else "(" + ", ".join(str(v) for v in pair) + ")"


def _start_diagram(ax, xlim, ylim):
    """Return ``(figure, axes, created, fontsize)`` for a cell diagram spanning ``xlim`` x ``ylim``.

    Diagrams use data units of one cell, equal aspect and no axis lines. The font size is
    chosen so that about four characters fit in one cell.
    """
    xspan, yspan = xlim[1] - xlim[0], ylim[1] - ylim[0]
    created = ax is None
    if created:
        cell = min(CELL_INCHES, MAX_FIGURE_WIDTH / xspan, MAX_FIGURE_HEIGHT / yspan)
        width, height = max(MIN_FIGURE_WIDTH, xspan * cell), yspan * cell
        fig = plt.figure(figsize=(width, height + TITLE_INCHES_PER_LINE))
        ax = fig.add_axes((0.0, 0.0, 1.0, height / (height + TITLE_INCHES_PER_LINE)))
    else:
        _check_axes(ax)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.set_axis_off()
    box = ax.get_position()
    width_in = ax.figure.get_figwidth() * box.width
    height_in = ax.figure.get_figheight() * box.height
    cell_points = 72 * min(width_in / xspan, height_in / yspan)
    fontsize = float(np.clip(cell_points * 0.33, 5.0, 11.0))
    return ax.figure, ax, created, fontsize


def _wrap(line: str, chars: int) -> list[str]:
    """Break a title line after ", " or "; " or before " → " so phrases stay whole."""
    tokens = re.split(r"(, |; | → )", line)
    chunks, prefix = [], ""
    for index in range(0, len(tokens), 2):
        text = prefix + tokens[index]
        separator = tokens[index + 1] if index + 1 < len(tokens) else ""
        chunks.append(text if separator == " → " else text + separator.rstrip())
        prefix = "→ " if separator == " → " else ""
    lines, current = [], ""
    for chunk in chunks:
        candidate = f"{current} {chunk}" if current else chunk
        if len(candidate) <= chars or not current:
            current = candidate
        else:
            lines.append(current)
            current = chunk
    lines.append(current)
    return [part for wide in lines for part in (textwrap.wrap(wide, chars) or [""])]


def _finish_diagram(fig: Figure, ax: Axes, created: bool, title: str) -> Figure | Axes:
    """Set ``title`` wrapped to the axes' width, make room for it, and return what the caller gets."""
    width_points = fig.get_figwidth() * ax.get_position().width * 72
    chars = max(30, int(width_points / (TITLE_FONTSIZE * 0.55)))
    lines = [part for line in title.split("\n") for part in _wrap(line, chars)]
    ax.set_title("\n".join(lines), fontsize=TITLE_FONTSIZE)
    if not created:
        return ax
    axes_height = fig.get_figheight() * ax.get_position().height
    title_height = 0.15 + TITLE_INCHES_PER_LINE * len(lines)
    fig.set_figheight(axes_height + title_height)
    ax.set_position((0.0, 0.0, 1.0, axes_height / (axes_height + title_height)))
    return fig


def _cells(
    ax: Axes,
    x0: float,
    y0: float,
    faces: np.ndarray,
    values: np.ndarray | None = None,
    hatched: np.ndarray | None = None,
    fontsize: float = 9.0,
    gid: str | None = None,
    bold: np.ndarray | None = None,
) -> None:
    """Draw a grid whose top-left corner is ``(x0, y0)``: cell (r, c) spans one unit right/down.

    ``faces`` is a (rows, cols) array of colours; ``values`` (NaN = blank) are written in the
    cells, each text tagged ``f"{gid}-{r}-{c}"``; ``hatched`` cells (padding) get a hatch.
    """
    rows, cols = faces.shape[:2]
    hatched = np.zeros((rows, cols), bool) if hatched is None else hatched
    for mask, hatch in ((~hatched, None), (hatched, "///")):
        cells = [(r, c) for r in range(rows) for c in range(cols) if mask[r, c]]
        if not cells:
            continue
        collection = PatchCollection(
            [Rectangle((x0 + c, y0 - r - 1), 1, 1) for r, c in cells],
            facecolors=[faces[r, c] for r, c in cells],
            edgecolors=EDGE_COLOR,
            linewidths=0.8,
            hatch=hatch,
        )
        ax.add_collection(collection)
    if values is None:
        return
    for r in range(rows):
        for c in range(cols):
            if np.isnan(values[r, c]):
                continue
            text = ax.text(
                x0 + c + 0.5,
                y0 - r - 0.5,
                _format_value(values[r, c]),
                ha="center",
                va="center",
                fontsize=fontsize,
                fontweight="bold" if bold is not None and bold[r, c] else "normal",
            )
            if gid is not None:
                text.set_gid(f"{gid}-{r}-{c}")


def _outline(ax: Axes, x: float, y_top: float, width: float, height: float, **style) -> None:
    """Draw an unfilled rectangle whose top-left corner is ``(x, y_top)``."""
    style = {"edgecolor": HIGHLIGHT_COLOR, "linewidth": 2.2, **style}
    ax.add_patch(Rectangle((x, y_top - height), width, height, fill=False, **style))


def _faces(rows: int, cols: int, color: str) -> np.ndarray:
    return np.full((rows, cols), to_hex(color), dtype=object)


def _blank(rows: int, cols: int) -> np.ndarray:
    return np.full((rows, cols), np.nan)


def _lighten(color, amount: float = 0.55) -> str:
    """Mix ``color`` with white: ``amount`` 0 keeps it, 1 gives white (as a hex string)."""
    return to_hex([amount + (1 - amount) * channel for channel in to_rgb(color)])


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _signal_1d(name: str, value: object) -> tuple[np.ndarray | None, int]:
    """An int is a length (no values); anything else must be a non-empty 1-D array."""
    if _is_int(value):
        return None, check_int(name, value, 1)
    array = check_array(name, value, 1)
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    return array, array.shape[0]


def _grid_2d(name: str, value: object) -> tuple[np.ndarray | None, tuple[int, int]]:
    """An int or a pair of ints is a shape (no values); anything else must be a 2-D array."""
    if _is_int(value):
        size = check_int(name, value, 1)
        return None, (size, size)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        return None, check_ints(name, value, 2, 1)
    array = check_array(name, value, 2)
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    return array, array.shape


def _paddings_2d(padding: object, sizes, kernel, stride, dilation) -> list[tuple[int, int]]:
    """``(before, after)`` zeros per axis for an int, a pair, or "valid"/"same"/"full"."""
    if isinstance(padding, str):
        return [
            resolve_padding(padding, n, k, s, d)
            for n, k, s, d in zip(sizes, kernel, stride, dilation, strict=True)
        ]
    return [(p, p) for p in check_ints("padding", padding, 2, 0)]


def _output_length(
    n: int, k: int, stride: int, pads: tuple[int, int], dilation: int, axis=""
) -> int:
    """Output length of a convolution with possibly unequal padding on the two sides."""
    span = effective_kernel_size(k, dilation)
    before, after = pads
    if span > n + before + after:
        raise ValueError(
            f"kernel{axis} spans d(k-1)+1 = {span} cells (k={k}, dilation={dilation}) but the "
            f"padded input{axis} has only {n} + {before} + {after} = {n + before + after}"
        )
    return conv_output_size(n + before + after, k, stride, 0, dilation)


def _padding_text(padding: object, pads: Sequence[tuple[int, int]]) -> str:
    flat = [amount for pair in pads for amount in pair]
    amounts = str(flat[0]) if len(set(flat)) == 1 else ", ".join(str(a) for a in flat)
    if isinstance(padding, str):
        return f"'{padding}' ({amounts})"
    return amounts if len(set(flat)) == 1 else f"({amounts})"
