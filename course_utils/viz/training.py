"""Pictures of training: curves over steps or epochs, and a statistic per layer of a deep stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._common import TITLE_FONTSIZE, _check_axes

CURVE_FIGSIZE = (8.5, 3.0)


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes, bool]:
    """``(figure, axes, created)``: a new constrained figure of ``figsize``, or ``ax``'s own."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax, True
    _check_axes(ax)
    return ax.figure, ax, False


def _check_curves(name: str, curves: object) -> dict[str, np.ndarray]:
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError(f"{name} must be a non-empty dict of label -> sequence of numbers")
    checked = {}
    for label, values in curves.items():
        array = np.asarray(values, dtype=float)
        if array.ndim != 1 or array.size == 0:
            raise ValueError(f"{name}[{label!r}] must be a non-empty 1-D sequence of numbers")
        checked[str(label)] = array
    return checked


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or values.size < window:
        return values
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
    logy: bool = False,
    smooth: int = 1,
    x: Mapping[str, Sequence[float]] | None = None,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Draw one line per label of ``curves`` (label -> values (T,)), e.g. losses per step.

    ``smooth`` > 1 draws a running mean over that many values; ``x`` (label -> positions (T,))
    places the values, e.g. at the number of examples seen; ``logy`` uses a log scale.
    """
    checked = _check_curves("curves", curves)
    if not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"smooth must be a positive int, got {smooth!r}")
    fig, ax, created = _figure_and_axes(ax, CURVE_FIGSIZE)
    for label, values in checked.items():
        shown = _smooth(values, smooth)
        if x is not None and label in x:
            positions = np.asarray(x[label], dtype=float)[len(values) - len(shown) :]
        else:
            positions = np.arange(len(values) - len(shown), len(values)) + 1
        marker = "o" if len(shown) < 5 else None  # a run of a few steps stays visible
        ax.plot(positions, shown, label=label, linewidth=1.5, marker=marker)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    if title:
        ax.set_title(title, fontsize=TITLE_FONTSIZE)
    return fig if created else ax


def plot_per_layer(
    values: Mapping[str, Sequence[float]],
    *,
    ylabel: str = "variance",
    title: str | None = None,
    logy: bool = True,
    reference: float | None = 1.0,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Draw a statistic per layer (label -> values (L,), layer 1 first), markers on a log scale.

    ``reference`` draws a dashed horizontal line (the value a healthy stack keeps), or nothing.
    """
    checked = _check_curves("values", values)
    fig, ax, created = _figure_and_axes(ax, CURVE_FIGSIZE)
    for label, series in checked.items():
        ax.plot(np.arange(1, series.size + 1), series, marker="o", markersize=3, label=label)
    if reference is not None:
        ax.axhline(reference, color="gray", linestyle="--", linewidth=1)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    if title:
        ax.set_title(title, fontsize=TITLE_FONTSIZE)
    return fig if created else ax


PATH_FONT = 14  # points; a 10-inch figure on a 1280x720 slide: about 17 px
PATH_FIGSIZE = (10.0, 3.6)


def plot_descent_paths(
    hessian: object,
    paths: Mapping[str, Sequence[Sequence[float]]],
    *,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure | Axes:
    """Draw the contours of ``0.5 w^T H w`` (``hessian`` H: 2x2) and one path (T, 2) per label.

    Each path is a line with a dot per step, from a square at its start; the minimum (0, 0) is a
    star. Text is ``PATH_FONT`` points, readable on a slide at full width.
    """
    h = np.asarray(hessian, dtype=float)
    if h.shape != (2, 2):
        raise ValueError(f"hessian must be 2x2, got shape {h.shape}")
    if not isinstance(paths, Mapping) or not paths:
        raise TypeError("paths must be a non-empty dict of label -> (T, 2) positions")
    checked = {}
    for label, path in paths.items():
        array = np.asarray(path, dtype=float)
        if array.ndim != 2 or array.shape[1] != 2 or len(array) < 2:
            raise ValueError(f"paths[{label!r}] must have shape (T, 2) with T >= 2")
        checked[str(label)] = array
    fig, ax, created = _figure_and_axes(ax, PATH_FIGSIZE)
    points = np.concatenate([*checked.values(), np.zeros((1, 2))])  # the minimum too
    low, high = points.min(axis=0), points.max(axis=0)
    margin = 0.15 * np.maximum(high - low, 1e-9)
    xs = np.linspace(low[0] - margin[0], high[0] + margin[0], 200)
    ys = np.linspace(low[1] - margin[1], high[1] + margin[1], 200)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx, gy], axis=-1)
    loss = 0.5 * np.einsum("...i,ij,...j->...", grid, h, grid)
    ax.contour(gx, gy, loss, levels=12, colors="#bbbbbb", linewidths=0.8)
    for label, array in checked.items():
        (line,) = ax.plot(array[:, 0], array[:, 1], marker="o", markersize=4, label=label)
        ax.plot(*array[0], marker="s", markersize=8, color=line.get_color())
    ax.plot(0, 0, marker="*", markersize=14, color="black", linestyle="none", label="minimum")
    ax.set_xlabel("$w_1$ (flat direction)", fontsize=PATH_FONT)
    ax.set_ylabel("$w_2$ (steep)", fontsize=PATH_FONT)
    ax.tick_params(labelsize=PATH_FONT)
    ax.legend(fontsize=PATH_FONT, loc="upper right")
    if title:
        ax.set_title(title, fontsize=PATH_FONT)
    return fig if created else ax
