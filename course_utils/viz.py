"""Pictures for the lectures: images, kernels and feature maps, and diagrams of convolution.

Every function returns the matplotlib ``Figure`` it made (or the ``Axes`` it drew on when
given ``ax=``) and never calls ``plt.show()``. In Jupyter, end the call with ``;`` (or assign
the result): pyplot already shows the figure once. Sizes come from :mod:`course_utils.arithmetic`
and values from :mod:`course_utils.reference`, so the pictures agree with the graded code.
"""

from __future__ import annotations

import math
import numbers
import re
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon, Rectangle

from . import filters, reference
from .arithmetic import (
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
    pool_output_size,
    receptive_field,
    resolve_padding,
)
from .validation import check_array, check_int, check_ints

# Colours shared by every diagram.
INPUT_COLOR = "#deebf7"
PAD_COLOR = "#eeeeee"
WINDOW_COLOR = "#9ecae1"
KERNEL_COLOR = "#fdd0a2"
OUTPUT_COLOR = "#e5f5e0"
CURRENT_OUTPUT_COLOR = "#a1d99b"
HIGHLIGHT_COLOR = "#d62728"
EDGE_COLOR = "#555555"
DIVERGING_CMAP = "RdBu_r"

CELL_INCHES = 0.45  # side of one diagram cell when the figure is not too wide
MAX_FIGURE_WIDTH = 13.0
MAX_FIGURE_HEIGHT = 9.0
MIN_FIGURE_WIDTH = 5.5  # room for a two-line title
MAX_GRID_WITH_VALUES = 12  # larger grids are drawn without numbers
MAX_KERNEL_WITH_VALUES = 5  # show_kernels writes values into kernels up to 5x5
MAX_RECEPTIVE_FIELD_DRAWN = 128
PANEL_INCHES = 1.7  # side of one panel in image grids
TITLE_FONTSIZE = 10
TITLE_INCHES_PER_LINE = 0.2

Pair = int | tuple[int, int]
Padding = int | tuple[int, int] | str


# --- shared primitives -----------------------------------------------------------------------


def _check_axes(ax: object) -> None:
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")


def _format_value(value: float) -> str:
    """Write a cell value briefly: 3 -> "3", 3.333 -> "3.33", 0.5 -> "0.5", 1234.5 -> "1.23e+03"."""
    if abs(value) >= 1000:
        return f"{value:.3g}"
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
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


# --- images, kernels, feature maps -----------------------------------------------------------


def _display_image(name: str, image: object) -> tuple[np.ndarray, bool]:
    """Return ``(array, is_rgb)``: (H, W) or (H, W, 3); (C, H, W) with C = 1 or 3 is transposed."""
    array = check_array(name, image, (2, 3))
    if array.ndim == 3:
        if array.shape[-1] in (3, 4):
            pass
        elif array.shape[0] in (1, 3):
            array = np.moveaxis(array, 0, -1)
        elif array.shape[-1] != 1:
            raise ValueError(
                f"{name} must be (H, W), (H, W, 3) or (C, H, W) with C = 1 or 3, "
                f"got shape {array.shape}"
            )
        if array.shape[-1] == 1:
            array = array[..., 0]
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    return array, array.ndim == 3


def _unit_range(array: np.ndarray) -> np.ndarray:
    """Leave an array in [0, 1] alone; stretch any other range to [0, 1] (for RGB display)."""
    low, high = array.min(), array.max()
    if low >= 0.0 and high <= 1.0:
        return array
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def _panel_style(array: np.ndarray, rgb: bool, cmap: str, symmetric: bool, limit=None) -> dict:
    """imshow keywords: RGB in [0, 1]; ``symmetric`` maps use a diverging map centred at 0."""
    if rgb:
        return {}
    if symmetric:
        limit = float(np.abs(array).max()) if limit is None else limit
        limit = limit if limit > 0 else 1.0
        return {"cmap": DIVERGING_CMAP if cmap == "gray" else cmap, "vmin": -limit, "vmax": limit}
    return {"cmap": cmap}


def _draw_panel(ax: Axes, array: np.ndarray, style: dict, title: str | None) -> None:
    small = max(array.shape[:2]) <= 64
    shown = _unit_range(array) if array.ndim == 3 else array
    ax.imshow(shown, interpolation="nearest" if small else "antialiased", **style)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def _image_grid(panels, titles, ncols: int, suptitle: str | None, panel_inches=PANEL_INCHES):
    """Lay ``panels`` (a list of ``(array, imshow keywords)``) out in rows of ``ncols``."""
    count = len(panels)
    ncols = min(check_int("ncols", ncols, 1), count)
    nrows = math.ceil(count / ncols)
    if titles is not None:
        if isinstance(titles, str) or not isinstance(titles, Sequence):
            raise TypeError(f"titles must be a list of str, got {type(titles).__name__}")
        if len(titles) != count:
            raise ValueError(f"titles must have one entry per panel ({count}), got {len(titles)}")
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(ncols * panel_inches, nrows * panel_inches + (0.4 if suptitle else 0.0)),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for index, ax in enumerate(flat):
        if index >= count:
            ax.set_axis_off()
            continue
        array, style = panels[index]
        _draw_panel(ax, array, style, None if titles is None else str(titles[index]))
    if suptitle:
        fig.suptitle(suptitle)
    return fig, flat[:count]


def show_image(
    img: object,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "gray",
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = False,
) -> Figure | Axes:
    """Show one image: (H, W), (H, W, 3) or (C, H, W) with C = 1 or 3 (numpy or torch)."""
    array, rgb = _display_image("img", img)
    created = ax is None
    if created:
        height, width = array.shape[:2]
        scale = 5.0 / max(height, width)
        fig, ax = plt.subplots(figsize=(max(2.5, width * scale), max(2.5, height * scale) + 0.3))
    else:
        _check_axes(ax)
        fig = ax.figure
    style = {} if rgb else {"cmap": cmap, "vmin": vmin, "vmax": vmax}
    _draw_panel(ax, array, style, title)
    ax.set_axis_off()
    if colorbar and not rgb:
        fig.colorbar(ax.images[-1], ax=ax, fraction=0.046, pad=0.04)
    return fig if created else ax


