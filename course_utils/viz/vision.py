"""Pictures for Lecture 4 (CNNs for computer vision): connectivity, AlexNet's towers, results.

Every function returns the matplotlib ``Figure`` it made and never calls ``plt.show()``. Text is
at least 12 pt on figures 10 inches wide (16 px or more on a 1280x720 slide).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle
from torch import nn

from ..validation import check_array
from ._common import EDGE_COLOR, HIGHLIGHT_COLOR, INPUT_COLOR, KERNEL_COLOR, OUTPUT_COLOR

FONT = 13  # points; 10-inch figures on a 1280x720 slide: about 17 px
WIDTH = 10.0
WINDOW_COLORS = ("#e6550d", "#3182bd", "#31a354")


def show_number_grids(
    arrays: Sequence[object], titles: Sequence[str], height: float = 3.6
) -> Figure:
    """Small integer arrays (H, W) side by side, each cell shaded by its value and labelled.

    One grey scale for all arrays; a number is written in white on a dark cell, in black on a
    light one. ``height`` is the figure's height in inches (its width is the slide's).
    """
    grids = [check_array(f"arrays[{i}]", a, (2,)) for i, a in enumerate(arrays)]
    if len(titles) != len(grids):
        raise ValueError(f"titles must name the {len(grids)} arrays, got {len(titles)}")
    low = min(float(g.min()) for g in grids)
    high = max(float(g.max()) for g in grids)
    darkest = low - 0.35 * (high - low)
    fig, axes = plt.subplots(1, len(grids), figsize=(WIDTH, height), layout="constrained")
    for ax, grid, title in zip(np.atleast_1d(axes), grids, titles, strict=True):
        ax.imshow(grid, cmap="gray", vmin=darkest, vmax=high)
        for (r, c), value in np.ndenumerate(grid):
            light = high > darkest and (value - darkest) / (high - darkest) > 0.6
            color = "black" if light else "white"
            ax.text(c, r, f"{value:.0f}", ha="center", va="center", fontsize=FONT, color=color)
        ax.set_title(title, fontsize=FONT)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def _grid(ax, x0: float, y0: float, size: int, color: str) -> None:
    for r in range(size):
        for c in range(size):
            ax.add_patch(Rectangle((x0 + c, y0 - r - 1), 1, 1, fc=color, ec=EDGE_COLOR, lw=0.6))


def draw_connectivity(size: int = 6, k: int = 3) -> Figure:
    """Locally connected vs convolutional: the same windows, own weights vs one shared filter.

    Left: a ``size`` x ``size`` input, three ``k`` x ``k`` windows, each wired to its output with
    its own weights. Right: the same windows, all using one filter W. Titles give the counts.
    """
    out = size - k + 1
    windows = [(0, 0), (1, 2), (out - 1, out - 1)]
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 4.0), layout="constrained")
    panels = [
        (f"locally connected: {out * out} x {k * k} = {out * out * k * k} weights", True),
        (f"convolution: {k * k} weights, shared", False),
    ]
    for ax, (title, own) in zip(axes, panels, strict=True):
        _grid(ax, 0, size, size, INPUT_COLOR)
        x_out = size + 2.5
        top_out = size - (size - out) / 2
        _grid(ax, x_out, top_out, out, OUTPUT_COLOR)
        for i, (r, c) in enumerate(windows):
            color = WINDOW_COLORS[i] if own else KERNEL_COLOR
            edge = WINDOW_COLORS[i] if own else HIGHLIGHT_COLOR
            ax.add_patch(Rectangle((c, size - r - k), k, k, fc=color, ec=edge, lw=2, alpha=0.55))
            ax.add_patch(Rectangle((x_out + c, top_out - r - 1), 1, 1, fc=color, ec=edge, lw=2))
            start = (c + k, size - r - k / 2)
            end = (x_out + c, top_out - r - 0.5)
            ax.add_patch(
                FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=edge)
            )
            label = f"W{i + 1}" if own else "W"
            ax.text(c + k / 2, size - r - k / 2, label, ha="center", va="center", fontsize=FONT)
        ax.text(size / 2, -0.7, f"input {size} x {size}", ha="center", fontsize=FONT)
        ax.text(
            x_out + out / 2,
            top_out - out - 0.7,
            f"output {out} x {out}",
            ha="center",
            fontsize=FONT,
        )
        ax.set_title(title, fontsize=FONT)
        ax.set_xlim(-0.3, x_out + out + 0.3)
        ax.set_ylim(-1.3, size + 0.3)
        ax.set_aspect("equal")
        ax.axis("off")
    return fig


def _alexnet_layers(net: nn.Sequential) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, output shape (C, H, W) or (F,), groups) of each conv/linear layer, on meta tensors."""
    x = torch.zeros(1, 3, 227, 227, device="meta")
    rows, convs, fcs = [], 0, 0
    for layer in net.to("meta"):
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            convs += 1
            rows.append((f"conv{convs}", tuple(x.shape[1:]), layer.groups))
        elif isinstance(layer, nn.Linear):
            fcs += 1
            rows.append((f"fc{5 + fcs}", tuple(x.shape[1:]), 1))
    return rows


