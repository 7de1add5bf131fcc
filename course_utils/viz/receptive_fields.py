"""Pictures of how a receptive field grows (Lectures 1 and 2), with text readable on a slide.

``draw_backprojection`` follows one output of two stacked convolutions back to the input: the
block of first-layer pixels it reads, the input patch each of those reads, and their union.
``draw_dilated_growth`` draws Yu & Koltun's figure of dilated convolutions: per layer, the taps
of one unit (1, 2, 4, ... apart) over the receptive field they reach. Both take their sizes from
:mod:`course_utils.arithmetic`, so the pictures agree with the formulas.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..arithmetic import conv_output_size, receptive_field
from ..validation import check_int
from ._common import EDGE_COLOR, HIGHLIGHT_COLOR, INPUT_COLOR, KERNEL_COLOR, OUTPUT_COLOR

FONTSIZE = 14.0
TITLE_FONTSIZE = 15.0
FIELD_COLOR = "#a1d99b"
PATCH_COLORS = plt.get_cmap("tab10").colors


def _grid(ax, size: int, faces: np.ndarray | None = None) -> None:
    """Draw a size x size grid, cell (r, c) at x = c, y = -r (top-left at the origin)."""
    for r in range(size):
        for c in range(size):
            face = INPUT_COLOR if faces is None else faces[r][c]
            ax.add_patch(Rectangle((c, -r - 1), 1, 1, facecolor=face, edgecolor=EDGE_COLOR, lw=0.8))
    ax.set_xlim(-0.4, size + 0.4)
    ax.set_ylim(-size - 0.4, 0.4)
    ax.set_aspect("equal")
    ax.set_axis_off()


def draw_backprojection(input_size: int = 7, kernel_size: int = 3) -> Figure:
    """Follow the centre output of two stacked ``kernel_size`` convolutions back to the input.

    Left: the first layer's map, with the k x k block of pixels the output reads. Right: the
    input, with the k x k patch each of those pixels reads (one colour each, drawn slightly
    inset so the overlaps show) and, in every input pixel, how many of the patches contain it;
    the union is the receptive field, 2k - 1 wide. Raises ``ValueError`` when the input is too
    small for two layers.
    """
    n = check_int("input_size", input_size, 1)
    k = check_int("kernel_size", kernel_size, 1)
    middle = conv_output_size(n, k)  # raises when the kernel does not fit
    if conv_output_size(middle, k) < 1:
        raise ValueError(f"input_size {n} is too small for two {k}x{k} layers")
    field = receptive_field([k, k])
    out_centre = (conv_output_size(middle, k) - 1) // 2
    block = range(out_centre, out_centre + k)  # layer-1 pixels the output reads
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9.5, 4.6), gridspec_kw={"width_ratios": [middle, n]}
    )
    faces = [[OUTPUT_COLOR] * middle for _ in range(middle)]
    for r in block:
        for c in block:
            faces[r][c] = KERNEL_COLOR
    _grid(left, middle, faces)
    for index, (r, c) in enumerate((r, c) for r in block for c in block):
        color = PATCH_COLORS[index % len(PATCH_COLORS)]
        left.add_patch(
            Rectangle((c + 0.12, -r - 0.88), 0.76, 0.76, fill=False, edgecolor=color, lw=2.5)
        )
    left.set_title(
        f"layer 1 ({middle}×{middle}):\nthe {k}×{k} pixels one output reads",
        fontsize=TITLE_FONTSIZE,
    )
    counts = np.zeros((n, n), dtype=int)
    for r in block:
        for c in block:
            counts[r : r + k, c : c + k] += 1
    faces = [[FIELD_COLOR if counts[r, c] else INPUT_COLOR for c in range(n)] for r in range(n)]
    _grid(right, n, faces)
    for index, (r, c) in enumerate((r, c) for r in block for c in block):
        inset = 0.06 + 0.035 * index
        color = PATCH_COLORS[index % len(PATCH_COLORS)]
        right.add_patch(
            Rectangle(
                (c + inset, -r - k + inset),
                k - 2 * inset,
                k - 2 * inset,
                fill=False,
                edgecolor=color,
                lw=2.0,
            )
        )
    for r in range(n):
        for c in range(n):
            if counts[r, c]:
                right.text(
                    c + 0.5,
                    -r - 0.5,
                    str(counts[r, c]),
                    ha="center",
                    va="center",
                    fontsize=FONTSIZE,
                    fontweight="bold",
                )
    start = int(np.argmax(counts.any(axis=1)))
    right.add_patch(
        Rectangle((start, -start - field), field, field, fill=False, edgecolor="black", lw=3.5)
    )
    right.set_title(
        f"input ({n}×{n}): their {k * k} patches of {k}×{k}\n"
        f"cover {field}×{field} (number: patches per pixel)",
        fontsize=TITLE_FONTSIZE,
    )
    fig.tight_layout()
    return fig


def draw_dilated_growth(kernel_size: int = 3, dilations: Sequence[int] = (1, 2, 4)) -> Figure:
    """Yu & Koltun's Figure 1: per layer, one unit's taps (``dilations[l]`` apart) and its field.

    Panel l shows the input grid, the receptive field of one unit after l + 1 layers (shaded)
    and the k x k taps of layer l + 1, dilation apart, over the previous layer's field (dots).
    The field's side is ``receptive_field([k] * (l + 1), dilations[: l + 1])``.
    """
    k = check_int("kernel_size", kernel_size, 1)
    if isinstance(dilations, (str, bytes)) or not isinstance(dilations, Sequence) or not dilations:
        raise ValueError(f"dilations must be a non-empty sequence of ints, got {dilations!r}")
    rates = [check_int("dilation", d, 1) for d in dilations]
    fields = [receptive_field([k] * (i + 1), dilations=rates[: i + 1]) for i in range(len(rates))]
    size = fields[-1] + 2
    centre = size // 2
    fig, axes = plt.subplots(1, len(rates), figsize=(3.4 * len(rates), 4.2))
    axes = np.atleast_1d(axes)
    for layer, (ax, rate, field) in enumerate(zip(axes, rates, fields, strict=True)):
        half = field // 2
        faces = [
            [
                FIELD_COLOR if abs(r - centre) <= half and abs(c - centre) <= half else INPUT_COLOR
                for c in range(size)
            ]
            for r in range(size)
        ]
        _grid(ax, size, faces)
        taps = [centre + rate * (i - (k - 1) // 2) for i in range(k)]
        points = [(c + 0.5, -r - 0.5) for r in taps for c in taps]
        ax.scatter(*zip(*points, strict=True), s=60, color=HIGHLIGHT_COLOR, zorder=3)
        ax.set_title(
            f"layer {layer + 1}: taps {rate} apart\nfield {field}×{field}", fontsize=TITLE_FONTSIZE
        )
    fig.tight_layout()
    return fig