def _grid_panels(name: str, arrays: object) -> list[tuple[np.ndarray, bool]]:
    """(N, H, W), (N, C, H, W) with C = 1 or 3, or a list of images -> [(array, is_rgb)]."""
    if isinstance(arrays, (list, tuple)):
        panels = [_display_image(f"{name}[{i}]", a) for i, a in enumerate(arrays)]
    else:
        stack = check_array(name, arrays, (3, 4))
        if stack.ndim == 4:
            if stack.shape[1] not in (1, 3):
                raise ValueError(
                    f"{name} must be (N, H, W) or (N, C, H, W) with C = 1 or 3, got shape "
                    f"{stack.shape}; use show_feature_maps or show_kernels for many channels"
                )
            panels = [_display_image(f"{name}[{i}]", a) for i, a in enumerate(stack)]
        else:
            panels = [(a, False) for a in stack]
    if not panels:
        raise ValueError(f"{name} must hold at least one image")
    return panels


def show_grid(
    arrays: object,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    symmetric: bool = False,
    suptitle: str | None = None,
    *,
    shared_scale: bool = False,
) -> Figure:
    """Show 2-D maps in a grid: (N, H, W), (N, C, H, W) with C = 1 or 3, or a list of images.

    ``symmetric=True`` centres a diverging colormap at 0 (for kernels and gradients);
    ``shared_scale=True`` gives every panel the same colour range.
    """
    panels = _grid_panels("arrays", arrays)
    gray = [a for a, rgb in panels if not rgb]
    low = min((a.min() for a in gray), default=0.0)
    high = max((a.max() for a in gray), default=1.0)
    limit = max(abs(low), abs(high)) if shared_scale else None
    styled = []
    for array, rgb in panels:
        style = _panel_style(array, rgb, cmap, symmetric, limit)
        if shared_scale and not symmetric and not rgb:
            style.update(vmin=low, vmax=high)
        styled.append((array, style))
    fig, _ = _image_grid(styled, titles, ncols, suptitle)
    return fig


def _write_kernel_values(ax: Axes, kernel: np.ndarray, limit: float) -> None:
    rows, cols = kernel.shape
    fontsize = 9 if max(rows, cols) <= 3 else 7
    for r in range(rows):
        for c in range(cols):
            value = kernel[r, c]
            dark = abs(value) > 0.6 * limit  # white text on the saturated ends of the colormap
            ax.text(
                c,
                r,
                _format_value(value),
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if dark else "black",
            )


def _unit_range_always(array: np.ndarray) -> np.ndarray:
    """Stretch any array to [0, 1] (a constant one becomes 0.5)."""
    low, high = array.min(), array.max()
    return (array - low) / (high - low) if high > low else np.full_like(array, 0.5)


def show_kernels(
    w: object, ncols: int = 8, title: str | None = None, *, max_panels: int = 64
) -> Figure:
    """Show conv weights (C_out, C_in, kH, kW): one panel per (out, in) pair, or per filter if C_in = 3.

    Filters with 3 input channels are shown as RGB images (each rescaled to [0, 1]); otherwise
    a diverging colormap is centred at 0 and values are written in kernels up to 5x5. (kH, kW)
    and (C_out, kH, kW) arrays are accepted too. At most ``max_panels`` panels are drawn.
    """
    weights = check_array("w", w, (2, 3, 4))
    if weights.ndim == 2:
        weights = weights[None, None]
    elif weights.ndim == 3:
        weights = weights[:, None]
    max_panels = check_int("max_panels", max_panels, 1)
    out_channels, in_channels, kh, kw = weights.shape
    if in_channels == 3:
        arrays = [np.moveaxis(weights[o], 0, -1) for o in range(out_channels)]
        titles = [f"filter {o}" for o in range(out_channels)]
        styles = [{} for _ in arrays]
        arrays = [_unit_range_always(a) for a in arrays]
    else:
        pairs = [(o, i) for o in range(out_channels) for i in range(in_channels)]
        arrays = [weights[o, i] for o, i in pairs]
        titles = [f"w[{o}, {i}]" if in_channels > 1 else f"filter {o}" for o, i in pairs]
        styles = [_panel_style(a, False, "gray", True) for a in arrays]
    total = len(arrays)
    heading = title
    if total > max_panels:
        note = f"first {max_panels} of {total} kernels"
        heading = f"{title} ({note})" if title else note
    count = min(total, max_panels)
    panels = list(zip(arrays[:count], styles[:count], strict=True))
    fig, axes = _image_grid(panels, titles[:count], ncols, heading, panel_inches=1.3)
    if in_channels != 3 and max(kh, kw) <= MAX_KERNEL_WITH_VALUES:
        for ax, (array, style) in zip(axes, panels, strict=True):
            _write_kernel_values(ax, array, style["vmax"])
    return fig


def show_feature_maps(
    maps: object,
    ncols: int = 8,
    title: str | None = None,
    *,
    cmap: str = "viridis",
    max_panels: int = 64,
) -> Figure:
    """Show activation maps (C, H, W) or (1, C, H, W), one panel per channel."""
    array = check_array("maps", maps, (3, 4))
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ValueError(
                f"maps must be (C, H, W) or (1, C, H, W), got a batch of {array.shape[0]}; "
                "pass maps[0] to show the first image's maps"
            )
        array = array[0]
    max_panels = check_int("max_panels", max_panels, 1)
    count = min(array.shape[0], max_panels)
    heading = title
    if array.shape[0] > max_panels:
        note = f"first {max_panels} of {array.shape[0]} maps"
        heading = f"{title} ({note})" if title else note
    panels = [(array[c], {"cmap": cmap}) for c in range(count)]
    fig, _ = _image_grid(panels, [f"map {c}" for c in range(count)], ncols, heading)
    return fig


def _filter_style(result: np.ndarray, spec, rgb: bool, low: float, high: float):
    """Display a filtered image: brightness-preserving kernels on the input's range, others around 0."""
    if isinstance(spec, str) and filters.normalize_filter_name(spec) == filters.GRADIENT_MAGNITUDE:
        limit = float(np.percentile(result, 99.5)) or 1.0
        shown = np.clip(result / limit, 0, 1) if rgb else result
        return shown, ({} if rgb else {"cmap": "gray", "vmin": 0.0, "vmax": limit}), ""
    kernel = filters.get_kernel(spec) if isinstance(spec, str) else np.asarray(spec, float)
    if abs(kernel.sum() - 1.0) < 1e-6:  # identity, blurs, sharpen: same brightness
        shown = np.clip(result, low, high)
        if rgb:
            return _unit_range(shown), {}, ""
        return shown, {"cmap": "gray", "vmin": low, "vmax": high}, ""
    limit = float(np.percentile(np.abs(result), 99.5)) or 1.0
    if rgb:
        return np.clip(0.5 + result / (2 * limit), 0, 1), {}, " (grey = 0)"
    return result, {"cmap": "gray", "vmin": -limit, "vmax": limit}, " (grey = 0)"


