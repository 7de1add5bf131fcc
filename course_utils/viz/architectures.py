"""Pictures for the architecture lectures: which values a normalization layer pools together."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ._common import HIGHLIGHT_COLOR, INPUT_COLOR

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
    shape: tuple[int, int, int] = (3, 4, 3), groups: int = 2, figsize: tuple[float, float] = (10, 3)
) -> Figure:
    """Wu and He's figure: four (N, C, H*W) cubes, the values normalized together in colour.

    One panel per kind of :data:`NORMALIZATIONS`; N runs to the right, C into the page, H*W up.
    """
    fig = plt.figure(figsize=figsize)
    for index, kind in enumerate(NORMALIZATIONS):
        ax = fig.add_subplot(1, len(NORMALIZATIONS), index + 1, projection="3d")
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
