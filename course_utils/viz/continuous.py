"""Continuous convolution of two functions, computed on a grid and plotted."""

from __future__ import annotations

import math
import numbers

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..validation import check_array
from ._common import (
    _check_axes,
)

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