def plot_filter_bank(
    image: object,
    kernels: Mapping[str, object] | Sequence[str] | None = None,
    *,
    ncols: int = 4,
) -> Figure:
    """Show ``image`` (H, W) or (H, W, 3) and its "same" cross-correlation with each named kernel.

    ``kernels`` maps titles to (kH, kW) arrays or to names from ``filters.CLASSIC_KERNELS``
    (``"gradient magnitude"`` too); a list of names or None (all classic filters) also works.
    """
    array, rgb = _display_image("image", image)
    if kernels is None:
        kernels = {name: name for name in filters.FILTER_NAMES}
    elif isinstance(kernels, Sequence) and not isinstance(kernels, str):
        kernels = {str(name): name for name in kernels}
    elif not isinstance(kernels, Mapping):
        raise TypeError(
            f"kernels must be a dict of name -> kernel or a list of names, got {type(kernels).__name__}"
        )
    if not kernels:
        raise ValueError("kernels must name at least one kernel")
    low, high = float(array.min()), float(array.max())
    original_style = {} if rgb else {"cmap": "gray", "vmin": low, "vmax": high}
    panels, titles = [(array, original_style)], ["original"]
    for name, spec in kernels.items():
        if not isinstance(spec, str):
            spec = check_array(f"kernels[{name!r}]", spec, 2)
        result = filters.apply_filter(array, spec)
        shown, style, note = _filter_style(result, spec, rgb, low, high)
        panels.append((shown, style))
        titles.append(f"{name}{note}")
    height, width = array.shape[:2]
    panel = min(3.0, 12.0 / min(ncols, len(panels))) * max(0.6, min(1.0, height / width))
    fig, _ = _image_grid(panels, titles, ncols, None, panel_inches=panel)
    return fig


# --- convolution diagrams --------------------------------------------------------------------


def draw_conv1d(
    x: object,
    w: object,
    stride: int = 1,
    padding: int | str = 0,
    dilation: int = 1,
    step: int = 0,
    ax: Axes | None = None,
    show_values: bool = True,
    *,
    show_all_outputs: bool = False,
) -> Figure | Axes:
    """Draw the 1-D cross-correlation of ``x`` (n,) with ``w`` (k,) at output position ``step``.

    The padded input (zeros hatched), the kernel under the window of output ``step`` (dilated
    taps spaced out) and the output row (current cell highlighted) are drawn; outputs up to
    ``step`` show their values (all of them with ``show_all_outputs``). ``x`` and ``w`` may be
    plain lengths (ints) for a diagram without values. ``padding``: int, "valid", "same", "full".
    """
    x_values, n = _signal_1d("x", x)
    w_values, k = _signal_1d("w", w)
    stride = check_int("stride", stride, 1)
    dilation = check_int("dilation", dilation, 1)
    before, after = resolve_padding(padding, n, k, stride, dilation)
    n_out = _output_length(n, k, stride, (before, after), dilation)
    step = check_int("step", step, 0)
    if step >= n_out:
        raise ValueError(f"step must be smaller than the output length {n_out}, got {step}")
    with_values = show_values and x_values is not None and w_values is not None
    span = effective_kernel_size(k, dilation)
    length = before + n + after
    start = step * stride
    taps = [start + j * dilation for j in range(k)]

    kernel_top, output_top = -1.6, -3.3
    bottom = output_top - 1 - (1.5 if with_values else 0.4)
    fig, ax, created, fontsize = _start_diagram(ax, (-2.8, length + 0.3), (bottom, 0.4))

    padded = np.arange(length)
    is_pad = ((padded < before) | (padded >= before + n))[None]
    faces = _faces(1, length, INPUT_COLOR)
    faces[is_pad] = PAD_COLOR
    faces[0, taps] = WINDOW_COLOR
    input_values = np.pad(x_values, (before, after))[None] if with_values else None
    _cells(ax, 0, 0, faces, input_values, is_pad, fontsize, gid="input")
    _outline(ax, start, 0, span, 1)

    for j, tap in enumerate(taps):
        value = None if not with_values else np.array([[w_values[j]]])
        _cells(
            ax,
            tap,
            kernel_top,
            _faces(1, 1, KERNEL_COLOR),
            value,
            fontsize=fontsize,
            gid=f"kernel-{j}",
        )

    out_x0 = (length - n_out) / 2
    out_faces = _faces(1, n_out, OUTPUT_COLOR)
    out_faces[0, step] = CURRENT_OUTPUT_COLOR
    out_values = None
    if with_values:
        y = reference.conv1d(
            x_values[None, None],
            w_values[None, None],
            stride=stride,
            padding=padding,
            dilation=dilation,
        )[0, 0]
        out_values = _blank(1, n_out)
        shown = n_out if show_all_outputs else step + 1
        out_values[0, :shown] = y[:shown]
    _cells(ax, out_x0, output_top, out_faces, out_values, fontsize=fontsize, gid="output")
    _outline(ax, out_x0 + step, output_top, 1, 1)
    funnel = [
        (start, kernel_top - 1),
        (start + span, kernel_top - 1),
        (out_x0 + step + 1, output_top),
        (out_x0 + step, output_top),
    ]
    ax.add_patch(
        Polygon(funnel, closed=True, facecolor=HIGHLIGHT_COLOR, alpha=0.12, edgecolor="none")
    )

    for y_top, label in ((0, "input x"), (kernel_top, "kernel w"), (output_top, "output y")):
        ax.text(-0.3, y_top - 0.5, label, ha="right", va="center", fontsize=fontsize)
    if with_values:
        xp = input_values[0]
        terms = (
            " + ".join(f"{_signed(xp[tap])}·{_signed(w_values[j])}" for j, tap in enumerate(taps))
            if k <= 8
            else "sum of window · kernel"
        )
        ax.text(
            length / 2,
            output_top - 1.6,
            f"y[{step}] = {terms} = {_format_value(y[step])}",
            ha="center",
            va="center",
            fontsize=fontsize,
        )
    numerator = f"{n} + {before} + {after} - {dilation}*({k}-1) - 1"
    title = (
        f"1-D cross-correlation: n={n}, k={k}, s={stride}, p={_padding_text(padding, [(before, after)])}, "
        f"d={dilation} → output length {n_out}\n"
        f"floor(({numerator})/{stride}) + 1 = {n_out}"
    )
    return _finish_diagram(fig, ax, created, title)


