"""Diagrams of 1-D and 2-D convolution, pooling, receptive fields, transposed and dilated convolution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon

from .. import reference
from ..arithmetic import (
    conv_output_size,
    conv_transpose_output_size,
    effective_kernel_size,
    pool_output_size,
    receptive_field,
    resolve_padding,
)
from ..validation import check_array, check_int, check_ints
from ._common import (
    CURRENT_OUTPUT_COLOR,
    EDGE_COLOR,
    HIGHLIGHT_COLOR,
    INPUT_COLOR,
    KERNEL_COLOR,
    MAX_GRID_WITH_VALUES,
    MAX_RECEPTIVE_FIELD_DRAWN,
    OUTPUT_COLOR,
    PAD_COLOR,
    UNVISITED_COLOR,
    WINDOW_COLOR,
    Padding,
    Pair,
    _blank,
    _cells,
    _faces,
    _finish_diagram,
    _format_value,
    _grid_2d,
    _is_int,
    _lighten,
    _outline,
    _output_length,
    _padding_text,
    _paddings_2d,
    _pair_text,
    _signal_1d,
    _signed,
    _start_diagram,
)


class _ConvGeometry(NamedTuple):
    """A checked ``draw_conv1d``/``draw_conv2d`` call: one entry per axis in every tuple."""

    x: np.ndarray | None  # the input's values; None when only its size was given
    w: np.ndarray | None  # the kernel's values; None when only its size was given
    size: tuple[int, ...]  # input length (n,) or shape (H, W)
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: list[tuple[int, int]]  # (before, after) zeros per axis
    out: tuple[int, ...]  # output length (n_out,) or shape (out_H, out_W)
    step: tuple[int, ...]  # the drawn output's position (i,) or (row, col)


def _conv_geometry(x, w, stride, padding, dilation, step, ndim: int) -> _ConvGeometry:
    """Check the arguments shared by draw_conv1d (``ndim=1``) and draw_conv2d (``ndim=2``).

    Raises ``TypeError``/``ValueError`` naming the argument; returns sizes, paddings, the output
    size and the position of output ``step`` (an int counts outputs row by row).
    """
    if ndim == 1:
        x_values, n = _signal_1d("x", x)
        w_values, k = _signal_1d("w", w)
        size, kernel = (n,), (k,)
        stride = (check_int("stride", stride, 1),)
        dilation = (check_int("dilation", dilation, 1),)
        if isinstance(padding, tuple | list):  # (before, after)
            pads = [check_ints("padding", padding, 2, 0)]
        else:
            pads = [resolve_padding(padding, n, k, stride[0], dilation[0])]
        axes = ("",)
    else:
        x_values, size = _grid_2d("x", x)
        w_values, kernel = _grid_2d("w", w)
        stride = check_ints("stride", stride, 2, 1)
        dilation = check_ints("dilation", dilation, 2, 1)
        pads = _paddings_2d(padding, size, kernel, stride, dilation)
        axes = (" (rows)", " (columns)")
    out = tuple(
        _output_length(*axis)
        for axis in zip(size, kernel, stride, pads, dilation, axes, strict=True)
    )
    if ndim == 1 or _is_int(step):
        flat = check_int("step", step, 0)
        total = int(np.prod(out))
        if flat >= total:
            where = f"the output length {total}" if ndim == 1 else f"the {total} outputs"
            raise ValueError(f"step must be smaller than {where}, got {flat}")
        position = tuple(int(i) for i in np.unravel_index(flat, out))
    else:
        position = check_ints("step", step, 2, 0)
        if any(p >= o for p, o in zip(position, out, strict=True)):
            raise ValueError(
                f"step must lie inside the {out[0]}x{out[1]} output, got {tuple(position)}"
            )
    return _ConvGeometry(
        x_values, w_values, size, kernel, stride, dilation, pads, out, tuple(position)
    )


def draw_conv1d(
    x: object,
    w: object,
    stride: int = 1,
    padding: int | str | tuple[int, int] = 0,
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
    plain lengths (ints) for a diagram without values. ``padding``: int (zeros on each side),
    a pair ``(before, after)`` (e.g. ``(0, 1)``: one zero at the right end only), "valid",
    "same" or "full". Products are written kernel weight first, ``w·x``.
    """
    geometry = _conv_geometry(x, w, stride, padding, dilation, step, ndim=1)
    x_values, w_values = geometry.x, geometry.w
    (n,), (k,) = geometry.size, geometry.kernel
    (stride,), (dilation,) = geometry.stride, geometry.dilation
    ((before, after),), (n_out,), (step,) = geometry.pads, geometry.out, geometry.step
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
            np.pad(x_values, (before, after))[None, None],
            w_values[None, None],
            stride=stride,
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
            " + ".join(f"{_signed(w_values[j])}·{_signed(xp[tap])}" for j, tap in enumerate(taps))
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
    if isinstance(padding, tuple | list) and before != after:
        padding_text = f"{before} left and {after} right"
    else:
        padding_text = _padding_text(padding, [(before, after)])
    zeros = f" + {before} + {after}" if before or after else ""
    if dilation == 1:
        numerator, dilation_text = f"{n}{zeros} - {k}", ""
    else:
        numerator, dilation_text = f"{n}{zeros} - {dilation}·({k}-1) - 1", f", d={dilation}"
    size_text = f"({numerator}) + 1" if stride == 1 else f"floor(({numerator})/{stride}) + 1"
    title = (
        f"1-D cross-correlation: n={n}, k={k}, s={stride}, "
        f"{'padding ' if 'left' in padding_text else 'p='}{padding_text}{dilation_text}"
        f" → output length {n_out}\n{size_text} = {n_out}"
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
    show_output: bool = True,
    mark_unvisited: bool = False,
) -> Figure | Axes:
    """Draw the 2-D cross-correlation of ``x`` (H, W) with ``w`` (kH, kW) at output ``step``.

    Shows the input with its padding ring (zeros hatched), the window of output ``step``
    ((row, col), or an int counting outputs row by row) with its taps, the kernel and the
    output grid. Values are written for grids up to 12x12. ``x`` may be a shape (h, w) and
    ``w`` an int or (kh, kw) for a diagram without values. ``show_output=False`` leaves out the
    output grid and its size (for a slide that asks for them); ``mark_unvisited=True`` greys
    the input rows and columns that no window reaches.
    """
    geometry = _conv_geometry(x, w, stride, padding, dilation, step, ndim=2)
    x_values, w_values = geometry.x, geometry.w
    (h, wd), (kh, kw) = geometry.size, geometry.kernel
    stride, dilation, pads = geometry.stride, geometry.dilation, geometry.pads
    (out_h, out_w), (row, col) = geometry.out, geometry.step
    with_values = show_values and x_values is not None and w_values is not None
    (top, bottom), (left, right) = pads
    hp, wp = top + h + bottom, left + wd + right
    gap = 2.0
    tallest = max(hp, kh, out_h)
    kernel_x0, output_x0 = wp + gap, wp + gap + kw + gap
    below = 1.6 if with_values and show_output else 1.0
    right_edge = output_x0 + out_w + 0.3 if show_output else kernel_x0 + kw + 0.3
    fig, ax, created, fontsize = _start_diagram(ax, (-0.3, right_edge), (-tallest - below, 0.3))

    def panel_top(rows: int) -> float:
        return -(tallest - rows) / 2

    rows_idx, cols_idx = np.ogrid[:hp, :wp]
    is_pad = (rows_idx < top) | (rows_idx >= top + h) | (cols_idx < left) | (cols_idx >= left + wd)
    faces = _faces(hp, wp, INPUT_COLOR)
    faces[is_pad] = PAD_COLOR
    tap_rows = [row * stride[0] + a * dilation[0] for a in range(kh)]
    tap_cols = [col * stride[1] + b * dilation[1] for b in range(kw)]
    unvisited = np.zeros((hp, wp), bool)
    if mark_unvisited:
        span_rows = effective_kernel_size(kh, dilation[0])
        span_cols = effective_kernel_size(kw, dilation[1])
        unvisited[(out_h - 1) * stride[0] + span_rows :, :] = True
        unvisited[:, (out_w - 1) * stride[1] + span_cols :] = True
        faces[unvisited] = UNVISITED_COLOR
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
    if with_values and show_output:
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
    if show_output:
        _cells(
            ax, output_x0, panel_top(out_h), out_faces, out_values, fontsize=fontsize, gid="output"
        )
        _outline(ax, output_x0 + col, panel_top(out_h) - row, 1, 1)

    middle = -tallest / 2
    ax.text(wp + gap / 2, middle, r"$\star$", ha="center", va="center", fontsize=fontsize * 2.2)
    if show_output:
        ax.text(
            kernel_x0 + kw + gap / 2, middle, "=", ha="center", va="center", fontsize=fontsize * 2
        )
    label_y = -tallest - 0.5
    padded_note = f" (padded {hp}x{wp})" if (hp, wp) != (h, wd) else ""
    dilation_note = f", dilation {_pair_text(dilation)}" if dilation != (1, 1) else ""
    labels = [
        (wp / 2, f"input {h}x{wd}{padded_note}"),
        (kernel_x0 + kw / 2, f"kernel {kh}x{kw}{dilation_note}"),
    ]
    if show_output:
        labels.append((output_x0 + out_w / 2, f"output {out_h}x{out_w}"))
    for x_mid, label in labels:
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
    dilation_text = f", dilation {_pair_text(dilation)}" if dilation != (1, 1) else ""
    pad_text = _padding_text(padding, pads)
    if any(pads[0] + pads[1]):
        pad_text += " (hatched zeros)"
    title = (
        f"2-D cross-correlation: input {h}x{wd}, kernel {kh}x{kw}, stride {_pair_text(stride)}, "
        f"padding {pad_text}{dilation_text}"
    )
    if show_output:
        title += f"\n→ output {out_h}x{out_w}; highlighted: output ({row}, {col})"
    else:
        title += f"\nwindow {row * out_w + col + 1}: top-left corner at ({row * stride[0]}, {col * stride[1]})"
    if mark_unvisited and unvisited.any():
        title += "\ngrey: never inside a window"
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


NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _layers_text(ks: Sequence[int], ss: Sequence[int], ds: Sequence[int], size: str) -> str:
    """Describe a stack of layers in words: "two stacked 3x3 layers, dilations 1, 2, 4"."""
    count = NUMBER_WORDS[len(ks)] if len(ks) < len(NUMBER_WORDS) else str(len(ks))
    plural = "s" if len(ks) != 1 else ""
    stacked = "stacked " if len(ks) > 1 else ""
    if len(set(ks)) == 1:
        text = f"{count} {stacked}{size.format(k=ks[0])} layer{plural}"
    else:
        text = f"{count} {stacked}layer{plural} with kernels " + ", ".join(
            size.format(k=k) for k in ks
        )
    if any(s != 1 for s in ss):
        text += ", strides " + ", ".join(str(s) for s in ss)
    if any(d != 1 for d in ds):
        text += ", dilations " + ", ".join(str(d) for d in ds)
    return text


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
        f"{_layers_text(ks, ss, ds, 'size-{k}')}: one top output sees {field} inputs\n"
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
        f"{n}x{n} input, {_layers_text(ks, ss, ds, '{k}x{k}')}\n"
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


def draw_transposed_conv2d(
    x: object,
    w: object,
    stride: int = 1,
    output_padding: int = 0,
    highlight: tuple[int, int] = (0, 0),
    ax: Axes | None = None,
) -> Figure | Axes:
    """Draw a 2-D transposed convolution of ``x`` (h, w) with ``w`` (kh, kw), no padding.

    Input, kernel and output (values written) side by side; the output block that the input
    value ``highlight`` (row, col) scatters ``x[r, c]·w`` into is outlined. ``output_padding``
    extra rows and columns at the bottom and right of the output are hatched: no input reaches
    them. The output is ((h-1)s + kh + output_padding) x ((w-1)s + kw + output_padding).
    """
    x_values = check_array("x", x, 2)
    w_values = check_array("w", w, 2)
    stride = check_int("stride", stride, 1)
    output_padding = check_int("output_padding", output_padding, 0)
    if output_padding >= stride:
        raise ValueError(
            f"output_padding ({output_padding}) must be smaller than the stride ({stride})"
        )
    h, wd = x_values.shape
    kh, kw = w_values.shape
    r0, c0 = check_ints("highlight", highlight, 2, 0)
    if r0 >= h or c0 >= wd:
        raise ValueError(f"highlight must lie inside the {h}x{wd} input, got {(r0, c0)}")
    y = reference.conv_transpose2d(
        x_values[None, None], w_values[None, None], stride=stride, output_padding=output_padding
    )[0, 0]
    out_h, out_w = y.shape
    gap = 2.0
    tallest = max(h, kh, out_h)
    kernel_x0 = wd + gap
    output_x0 = kernel_x0 + kw + gap
    fig, ax, created, fontsize = _start_diagram(
        ax, (-0.3, output_x0 + out_w + 0.3), (-tallest - 1.0, 0.3)
    )

    def panel_top(rows: int) -> float:
        return -(tallest - rows) / 2

    faces = _faces(h, wd, INPUT_COLOR)
    faces[r0, c0] = WINDOW_COLOR
    _cells(ax, 0, panel_top(h), faces, x_values, fontsize=fontsize, gid="input")
    _outline(ax, c0, panel_top(h) - r0, 1, 1)
    _cells(
        ax,
        kernel_x0,
        panel_top(kh),
        _faces(kh, kw, KERNEL_COLOR),
        w_values,
        fontsize=fontsize,
        gid="kernel",
    )
    extra = np.zeros((out_h, out_w), bool)
    if output_padding:
        extra[out_h - output_padding :, :] = True
        extra[:, out_w - output_padding :] = True
    out_faces = _faces(out_h, out_w, OUTPUT_COLOR)
    out_faces[extra] = PAD_COLOR
    out_faces[r0 * stride : r0 * stride + kh, c0 * stride : c0 * stride + kw] = CURRENT_OUTPUT_COLOR
    _cells(ax, output_x0, panel_top(out_h), out_faces, y, extra, fontsize, gid="output")
    _outline(ax, output_x0 + c0 * stride, panel_top(out_h) - r0 * stride, kw, kh)
    middle = -tallest / 2
    ax.text(wd + gap / 2, middle, "and", ha="center", va="center", fontsize=fontsize)
    ax.text(kernel_x0 + kw + gap / 2, middle, "→", ha="center", va="center", fontsize=fontsize * 2)
    for x_mid, label in (
        (wd / 2, f"input {h}x{wd}"),
        (kernel_x0 + kw / 2, f"kernel {kh}x{kw}"),
        (output_x0 + out_w / 2, f"output {out_h}x{out_w}"),
    ):
        ax.text(x_mid, -tallest - 0.5, label, ha="center", va="center", fontsize=max(fontsize, 7))
    extra_text = f" + {output_padding}" if output_padding else ""
    title = (
        f"2-D transposed convolution: input {h}x{wd}, kernel {kh}x{kw}, stride {stride}"
        f" → output {out_h}x{out_w}\n"
        f"(n-1)·s + k{' + output_padding' if output_padding else ''} = "
        f"({h}-1)·{stride} + {kh}{extra_text} = {out_h}\n"
        f"outlined: input ({r0}, {c0}) adds x·w to these outputs"
    )
    if output_padding:
        title += (
            "\nhatched: the extra row and column that output_padding adds (no input reaches it)"
        )
    return _finish_diagram(fig, ax, created, title)
