"""Pictures of training: curves over steps or epochs, and a statistic per layer of a deep stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._common import TITLE_FONTSIZE, _check_axes

CURVE_FIGSIZE = (8.5, 3.0)


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
    created = ax is None
    if created:
        fig, ax = plt.subplots(figsize=CURVE_FIGSIZE, layout="constrained")
    else:
        _check_axes(ax)
        fig = ax.figure
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
    created = ax is None
    if created:
        fig, ax = plt.subplots(figsize=CURVE_FIGSIZE, layout="constrained")
    else:
        _check_axes(ax)
        fig = ax.figure
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