def draw_conv2d(
    x: object,
    w: object,
    stride: Pair = 1,
    padding: Padding = 0,
    dilation: Pair = 1,
    step: int | tuple[int, int] = (0, 0),
    ax: Axes | None = None,
    show_values: bool = True,
    *,
    show_all_outputs: bool = False,
) -> Figure | Axes:
    """Draw the 2-D cross-correlation of ``x`` (H, W) with ``w`` (kH, kW) at output ``step``.

    Shows the input with its padding ring, the window of output ``step`` ((row, col), or an int
    counting outputs row by row) with its taps, the kernel and the output grid. Values are
    written for grids up to 12x12. ``x`` may be a shape (h, w) and ``w`` an int or (kh, kw)
    for a diagram without values.
    """
    x_values, (h, wd) = _grid_2d("x", x)
    w_values, (kh, kw) = _grid_2d("w", w)
    stride = check_ints("stride", stride, 2, 1)
    dilation = check_ints("dilation", dilation, 2, 1)
    pads = _paddings_2d(padding, (h, wd), (kh, kw), stride, dilation)
    out_h = _output_length(h, kh, stride[0], pads[0], dilation[0], " (rows)")
    out_w = _output_length(wd, kw, stride[1], pads[1], dilation[1], " (columns)")
    if _is_int(step):
        flat = check_int("step", step, 0)
        if flat >= out_h * out_w:
            raise ValueError(f"step must be smaller than the {out_h * out_w} outputs, got {flat}")
        row, col = divmod(flat, out_w)
    else:
        row, col = check_ints("step", step, 2, 0)
        if row >= out_h or col >= out_w:
            raise ValueError(f"step must lie inside the {out_h}x{out_w} output, got {(row, col)}")
    with_values = show_values and x_values is not None and w_values is not None
    (top, bottom), (left, right) = pads
    hp, wp = top + h + bottom, left + wd + right
    gap = 2.0
    tallest = max(hp, kh, out_h)
    kernel_x0, output_x0 = wp + gap, wp + gap + kw + gap
    below = 1.6 if with_values else 1.0
    fig, ax, created, fontsize = _start_diagram(
        ax, (-0.3, output_x0 + out_w + 0.3), (-tallest - below, 0.3)
    )

    def panel_top(rows: int) -> float:
        return -(tallest - rows) / 2

    rows_idx, cols_idx = np.ogrid[:hp, :wp]
    is_pad = (rows_idx < top) | (rows_idx >= top + h) | (cols_idx < left) | (cols_idx >= left + wd)
    faces = _faces(hp, wp, INPUT_COLOR)
    faces[is_pad] = PAD_COLOR
    tap_rows = [row * stride[0] + a * dilation[0] for a in range(kh)]
    tap_cols = [col * stride[1] + b * dilation[1] for b in range(kw)]
    faces[np.ix_(tap_rows, tap_cols)] = WINDOW_COLOR
    small_input = max(hp, wp) <= MAX_GRID_WITH_VALUES
    input_values = None
    if with_values and small_input:
        input_values = np.pad(x_values, pads)
    y0 = panel_top(hp)
    _cells(ax, 0, y0, faces, input_values, is_pad, fontsize, gid="input")
    if input_values is None:  # mark the taps when no numbers are written
        ax.scatter(
            [c + 0.5 for c in tap_cols for _ in tap_rows],
            [y0 - r - 0.5 for _ in tap_cols for r in tap_rows],
            s=max(4.0, fontsize**2 * 0.25),
            color=HIGHLIGHT_COLOR,
            zorder=3,
        )
    span_h = effective_kernel_size(kh, dilation[0])
    span_w = effective_kernel_size(kw, dilation[1])
    _outline(ax, tap_cols[0], y0 - tap_rows[0], span_w, span_h)

    kernel_values = w_values if with_values and max(kh, kw) <= MAX_GRID_WITH_VALUES else None
    _cells(
        ax,
        kernel_x0,
        panel_top(kh),
        _faces(kh, kw, KERNEL_COLOR),
        kernel_values,
        fontsize=fontsize,
        gid="kernel",
    )

    out_faces = _faces(out_h, out_w, OUTPUT_COLOR)
    out_faces[row, col] = CURRENT_OUTPUT_COLOR
    out_values, current = None, None
    if with_values:
        y = reference.conv2d(
            x_values[None, None],
            w_values[None, None],
            stride=stride,
            padding=padding if isinstance(padding, str) else tuple(p for p, _ in pads),
            dilation=dilation,
        )[0, 0]
        current = y[row, col]
        if max(out_h, out_w) <= MAX_GRID_WITH_VALUES:
            out_values = y.copy() if show_all_outputs else _blank(out_h, out_w)
            if not show_all_outputs:
                flat_values = out_values.reshape(-1)
                flat_values[: row * out_w + col + 1] = y.reshape(-1)[: row * out_w + col + 1]
    _cells(ax, output_x0, panel_top(out_h), out_faces, out_values, fontsize=fontsize, gid="output")
    _outline(ax, output_x0 + col, panel_top(out_h) - row, 1, 1)

    middle = -tallest / 2
    ax.text(wp + gap / 2, middle, r"$\star$", ha="center", va="center", fontsize=fontsize * 2.2)
    ax.text(kernel_x0 + kw + gap / 2, middle, "=", ha="center", va="center", fontsize=fontsize * 2)
    label_y = -tallest - 0.5
    padded_note = f" (padded {hp}x{wp})" if (hp, wp) != (h, wd) else ""
    dilation_note = f", dilation {_pair_text(dilation)}" if dilation != (1, 1) else ""
    for x_mid, label in (
        (wp / 2, f"input {h}x{wd}{padded_note}"),
        (kernel_x0 + kw / 2, f"kernel {kh}x{kw}{dilation_note}"),
        (output_x0 + out_w / 2, f"output {out_h}x{out_w}"),
    ):
        ax.text(x_mid, label_y, label, ha="center", va="center", fontsize=max(fontsize, 7))
    if current is not None:
        ax.text(
            (output_x0 + out_w) / 2,
            label_y - 0.9,
            f"y[{row}, {col}] = sum(window ⊙ kernel) = {_format_value(current)}",
            ha="center",
            va="center",
            fontsize=max(fontsize, 7),
        )
    title = (
        f"2-D cross-correlation: input {h}x{wd}, kernel {kh}x{kw}, stride {_pair_text(stride)}, "
        f"padding {_padding_text(padding, pads)}, dilation {_pair_text(dilation)}\n"
        f"→ output {out_h}x{out_w}; highlighted: output ({row}, {col})"
    )
    return _finish_diagram(fig, ax, created, title)


