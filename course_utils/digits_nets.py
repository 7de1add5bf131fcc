"""Small networks the lectures train on the 8x8 digits: an MLP, a LeNet-style CNN, deep stacks.

(The architectures of the papers, at full size, are in :mod:`course_utils.models`.) Each builder
returns a fresh ``torch.nn.Module`` with PyTorch's default initialization; seed torch first
(``cu.setup(seed=...)`` or ``torch.manual_seed``) for repeatable weights::

    model = cu.digits_nets.digits_cnn()                        # (B, 1, 8, 8) -> logits (B, 10)
    plain = cu.digits_nets.deep_mlp(64, 32, blocks=15, residual=False)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from .validation import check_int

DIGITS_SIDE = 8
DIGITS_PIXELS = DIGITS_SIDE * DIGITS_SIDE
DIGITS_CLASSES = 10


def mlp(widths: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Return Flatten + Linear layers ``widths[0] -> ... -> widths[-1]``, ``activation`` between.

    Input (B, ...) flattened to (B, widths[0]); output (B, widths[-1]) (logits, no activation).
    """
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or len(widths) < 2:
        raise ValueError(f"widths must be a sequence of at least two ints, got {widths!r}")
    sizes = [check_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def digits_cnn(channels: tuple[int, int] = (8, 16), hidden: int = 32) -> nn.Sequential:
    """Return a LeNet-style CNN for the digits: (B, 1, 8, 8) -> logits (B, 10).

    conv 3x3 (pad 1) -> ReLU -> max pool 2 -> conv 3x3 (pad 1) -> ReLU -> max pool 2 -> flatten
    (channels[1] x 2 x 2) -> Linear(hidden) -> ReLU -> Linear(10).
    """
    if not isinstance(channels, Sequence) or len(channels) != 2:
        raise ValueError(f"channels must be a pair of ints, got {channels!r}")
    c1, c2 = (check_int(f"channels[{i}]", c, 1) for i, c in enumerate(channels))
    hidden = check_int("hidden", hidden, 1)
    side = DIGITS_SIDE // 4
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * side * side, hidden),
        nn.ReLU(),
        nn.Linear(hidden, DIGITS_CLASSES),
    )


class Block(nn.Module):
    """Two Linear layers of one width with ReLUs, optionally with a ResNet's identity shortcut."""

    def __init__(self, width: int, residual: bool) -> None:
        super().__init__()
        self.first = nn.Linear(width, width)
        self.second = nn.Linear(width, width)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, width) -> (B, width): relu(x + F(x)) when residual, else relu(F(x))."""
        out = self.second(torch.relu(self.first(x)))
        return torch.relu(x + out if self.residual else out)


def deep_mlp(
    in_features: int, width: int, blocks: int, residual: bool, classes: int = DIGITS_CLASSES
) -> nn.Sequential:
    """Return Flatten -> Linear(in, width) -> ReLU -> ``blocks`` x :class:`Block` -> Linear(classes).

    Input (B, ...) flattened to (B, in_features); output logits (B, classes); 2 * blocks + 2
    weight layers in all. ``residual`` gives every block the identity shortcut.
    """
    in_features = check_int("in_features", in_features, 1)
    width = check_int("width", width, 1)
    blocks = check_int("blocks", blocks, 0)
    classes = check_int("classes", classes, 1)
    if not isinstance(residual, bool):
        raise TypeError(f"residual must be a bool, got {type(residual).__name__}")
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, width),
        nn.ReLU(),
        *[Block(width, residual) for _ in range(blocks)],
        nn.Linear(width, classes),
    )
