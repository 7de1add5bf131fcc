"""Pictures for the architecture lectures: normalization cubes and block diagrams of networks."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from torch import nn

from ..validation import check_int
from ._common import (
    EDGE_COLOR,
    HIGHLIGHT_COLOR,
    INPUT_COLOR,
    KERNEL_COLOR,
    OUTPUT_COLOR,
    WINDOW_COLOR,
)

NORMALIZATIONS = ("batch", "layer", "instance", "group")


def normalization_mask(kind: str, shape: tuple[int, int, int], groups: int = 2) -> np.ndarray:
    """Boolean (N, C, H*W) mask of the values that share one mean and variance with value [0, 0, 0].

    ``kind`` is "batch" (all samples, one channel), "layer" (one sample, all channels),
    "instance" (one sample, one channel) or "group" (one sample, the first of ``groups``
    channel groups).
    """
    if kind not in NORMALIZATIONS:
        raise ValueError(f"kind must be one of {NORMALIZATIONS}, got {kind!r}")
    n, c, hw = shape
    if kind == "group" and (groups < 1 or c % groups):
        raise ValueError(f"groups must divide the {c} channels, got {groups}")
    mask = np.zeros(shape, dtype=bool)
    if kind == "batch":
        mask[:, 0] = True
    elif kind == "layer":
        mask[0] = True
    elif kind == "instance":
        mask[0, 0] = True
    else:
        mask[0, : c // groups] = True
    return mask


def draw_normalization_cubes(
    shape: tuple[int, int, int] = (3, 4, 3),
    groups: int = 2,
    figsize: tuple[float, float] = (10, 3),
    columns: int = 4,
) -> Figure:
    """Wu and He's figure: four (N, C, H*W) cubes, the values normalized together in colour.

    One panel per kind of :data:`NORMALIZATIONS`, ``columns`` panels a row (4: one row, 2: a
    2 x 2 grid); N runs to the right, C into the page, H*W up.
    """
    if columns not in (1, 2, 4):
        raise ValueError(f"columns must be 1, 2 or 4, got {columns!r}")
    rows = len(NORMALIZATIONS) // columns
    fig = plt.figure(figsize=figsize)
    for index, kind in enumerate(NORMALIZATIONS):
        ax = fig.add_subplot(rows, columns, index + 1, projection="3d")
        mask = normalization_mask(kind, shape, groups)
        filled = np.ones(shape, dtype=bool)
        facecolors = np.empty(shape, dtype=object)
        facecolors[...] = INPUT_COLOR
        facecolors[mask] = HIGHLIGHT_COLOR
        ax.voxels(filled, facecolors=facecolors, edgecolor="0.3", linewidth=0.3)
        ax.set_xlabel("N", labelpad=-12)
        ax.set_ylabel("C", labelpad=-12)
        ax.set_zlabel("H, W", labelpad=-12)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        ax.set_box_aspect(shape)
        ax.view_init(elev=20, azim=-60)
        title = f"{kind} norm" + (f" ({groups} groups)" if kind == "group" else "")
        ax.set_title(title.capitalize())
    return fig


# ------------------------------------------------------------------ block diagrams
#
# Every block diagram is a list of boxes and arrows in inches (one axes covering the figure),
# drawn by :func:`_draw_graph`. The boxes' texts are read from the torch modules a lecture
# builds (:func:`_layer_text`), so a picture cannot disagree with the network it shows.

BOX_FONTSIZE = 10.5
DIAGRAM_TITLE_FONTSIZE = 13
TITLE_MARGIN = 0.55  # inches above the drawing for the figure title
LAYER_COLORS = {
    "weights": KERNEL_COLOR,  # convolutions and linear layers
    "norm": OUTPUT_COLOR,
    "activation": "#f2f0f7",
    "pool": WINDOW_COLOR,
    "data": INPUT_COLOR,
    "join": "#fee0d2",  # +, concatenation, scaling
}


class _Box(NamedTuple):
    """A box of a block diagram: centre (x, y) and size in inches, its text and colour."""

    x: float
    y: float
    text: str
    color: str = LAYER_COLORS["data"]
    width: float = 1.1
    height: float = 0.5


class _Arrow(NamedTuple):
    """An arrow from box ``start`` to box ``end``; ``bar`` > 0 routes it ``bar`` inches above."""

    start: str
    end: str
    color: str = EDGE_COLOR
    bend: float = 0.0  # curvature (matplotlib's arc3 rad); 0 = straight
    bar: float = 0.0


def _diagram_canvas(width: float, height: float, title: str) -> tuple[Figure, Axes]:
    """A ``width`` x ``height`` inch figure, one axes in inch units under a ``title``."""
    fig = plt.figure(figsize=(width, height + TITLE_MARGIN))
    ax = fig.add_axes((0.0, 0.0, 1.0, height / (height + TITLE_MARGIN)))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    fig.suptitle(
        title, fontsize=DIAGRAM_TITLE_FONTSIZE, y=1 - 0.12 / (height + TITLE_MARGIN), va="top"
    )
    return fig, ax


def _draw_graph(
    ax: Axes,
    boxes: dict[str, _Box],
    arrows: Sequence[_Arrow],
    notes: Sequence[tuple[float, float, str]] = (),
) -> None:
    """Draw rounded boxes, arrows between their edges, and free notes (x, y, text) in italics.

    Each box's text carries the box's name as its gid, for tests and for finding it again.
    """
    patches = {}
    for name, box in boxes.items():
        patch = FancyBboxPatch(
            (box.x - box.width / 2, box.y - box.height / 2),
            box.width,
            box.height,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=box.color,
            edgecolor=EDGE_COLOR,
            linewidth=1.0,
        )
        ax.add_patch(patch)
        patches[name] = patch
        label = ax.text(box.x, box.y, box.text, ha="center", va="center", fontsize=BOX_FONTSIZE)
        label.set_gid(name)
    for arrow in arrows:
        if arrow.start not in boxes or arrow.end not in boxes:
            raise ValueError(f"arrow {arrow.start!r} -> {arrow.end!r} joins an unknown box")
        start, end = boxes[arrow.start], boxes[arrow.end]
        x_start, x_end = start.x, end.x
        if not arrow.bar and abs(end.x - start.x) <= max(start.width, end.width) / 2:
            x_start = x_end = end.x if start.width > end.width else start.x  # straight up
        style = f"arc3,rad={arrow.bend}"
        if arrow.bar:  # up, across and down: a shortcut over the boxes in between
            style = f"bar,fraction={-arrow.bar / max(abs(end.x - start.x), 1e-6)}"
        ax.annotate(
            "",
            xy=(x_end, end.y),
            xytext=(x_start, start.y),
            arrowprops={
                "arrowstyle": "-|>",
                "color": arrow.color,
                "linewidth": 1.2,
                "shrinkA": 1,
                "shrinkB": 1,
                "patchA": patches[arrow.start],
                "patchB": patches[arrow.end],
                "connectionstyle": style,
            },
        )
    for x, y, text in notes:
        ax.text(x, y, text, ha="center", va="center", fontsize=BOX_FONTSIZE - 1, style="italic")


def _chain(names: Sequence[str]) -> list[_Arrow]:
    """Arrows from each box of ``names`` to the next."""
    return [_Arrow(start, end) for start, end in pairwise(names)]


def _layer_text(layer: nn.Module, channels: int | None = None) -> tuple[str, str] | None:
    """``(text, kind)`` naming one torch layer for a box, or None for a container.

    ``channels`` (what flows in) labels layers that keep the channel count, such as pooling.
    """
    if isinstance(layer, nn.Conv2d):
        kh, kw = layer.kernel_size
        size = f"{kh}x{kw}" + (f"/{layer.stride[0]}" if max(layer.stride) > 1 else "")
        c_in, c_out, groups = layer.in_channels, layer.out_channels, layer.groups
        if groups > 1 and groups == c_in == c_out:
            return f"{size} depthwise\nconv, {c_in}", "weights"
        grouped = f", {groups} groups" if groups > 1 else ""
        return f"{size} conv\n{c_in}→{c_out}{grouped}", "weights"
    if isinstance(layer, nn.Linear):
        return f"FC\n{layer.in_features}→{layer.out_features}", "weights"
    if isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)):
        return "BN", "norm"
    if isinstance(layer, nn.LayerNorm):
        return "LN", "norm"
    if isinstance(layer, nn.GroupNorm):
        return "GN", "norm"
    activations = {nn.ReLU: "ReLU", nn.GELU: "GELU", nn.Sigmoid: "sigmoid"}
    for kind, name in activations.items():
        if isinstance(layer, kind):
            return name, "activation"
    flowing = f"\n{channels}" if channels is not None else ""
    if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
        k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
        kind = "max" if isinstance(layer, nn.MaxPool2d) else "avg"
        return f"{k}x{k} {kind} pool{flowing}", "pool"
    if isinstance(layer, (nn.AdaptiveAvgPool2d,)):
        return f"global avg pool{flowing}", "pool"
    if isinstance(layer, (nn.Sequential, nn.Identity)):
        return None
    return type(layer).__name__, "weights"


def _layer_boxes(
    layers: Sequence[nn.Module], channels: int, group: bool
) -> tuple[list[tuple[str, str]], int]:
    """Texts and kinds of the boxes for ``layers``, and the channels that leave them.

    With ``group`` a weight layer and the norms and activations after it share one box, their
    names on its last line ("1x1 conv\\n96→24\\nBN, ReLU"), as in Liu et al.'s Figure 4.
    """
    boxes: list[tuple[str, str]] = []
    for layer in layers:
        described = _layer_text(layer, channels)
        if described is None:
            continue
        channels = getattr(layer, "out_channels", getattr(layer, "out_features", channels))
        text, kind = described
        if group and boxes and kind in ("norm", "activation") and boxes[-1][1] == "weights":
            previous = boxes[-1][0]
            joiner = ", " if previous.count("\n") >= 2 else "\n"
            boxes[-1] = (previous + joiner + text, "weights")
        else:
            boxes.append((text, kind))
    return boxes, channels


def _check_module(name: str, value: object, needs: Sequence[str], what: str) -> None:
    if not isinstance(value, nn.Module) or not all(hasattr(value, part) for part in needs):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")


def _first_in_channels(module: nn.Module) -> int:
    """The channels a module's first convolution, linear or norm layer expects."""
    for layer in module.modules():
        for attribute in ("in_channels", "in_features", "num_features"):
            if isinstance(getattr(layer, attribute, None), int):
                return getattr(layer, attribute)
    raise ValueError(f"cannot tell the input channels of {type(module).__name__}")


