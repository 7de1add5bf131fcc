"""Pictures for Lecture 5 (modern convolutional architectures), readable on a 1280x720 slide.

Every function returns the matplotlib ``Figure`` it made; text is at least 12 pt on a figure
10 inches wide. The numbers drawn come from the caller (counted on built networks or quoted
from a paper), never from this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from ._common import EDGE_COLOR, HIGHLIGHT_COLOR, INPUT_COLOR, KERNEL_COLOR, OUTPUT_COLOR

FONT = 12  # points: 16 px at 1280x720 for a 10-inch-wide figure
WIDE = 10.0  # inches, a full-width slide figure

__all__ = [
    "draw_depthwise_pointwise",
    "draw_stages",
    "plot_error_vs_cost",
    "plot_loss_slices",
    "plot_training_curves",
    "show_attention_map",
    "show_shifted_responses",
]


def _arrow(ax, start, end, color=EDGE_COLOR, width=1.2, style="-|>"):
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, lw=width)
    )


def _slabs(ax, x, y0, count, color, height=0.8, width=0.9, gap=0.25, labels=None):
    """Draw ``count`` channel slabs stacked vertically from ``y0``; return their centres."""
    centres = []
    for index in range(count):
        y = y0 + index * (height + gap)
        ax.add_patch(Rectangle((x, y), width, height, facecolor=color, edgecolor=EDGE_COLOR))
        if labels is not None:
            ax.text(
                x + width / 2,
                y + height / 2,
                labels[index],
                ha="center",
                va="center",
                fontsize=FONT,
            )
        centres.append((x + width / 2, y + height / 2))
    return centres


def draw_depthwise_pointwise(channels: int = 3, out_channels: int = 4) -> Figure:
    """Side by side: a depth-wise convolution (channel c -> channel c, its own k x k filter)
    and a point-wise one (every output channel is a weighted sum of all input channels)."""
    if channels < 1 or out_channels < 1:
        raise ValueError("channels and out_channels must be positive")
    fig, axes = plt.subplots(1, 2, figsize=(WIDE, 4.0), layout="constrained")
    rows = max(channels, out_channels)
    for ax, title in zip(
        axes, ("depth-wise: groups = C", "point-wise: 1 x 1, all channels"), strict=True
    ):
        ax.set_xlim(-0.3, 5.3)
        ax.set_ylim(-0.6, rows * 1.05 + 0.2)
        ax.axis("off")
        ax.set_title(title, fontsize=FONT + 1)
    left = _slabs(axes[0], 0, 0, channels, INPUT_COLOR, labels=[f"in {c}" for c in range(channels)])
    right = _slabs(
        axes[0], 4, 0, channels, OUTPUT_COLOR, labels=[f"out {c}" for c in range(channels)]
    )
    for c, ((x0, y0), (x1, y1)) in enumerate(zip(left, right, strict=True)):
        axes[0].add_patch(
            Rectangle((1.9, y0 - 0.3), 0.6, 0.6, facecolor=KERNEL_COLOR, edgecolor=EDGE_COLOR)
        )
        axes[0].text(2.2, y0, f"k{c}", ha="center", va="center", fontsize=FONT - 1)
        _arrow(axes[0], (x0 + 0.45, y0), (1.9, y0))
        _arrow(axes[0], (2.5, y0), (x1 - 0.45, y1))
    left = _slabs(axes[1], 0, 0, channels, INPUT_COLOR, labels=[f"in {c}" for c in range(channels)])
    right = _slabs(
        axes[1], 4, 0, out_channels, OUTPUT_COLOR, labels=[f"out {c}" for c in range(out_channels)]
    )
    for index, (x1, y1) in enumerate(right):
        color = HIGHLIGHT_COLOR if index == 0 else "#999999"
        for x0, y0 in left:
            _arrow(axes[1], (x0 + 0.45, y0), (x1 - 0.45, y1), color=color, width=1.0, style="-")
    axes[0].text(2.5, -0.45, "space mixed, channels kept apart", ha="center", fontsize=FONT)
    axes[1].text(2.5, -0.45, "channels mixed, one position at a time", ha="center", fontsize=FONT)
    return fig


def draw_stages(
    stages: Sequence[tuple[str, str]],
    title: str = "",
    branches: Mapping[int, str] | None = None,
    colors: Sequence[str] | None = None,
) -> Figure:
    """A left-to-right chain of boxes (``(name, detail)`` per stage); ``branches`` maps a stage's
    index to the label of a side output drawn below it (an auxiliary classifier, say)."""
    if not stages:
        raise ValueError("stages must not be empty")
    branches = dict(branches or {})
    n = len(stages)
    fig, ax = plt.subplots(figsize=(WIDE, 3.6 if branches else 2.6), layout="constrained")
    width, gap = 1.0, 0.35
    bottom = -1.9 if branches else -0.2
    ax.set_xlim(-0.1, n * (width + gap))
    ax.set_ylim(bottom, 1.6)
    ax.axis("off")
    for index, (name, detail) in enumerate(stages):
        x = index * (width + gap)
        color = colors[index] if colors else KERNEL_COLOR
        ax.add_patch(Rectangle((x, 0), width, 1.2, facecolor=color, edgecolor=EDGE_COLOR))
        ax.text(x + width / 2, 0.85, name, ha="center", va="center", fontsize=FONT, weight="bold")
        ax.text(x + width / 2, 0.35, detail, ha="center", va="center", fontsize=FONT - 1)
        if index + 1 < n:
            _arrow(ax, (x + width, 0.6), (x + width + gap, 0.6))
        if index in branches:
            ax.add_patch(
                Rectangle((x, -1.75), width, 0.9, facecolor="#fcbba1", edgecolor=HIGHLIGHT_COLOR)
            )
            ax.text(
                x + width / 2, -1.3, branches[index], ha="center", va="center", fontsize=FONT - 1
            )
            _arrow(ax, (x + width / 2, 0), (x + width / 2, -0.85), color=HIGHLIGHT_COLOR)
    if title:
        ax.set_title(title, fontsize=FONT + 1)
    return fig


def plot_error_vs_cost(
    families: Mapping[str, Sequence[tuple[str, float, float, float]]],
    title: str = "",
    height: float = 4.2,
) -> Figure:
    """Two panels, error against parameters (millions) and against multiply-adds (billions).

    ``families`` maps a family name to its members ``(name, params_M, gmacs, error_percent)``;
    each family is one line, each member one labelled point; ``height`` in inches.
    """
    fig, axes = plt.subplots(1, 2, figsize=(WIDE, height), layout="constrained", sharey=True)
    for (family, members), marker in zip(families.items(), "os^D", strict=False):
        members = list(members)
        params = [m[1] for m in members]
        macs = [m[2] for m in members]
        errors = [m[3] for m in members]
        for ax, xs in zip(axes, (params, macs), strict=True):
            ax.plot(xs, errors, marker=marker, markersize=8, linewidth=2, label=family)
            for (name, *_), x, e in zip(members, xs, errors, strict=True):
                ax.annotate(
                    name.split("-")[-1],
                    (x, e),
                    textcoords="offset points",
                    xytext=(6, 4),
                    fontsize=FONT - 1,
                )
    axes[0].set_xlabel("parameters (millions)", fontsize=FONT)
    axes[1].set_xlabel("multiply-adds per image (billions)", fontsize=FONT)
    axes[0].set_ylabel("top-1 error (%)", fontsize=FONT)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=FONT)
    axes[0].legend(fontsize=FONT)
    if title:
        fig.suptitle(title, fontsize=FONT + 1)
    return fig


def plot_training_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "step",
    ylabel: str = "training loss",
    title: str = "",
    smooth: int = 1,
    height: float = 4.0,
) -> Figure:
    """One line per label (values per step), running mean over ``smooth`` values, large text.

    ``height`` is the figure's height in inches (its width is the slide's).
    """
    if smooth < 1:
        raise ValueError("smooth must be at least 1")
    fig, ax = plt.subplots(figsize=(WIDE, height), layout="constrained")
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
        ax.plot(np.arange(len(values)) + smooth, values, linewidth=2, label=label)
    ax.set_xlabel(xlabel, fontsize=FONT)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT)
    if title:
        ax.set_title(title, fontsize=FONT + 1)
    return fig


def show_attention_map(image: np.ndarray, weights: np.ndarray, title: str = "") -> Figure:
    """An input image beside its spatial-attention weights (same size), with a colour bar."""
    image, weights = np.asarray(image, dtype=float), np.asarray(weights, dtype=float)
    if image.shape != weights.shape or image.ndim != 2:
        raise ValueError(
            f"image and weights must be equal 2-D shapes, got {image.shape}, {weights.shape}"
        )
    fig, axes = plt.subplots(1, 2, figsize=(WIDE, 4.2), layout="constrained")
    axes[0].imshow(image, cmap="gray")  # as every digit of the course: white strokes on black
    axes[0].set_title("input", fontsize=FONT + 1)
    shown = axes[1].imshow(weights, cmap="viridis", vmin=0, vmax=1)
    axes[1].set_title("attention weight per position", fontsize=FONT + 1)
    bar = fig.colorbar(shown, ax=axes[1])
    bar.ax.tick_params(labelsize=FONT)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=FONT + 1)
    return fig


def plot_loss_slices(
    slices: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str = "step along a random filter-normalized direction",
    ylabel: str = "training loss",
    height: float = 3.6,
) -> Figure:
    """One line per label: (steps (S,), losses (S,)) through the trained weights, at step 0.

    The loss axis is logarithmic, so that a flat basin and a steep one can be read together.
    """
    if not slices:
        raise ValueError("slices must hold at least one (steps, losses) pair")
    fig, ax = plt.subplots(figsize=(WIDE, height), layout="constrained")
    for label, (steps, losses) in slices.items():
        steps, losses = np.asarray(steps, dtype=float), np.asarray(losses, dtype=float)
        if steps.shape != losses.shape or steps.ndim != 1:
            raise ValueError(f"{label}: steps and losses must be equal 1-D shapes")
        ax.plot(steps, losses, linewidth=2, marker="o", markersize=4, label=label)
    ax.axvline(0, color="0.5", linewidth=1, linestyle="--")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel, fontsize=FONT)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.tick_params(labelsize=FONT, which="both")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=FONT)
    return fig


def show_shifted_responses(
    image: np.ndarray, shifted: np.ndarray, response: np.ndarray, shifted_response: np.ndarray
) -> Figure:
    """A digit and its shifted copy (H, W), and a filter's responses to each (h, w), one scale.

    The two responses share a diverging colour scale, with a colour bar; each title gives the
    response's maximum over all positions.
    """
    images = [np.asarray(a, dtype=float) for a in (image, shifted, response, shifted_response)]
    if any(a.ndim != 2 for a in images) or images[0].shape != images[1].shape:
        raise ValueError("image and shifted must be equal 2-D shapes, the responses 2-D")
    if images[2].shape != images[3].shape:
        raise ValueError("the two responses must have the same shape")
    fig, axes = plt.subplots(1, 4, figsize=(WIDE, 3.3), layout="constrained")
    for ax, array, title in zip(axes[:2], images[:2], ("digit", "shifted"), strict=True):
        ax.imshow(array, cmap="gray")
        ax.set_title(title, fontsize=FONT + 1)
    limit = max(float(np.abs(a).max()) for a in images[2:]) or 1.0
    for ax, array, title in zip(axes[2:], images[2:], ("response", "its response"), strict=True):
        shown = ax.imshow(array, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{title}\nmax {array.max():.2f}", fontsize=FONT + 1)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(shown, ax=axes[2:], shrink=0.8)
    bar.ax.tick_params(labelsize=FONT)
    return fig
