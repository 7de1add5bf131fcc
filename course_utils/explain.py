"""What a trained network responds to: strongest activations, occlusion, saliency, class-model images.

The methods of Zeiler & Fergus (2014) and Simonyan et al. (2014), small enough for the digits.
Models are ``nn.Sequential`` classifiers returning logits (N, classes); a layer is addressed by
its index, and ``model[: index + 1]`` computes its output. Every function runs without changing
the model's weights and returns numpy arrays on the CPU::

    maps = cu.explain.occlusion_map(model, image, target=3, patch=2)   # (H, W) drop in probability
    grads = cu.explain.saliency_map(model, image, target=3)           # (H, W) |d score / d pixel|
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .validation import check_int


def _check_sequential(model: object) -> nn.Sequential:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential, got {type(model).__name__}")
    return model


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    parameter = next(model.parameters())
    return parameter.device, parameter.dtype


def _as_batch(name: str, images: object, model: nn.Module, ndim: int) -> torch.Tensor:
    if not isinstance(images, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a tensor or an array, got {type(images).__name__}")
    tensor = torch.as_tensor(images)
    if tensor.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(tensor.shape)}")
    device, dtype = _device_dtype(model)
    return tensor.to(device=device, dtype=dtype)


def layer_output(model: nn.Sequential, layer: int, images: object) -> torch.Tensor:
    """Activations after ``model[layer]`` for images (N, C, H, W): e.g. (N, C_l, H_l, W_l), no grad."""
    model = _check_sequential(model)
    layer = check_int("layer", layer, 0)
    if layer >= len(model):
        raise ValueError(f"layer must be below {len(model)} (the model's length), got {layer}")
    batch = _as_batch("images", images, model, 4)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model[: layer + 1](batch)
    finally:
        model.train(was_training)


def top_activations(
    model: nn.Sequential, layer: int, channel: int, images: object, k: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` images (N, C, H, W) that excite feature map ``channel`` of ``layer`` most.

    Returns (indices (k,), strengths (k,), positions (k, 2)): the image indices, the largest
    activation of that map in each image, and where in the map (row, col) it occurs.
    """
    maps = layer_output(model, layer, images)
    if maps.ndim != 4:
        raise ValueError(
            f"layer {layer} gives shape {tuple(maps.shape)}, not feature maps (N, C, H, W)"
        )
    channel = check_int("channel", channel, 0)
    if channel >= maps.shape[1]:
        raise ValueError(f"channel must be below {maps.shape[1]}, got {channel}")
    k = check_int("k", k, 1)
    flat = maps[:, channel].flatten(1)
    strengths, where = flat.max(dim=1)
    order = torch.argsort(strengths, descending=True)[:k]
    width = maps.shape[-1]
    positions = torch.stack([where[order] // width, where[order] % width], dim=1)
    return order.cpu().numpy(), strengths[order].cpu().numpy(), positions.cpu().numpy()


def occlusion_map(
    model: nn.Module, image: object, target: int, patch: int = 2, fill: float = 0.0
) -> np.ndarray:
    """Zeiler & Fergus's occlusion test for one image (C, H, W): (H, W) drop of P(target).

    A ``patch`` x ``patch`` square of value ``fill`` covers each position in turn (top-left
    corner at every pixel, clipped at the border); each pixel of the map holds how much the
    probability of ``target`` falls when the square covers it, averaged over the squares covering it.
    """
    batch = _as_batch("image", image, model, 3)[None]
    patch = check_int("patch", patch, 1)
    _, _, h, w = batch.shape
    corners = [(r, c) for r in range(h - patch + 1) for c in range(w - patch + 1)]
    occluded = batch.repeat(len(corners), 1, 1, 1)
    for i, (r, c) in enumerate(corners):
        occluded[i, :, r : r + patch, c : c + patch] = fill
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            base = torch.softmax(model(batch), dim=1)[0, target]
            probabilities = torch.softmax(model(occluded), dim=1)[:, target]
    finally:
        model.train(was_training)
    drop, count = np.zeros((h, w)), np.zeros((h, w))
    for (r, c), p in zip(corners, (base - probabilities).cpu().numpy(), strict=True):
        drop[r : r + patch, c : c + patch] += p
        count[r : r + patch, c : c + patch] += 1
    return drop / count


def saliency_map(model: nn.Module, image: object, target: int) -> np.ndarray:
    """Simonyan et al.'s class saliency for one image (C, H, W): (H, W) max over channels of |dS_c/dI|.

    S_c is the (pre-softmax) score of class ``target``; the gradient comes from one backward pass.
    """
    batch = _as_batch("image", image, model, 3)[None].requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        score = model(batch)[0, target]
        (gradient,) = torch.autograd.grad(score, batch)
    finally:
        model.train(was_training)
    return gradient[0].abs().amax(dim=0).cpu().numpy()


def class_model_image(
    model: nn.Module,
    targets: int | list[int],
    start: object,
    steps: int = 200,
    lr: float = 0.05,
    weight_decay: float = 0.01,
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient ascent on the input: argmax_I S_c(I) - weight_decay * ||I||^2 for each class c in ``targets``.

    All images start from ``start`` (C, H, W) and are optimized together, one per target; the
    weights stay fixed and Adam updates the images. Returns (images (T, C, H, W), scores (steps, T):
    the score S_c of each image after every step).
    """
    steps = check_int("steps", steps, 1)
    classes = [targets] if isinstance(targets, int) else list(targets)
    if not classes:
        raise ValueError("targets must name at least one class")
    first = _as_batch("start", start, model, 3)
    images = first[None].repeat(len(classes), 1, 1, 1).requires_grad_(True)
    index = torch.arange(len(classes), device=first.device)
    chosen = torch.as_tensor(classes, device=first.device)
    optimizer = torch.optim.Adam([images], lr=lr)
    scores: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    try:
        for _ in range(steps):
            score = model(images)[index, chosen]
            objective = score.sum() - weight_decay * (images**2).sum()
            optimizer.zero_grad()
            (-objective).backward()
            optimizer.step()
            scores.append(score.detach().cpu().numpy())
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return images.detach().cpu().numpy(), np.stack(scores)