def draw_inception_modules(
    modules: nn.Module | Sequence[nn.Module], titles: Sequence[str] | None = None
) -> Figure:
    """Szegedy et al.'s Figure 2: inception modules side by side, boxes read from the modules.

    Each panel shows one :class:`~course_utils.models.Inception` module on (N, C, H, W): its four
    branches (1x1; 3x3; 5x5; max pool, each with its 1x1 reduction when it has one) and the
    concatenation of their channels. Default panel titles: "naive" or "with 1x1 bottlenecks".
    """
    modules = [modules] if isinstance(modules, nn.Module) else list(modules)
    if not 1 <= len(modules) <= 3:
        raise ValueError(f"modules must hold 1 to 3 inception modules, got {len(modules)}")
    branch_names = ("branch1", "branch3", "branch5", "branch_pool")
    for index, module in enumerate(modules):
        _check_module(f"modules[{index}]", module, branch_names, "an Inception module")
    if titles is not None and len(titles) != len(modules):
        raise ValueError(f"titles must name the {len(modules)} modules, got {len(titles)}")
    panel_width, height = 10.0 / len(modules), 3.9
    fig, ax = _diagram_canvas(10.0, height, "Inception module: four branches, outputs concatenated")
    for index, module in enumerate(modules):
        c_in = _first_in_channels(module.branch1)
        branches = [_layer_boxes(getattr(module, n), c_in, group=True) for n in branch_names]
        rows = max(len(boxes) for boxes, _ in branches)
        left = index * panel_width
        bottleneck = sum(isinstance(m, nn.Conv2d) for m in module.branch3.modules()) > 1
        title = titles[index] if titles else ("with 1x1 bottlenecks" if bottleneck else "naive")
        ax.text(left + panel_width / 2, height - 0.15, title, ha="center", va="top", fontsize=11)
        row_y = np.linspace(0.4, height - 0.6, rows + 2)
        boxes = {
            f"{index}-input": _Box(
                left + panel_width / 2,
                row_y[0],
                f"input: {c_in} channels",
                width=panel_width - 0.3,
                height=0.4,
            )
        }
        out = [channels for _, channels in branches]
        boxes[f"{index}-concat"] = _Box(
            left + panel_width / 2,
            row_y[-1],
            "concatenate: " + " + ".join(map(str, out)) + f" = {sum(out)}",
            LAYER_COLORS["join"],
            width=panel_width - 0.3,
            height=0.4,
        )
        arrows = []
        for b, (branch, _) in enumerate(branches):
            x = left + panel_width * (b + 0.5) / 4
            names = []
            for r, (text, kind) in enumerate(branch):
                name = f"{index}-{b}-{r}"
                y = row_y[rows - len(branch) + r + 1]  # branches end on the same row
                boxes[name] = _Box(x, y, text, LAYER_COLORS[kind], width=panel_width / 4 - 0.12)
                names.append(name)
            path = [f"{index}-input", *names, f"{index}-concat"]
            arrows += _chain(path)
        _draw_graph(ax, boxes, arrows)
    return fig


