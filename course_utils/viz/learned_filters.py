"""What a learned first-layer filter responds to (Lecture 1): probe it with oriented edges and bars.

``oriented_stimuli`` draws small test images: bright bars at four orientations and edges (dark
to bright) in eight directions. ``probe_filters`` runs every filter over every stimulus, as the
layer would (cross-correlation, zero padding, bias), and reads its output at the centre.
``draw_filter_probes`` shows the filters on one colour scale with a colour bar, each titled with
the stimulus it answers most, and that stimulus under it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..reference import conv2d
from ..validation import check_array, check_int
from ._common import DIVERGING_CMAP

BARS = {"bar —": 0.0, "bar /": 45.0, "bar |": 90.0, "bar \\": 135.0}
# An edge is named by the way its brightness rises, dark to bright.
EDGES = {"edge →": 0.0, "edge ↗": 45.0, "edge ↑": 90.0, "edge ↖": 135.0}
EDGES |= {"edge ←": 180.0, "edge ↙": 225.0, "edge ↓": 270.0, "edge ↘": 315.0}
FONTSIZE = 14.0


def reversed_stimulus(name: str) -> str:
    """The stimulus that undoes ``name``: the same edge the other way round, the crossing bar."""
    if name in EDGES:
        angle = (EDGES[name] + 180.0) % 360.0
        return next(other for other, a in EDGES.items() if a == angle)
    if name in BARS:
        angle = (BARS[name] + 90.0) % 180.0
        return next(other for other, a in BARS.items() if a == angle)
    raise ValueError(f"unknown stimulus {name!r}; expected one of {[*BARS, *EDGES]}")


def oriented_stimuli(size: int = 8, width: float = 1.2) -> dict[str, np.ndarray]:
    """Bright-on-dark test images (``size`` x ``size``, values in [0, 1]), by name.

    Bars are ``width`` pixels wide through the centre; an edge is dark on one side of a line
    through the centre and bright on the other, the name's arrow pointing from dark to bright
    (up on the screen is ↑). Pixel values are anti-aliased over one pixel.
    """
    size = check_int("size", size, 3)
    if not width > 0:
        raise ValueError(f"width must be positive, got {width!r}")
    centre = (size - 1) / 2
    rows, cols = np.mgrid[0:size, 0:size]
    x, y = cols - centre, centre - rows  # y up, as on the screen
    stimuli = {}
    for name, angle in BARS.items():
        theta = np.deg2rad(angle)
        distance = np.abs(-np.sin(theta) * x + np.cos(theta) * y)  # from the bar's centre line
        stimuli[name] = np.clip(width / 2 + 0.5 - distance, 0.0, 1.0)
    for name, angle in EDGES.items():
        theta = np.deg2rad(angle)
        along = np.cos(theta) * x + np.sin(theta) * y  # towards the bright side
        stimuli[name] = np.clip(along + 0.5, 0.0, 1.0)
    return stimuli


def probe_filters(
    weights: object, bias: object, stimuli: dict[str, np.ndarray], padding: int = 0
) -> np.ndarray:
    """Each filter's response to each stimulus centred on it: an array (filters, stimuli).

    ``weights`` (F, 1, k, k) and ``bias`` (F,) are a one-channel convolution layer's. The
    response is the layer's output before its ReLU (stimulus ⋆ filter + bias) where the filter
    sits on the stimulus's centre (for an even size, the largest of the four central outputs);
    a negative response means the picture suppresses the filter.
    """
    w = check_array("weights", weights, 4)
    if w.shape[1] != 1:
        raise ValueError(f"weights must have one input channel, got shape {w.shape}")
    b = check_array("bias", bias, 1)
    if b.shape[0] != w.shape[0]:
        raise ValueError(f"bias must have one value per filter ({w.shape[0]}), got {b.shape[0]}")
    if not stimuli:
        raise ValueError("stimuli must not be empty")
    images = np.stack([np.asarray(s, dtype=float) for s in stimuli.values()])[:, None]
    maps = conv2d(images, w, b, padding=check_int("padding", padding, 0))  # (S, F, H, W)
    rows, cols = maps.shape[2:]
    centre = maps[:, :, (rows - 1) // 2 : rows // 2 + 1, (cols - 1) // 2 : cols // 2 + 1]
    return centre.max(axis=(2, 3)).T


def best_stimuli(responses: np.ndarray, names: list[str]) -> list[str]:
    """The name of each filter's strongest stimulus (a row of ``probe_filters``' result)."""
    responses = check_array("responses", responses, 2)
    if responses.shape[1] != len(names):
        raise ValueError(f"{responses.shape[1]} responses per filter but {len(names)} names")
    return [names[int(i)] for i in responses.argmax(axis=1)]


def draw_filter_probes(
    weights: object, stimuli: dict[str, np.ndarray], responses: np.ndarray, ncols: int = 8
) -> Figure:
    """Filters (top row, one colour scale and a colour bar) over their best stimulus (below).

    Each filter is titled with its number and the stimulus it answers most; ``responses`` is
    ``probe_filters``' result for ``weights`` (F, 1, k, k) and ``stimuli``.
    """
    w = check_array("weights", weights, 4)[:, 0]
    names = list(stimuli)
    best = best_stimuli(responses, names)
    count = w.shape[0]
    ncols = min(check_int("ncols", ncols, 1), count)
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(
        2 * nrows,
        ncols,
        figsize=(1.35 * ncols + 1.2, 3.3 * nrows),
        squeeze=False,
        layout="constrained",
    )
    scale = float(np.abs(w).max()) or 1.0
    image = None
    for index in range(nrows * ncols):
        top, bottom = (
            axes[2 * (index // ncols), index % ncols],
            axes[2 * (index // ncols) + 1, index % ncols],
        )
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
        if index >= count:
            top.set_axis_off()
            bottom.set_axis_off()
            continue
        image = top.imshow(w[index], cmap=DIVERGING_CMAP, vmin=-scale, vmax=scale)
        top.set_title(f"filter {index}", fontsize=FONTSIZE)
        bottom.imshow(stimuli[best[index]], cmap="gray", vmin=0, vmax=1)
        bottom.set_title(best[index], fontsize=FONTSIZE)
    bar = fig.colorbar(image, ax=axes[0::2, :].ravel().tolist(), shrink=0.9, pad=0.02)
    bar.set_label("weight", fontsize=FONTSIZE)
    bar.ax.tick_params(labelsize=FONTSIZE)
    axes[1, 0].set_ylabel("best\nstimulus", fontsize=FONTSIZE)
    return fig