def draw_two_towers(net: nn.Sequential) -> Figure:
    """Krizhevsky et al.'s Figure 2, redrawn from a built AlexNet (``groups=2``): two GPUs.

    One row of boxes per GPU, each with that GPU's half of a layer. A grouped layer reads only
    its own GPU's maps (straight arrows); the others read both halves (crossing arrows).
    """
    rows = _alexnet_layers(net)
    fig, ax = plt.subplots(figsize=(WIDTH, 3.9), layout="constrained")
    xs = np.arange(len(rows) + 1) * 1.12
    ys = {0: 2.4, 1: 0.6}
    ax.text(
        xs[0],
        1.5,
        "input\n227x227\nx3",
        ha="center",
        va="center",
        fontsize=FONT - 1,
        bbox={"fc": INPUT_COLOR, "ec": EDGE_COLOR},
    )
    for i, (name, shape, groups) in enumerate(rows, start=1):
        half = shape[0] // 2
        size = f"{shape[1]}x{shape[2]}" if len(shape) == 3 else ""
        last = i == len(rows)
        for gpu in (0, 1):
            if last and gpu == 1:
                continue
            y = 1.5 if last else ys[gpu]
            text = f"{name}\n{shape[0] if last else half}" + (f"\n{size}" if size else "")
            color = OUTPUT_COLOR if name.startswith("fc") else KERNEL_COLOR
            ax.text(
                xs[i],
                y,
                text,
                ha="center",
                va="center",
                fontsize=FONT - 1,
                bbox={"fc": color, "ec": EDGE_COLOR},
            )
        sources = [1.5] if i == 1 else [ys[0], ys[1]]
        targets = [1.5] if last else [ys[0], ys[1]]
        for s, y0 in enumerate(sources):
            for t, y1 in enumerate(targets):
                crossing = len(sources) > 1 and len(targets) > 1 and s != t
                if crossing and groups > 1:
                    continue
                ax.add_patch(
                    FancyArrowPatch(
                        (xs[i - 1] + 0.42, y0),
                        (xs[i] - 0.42, y1),
                        arrowstyle="-|>",
                        mutation_scale=11,
                        color=HIGHLIGHT_COLOR if crossing else EDGE_COLOR,
                    )
                )
    ax.text(-0.55, ys[0], "GPU 1", ha="right", va="center", fontsize=FONT, fontweight="bold")
    ax.text(-0.55, ys[1], "GPU 2", ha="right", va="center", fontsize=FONT, fontweight="bold")
    ax.set_title(
        "AlexNet on two GPUs: channels per GPU; red arrows cross between them", fontsize=FONT
    )
    ax.set_xlim(-1.5, xs[-1] + 0.6)
    ax.set_ylim(-0.2, 3.3)
    ax.axis("off")
    return fig