def _row(
    prefix: str, items: Sequence[tuple[str, str]], y: float, spacing: float, height: float = 0.62
) -> dict[str, _Box]:
    """Boxes ``prefix-0``, ``prefix-1``, ... for (text, kind) ``items``, left to right at height y."""
    width = min(spacing - 0.15, 1.35)
    return {
        f"{prefix}-{i}": _Box(spacing * (i + 0.5), y, text, LAYER_COLORS[kind], width, height)
        for i, (text, kind) in enumerate(items)
    }


def draw_residual_blocks(
    blocks: dict[str, nn.Module], group: bool = True, title: str | None = None
) -> Figure:
    """He et al.'s residual unit, one row per block: its layers, the shortcut, the sum.

    Each value of ``blocks`` is a residual block on (N, C, H, W) with a ``residual_function``
    (:class:`~course_utils.models.ResidualUnit`, :class:`~course_utils.models.ModernizedBlock`);
    the key is the row's name. With ``group`` a convolution shares its box with the norms and
    activations after it (as in Liu et al.'s Figure 4); without, each layer has its own box.
    """
    if not isinstance(blocks, dict) or not 1 <= len(blocks) <= 3:
        raise ValueError("blocks must be a dict of 1 to 3 named residual blocks")
    rows = []
    for name, block in blocks.items():
        _check_module(f"blocks[{name!r}]", block, ["residual_function"], "a residual block")
        c_in = _first_in_channels(block.residual_function)
        items, c_out = _layer_boxes(block.residual_function, c_in, group)
        residual = getattr(block, "residual", True)
        shortcut = getattr(block, "shortcut", None)
        identity = shortcut is None or isinstance(shortcut, nn.Identity)
        after = [getattr(block, n, None) for n in ("relu", "final_activation")]
        after = [
            text
            for m in after
            if isinstance(m, nn.Module)
            for text in _layer_boxes([m], c_out, group)[0]
        ]
        items = [(f"x\n{c_in} channels", "data"), *items]
        plus = len(items) if residual else None  # where the "+" box goes
        items += [("+", "join")] if residual else []
        items += [*after, (f"output\n{c_out} channels", "data")]
        rows.append((name, items, plus, "identity x" if identity else "projection of x"))
    spacing = 10.0 / max(len(items) for _, items, _, _ in rows)
    row_height = {1: 1.6, 2: 1.75}.get(len(rows), 1.3)  # inches per row
    height = row_height * len(rows)
    default = "Residual unit: the layers learn F(x), the shortcut adds x back"
    fig, ax = _diagram_canvas(10.0, height, title or default)
    for r, (name, items, plus, shortcut_text) in enumerate(rows):
        y = height - row_height * (r + 0.62)
        boxes = _row(str(r), items, y, spacing)
        arrows = _chain(list(boxes))
        notes = []
        if plus is not None:
            arrows.append(_Arrow(f"{r}-0", f"{r}-{plus}", HIGHLIGHT_COLOR, bar=0.55))
            notes.append((spacing * (plus / 2 + 0.5), y + 0.72, shortcut_text))
            if len(rows) < 3:  # three rows leave no room under the boxes
                notes.append((spacing * (plus / 2 + 0.5), y - 0.5, "F(x)"))
        if len(rows) > 1:
            ax.text(0.05, y + 0.8, name, ha="left", va="center", fontsize=11, fontweight="bold")
        _draw_graph(ax, boxes, arrows, notes)
    return fig


