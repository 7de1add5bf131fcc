"""Image transformations for invariance experiments and data augmentation, on (N, C, H, W) batches.

Shifts, rotations and scalings are one affine resampling (``torch.nn.functional.grid_sample``,
zeros outside the image); elastic distortions follow Simard et al. (2003): a random displacement
field, smoothed by a Gaussian and scaled, tells every pixel where to sample from. Everything runs
on the batch's device. :class:`AugmentedLoader` applies a random transformation to every batch of
a loader, so :func:`course_utils.training.train` trains on fresh distortions each epoch::

    loader = cu.augment.AugmentedLoader(train_loader, cu.augment.random_affine, max_degrees=15)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch.nn import functional as F


def _check_batch(images: object) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"images must be a floating (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}"
        )
    return images


def _per_image(name: str, value: object, n: int, like: torch.Tensor) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if tensor.ndim == 0:
        return tensor.expand(n)
    if tensor.shape != (n,):
        raise ValueError(
            f"{name} must be a number or have one value per image ({n}), got {tuple(tensor.shape)}"
        )
    return tensor


def affine(
    images: torch.Tensor,
    degrees: float | torch.Tensor = 0.0,
    scale: float | torch.Tensor = 1.0,
    shift: tuple[float, float] | torch.Tensor = (0.0, 0.0),
) -> torch.Tensor:
    """Rotate (counter-clockwise, degrees), scale about the centre and shift (rows, cols in pixels).

    images (N, C, H, W) -> (N, C, H, W), bilinear, zeros outside. ``degrees`` and ``scale`` are
    numbers or (N,) tensors; ``shift`` a pair or an (N, 2) tensor of (down, right) pixels.
    """
    images = _check_batch(images)
    n, _, h, w = images.shape
    angle = _per_image("degrees", degrees, n, images) * (math.pi / 180)
    factor = _per_image("scale", scale, n, images)
    if torch.any(factor <= 0):
        raise ValueError("scale must be positive")
    offset = torch.as_tensor(shift, dtype=images.dtype, device=images.device)
    offset = offset.expand(n, 2) if offset.ndim == 1 else offset
    if offset.shape != (n, 2):
        raise ValueError(f"shift must be a pair or an (N, 2) tensor, got {tuple(offset.shape)}")
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor
    # grid_sample's theta maps output coordinates (x right, y down, in [-1, 1]) to input ones
    theta = torch.stack(
        [
            torch.stack([cos, -sin, -offset[:, 1] * 2 / w], dim=1),
            torch.stack([sin, cos, -offset[:, 0] * 2 / h], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    max_degrees: float = 0.0,
    scale_range: tuple[float, float] = (1.0, 1.0),
    max_shift: float = 0.0,
) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H, W): each image rotated, scaled and shifted by uniform random amounts.

    Angles in [-max_degrees, max_degrees], scales in ``scale_range``, shifts in
    [-max_shift, max_shift] pixels per axis; ``generator`` (CPU) makes the draws repeatable.
    """
    images = _check_batch(images)
    n = images.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        draw = torch.rand(n, *shape, generator=generator, dtype=images.dtype)
        return (low + (high - low) * draw).to(images.device)

    low, high = scale_range
    return affine(
        images,
        degrees=uniform(-max_degrees, max_degrees),
        scale=uniform(low, high),
        shift=uniform(-max_shift, max_shift, 2),
    )


def _gaussian_blur(field: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=field.dtype, device=field.device)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = field.shape[1]
    rows = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    cols = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    field = F.conv2d(F.pad(field, (0, 0, radius, radius), mode="replicate"), rows, groups=channels)
    return F.conv2d(F.pad(field, (radius, radius, 0, 0), mode="replicate"), cols, groups=channels)


def displacement_field(
    shape: tuple[int, int, int, int],
    alpha: float,
    sigma: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """A Simard-style random displacement field (N, 2, H, W) in pixels: (down, right) per pixel.

    Uniform noise in [-1, 1], smoothed by a Gaussian of width ``sigma`` pixels, scaled by ``alpha``.
    """
    if sigma <= 0 or alpha < 0:
        raise ValueError(f"sigma must be positive and alpha non-negative, got {sigma}, {alpha}")
    n, _, h, w = shape
    noise = 2 * torch.rand(n, 2, h, w, generator=generator, dtype=dtype) - 1
    return alpha * _gaussian_blur(noise, sigma)


def elastic(
    images: torch.Tensor,
    alpha: float = 2.0,
    sigma: float = 1.5,
    generator: torch.Generator | None = None,
    field: torch.Tensor | None = None,
) -> torch.Tensor:
    """Elastic distortion (N, C, H, W) -> (N, C, H, W): every pixel is sampled from where the field says.

    ``field`` (N, 2, H, W) in pixels (default: :func:`displacement_field` with ``alpha``, ``sigma``).
    """
    images = _check_batch(images)
    n, _, h, w = images.shape
    if field is None:
        field = displacement_field(tuple(images.shape), alpha, sigma, generator, images.dtype)
    field = field.to(device=images.device, dtype=images.dtype)
    if field.shape != (n, 2, h, w):
        raise ValueError(f"field must have shape {(n, 2, h, w)}, got {tuple(field.shape)}")
    rows = torch.arange(h, dtype=images.dtype, device=images.device).view(1, h, 1)
    cols = torch.arange(w, dtype=images.dtype, device=images.device).view(1, 1, w)
    sample_rows = (rows + field[:, 0] + 0.5) * 2 / h - 1  # pixel centres to [-1, 1]
    sample_cols = (cols + field[:, 1] + 0.5) * 2 / w - 1
    grid = torch.stack([sample_cols, sample_rows], dim=-1)  # (N, H, W, 2) as (x, y)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


class AugmentedLoader:
    """Wrap a loader of (images (B, C, H, W), targets) batches; transform the images of every batch.

    ``transform(images, generator, **options)`` is e.g. :func:`random_affine` or :func:`elastic`;
    the CPU generator, seeded by ``seed``, makes the whole sequence of distortions repeatable.
    """

    def __init__(
        self,
        loader: Iterable,
        transform: Callable[..., torch.Tensor],
        seed: int = 0,
        **options: Any,
    ) -> None:
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.loader, self.transform, self.options = loader, transform, options
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, targets in self.loader:
            yield self.transform(images, self.generator, **self.options), targets
