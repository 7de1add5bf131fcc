"""Images, kernels and feature maps: panels and grids of arrays."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .. import filters
from ..validation import check_array, check_int
from ._common import (
    DIVERGING_CMAP,
    MAX_KERNEL_WITH_VALUES,
    PANEL_INCHES,
    _check_axes,
    _format_value,
)


def _display_image(name: str, image: object) -> tuple[np.ndarray, bool]:
    """Return ``(array, is_rgb)``: (H, W) or (H, W, 3); (C, H, W) with C = 1 or 3 is transposed."""
    array = check_array(name, image, (2, 3))
    if array.ndim == 3:
        if array.shape[-1] in (3, 4):
            pass
        elif array.shape[0] in (1, 3):
            array = np.moveaxis(array, 0, -1)
        elif array.shape[-1] != 1:
            raise ValueError(
                f"{name} must be (H, W), (H, W, 3) or (C, H, W) with C = 1 or 3, "
                f"got shape {array.shape}"
            )
        if array.shape[-1] == 1:
            array = array[..., 0]
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    return array, array.ndim == 3


def _unit_range(array: np.ndarray) -> np.ndarray:
    """Leave an array in [0, 1] alone; stretch any other range to [0, 1] (for RGB display)."""
    low, high = array.min(), array.max()
    if low >= 0.0 and high <= 1.0:
        return array
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def _panel_style(array: np.ndarray, rgb: bool, cmap: str, symmetric: bool, limit=None) -> dict:
    """imshow keywords: RGB in [0, 1]; ``symmetric`` maps use a diverging map centred at 0."""
    if rgb:
        return {}
    if symmetric:
        limit = float(np.abs(array).max()) if limit is None else limit
        limit = limit if limit > 0 else 1.0
        return {"cmap": DIVERGING_CMAP if cmap == "gray" else cmap, "vmin": -limit, "vmax": limit}
    return {"cmap": cmap}


def _draw_panel(ax: Axes, array: np.ndarray, style: dict, title: str | None) -> None:
    small = max(array.shape[:2]) <= 64
    shown = _unit_range(array) if array.ndim == 3 else array
    ax.imshow(shown, interpolation="nearest" if small else "antialiased", **style)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def _image_grid(panels, titles, ncols: int, suptitle: str | None, panel_inches=PANEL_INCHES):
    """Lay ``panels`` (a list of ``(array, imshow keywords)``) out in rows of ``ncols``."""
    count = len(panels)
    ncols = min(check_int("ncols", ncols, 1), count)
    nrows = math.ceil(count / ncols)
    if titles is not None:
        if isinstance(titles, str) or not isinstance(titles, Sequence):
            raise TypeError(f"titles must be a list of str, got {type(titles).__name__}")
        if len(titles) != count:
            raise ValueError(f"titles must have one entry per panel ({count}), got {len(titles)}")
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(ncols * panel_inches, nrows * panel_inches + (0.4 if suptitle else 0.0)),
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for index, ax in enumerate(flat):
        if index >= count:
            ax.set_axis_off()
            continue
        array, style = panels[index]
        _draw_panel(ax, array, style, None if titles is None else str(titles[index]))
    if suptitle:
        fig.suptitle(suptitle)
    return fig, flat[:count]


def show_image(
    img: object,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "gray",
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = False,
) -> Figure | Axes:
    """Show one image: (H, W), (H, W, 3) or (C, H, W) with C = 1 or 3 (numpy or torch)."""
    array, rgb = _display_image("img", img)
    created = ax is None
    if created:
        height, width = array.shape[:2]
        scale = 5.0 / max(height, width)
        fig, ax = plt.subplots(figsize=(max(2.5, width * scale), max(2.5, height * scale) + 0.3))
    else:
        _check_axes(ax)
        fig = ax.figure
    style = {} if rgb else {"cmap": cmap, "vmin": vmin, "vmax": vmax}
    _draw_panel(ax, array, style, title)
    ax.set_axis_off()
    if colorbar and not rgb:
        fig.colorbar(ax.images[-1], ax=ax, fraction=0.046, pad=0.04)
    return fig if created else ax


def _grid_panels(name: str, arrays: object) -> list[tuple[np.ndarray, bool]]:
    """(N, H, W), (N, C, H, W) with C = 1 or 3, or a list of images -> [(array, is_rgb)]."""
    if isinstance(arrays, (list, tuple)):
        panels = [_display_image(f"{name}[{i}]", a) for i, a in enumerate(arrays)]
    else:
        stack = check_array(name, arrays, (3, 4))
        if stack.ndim == 4:
            if stack.shape[1] not in (1, 3):
                raise ValueError(
                    f"{name} must be (N, H, W) or (N, C, H, W) with C = 1 or 3, got shape "
                    f"{stack.shape}; use show_feature_maps or show_kernels for many channels"
                )
            panels = [_display_image(f"{name}[{i}]", a) for i, a in enumerate(stack)]
        else:
            panels = [(a, False) for a in stack]
    if not panels:
        raise ValueError(f"{name} must hold at least one image")
    return panels


def show_grid(
    arrays: object,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    symmetric: bool = False,
    suptitle: str | None = None,
    *,
    shared_scale: bool = False,
) -> Figure:
    """Show 2-D maps in a grid: (N, H, W), (N, C, H, W) with C = 1 or 3, or a list of images.

    ``symmetric=True`` centres a diverging colormap at 0 (for kernels and gradients);
    ``shared_scale=True`` gives every panel the same colour range.
    """
    panels = _grid_panels("arrays", arrays)
    gray = [a for a, rgb in panels if not rgb]
    low = min((a.min() for a in gray), default=0.0)
    high = max((a.max() for a in gray), default=1.0)
    limit = max(abs(low), abs(high)) if shared_scale else None
    styled = []
    for array, rgb in panels:
        style = _panel_style(array, rgb, cmap, symmetric, limit)
        if shared_scale and not symmetric and not rgb:
            style.update(vmin=low, vmax=high)
        styled.append((array, style))
    fig, _ = _image_grid(styled, titles, ncols, suptitle)
    return fig


def _write_kernel_values(ax: Axes, kernel: np.ndarray, limit: float) -> None:
    rows, cols = kernel.shape
    fontsize = 9 if max(rows, cols) <= 3 else 7
    for r in range(rows):
        for c in range(cols):
            value = kernel[r, c]
            dark = abs(value) > 0.6 * limit  # white text on the saturated ends of the colormap
            ax.text(
                c,
                r,
                _format_value(value),
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if dark else "black",
            )


def _unit_range_always(array: np.ndarray) -> np.ndarray:
    """Stretch any array to [0, 1] (a constant one becomes 0.5)."""
    low, high = array.min(), array.max()
    return (array - low) / (high - low) if high > low else np.full_like(array, 0.5)


def show_kernels(
    w: object, ncols: int = 8, title: str | None = None, *, max_panels: int = 64
) -> Figure:
    """Show conv weights (C_out, C_in, kH, kW): one panel per (out, in) pair, or per filter if C_in = 3.

    Filters with 3 input channels are shown as RGB images (each rescaled to [0, 1]); otherwise
    a diverging colormap is centred at 0 and values are written in kernels up to 5x5. (kH, kW)
    and (C_out, kH, kW) arrays are accepted too. At most ``max_panels`` panels are drawn.
    """
    weights = check_array("w", w, (2, 3, 4))
    if weights.ndim == 2:
        weights = weights[None, None]
    elif weights.ndim == 3:
        weights = weights[:, None]
    max_panels = check_int("max_panels", max_panels, 1)
    out_channels, in_channels, kh, kw = weights.shape
    if in_channels == 3:
        arrays = [np.moveaxis(weights[o], 0, -1) for o in range(out_channels)]
        titles = [f"filter {o}" for o in range(out_channels)]
        styles = [{} for _ in arrays]
        arrays = [_unit_range_always(a) for a in arrays]
    else:
        pairs = [(o, i) for o in range(out_channels) for i in range(in_channels)]
        arrays = [weights[o, i] for o, i in pairs]
        titles = [f"w[{o}, {i}]" if in_channels > 1 else f"filter {o}" for o, i in pairs]
        styles = [_panel_style(a, False, "gray", True) for a in arrays]
    total = len(arrays)
    heading = title
    if total > max_panels:
        note = f"first {max_panels} of {total} kernels"
        heading = f"{title} ({note})" if title else note
    count = min(total, max_panels)
    panels = list(zip(arrays[:count], styles[:count], strict=True))
    fig, axes = _image_grid(panels, titles[:count], ncols, heading, panel_inches=1.3)
    if in_channels != 3 and max(kh, kw) <= MAX_KERNEL_WITH_VALUES:
        for ax, (array, style) in zip(axes, panels, strict=True):
            _write_kernel_values(ax, array, style["vmax"])
    return fig


def show_feature_maps(
    maps: object,
    ncols: int = 8,
    title: str | None = None,
    *,
    cmap: str = "viridis",
    max_panels: int = 64,
) -> Figure:
    """Show activation maps (C, H, W) or (1, C, H, W), one panel per channel."""
    array = check_array("maps", maps, (3, 4))
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ValueError(
                f"maps must be (C, H, W) or (1, C, H, W), got a batch of {array.shape[0]}; "
                "pass maps[0] to show the first image's maps"
            )
        array = array[0]
    max_panels = check_int("max_panels", max_panels, 1)
    count = min(array.shape[0], max_panels)
    heading = title
    if array.shape[0] > max_panels:
        note = f"first {max_panels} of {array.shape[0]} maps"
        heading = f"{title} ({note})" if title else note
    panels = [(array[c], {"cmap": cmap}) for c in range(count)]
    fig, _ = _image_grid(panels, [f"map {c}" for c in range(count)], ncols, heading)
    return fig


def _filter_style(result: np.ndarray, spec, rgb: bool, low: float, high: float):
    """Display a filtered image: brightness-preserving kernels on the input's range, others around 0."""
    if isinstance(spec, str) and filters.normalize_filter_name(spec) == filters.GRADIENT_MAGNITUDE:
        limit = float(np.percentile(result, 99.5)) or 1.0
        shown = np.clip(result / limit, 0, 1) if rgb else result
        return shown, ({} if rgb else {"cmap": "gray", "vmin": 0.0, "vmax": limit}), ""
    kernel = filters.get_kernel(spec) if isinstance(spec, str) else np.asarray(spec, float)
    if abs(kernel.sum() - 1.0) < 1e-6:  # identity, blurs, sharpen: same brightness
        shown = np.clip(result, low, high)
        if rgb:
            return _unit_range(shown), {}, ""
        return shown, {"cmap": "gray", "vmin": low, "vmax": high}, ""
    limit = float(np.percentile(np.abs(result), 99.5)) or 1.0
    if rgb:
        return np.clip(0.5 + result / (2 * limit), 0, 1), {}, " (grey = 0)"
    return result, {"cmap": "gray", "vmin": -limit, "vmax": limit}, " (grey = 0)"


