"""Counting what a network costs: parameters and multiply-adds, measured on the built module.

Architecture tables in the lectures are checked with these two functions, never with counts
written by hand::

    cu.measure.parameter_count(nn.Conv2d(3, 6, 5))                      # 456
    cu.measure.multiply_adds(nn.Conv2d(3, 6, 5), (1, 3, 32, 32))        # 28*28*6*75 = 352800
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _check_module(module: object) -> nn.Module:
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return module


def parameter_count(module: nn.Module, trainable_only: bool = False) -> int:
    """Return the number of scalar parameters of ``module`` (weights and biases, via ``numel``)."""
    _check_module(module)
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_table(module: nn.Module) -> list[tuple[str, tuple[int, ...], int]]:
    """Return ``(name, shape, numel)`` for every parameter of ``module``, in definition order."""
    _check_module(module)
    return [(name, tuple(p.shape), p.numel()) for name, p in module.named_parameters()]


def multiply_adds(module: nn.Module, input_shape: Sequence[int]) -> int:
    """Return the multiply-adds of one forward pass of ``module`` on a zero tensor of ``input_shape``.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (which counts a multiply-add as two
    FLOPs, so the result is its total / 2): convolutions, linear layers and matrix products;
    element-wise work (activations, pooling, normalization, bias additions) is not counted, as in
    the papers' tables. The pass runs without gradients on ``module``'s device and dtype.
    """
    _check_module(module)
    shape = tuple(input_shape)
    if not shape or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape
    ):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    reference = next(module.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None else torch.float32
    was_training = module.training
    module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            module(torch.zeros(shape, device=device, dtype=dtype))
    finally:
        module.train(was_training)
    return counter.get_total_flops() // 2