def plot_embeddings(points: Mapping[str, object], labels: object) -> Figure:
    """2-D embeddings (N, 2) side by side, each point written as its class digit, one colour each."""
    labels = np.asarray(labels)
    fig, axes = plt.subplots(1, len(points), figsize=(WIDTH, 4.3), layout="constrained")
    colors = plt.get_cmap("tab10")
    for ax, (title, xy) in zip(np.atleast_1d(axes), points.items(), strict=True):
        xy = check_array(f"points[{title!r}]", xy, (2,))
        for digit in np.unique(labels):
            where = labels == digit
            for x, y in xy[where]:
                ax.text(
                    x,
                    y,
                    str(digit),
                    color=colors(int(digit)),
                    fontsize=11,
                    ha="center",
                    va="center",
                    fontweight="bold",
                )
        pad = 0.05 * (xy.max(0) - xy.min(0))
        ax.set_xlim(xy[:, 0].min() - pad[0], xy[:, 0].max() + pad[0])
        ax.set_ylim(xy[:, 1].min() - pad[1], xy[:, 1].max() + pad[1])
        ax.set_title(title, fontsize=FONT)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def plot_error_curves(
    panels: Mapping[str, Mapping[str, Sequence[float]]], ylabel: str, height: float = 3.9
) -> Figure:
    """One panel per entry (title -> {label -> values per epoch}), values in %, shared y axis.

    ``height`` is the figure's height in inches (its width is the slide's).
    """
    fig, axes = plt.subplots(
        1, len(panels), figsize=(WIDTH, height), layout="constrained", sharey=True
    )
    styles = ["-", "--", ":", "-."]
    for ax, (title, curves) in zip(np.atleast_1d(axes), panels.items(), strict=True):
        for (label, values), style in zip(curves.items(), styles, strict=False):
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, style, linewidth=2.5, label=label)
        ax.set_title(title, fontsize=FONT)
        ax.set_xlabel("epoch", fontsize=FONT)
        ax.tick_params(labelsize=FONT - 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT - 1)
    np.atleast_1d(axes)[0].set_ylabel(ylabel, fontsize=FONT)
    return fig


def plot_map_strengths(image: object, maps: object, title: str) -> Figure:
    """An input (H, W), its feature maps (C, h, w) on one colour scale, and each map's maximum."""
    image = check_array("image", image, (2,))
    maps = check_array("maps", maps, (3,))
    channels = maps.shape[0]
    cols = (channels + 1) // 2
    fig = plt.figure(figsize=(WIDTH, 4.4), layout="constrained")
    grid = fig.add_gridspec(
        3, cols + 2, height_ratios=[1, 1, 1.25], width_ratios=[2.2] + [1] * cols + [0.25]
    )
    ax = fig.add_subplot(grid[:2, 0])
    ax.imshow(image, cmap="gray_r")
    ax.set_title("input", fontsize=FONT)
    ax.axis("off")
    high = float(maps.max())
    for c in range(channels):
        ax = fig.add_subplot(grid[c // cols, 1 + c % cols])
        shown = ax.imshow(maps[c], cmap="viridis", vmin=0, vmax=high)
        ax.set_title(str(c), fontsize=FONT - 1, pad=2)
        ax.axis("off")
    bar = fig.colorbar(shown, cax=fig.add_subplot(grid[:2, -1]))
    bar.ax.tick_params(labelsize=FONT - 2)
    ax = fig.add_subplot(grid[2, :])
    strength = maps.reshape(channels, -1).max(1)
    top = set(np.argsort(strength)[-3:].tolist())
    colors = [HIGHLIGHT_COLOR if c in top else "#9e9e9e" for c in range(channels)]
    ax.bar(range(channels), strength, color=colors)
    ax.set_xticks(range(channels))
    ax.tick_params(labelsize=FONT - 2)
    ax.set_ylabel("max", fontsize=FONT)
    fig.suptitle(title, fontsize=FONT)
    return fig


def plot_top5(errors: Mapping[str, float]) -> Figure:
    """A bar per network (label -> ImageNet top-5 error in %), the value written on each bar."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6), layout="constrained")
    names, values = list(errors), list(errors.values())
    bars = ax.bar(names, values, color="#3182bd")
    for rect, value in zip(bars, values, strict=True):
        ax.text(
            rect.get_x() + rect.get_width() / 2,
            value + 0.3,
            f"{value:g} %",
            ha="center",
            va="bottom",
            fontsize=FONT,
        )
    ax.set_ylabel("top-5 error (%)", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    ax.set_ylim(0, max(values) * 1.2)
    ax.grid(axis="y", alpha=0.3)
    return fig