def plot_filter_bank(
    image: object,
    kernels: Mapping[str, object] | Sequence[str] | None = None,
    *,
    ncols: int = 4,
) -> Figure:
    """Show ``image`` (H, W) or (H, W, 3) and its "same" cross-correlation with each named kernel.

    ``kernels`` maps titles to (kH, kW) arrays or to names from ``filters.CLASSIC_KERNELS``
    (``"gradient magnitude"`` too); a list of names or None (all classic filters) also works.
    """
    array, rgb = _display_image("image", image)
    if kernels is None:
        kernels = {name: name for name in filters.FILTER_NAMES}
    elif isinstance(kernels, Sequence) and not isinstance(kernels, str):
        kernels = {str(name): name for name in kernels}
    elif not isinstance(kernels, Mapping):
        raise TypeError(
            f"kernels must be a dict of name -> kernel or a list of names, got {type(kernels).__name__}"
        )
    if not kernels:
        raise ValueError("kernels must name at least one kernel")
    low, high = float(array.min()), float(array.max())
    original_style = {} if rgb else {"cmap": "gray", "vmin": low, "vmax": high}
    panels, titles = [(array, original_style)], ["original"]
    for name, spec in kernels.items():
        if not isinstance(spec, str):
            spec = check_array(f"kernels[{name!r}]", spec, 2)
        result = filters.apply_filter(array, spec)
        shown, style, note = _filter_style(result, spec, rgb, low, high)
        panels.append((shown, style))
        titles.append(f"{name}{note}")
    height, width = array.shape[:2]
    panel = min(3.0, 12.0 / min(ncols, len(panels))) * max(0.6, min(1.0, height / width))
    fig, _ = _image_grid(panels, titles, ncols, None, panel_inches=panel)
    return fig