POOL_MODES = ("max", "avg")


def draw_pooling(
    x: object,
    kernel_size: Pair = 2,
    stride: Pair | None = None,
    mode: str = "max",
    ax: Axes | None = None,
    show_values: bool = True,
) -> Figure | Axes:
    """Draw pooling of ``x`` (H, W): windows colour-coded, max winners marked, the pooled grid."""
    x = check_array("x", x, 2)
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str, got {type(mode).__name__}")
    mode = {"average": "avg", "mean": "avg"}.get(mode.lower(), mode.lower())
    if mode not in POOL_MODES:
        raise ValueError(f"mode must be one of {POOL_MODES}, got {mode!r}")
    kh, kw = check_ints("kernel_size", kernel_size, 2, 1)
    sh, sw = (kh, kw) if stride is None else check_ints("stride", stride, 2, 1)
    h, wd = x.shape
    out_h, out_w = pool_output_size(h, kh, sh), pool_output_size(wd, kw, sw)
    pool = reference.max_pool2d if mode == "max" else reference.avg_pool2d
    pooled = pool(x[None, None], (kh, kw), (sh, sw))[0, 0]

    gap = 2.0
    tallest = max(h, out_h)
    out_x0 = wd + gap
    fig, ax, created, fontsize = _start_diagram(
        ax, (-0.3, out_x0 + out_w + 0.3), (-tallest - 1.0, 0.3)
    )
    palette = colormaps["tab10" if out_h * out_w <= 10 else "tab20"].colors
    owner = np.full((h, wd), -1)  # the first window that covers each input cell
    faces = _faces(h, wd, "white")
    out_faces = _faces(out_h, out_w, "white")
    bold = np.zeros((h, wd), bool)
    windows = []
    for i in range(out_h):
        for j in range(out_w):
            index, r0, c0 = i * out_w + j, i * sh, j * sw
            color = palette[index % len(palette)]
            block = owner[r0 : r0 + kh, c0 : c0 + kw]
            block[block < 0] = index
            out_faces[i, j] = _lighten(color, 0.35)
            windows.append((r0, c0, color))
    for (r, c), index in np.ndenumerate(owner):
        if index >= 0:
            faces[r, c] = _lighten(windows[index][2])
    if mode == "max":
        for r0, c0, color in windows:
            r, c = np.unravel_index(np.argmax(x[r0 : r0 + kh, c0 : c0 + kw]), (kh, kw))
            faces[r0 + r, c0 + c] = _lighten(color, 0.0)
            bold[r0 + r, c0 + c] = True
    with_values = show_values and max(h, wd) <= MAX_GRID_WITH_VALUES
    y0_in, y0_out = -(tallest - h) / 2, -(tallest - out_h) / 2
    _cells(
        ax, 0, y0_in, faces, x if with_values else None, fontsize=fontsize, gid="input", bold=bold
    )
    for index, (r0, c0, color) in enumerate(windows):
        inset = 0.06 + 0.05 * (index % 3) if (sh < kh or sw < kw) else 0.06
        _outline(
            ax,
            c0 + inset,
            y0_in - r0 - inset,
            kw - 2 * inset,
            kh - 2 * inset,
            edgecolor=color,
            linewidth=2.0,
        )
    out_values = pooled if max(out_h, out_w) <= MAX_GRID_WITH_VALUES and show_values else None
    _cells(ax, out_x0, y0_out, out_faces, out_values, fontsize=fontsize, gid="output")
    ax.text(wd + gap / 2, -tallest / 2, "→", ha="center", va="center", fontsize=fontsize * 2)
    ax.text(
        wd / 2,
        -tallest - 0.5,
        f"input {h}x{wd}",
        ha="center",
        va="center",
        fontsize=max(fontsize, 7),
    )
    ax.text(
        out_x0 + out_w / 2,
        -tallest - 0.5,
        f"output {out_h}x{out_w}",
        ha="center",
        va="center",
        fontsize=max(fontsize, 7),
    )
    note = ""
    if (owner < 0).any():
        note = "\nwhite cells fall in no window and are ignored"
    winner = "\nbold: the maximum of its window" if mode == "max" else ""
    title = (
        f"{mode} pooling: {kh}x{kw} window, stride {_pair_text((sh, sw))}: "
        f"{h}x{wd} → {out_h}x{out_w}{winner}{note}"
    )
    return _finish_diagram(fig, ax, created, title)


def _layers(kernel_sizes, strides, dilations):
    """Validated per-layer lists and, per layer l, the jump and receptive field of one unit."""
    if isinstance(kernel_sizes, str) or not isinstance(kernel_sizes, Sequence):
        raise TypeError(
            f"kernel_sizes must be a sequence of ints, got {type(kernel_sizes).__name__}"
        )
    for name, values in (("strides", strides), ("dilations", dilations)):
        if values is not None and (isinstance(values, str) or not isinstance(values, Sequence)):
            raise TypeError(
                f"{name} must be a sequence of ints or None, got {type(values).__name__}"
            )
    field = receptive_field(kernel_sizes, strides, dilations)  # validates every entry
    ks = [int(k) for k in kernel_sizes]
    ss = [1] * len(ks) if strides is None else [int(s) for s in strides]
    ds = [1] * len(ks) if dilations is None else [int(d) for d in dilations]
    jumps, fields = [1], [1]
    for k, s, d in zip(ks, ss, ds, strict=True):
        fields.append(fields[-1] + d * (k - 1) * jumps[-1])
        jumps.append(jumps[-1] * s)
    return ks, ss, ds, jumps, fields, field


def _dependencies(top: set[int], ks, ss, ds) -> list[set[int]]:
    """Indices, per layer (input first), that the units ``top`` of the last layer depend on."""
    sets = [top]
    for k, s, d in zip(reversed(ks), reversed(ss), reversed(ds), strict=True):
        sets.append({i * s + j * d for i in sets[-1] for j in range(k)})
    return sets[::-1]


def _layer_label(k: int, s: int, d: int) -> str:
    extras = (f", s={s}" if s != 1 else "") + (f", d={d}" if d != 1 else "")
    return f"k={k}{extras}"


