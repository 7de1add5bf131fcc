"""Sketches of convolution layers as 3-D volumes of channels."""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle

from ..validation import check_int, check_ints
from ._common import (
    EDGE_COLOR,
    HIGHLIGHT_COLOR,
    Pair,
    _finish_diagram,
    _lighten,
    _output_length,
    _padding_text,
    _paddings_2d,
    _start_diagram,
)

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
