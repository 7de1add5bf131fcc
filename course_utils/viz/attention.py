"""Attention weights as a heat map: how much each query looks at each key, the number in each cell.

The weights come from the caller (a softmax over the keys, computed in the notebook), never
from this module. Text is at least ``FONT`` points on a figure at most ``WIDTH`` inches wide:
16 px or more on a 1280x720 slide.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..validation import check_array

FONT = 14  # points; a 10-inch figure on a 1280x720 slide: about 17 px
WIDTH = 10.0  # inches, a full-width slide figure
CELL = 0.75  # inches per cell of the heat map

__all__ = ["show_attention_weights"]


def show_attention_weights(
    weights: object,
    queries: Sequence[str],
    keys: Sequence[str] | None = None,
    *,
    title: str = "",
) -> Figure:
    """A heat map of attention weights (Nq, Nk), one row per query, with a colour bar.

    ``weights[i, j]`` is the weight of key ``j`` for query ``i``, between 0 and 1; each row sums
    to 1 (a softmax over the keys). ``queries`` names the Nq rows, ``keys`` the Nk columns (the
    queries' names when omitted: self-attention). Each cell shows its weight to two decimals; one
    colour scale, 0 to 1, for every cell.
    """
    grid = check_array("weights", weights, (2,))
    rows, cols = grid.shape
    keys = list(queries if keys is None else keys)
    if len(queries) != rows or len(keys) != cols:
        raise ValueError(
            f"weights is {rows} x {cols}: it needs {rows} query names and {cols} key names, "
            f"got {len(queries)} and {len(keys)}"
        )
    if grid.min() < 0 or grid.max() > 1 or not np.allclose(grid.sum(axis=1), 1):
        raise ValueError("each row of weights must be a softmax: values in [0, 1], sum 1")
    size = (min(WIDTH, 3.4 + CELL * cols), 1.4 + CELL * rows)
    fig, ax = plt.subplots(figsize=size, layout="constrained")
    shown = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1)
    for (r, c), value in np.ndenumerate(grid):
        ax.text(
            c,
            r,
            f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=FONT,
            color="black" if value > 0.6 else "white",
        )
    ax.set_xticks(range(cols), keys, fontsize=FONT, rotation=20, ha="right")
    ax.set_yticks(range(rows), queries, fontsize=FONT)
    ax.set_xlabel("key", fontsize=FONT)
    ax.set_ylabel("query", fontsize=FONT)
    bar = fig.colorbar(shown, ax=ax, fraction=0.05)
    bar.set_label("weight", fontsize=FONT)
    bar.ax.tick_params(labelsize=FONT)
    if title:
        ax.set_title(title, fontsize=FONT)
    return fig