def draw_receptive_field(
    kernel_sizes: Sequence[int] = (3, 3),
    strides: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Draw stacked 1-D layers (input at the bottom) and the inputs one top output depends on."""
    ks, ss, ds, jumps, fields, field = _layers(kernel_sizes, strides, dilations)
    if field > MAX_RECEPTIVE_FIELD_DRAWN:
        raise ValueError(
            f"the receptive field ({field}) is too wide to draw (at most {MAX_RECEPTIVE_FIELD_DRAWN})"
        )
    depth = len(ks)
    top_units = 3
    sizes = [(top_units - 1) * jumps[-1] + field]
    for k, s, d in zip(ks, ss, ds, strict=True):
        sizes.append(conv_output_size(sizes[-1], k, s, 0, d))
    used = _dependencies({top_units // 2}, ks, ss, ds)
    row_gap = 2.4
    fig, ax, created, fontsize = _start_diagram(
        ax, (-4.5, sizes[0] + 0.3), (-1.6, depth * row_gap + 1.3)
    )
    shades = [to_hex(c) for c in colormaps["Blues"](np.linspace(0.3, 0.6, depth + 1))]

    def left_edge(layer: int, index: int) -> float:
        return index * jumps[layer] + (fields[layer] - 1) / 2

    for layer in range(depth + 1):
        y_top = layer * row_gap + 1
        for index in range(sizes[layer]):
            color = "white"
            if index in used[layer]:
                color = HIGHLIGHT_COLOR if layer == depth else shades[layer]
            _cells(ax, left_edge(layer, index), y_top, _faces(1, 1, color))
        label = (
            "input"
            if layer == 0
            else f"layer {layer} ({_layer_label(ks[layer - 1], ss[layer - 1], ds[layer - 1])})"
        )
        ax.text(-0.4, y_top - 0.5, label, ha="right", va="center", fontsize=max(fontsize, 7))
        if layer == 0:
            continue
        k, s, d = ks[layer - 1], ss[layer - 1], ds[layer - 1]
        for index in used[layer]:
            for j in range(k):
                below = index * s + j * d
                ax.plot(
                    [left_edge(layer, index) + 0.5, left_edge(layer - 1, below) + 0.5],
                    [y_top - 1, y_top - row_gap],
                    color="0.35",
                    linewidth=0.9,
                    zorder=0,
                )
    first, last = min(used[0]), max(used[0])
    ax.annotate(
        "",
        xy=(first, -0.4),
        xytext=(last + 1, -0.4),
        arrowprops={"arrowstyle": "<->", "color": HIGHLIGHT_COLOR},
    )
    holes = field - len(used[0])
    hole_note = f" ({len(used[0])} used, {holes} skipped by dilation)" if holes else ""
    ax.text(
        (first + last + 1) / 2,
        -1.0,
        f"{field} inputs{hole_note}",
        ha="center",
        va="center",
        fontsize=max(fontsize, 7),
        color=HIGHLIGHT_COLOR,
    )
    title = (
        f"{depth} stacked layers with kernels {tuple(ks)}: one top output sees {field} inputs\n"
        f"→ a {field}x{field} receptive field in 2-D"
    )
    return _finish_diagram(fig, ax, created, title)


def draw_receptive_field_2d(
    kernel_sizes: Sequence[int] = (3, 3),
    input_size: int = 7,
    strides: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Draw an (input_size, input_size) input and, per layer, the patch the centre output sees."""
    n = check_int("input_size", input_size, 1)
    ks, ss, ds, jumps, fields, field = _layers(kernel_sizes, strides, dilations)
    sizes = [n]
    for layer, (k, s, d) in enumerate(zip(ks, ss, ds, strict=True), start=1):
        try:
            sizes.append(conv_output_size(sizes[-1], k, s, 0, d))
        except ValueError as exc:
            raise ValueError(
                f"input_size {n} is too small for these layers: layer {layer} gets a "
                f"{sizes[-1]}x{sizes[-1]} input (the receptive field is {field})"
            ) from exc
    centre = (sizes[-1] - 1) // 2
    used = _dependencies({centre}, ks, ss, ds)
    depth = len(ks)
    fig, ax, created, fontsize = _start_diagram(ax, (-0.3, n + 0.3 + 5.0), (-n - 0.3, 0.3))
    shades = [to_hex(c) for c in colormaps["Oranges"](np.linspace(0.65, 0.25, depth))]
    faces = _faces(n, n, INPUT_COLOR)
    handles = []
    for layer in range(depth, 0, -1):  # the largest patch first, smaller ones on top
        middle = sorted(used[layer])[len(used[layer]) // 2]
        start, size = middle * jumps[layer], fields[layer]
        faces[start : start + size, start : start + size] = shades[layer - 1]
        handles.append(
            Patch(
                facecolor=shades[layer - 1],
                edgecolor=EDGE_COLOR,
                label=f"layer {layer}: {size}x{size}",
            )
        )
    _cells(ax, 0, 0, faces)
    start = min(used[0])
    _outline(ax, start, -start, field, field)
    if len(used[0]) < field:  # dilation leaves holes: mark the inputs actually used
        points = [(c + 0.5, -r - 0.5) for r in used[0] for c in used[0]]
        ax.scatter(*zip(*points, strict=True), s=12, color=HIGHLIGHT_COLOR, zorder=3)
    ax.legend(
        handles=handles[::-1],
        loc="upper left",
        bbox_to_anchor=(n + 0.5, 0.0),
        bbox_transform=ax.transData,
        fontsize=8,
        frameon=False,
    )
    title = (
        f"{n}x{n} input, layers with kernels {tuple(ks)}\n"
        f"→ the centre output sees a {field}x{field} patch ({field}x{field} receptive field)"
    )
    return _finish_diagram(fig, ax, created, title)


def draw_transposed_conv(
    n: int = 2, k: int = 3, stride: int = 2, padding: int = 0, ax: Axes | None = None
) -> Figure | Axes:
    """Draw how a 1-D transposed convolution scatters each of ``n`` inputs into ``k`` outputs."""
    n = check_int("n", n, 1)
    k = check_int("k", k, 1)
    stride = check_int("stride", stride, 1)
    padding = check_int("padding", padding, 0)
    out = conv_transpose_output_size(n, k, stride, padding)
    full = (n - 1) * stride + k
    row_gap = 1.3
    output_top = -1.6 - n * row_gap - 0.4
    fig, ax, created, fontsize = _start_diagram(ax, (-3.2, full + 0.3), (output_top - 1.3, 0.3))
    palette = colormaps["tab10"].colors
    counts = np.zeros(full, int)
    for i in range(n):
        color = palette[i % len(palette)]
        x_in = i * stride + (k - 1) / 2
        _cells(ax, x_in, 0, _faces(1, 1, _lighten(color, 0.3)))
        ax.text(x_in + 0.5, -0.5, f"x{i}", ha="center", va="center", fontsize=fontsize)
        row_top = -1.6 - i * row_gap
        faces = _faces(1, k, _lighten(color, 0.6))
        _cells(ax, i * stride, row_top, faces)
        for j in range(k):
            ax.text(
                i * stride + j + 0.5,
                row_top - 0.5,
                f"x{i}w{j}",
                ha="center",
                va="center",
                fontsize=fontsize * 0.75,
            )
        ax.annotate(
            "",
            xy=(i * stride + k / 2, row_top),
            xytext=(x_in + 0.5, -1.0),
            arrowprops={"arrowstyle": "->", "color": color},
        )
        ax.text(-0.3, row_top - 0.5, f"x{i} · w", ha="right", va="center", fontsize=fontsize)
        counts[i * stride : i * stride + k] += 1
    cropped = np.zeros((1, full), bool)
    cropped[0, :padding] = True
    cropped[0, full - padding :] = True
    faces = _faces(1, full, OUTPUT_COLOR)
    faces[cropped] = PAD_COLOR
    _cells(ax, 0, output_top, faces, counts[None].astype(float), cropped, fontsize, gid="output")
    ax.text(-0.3, -0.5, "input", ha="right", va="center", fontsize=fontsize)
    ax.text(-0.3, output_top - 0.5, "output", ha="right", va="center", fontsize=fontsize)
    note = f"; hatched: cropped by padding {padding}" if padding else ""
    title = (
        f"transposed convolution: n={n}, k={k}, stride {stride}, padding {padding} → output {out}\n"
        f"(n-1)·s - 2p + k = ({n}-1)·{stride} - 2·{padding} + {k} = {out}\n"
        f"numbers: how many products add up in each output{note}"
    )
    return _finish_diagram(fig, ax, created, title)


def draw_dilated_conv(
    n: int = 7, k: int = 3, dilation: int = 2, ax: Axes | None = None
) -> Figure | Axes:
    """Draw an (n, n) input with the taps of a (k, k) kernel dilated by ``dilation`` marked."""
    n = check_int("n", n, 1)
    k = check_int("k", k, 1)
    dilation = check_int("dilation", dilation, 1)
    span = effective_kernel_size(k, dilation)
    if span > n:
        raise ValueError(f"n ({n}) must be at least the dilated kernel's span d(k-1)+1 = {span}")
    out = conv_output_size(n, k, 1, 0, dilation)
    fig, ax, created, fontsize = _start_diagram(ax, (-0.3, n + 0.3), (-n - 0.3, 0.3))
    start = (n - span) // 2
    taps = [start + j * dilation for j in range(k)]
    faces = _faces(n, n, INPUT_COLOR)
    faces[start : start + span, start : start + span] = "#f7f7f7"
    faces[np.ix_(taps, taps)] = KERNEL_COLOR
    _cells(ax, 0, 0, faces)
    ax.scatter(
        [c + 0.5 for c in taps for _ in taps],
        [-r - 0.5 for _ in taps for r in taps],
        s=max(6.0, fontsize**2 * 0.3),
        color=HIGHLIGHT_COLOR,
        zorder=3,
    )
    _outline(ax, start, -start, span, span, linestyle="--")
    title = (
        f"{k}x{k} kernel, dilation {dilation}: effective size {span}x{span} (d(k-1)+1)\n"
        f"{k * k} weights; on a {n}x{n} input (stride 1, no padding) → output {out}x{out}"
    )
    return _finish_diagram(fig, ax, created, title)


# --- continuous convolution ------------------------------------------------------------------

CONTINUOUS_KINDS = ("box", "gaussian")


def continuous_convolution(f_values: object, g_values: object, dx: float) -> np.ndarray:
    """Approximate (f * g)(t) = ∫ f(s) g(t - s) ds for f, g (N,) sampled on one grid -> (N,).

    The grid must be centred at 0 with an odd number N of points spaced ``dx`` apart; the
    result is sampled on the same grid.
    """
    f = check_array("f_values", f_values, 1)
    g = check_array("g_values", g_values, 1)
    if f.shape != g.shape:
        raise ValueError(
            f"f_values and g_values must have the same length, got {f.size} and {g.size}"
        )
    if f.size % 2 == 0:
        raise ValueError(
            f"f_values needs an odd number of samples (a grid centred at 0), got {f.size}"
        )
    if isinstance(dx, bool) or not isinstance(dx, numbers.Real) or not dx > 0:
        raise ValueError(f"dx must be a positive number, got {dx!r}")
    return np.convolve(f, g, mode="same") * float(dx)


def _gaussian(t: np.ndarray, variance: float) -> np.ndarray:
    return np.exp(-(t**2) / (2 * variance)) / math.sqrt(2 * math.pi * variance)


def plot_continuous_convolution(kind: str = "box", ax: Axes | None = None) -> Figure | Axes:
    """Plot f (red), g (blue) and f * g (green) on t in [-4, 4]: boxes -> a triangle, Gaussians -> a Gaussian."""
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, got {type(kind).__name__}")
    if kind.lower() not in CONTINUOUS_KINDS:
        raise ValueError(f"kind must be one of {CONTINUOUS_KINDS}, got {kind!r}")
    t, dx = np.linspace(-4.0, 4.0, 801, retstep=True)
    created = ax is None
    if created:
        fig, ax = plt.subplots(figsize=(7.0, 3.6), layout="constrained")
    else:
        _check_axes(ax)
        fig = ax.figure
    if kind.lower() == "box":
        inside = np.abs(t) < 0.5
        edge = np.isclose(np.abs(t), 0.5)
        f = inside + 0.5 * edge  # half weight on the edges keeps the area exactly 1
        g = f.copy()
        labels = ("f: box of width 1", "g: box of width 1", "f * g: a triangle of width 2")
        title = "box * box = triangle"
    else:
        var_f, var_g = 0.25, 1.0
        f, g = _gaussian(t, var_f), _gaussian(t, var_g)
        labels = (
            f"f: Gaussian, variance {var_f}",
            f"g: Gaussian, variance {var_g}",
            f"f * g: Gaussian, variance {var_f} + {var_g} = {var_f + var_g}",
        )
        title = "Gaussian * Gaussian = a wider Gaussian (the variances add)"
    result = continuous_convolution(f, g, dx)
    ax.plot(t, f, color="tab:red", linewidth=2, label=labels[0])
    ax.plot(
        t,
        g,
        color="tab:blue",
        linewidth=2,
        linestyle="--" if kind.lower() == "box" else "-",
        label=labels[1],
    )
    ax.plot(t, result, color="tab:green", linewidth=2.5, label=labels[2])
    if kind.lower() == "gaussian":
        ax.plot(
            t,
            _gaussian(t, 1.25),
            color="black",
            linewidth=1,
            linestyle=":",
            label="exact Gaussian, variance 1.25",
        )
    ax.set_xlim((-2.5, 2.5) if kind.lower() == "box" else (-4.0, 4.0))
    ax.set_xlabel("t")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title)
    return fig if created else ax


# --- volumes ---------------------------------------------------------------------------------

DEPTH_VECTOR = (0.55, 0.38)  # screen offset of one unit of depth (channels) in the sketches


def _box(ax: Axes, x: float, y: float, width: float, height: float, depth: float, color, **style):
    """Draw a box: front face with bottom-left (x, y), receding ``depth`` along DEPTH_VECTOR."""
    dx, dy = DEPTH_VECTOR[0] * depth, DEPTH_VECTOR[1] * depth
    style = {"edgecolor": EDGE_COLOR, "linewidth": 0.9, **style}
    top = [
        (x, y + height),
        (x + width, y + height),
        (x + width + dx, y + height + dy),
        (x + dx, y + height + dy),
    ]
    side = [
        (x + width, y),
        (x + width + dx, y + dy),
        (x + width + dx, y + height + dy),
        (x + width, y + height),
    ]
    ax.add_patch(Polygon(side, closed=True, facecolor=_darken(color), **style))
    ax.add_patch(Polygon(top, closed=True, facecolor=_lighten(color, 0.35), **style))
    ax.add_patch(Rectangle((x, y), width, height, facecolor=color, **style))


def _darken(color, amount: float = 0.25) -> str:
    return to_hex([(1 - amount) * channel for channel in to_rgb(color)])


def _depth_units(channels: int) -> float:
    return min(3.0, 0.25 + 0.3 * math.log2(1 + channels))


def draw_conv_volume(
    input_shape: Sequence[int] = (3, 32, 32),
    kernel_size: Pair = 5,
    num_filters: int = 1,
    stride: int = 1,
    padding: int | str = 0,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Sketch an input volume (C, H, W), one filter spanning all C channels, and the output maps."""
    if isinstance(input_shape, str) or not isinstance(input_shape, Sequence):
        raise TypeError(f"input_shape must be (C, H, W), got {type(input_shape).__name__}")
    channels, h, wd = check_ints("input_shape", input_shape, 3, 1)
    kh, kw = check_ints("kernel_size", kernel_size, 2, 1)
    num_filters = check_int("num_filters", num_filters, 1)
    stride = check_int("stride", stride, 1)
    pads = _paddings_2d(padding, (h, wd), (kh, kw), (stride, stride), (1, 1))
    out_h = _output_length(h, kh, stride, pads[0], 1, " (rows)")
    out_w = _output_length(wd, kw, stride, pads[1], 1, " (columns)")

    scale = 3.0 / max(h, wd, out_h, out_w)
    in_w, in_h, in_d = wd * scale, h * scale, _depth_units(channels)
    k_w, k_h = max(kw * scale, 0.3), max(kh * scale, 0.3)
    slab, slab_gap = 0.1, 0.08
    stacked = num_filters <= 16
    out_d = num_filters * (slab + slab_gap) if stacked else _depth_units(num_filters)
    out_x = in_w + DEPTH_VECTOR[0] * in_d + 2.0
    right = out_x + out_w * scale + DEPTH_VECTOR[0] * out_d
    top = max(in_h + DEPTH_VECTOR[1] * in_d, out_h * scale + DEPTH_VECTOR[1] * out_d)
    fig, ax, created, fontsize = _start_diagram(ax, (-0.5, right + 0.5), (-1.3, top + 0.9))
    ax.set_aspect("equal")

    _box(ax, 0, 0, in_w, in_h, in_d, "#9ecae1")
    _box(ax, 0, in_h - k_h, k_w, k_h, in_d, "#fd8d3c", alpha=0.95)
    if stacked:
        for index in range(num_filters - 1, -1, -1):  # back to front
            offset = index * (slab + slab_gap)
            _box(
                ax,
                out_x + DEPTH_VECTOR[0] * offset,
                DEPTH_VECTOR[1] * offset,
                out_w * scale,
                out_h * scale,
                slab,
                "#a1d99b",
            )
    else:
        _box(ax, out_x, 0, out_w * scale, out_h * scale, out_d, "#a1d99b")
    cell = max(scale, 0.12)
    ax.add_patch(Rectangle((out_x, out_h * scale - cell), cell, cell, facecolor=HIGHLIGHT_COLOR))
    for start, end in (
        ((k_w, in_h), (out_x, out_h * scale)),
        ((k_w, in_h - k_h), (out_x, out_h * scale - cell)),
    ):
        ax.plot(*zip(start, end, strict=True), color=HIGHLIGHT_COLOR, linestyle="--", linewidth=1)

    label = max(fontsize, 8)
    filters_note = f" (x{num_filters} filters)" if num_filters > 1 else ""
    maps = "activation maps" if num_filters > 1 else "activation map"
    ax.text(in_w / 2, -0.5, f"{h}x{wd}x{channels} input", ha="center", va="center", fontsize=label)
    ax.text(
        k_w / 2,
        top + 0.45,
        f"{kh}x{kw}x{channels} filter{filters_note}",
        ha="left",
        va="center",
        fontsize=label,
        color="#d94801",
    )
    ax.text(
        out_x + out_w * scale / 2,
        -0.5,
        f"{out_h}x{out_w}x{num_filters} {maps}",
        ha="center",
        va="center",
        fontsize=label,
    )
    title = (
        f"{h}x{wd}x{channels} ⋆ {num_filters} filter{'s' if num_filters > 1 else ''} of "
        f"{kh}x{kw}x{channels}, stride {stride}, padding {_padding_text(padding, pads)}\n"
        f"→ {out_h}x{out_w}x{num_filters}"
    )
    return _finish_diagram(fig, ax, created, title)
