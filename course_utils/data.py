"""Real data that ships inside installed packages, so nothing is ever downloaded.

Images come from scikit-image's bundled samples (only the files inside its wheel) and from
matplotlib's sample data; the handwritten digits come from scikit-learn.
"""

from __future__ import annotations

import functools
import importlib
import numbers
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from .validation import check_int

if TYPE_CHECKING:  # pragma: no cover
    from torch.utils.data import DataLoader

# name -> file inside skimage/data/ (all shipped in the scikit-image wheel, no pooch needed)
SKIMAGE_GRAY_IMAGES = {
    "camera": "camera.png",
    "brick": "brick.png",
    "coins": "coins.png",
    "moon": "moon.png",
    "text": "text.png",
    "page": "page.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "checkerboard": "chessboard_GRAY.png",
    "clock": "clock_motion.png",
}
SKIMAGE_RGB_IMAGES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
}
MATPLOTLIB_IMAGES = {"grace_hopper": "grace_hopper.jpg"}

DIGITS_SIZE = 8  # the scikit-learn digits are 8x8 ...
DIGITS_MAX_VALUE = 16.0  # ... with integer intensities 0..16


def _require(module: str, pip_name: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise ``ImportError`` saying exactly what to pip install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs the package {pip_name!r}, which is not installed; "
            f"run: pip install {pip_name}"
        ) from exc


def _skimage_data_dir() -> Path:
    skimage_data = _require("skimage.data", "scikit-image", "course_utils.data images")
    return Path(skimage_data.__file__).parent


def _image_path(name: str) -> Path:
    if name in MATPLOTLIB_IMAGES:
        cbook = _require("matplotlib.cbook", "matplotlib", f"load_image({name!r})")
        return Path(cbook.get_sample_data(MATPLOTLIB_IMAGES[name], asfileobj=False))
    files = {**SKIMAGE_GRAY_IMAGES, **SKIMAGE_RGB_IMAGES}
    return _skimage_data_dir() / files[name]


def available_images() -> list[str]:
    """Return the names :func:`load_image` accepts here (files present in the installed packages)."""
    names = []
    for name in (*SKIMAGE_GRAY_IMAGES, *SKIMAGE_RGB_IMAGES, *MATPLOTLIB_IMAGES):
        try:
            if _image_path(name).is_file():
                names.append(name)
        except ImportError:
            continue
    return names


@functools.cache
def _read_image(name: str) -> np.ndarray:
    """Read a sample image once as float64 in [0, 1] (a read-only cached array)."""
    path = _image_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"load_image: the sample file for {name!r} is missing ({path})")
    if name in MATPLOTLIB_IMAGES:
        pixels = _require("matplotlib.image", "matplotlib", "load_image").imread(path)
    else:
        pixels = _require("skimage.io", "scikit-image", "load_image").imread(path)
    pixels = np.asarray(pixels)
    if np.issubdtype(pixels.dtype, np.integer):
        image = pixels.astype(np.float64) / np.iinfo(pixels.dtype).max
    else:
        image = pixels.astype(np.float64)
    image = image[..., :3] if image.ndim == 3 else image  # drop any alpha channel
    image.setflags(write=False)
    return image


def _target_size(size: object, shape: tuple[int, ...]) -> tuple[int, int]:
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        shorter = check_int("size", size, 1)
        height, width = shape[:2]
        scale = shorter / min(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))
    if isinstance(size, Sequence) and not isinstance(size, str) and len(size) == 2:
        return check_int("size[0]", size[0], 1), check_int("size[1]", size[1], 1)
    raise TypeError(f"size must be None, an int or a pair (height, width), got {size!r}")


def load_image(
    name: str = "camera", size: int | tuple[int, int] | None = None, *, as_gray: bool = False
) -> np.ndarray:
    """Return a sample image as float64 in [0, 1]: (H, W) grayscale or (H, W, 3) RGB.

    ``size`` resizes with anti-aliasing: an int sets the shorter side and keeps the aspect ratio
    (like torchvision's ``Resize``), a pair ``(h, w)`` sets both. ``as_gray=True`` converts RGB
    images to luminance (H, W). :func:`available_images` lists the names.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    known = (*SKIMAGE_GRAY_IMAGES, *SKIMAGE_RGB_IMAGES, *MATPLOTLIB_IMAGES)
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in known:
        raise ValueError(f"name: unknown image {name!r}; available images: {available_images()}")
    image = _read_image(key)
    if as_gray and image.ndim == 3:
        color = _require("skimage.color", "scikit-image", "load_image(as_gray=True)")
        image = color.rgb2gray(image)
    if size is not None:
        height, width = _target_size(size, image.shape)
        transform = _require("skimage.transform", "scikit-image", "load_image(size=...)")
        image = transform.resize(image, (height, width, *image.shape[2:]), anti_aliasing=True)
    return np.clip(image, 0.0, 1.0)  # also makes a fresh, writable copy of the cached pixels


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    datasets = _require("sklearn.datasets", "scikit-learn", "load_digits")
    digits = datasets.load_digits()
    images = (digits.images / DIGITS_MAX_VALUE).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits(as_tensors: bool = False, device: Any = None) -> tuple[Any, Any]:
    """Return scikit-learn's 1797 digits: images (N, 1, 8, 8) float32 in [0, 1], labels (N,) int64.

    With ``as_tensors=True`` both are torch tensors on ``device`` (default: the CPU);
    otherwise numpy arrays.
    """
    if not isinstance(as_tensors, bool):
        raise TypeError(f"as_tensors must be a bool, got {type(as_tensors).__name__}")
    images, labels = _digits_arrays()
    if not as_tensors:
        if device is not None:
            raise ValueError("device is only used with as_tensors=True")
        return images.copy(), labels.copy()
    import torch

    from .device import get_device

    target = torch.device("cpu") if device is None else get_device(device)
    return torch.tensor(images, device=target), torch.tensor(labels, device=target)


def digits_dataloaders(
    batch_size: int = 64, test_fraction: float = 0.2, seed: int = 0, device: Any = None
) -> tuple[DataLoader, DataLoader]:
    """Return ``(train_loader, test_loader)`` over the digits: batches (B, 1, 8, 8) and (B,).

    The split is stratified and fixed by ``seed``; the training loader reshuffles each epoch
    with a generator seeded by ``seed`` too, so runs repeat exactly. ``device`` places the
    (small) data set there once, so batches arrive on it.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(f"test_fraction must be a float, got {type(test_fraction).__name__}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    model_selection = _require("sklearn.model_selection", "scikit-learn", "digits_dataloaders")
    images, labels = load_digits(as_tensors=True, device=device)
    indices = np.arange(len(labels))
    train_idx, test_idx = model_selection.train_test_split(
        indices,
        test_size=float(test_fraction),
        random_state=seed,
        stratify=labels.cpu().numpy(),
    )
    train_idx = torch.as_tensor(np.sort(train_idx), device=images.device)
    test_idx = torch.as_tensor(np.sort(test_idx), device=images.device)
    train = TensorDataset(images[train_idx], labels[train_idx])
    test = TensorDataset(images[test_idx], labels[test_idx])
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(test, batch_size=batch_size, shuffle=False)
    return train_loader, test_loader
