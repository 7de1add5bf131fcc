"""Pictures of small networks as graphs and pipelines (Lecture 3): units and their connections,
values on the units and numbers on the connections (the forward and the backward pass), units
dropped by dropout, and a network's stages as a row of boxes.

Every function returns the matplotlib ``Figure`` it made. Text is at least ``MIN_FONTSIZE``
points, readable on a 1280x720 slide at the figures' 10-inch width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.text import Text

from ._common import EDGE_COLOR, HIGHLIGHT_COLOR, INPUT_COLOR, KERNEL_COLOR, OUTPUT_COLOR

MIN_FONTSIZE = 12.0
FIGURE_WIDTH = 10.0
BACKWARD_COLOR = HIGHLIGHT_COLOR
FORWARD_COLOR = "#2b6cb0"
DROPPED_COLOR = "#d9d9d9"

Unit = tuple[int, int]  # (layer, index): layer 0 is the input


def readable(fig: Figure, minimum: float = MIN_FONTSIZE) -> Figure:
    """Raise every text of ``fig`` smaller than ``minimum`` points to ``minimum``; return ``fig``.

    Legends, tick labels, titles and annotations are all ``Text`` objects, so one pass makes a
    figure drawn by any helper readable from the back of a room.
    """
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not minimum > 0:
        raise ValueError(f"minimum must be positive, got {minimum!r}")
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < minimum:
            text.set_fontsize(minimum)
    return fig


def smallest_fontsize(fig: Figure) -> float:
    """The smallest font size (points) of any non-empty text in ``fig``."""
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_text().strip()]
    return min(sizes) if sizes else float("inf")


def _check_sizes(sizes: object) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"sizes must be a sequence of at least two layer sizes, got {sizes!r}")
    checked = []
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"every layer size must be a positive int, got {size!r}")
        checked.append(int(size))
    return checked


def _positions(sizes: list[int], height: float) -> dict[Unit, tuple[float, float]]:
    """Layers left to right at x = 0, 1, ...; the units of a layer centred vertically."""
    most = max(sizes)
    step = height / most
    return {
        (layer, index): (float(layer), (size - 1) / 2 * step - index * step)
        for layer, size in enumerate(sizes)
        for index in range(size)
    }


def draw_network(
    sizes: Sequence[int],
    *,
    node_text: Mapping[Unit, str] | None = None,
    edge_text: Mapping[tuple[int, int, int], str] | None = None,
    layer_names: Sequence[str] | None = None,
    direction: str = "forward",
    dropped: Sequence[Unit] = (),
    title: str | None = None,
    height: float = 3.2,
) -> Figure:
    """Draw a fully connected network with ``sizes[l]`` units in layer ``l`` (layer 0: the input).

    ``node_text[(l, n)]`` is written in unit ``n`` of layer ``l``; ``edge_text[(l, n, m)]`` on
    the connection from unit ``m`` of layer ``l - 1`` to unit ``n`` of layer ``l`` (the indices of
    ``W^(l)[n, m]``). ``direction="backward"`` points the arrows from the output to the input
    (messages of backpropagation) and colours them red; ``dropped`` units are greyed and crossed,
    and their connections removed (a network thinned by dropout).
    """
    sizes = _check_sizes(sizes)
    if direction not in ("forward", "backward"):
        raise ValueError(f"direction must be 'forward' or 'backward', got {direction!r}")
    node_text = dict(node_text or {})
    edge_text = dict(edge_text or {})
    dropped_units = set(dropped)
    for layer, index in dropped_units | set(node_text):
        if not (0 <= layer < len(sizes) and 0 <= index < sizes[layer]):
            raise ValueError(f"unit {(layer, index)} is not in a network of sizes {sizes}")
    for layer, n, m in edge_text:
        if not (1 <= layer < len(sizes) and 0 <= n < sizes[layer] and 0 <= m < sizes[layer - 1]):
            raise ValueError(f"connection {(layer, n, m)} is not in a network of sizes {sizes}")
    if layer_names is not None and len(layer_names) != len(sizes):
        raise ValueError(f"layer_names needs {len(sizes)} names, got {len(layer_names)}")

    where = _positions(sizes, height)
    top = max(y for _, y in where.values())
    xlim = (-0.3, len(sizes) - 1 + 0.3)
    ylim = (-top - 0.45, top + (0.85 if layer_names else 0.45))
    fig_height = height + 1.2
    fig = plt.figure(figsize=(FIGURE_WIDTH, fig_height))
    axes_top = 1 - (0.45 if title else 0.05) / fig_height
    ax = fig.add_axes((0.0, 0.0, 1.0, axes_top))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_axis_off()
    inch_x = FIGURE_WIDTH / (xlim[1] - xlim[0])  # inches per data unit
    inch_y = fig_height * axes_top / (ylim[1] - ylim[0])
    lines = max([1, *(len(str(t).splitlines()) for t in node_text.values())])
    half_w = min(0.7, 0.4 * inch_x) / inch_x  # half a unit's box, in data units
    half_h = (0.16 + 0.11 * lines) / inch_y
    color = FORWARD_COLOR if direction == "forward" else BACKWARD_COLOR
    # Connections, from the right side of a unit's box to the left side of the next layer's.
    # A label sits near the unit that sends along the connection, where the connections leaving
    # one unit fan out, so the labels of crossing connections stay apart.
    for layer in range(1, len(sizes)):
        for n in range(sizes[layer]):
            for m in range(sizes[layer - 1]):
                if (layer, n) in dropped_units or (layer - 1, m) in dropped_units:
                    continue
                (x0, y0), (x1, y1) = where[(layer - 1, m)], where[(layer, n)]
                left, right = (x0 + half_w, y0), (x1 - half_w, y1)
                start, end = (left, right) if direction == "forward" else (right, left)
                ax.add_patch(
                    FancyArrowPatch(
                        start,
                        end,
                        arrowstyle="-|>",
                        mutation_scale=14,
                        color=color,
                        linewidth=1.3,
                        shrinkA=0,
                        shrinkB=1,
                        alpha=0.75,
                    )
                )
                label = edge_text.get((layer, n, m))
                if label:
                    t = 0.25
                    ax.text(
                        start[0] + t * (end[0] - start[0]),
                        start[1] + t * (end[1] - start[1]),
                        label,
                        ha="center",
                        va="center",
                        fontsize=MIN_FONTSIZE,
                        color=color,
                        bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"},
                        zorder=2,
                    )
    for (layer, index), (x, y) in where.items():
        is_dropped = (layer, index) in dropped_units
        face = DROPPED_COLOR if is_dropped else (INPUT_COLOR if layer == 0 else OUTPUT_COLOR)
        if layer == len(sizes) - 1 and not is_dropped:
            face = KERNEL_COLOR
        ax.add_patch(
            FancyBboxPatch(
                (x - half_w, y - half_h),
                2 * half_w,
                2 * half_h,
                boxstyle="round,pad=0,rounding_size=0.03",
                facecolor=face,
                edgecolor=EDGE_COLOR,
                linewidth=1.2,
                zorder=3,
            )
        )
        if is_dropped:
            ax.plot(
                [x - half_w, x + half_w], [y - half_h, y + half_h], color=EDGE_COLOR, lw=2, zorder=4
            )
            ax.plot(
                [x - half_w, x + half_w], [y + half_h, y - half_h], color=EDGE_COLOR, lw=2, zorder=4
            )
        text = node_text.get((layer, index))
        if text:
            ax.text(x, y, text, ha="center", va="center", fontsize=MIN_FONTSIZE, zorder=5)
    if layer_names:
        for layer, name in enumerate(layer_names):
            ax.text(
                layer, top + half_h + 0.1, name, ha="center", va="bottom", fontsize=MIN_FONTSIZE + 1
            )
    if title:
        ax.set_title(title, fontsize=MIN_FONTSIZE + 2)
    return fig


def draw_pipeline(
    stages: Sequence[tuple[str, str]],
    *,
    title: str | None = None,
    per_row: int = 5,
) -> Figure:
    """Draw a network's stages as boxes joined by arrows, ``per_row`` boxes to a row.

    Each stage is ``(text, kind)``; ``kind`` is ``"data"`` (a tensor, blue), ``"layer"`` (an
    operation with weights, orange) or ``"fixed"`` (an operation without weights, green).
    """
    colors = {"data": INPUT_COLOR, "layer": KERNEL_COLOR, "fixed": OUTPUT_COLOR}
    if not isinstance(stages, Sequence) or not stages:
        raise ValueError("stages must be a non-empty sequence of (text, kind) pairs")
    for stage in stages:
        if not (isinstance(stage, tuple) and len(stage) == 2 and stage[1] in colors):
            raise ValueError(f"every stage must be (text, kind) with kind in {sorted(colors)}")
    if isinstance(per_row, bool) or not isinstance(per_row, int) or per_row < 1:
        raise ValueError(f"per_row must be a positive int, got {per_row!r}")
    rows = -(-len(stages) // per_row)
    box_w, box_h, gap_x, gap_y = 1.55, 0.95, 0.45, 0.55
    width = per_row * box_w + (per_row - 1) * gap_x
    height = rows * box_h + (rows - 1) * gap_y
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 1.25 * rows + 0.6), layout="constrained")
    ax.set_xlim(-0.05, width + 0.05)
    ax.set_ylim(-height - 0.05, 0.05)
    ax.set_axis_off()
    centres = []
    for i, (text, kind) in enumerate(stages):
        row, col = divmod(i, per_row)
        if row % 2:  # snake: odd rows run right to left
            col = per_row - 1 - col
        x = col * (box_w + gap_x)
        y = -row * (box_h + gap_y) - box_h
        ax.add_patch(
            FancyBboxPatch(
                (x, y),
                box_w,
                box_h,
                boxstyle="round,pad=0.0,rounding_size=0.08",
                facecolor=colors[kind],
                edgecolor=EDGE_COLOR,
            )
        )
        ax.text(x + box_w / 2, y + box_h / 2, text, ha="center", va="center", fontsize=MIN_FONTSIZE)
        centres.append((x, y, row))
    for (x0, y0, r0), (x1, y1, r1) in zip(centres[:-1], centres[1:], strict=True):
        if r0 == r1:
            if x1 > x0:
                start, end = (x0 + box_w, y0 + box_h / 2), (x1, y1 + box_h / 2)
            else:
                start, end = (x0, y0 + box_h / 2), (x1 + box_w, y1 + box_h / 2)
        else:
            start, end = (x0 + box_w / 2, y0), (x1 + box_w / 2, y1 + box_h)
        ax.add_patch(
            FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=EDGE_COLOR)
        )
    if title:
        ax.set_title(title, fontsize=MIN_FONTSIZE + 2)
    return fig
