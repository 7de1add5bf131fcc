"""Classic 3x3 image filters and one function that applies them (via :func:`reference.conv2d`).

``CLASSIC_KERNELS`` maps a name to its kernel; :func:`apply_filter` takes a name (or any 2-D
kernel) and an image, grayscale or RGB, and returns the "same"-size cross-correlation.
"""

from __future__ import annotations

import numpy as np

from . import reference
from .validation import check_array

GRADIENT_MAGNITUDE = "gradient magnitude"

CLASSIC_KERNELS: dict[str, np.ndarray] = {
    "identity": np.array([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    "box blur": np.ones((3, 3)) / 9.0,
    "gaussian blur": np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0,
    "sharpen": np.array([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
    # Cross-correlation: sobel x is positive where the image gets brighter to the right.
    "sobel x": np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    "sobel y": np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]),
    "laplacian": np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]),
    "edge": np.array([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]),
}
for _kernel in CLASSIC_KERNELS.values():
    _kernel.setflags(write=False)  # shared constants: a notebook cannot change them by accident

FILTER_NAMES: tuple[str, ...] = (*CLASSIC_KERNELS, GRADIENT_MAGNITUDE)


def normalize_filter_name(name: str) -> str:
    """Return the key of ``FILTER_NAMES`` that ``name`` means ("Sobel_X" -> "sobel x")."""
    if not isinstance(name, str):
        raise TypeError(f"kernel name must be a str, got {type(name).__name__}")
    key = " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())
    if key not in FILTER_NAMES:
        raise ValueError(f"kernel: unknown filter {name!r}; choose one of {list(FILTER_NAMES)}")
    return key


def get_kernel(name: str) -> np.ndarray:
    """Return a writable copy of the (3, 3) kernel called ``name`` (case, "_" and "-" ignored)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = normalize_filter_name(name)
    if key == GRADIENT_MAGNITUDE:
        raise ValueError(
            f"name: {GRADIENT_MAGNITUDE!r} is not one kernel but sqrt(sobel_x^2 + sobel_y^2); "
            "use apply_filter(image, 'gradient magnitude')"
        )
    return CLASSIC_KERNELS[key].copy()


def _correlate_same(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Cross-correlate each channel of ``image`` (H, W) or (H, W, C) with ``kernel`` (kH, kW)."""
    if image.ndim == 2:
        return reference.conv2d(image[None, None], kernel[None, None], padding="same")[0, 0]
    channels_first = np.moveaxis(image, -1, 0)[:, None]  # (C, 1, H, W): channels as a batch
    out = reference.conv2d(channels_first, kernel[None, None], padding="same")[:, 0]
    return np.moveaxis(out, 0, -1)


def apply_filter(image: object, kernel: str | np.ndarray) -> np.ndarray:
    """Filter ``image`` (H, W) or (H, W, C) with a named or (kH, kW) kernel -> same shape, float64.

    ``kernel`` is a key of :data:`CLASSIC_KERNELS`, ``"gradient magnitude"``
    (``sqrt(sobel_x**2 + sobel_y**2)``) or a 2-D array. "Same" zero padding keeps the size;
    RGB channels are filtered independently. The result is not clipped.
    """
    image = check_array("image", image, (2, 3))
    if isinstance(kernel, str):
        key = normalize_filter_name(kernel)
        if key == GRADIENT_MAGNITUDE:
            gx = _correlate_same(image, CLASSIC_KERNELS["sobel x"])
            gy = _correlate_same(image, CLASSIC_KERNELS["sobel y"])
            return np.sqrt(gx**2 + gy**2)
        return _correlate_same(image, CLASSIC_KERNELS[key])
    return _correlate_same(image, check_array("kernel", kernel, 2))
