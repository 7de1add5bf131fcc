"""Assignment 2's checkers, shared parts: the decks' worked examples and reference pieces the library lacks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import arithmetic, reference

CONV2D_FEATURES = ("channels_bias", "stride_padding", "dilation", "padding_modes", "groups")


ERROR_FUNCTIONS_2D = (
    "conv2d",
    "conv2d_im2col",
    "im2col_2d",
    "max_pool2d",
    "avg_pool2d",
    "depthwise_separable_conv2d",
    "conv2d_parameters",
    "conv2d_multiplications",
    "receptive_field",
)


HIDDEN_RANDOM_CASES_2D = 16  # per hidden checker call: loops over 2-D positions are slow


# Deck 001 ("Convolutional Neural Networks"): the 5x5 image and the sharpen kernel. The deck
# prints the bottom-right pixel as 1 on one page and -1 on another; a sharpen kernel has zero
# corners, so that pixel never changes the result.
SHARPEN_IMAGE = np.array(
    [
        [-5.0, 3, 2, -5, 3],
        [4, 3, 2, 1, -3],
        [1, 0, 3, 3, 5],
        [-2, 0, 1, 4, 4],
        [5, 6, 7, 9, 1],
    ]
)


SHARPEN_KERNEL = np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])


SHARPEN_OUTPUT = np.array([[6.0, 1, 8], [-7, 9, 2], [-5, -9, 3]])


# Deck 002 (CS5242, NUS): the 4x4 image and the 2x2 kernel of its 2-D convolution pages
DECK2_IMAGE = np.array([[1.0, 2, 3, 2], [2, 3, 2, 5], [1, 2, 2, 1], [0, 2, 1, 2]])


DECK2_KERNEL = np.array([[-1.0, 1], [-1, 1]])


DECK2_OUTPUT = np.array([[2.0, 0, 2], [2, -1, 2], [3, -1, 0]])


# Deck 001's pooling example: one 4x4 depth slice, 2x2 windows, stride 2
POOL_INPUT = np.array([[3.0, 1, 3, 5], [6, 0, 7, 9], [3, 2, 1, 4], [0, 2, 4, 3]])


POOL_MAX = np.array([[6.0, 9], [3, 4]])


POOL_AVG = np.array([[2.5, 6], [1.75, 3]])


Pair = tuple[int, int]


Pads = tuple[tuple[int, int], tuple[int, int]]


def _pair(value: Any) -> Pair:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _resolve_pads(
    padding: Any, size: Sequence[int], kernel: Pair, stride: Pair, dilation: Pair
) -> Pads:
    """((top, bottom), (left, right)) for an int, an (h, w) pair or a mode."""
    if isinstance(padding, str):
        return tuple(  # type: ignore[return-value]
            arithmetic.resolve_padding(padding, n, k, s, d)
            for n, k, s, d in zip(size, kernel, stride, dilation, strict=True)
        )
    ph, pw = _pair(padding)
    return (ph, ph), (pw, pw)


def _pad_2d(x: np.ndarray, pads: Pads, fill: float = 0.0) -> np.ndarray:
    return np.pad(x, [(0, 0), (0, 0), *pads], constant_values=fill)


def _conv2d_padded(x, w, b, stride, pads: Pads, dilation, groups: int = 1) -> np.ndarray:
    """Reference conv2d with explicit (possibly asymmetric, possibly wrong) zero padding."""
    return reference.conv2d(
        _pad_2d(x, pads), w, b, stride=stride, padding=0, dilation=dilation, groups=groups
    )


def im2col_2d_reference(
    x: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> np.ndarray:
    """Return the columns of ``x`` (N, C, H, W): (N, C*KH*KW, H_out*W_out), rows (c, kh, kw), columns row-major."""
    x = np.asarray(x, dtype=np.float64)
    kernel, strides, dilations = _pair(kernel_size), _pair(stride), _pair(dilation)
    x = _pad_2d(x, _resolve_pads(padding, x.shape[2:], kernel, strides, dilations))
    spans = [arithmetic.effective_kernel_size(k, d) for k, d in zip(kernel, dilations, strict=True)]
    windows = np.lib.stride_tricks.sliding_window_view(x, spans, axis=(2, 3))
    windows = windows[:, :, :: strides[0], :: strides[1], :: dilations[0], :: dilations[1]]
    n, c, h_out, w_out, kh, kw = windows.shape
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, h_out * w_out)


def _by_output_channel(x, w, b, stride, pads: Pads, dilation, group_of: Callable) -> np.ndarray:
    """conv2d where output channel o reads the input channels ``group_of(o)`` (to model group mistakes)."""
    outputs = [
        _conv2d_padded(x[:, group_of(o)], w[o : o + 1], None, stride, pads, dilation)
        for o in range(w.shape[0])
    ]
    y = np.concatenate(outputs, axis=1)
    return y if b is None else y + b[None, :, None, None]