def draw_dense_block(block: nn.Sequential, transition: nn.Module | None = None) -> Figure:
    """Huang et al.'s Figure 1: a dense block, every layer fed by all earlier feature maps.

    ``block`` is a :func:`~course_utils.models.dense_block` (N, k0, H, W) -> (N, k0 + L k, H, W);
    each box says how many channels its layer sees (k0 + (l - 1) k) and adds (the growth rate
    k). An optional ``transition`` (:func:`~course_utils.models.transition`) follows the block.
    """
    if not isinstance(block, nn.Sequential) or len(block) == 0:
        raise TypeError(
            f"block must be a non-empty dense block (nn.Sequential), got {type(block).__name__}"
        )
    items = []
    channels = None
    for index, layer in enumerate(block):
        _check_module(f"block[{index}]", layer, ["new_features"], "a DenseLayer")
        seen = _first_in_channels(layer.new_features)
        if channels is not None and seen != channels:
            raise ValueError(
                f"block[{index}] sees {seen} channels, the layers before give {channels}"
            )
        growth = _layer_boxes(layer.new_features, seen, group=False)[1]
        items.append((f"layer {index + 1}\nsees {seen}\nadds {growth}", "weights"))
        channels = seen + growth
    k0 = _first_in_channels(block[0].new_features)
    layers = len(block)
    if transition is not None:
        _check_module("transition", transition, ["forward"], "a transition layer")
        if _first_in_channels(transition) != channels:
            raise ValueError(
                f"transition expects {_first_in_channels(transition)} channels, the block gives {channels}"
            )
        pooled = _layer_boxes(transition, channels, group=False)[1]
        items.append((f"transition\n{channels}→{pooled} ch.\nH, W halved", "pool"))
    items = [(f"input\nk0 = {k0}", "data"), *items]
    spacing = 10.0 / len(items)
    height = 3.0
    title = (
        f"Dense block: {layers} layers, growth rate k = {growth}; layer l sees k0 + (l-1)k channels, "
        f"{layers * (layers + 1) // 2} connections"
    )
    fig, ax = _diagram_canvas(10.0, height, title)
    boxes = _row("n", items, height / 2, spacing, height=0.75)
    colors = plt.get_cmap("tab10")
    arrows = []
    for source in range(len(items) - 1):
        for target in range(source + 1, len(items)):
            span = target - source
            bend = 0.0 if span == 1 else (0.28 if source % 2 else -0.28)
            arrows.append(_Arrow(f"n-{source}", f"n-{target}", colors(source % 10), bend))
    _draw_graph(ax, boxes, arrows)
    return fig


