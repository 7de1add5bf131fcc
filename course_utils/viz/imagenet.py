"""ImageNet results over the years: one bar per published result, the value written on it.

The numbers come from the caller (quoted from the ILSVRC results or a paper), never from this
module. Text is at least ``FONT`` points on a figure ``WIDTH`` inches wide: 16 px or more on a
1280x720 slide.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

FONT = 14  # points; a 10-inch figure on a 1280x720 slide: about 17 px
WIDTH = 10.0  # inches, a full-width slide figure
LONG_NAME = 10  # characters; a longer model name under a bar is broken after a hyphen
GROUP_COLORS = ("#3182bd", "#9e9ac8", "#e6550d", "#31a354")

__all__ = ["plot_imagenet_by_year"]


def _check_results(results: object) -> list[tuple[int, str, float]]:
    if isinstance(results, (str, bytes)) or not isinstance(results, Sequence) or not results:
        raise TypeError("results must be a non-empty sequence of (year, model, value) tuples")
    checked = []
    for index, entry in enumerate(results):
        if not isinstance(entry, Sequence) or len(entry) != 3:
            raise ValueError(f"results[{index}] must be (year, model, value), got {entry!r}")
        year, model, value = entry
        if not isinstance(year, int) or not isinstance(model, str) or not model:
            raise TypeError(f"results[{index}]: year must be an int and model a name: {entry!r}")
        if not 0 <= float(value) <= 100:
            raise ValueError(f"results[{index}]: {value!r} is not a percentage")
        checked.append((year, model, float(value)))
    models = [model for _, model, _ in checked]
    if len(set(models)) != len(models):
        raise ValueError(f"each model may appear once, got {models}")
    return checked


def _wrapped(model: str) -> str:
    """A long name ("Trimps-Soushen") on two lines, broken after its first hyphen."""
    if len(model) <= LONG_NAME or "-" not in model:
        return model
    head, tail = model.split("-", 1)
    return f"{head}-\n{tail}"


def plot_imagenet_by_year(
    results: Sequence[tuple[int, str, float]],
    *,
    ylabel: str = "top-5 error (%)",
    groups: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
    title: str = "",
    height: float = 3.8,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """One bar per result, in the order given, labelled with its model, year and value.

    ``results``: N tuples ``(year, model, value)``, value in percent (0-100), e.g. the ILSVRC
    top-5 test error of the year's winner. ``groups`` maps a model to a group name: one colour
    per group, named in a legend above the bars (e.g. "convolutional network"). ``notes`` maps a
    model to a short line printed under its year (e.g. "152 layers"); a name longer than
    ``LONG_NAME`` characters is broken after its first hyphen. ``colors`` maps a group
    name to its colour, so that several charts can share one key; it may name groups a chart does
    not use, and groups it does not name take the first free colour of ``GROUP_COLORS``.
    ``height`` is in inches; the width is the slide's, ``WIDTH``. Returns the figure, whose one
    axes holds the N bars.
    """
    checked = _check_results(results)
    models = [model for _, model, _ in checked]
    groups, notes = dict(groups or {}), dict(notes or {})
    unknown = sorted((set(groups) | set(notes)) - set(models))
    if unknown:
        raise ValueError(f"groups and notes name models not in results: {unknown}")
    names = list(dict.fromkeys(groups.get(model, "") for model in models))
    color_of = {name: color for name, color in (colors or {}).items() if name in names}
    free = [color for color in GROUP_COLORS if color not in color_of.values()]
    unnamed = [name for name in names if name not in color_of]
    if len(unnamed) > len(free):
        raise ValueError(f"at most {len(GROUP_COLORS)} groups without a colour, got {len(unnamed)}")
    color_of |= dict(zip(unnamed, free, strict=False))
    values = np.array([value for _, _, value in checked])
    fig, ax = plt.subplots(figsize=(WIDTH, height), layout="constrained")
    positions = np.arange(len(checked))
    colors = [color_of[groups.get(model, "")] for model in models]
    bars = ax.bar(positions, values, width=0.7, color=colors)
    for rect, value in zip(bars, values, strict=True):
        ax.text(
            rect.get_x() + rect.get_width() / 2,
            value + 0.015 * values.max(),
            f"{value:g} %",
            ha="center",
            va="bottom",
            fontsize=FONT,
        )
    labels = [
        "\n".join([_wrapped(model), str(year)] + ([notes[model]] if model in notes else []))
        for year, model, _ in checked
    ]
    ax.set_xticks(positions, labels)
    ax.tick_params(labelsize=FONT)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.set_ylim(0, values.max() * 1.18)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if any(names):
        handles = [Patch(color=color_of[name], label=name) for name in names if name]
        fig.legend(handles=handles, fontsize=FONT, loc="outside upper center", ncols=len(handles))
    if title:
        ax.set_title(title, fontsize=FONT)
    return fig