def draw_se_block(block: nn.Module, height: int, width: int) -> Figure:
    """Hu et al.'s Figure 1: squeeze (global pool), excite (FC, ReLU, FC, sigmoid), scale.

    ``block`` is a :class:`~course_utils.models.SqueezeExcitation` on (N, C, H, W); under each
    arrow, the shape it carries: (C, H, W) -> (C,) -> (C/r,) -> (C,), with the numbers for an
    ``height`` x ``width`` map.
    """
    _check_module("block", block, ["excitation"], "a SqueezeExcitation block")
    height, width = check_int("height", height, 1), check_int("width", width, 1)
    channels = _first_in_channels(block.excitation)
    hidden = next(m.out_features for m in block.excitation if isinstance(m, nn.Linear))
    full = f"(C, H, W)\n({channels}, {height}, {width})"
    shapes, size = [full, f"(C,)\n({channels},)"], channels
    for layer in block.excitation:
        size = getattr(layer, "out_features", size)
        shapes.append(f"(C,)\n({size},)" if size == channels else f"(C/r,)\n({size},)")
    shapes[-1] = shapes[-1].replace("(C,)", "s: (C,)")
    shapes.append(full)
    items = [
        ("input x", "data"),
        ("global\navg pool", "pool"),
        *_layer_boxes(block.excitation, channels, group=False)[0],
        ("scale\nx · s", "join"),
        ("output", "data"),
    ]
    spacing, y = 10.0 / len(items), 0.95
    title = (
        f"Squeeze-and-Excitation block: C = {channels}, r = {channels / hidden:g}, "
        f"on a {height} x {width} map"
    )
    fig, ax = _diagram_canvas(10.0, 2.2, title)
    boxes = _row("se", items, y, spacing)
    scale = f"se-{len(items) - 2}"
    arrows = [*_chain(list(boxes)), _Arrow("se-0", scale, HIGHLIGHT_COLOR, bar=0.55)]
    notes = [(spacing * (i + 1), y - 0.62, text) for i, text in enumerate(shapes)]
    notes.append((spacing * (len(items) - 1) / 2, y + 0.72, "x, unchanged"))
    _draw_graph(ax, boxes, arrows, notes)
    return fig
