"""Assignment 3's checkers, shared parts: the decks' worked examples, reference pieces the library lacks, result unpacking and hints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import diagnoses

CONV2D_BACKWARD_FEATURES = ("basic", "stride_padding", "dilation")


BACKWARD_LAYERS = ("relu", "conv2d", "max_pool2d", "avg_pool2d")


HIDDEN_RANDOM_CASES_3 = 8  # per hidden checker call: the loop versions are slow in 2-D


NUMERIC_RTOL, NUMERIC_ATOL = 1e-6, 1e-8  # central differences agree this well; one-sided do not


# Lecture 2 (CS5242, NUS): x = [1, 0, 2, 2, 3, 1], w = [3, 2, 2] gives [7, 8, 16, 14]
DECK2_X = np.array([1.0, 0, 2, 2, 3, 1])


DECK2_W = np.array([3.0, 2, 2])


DECK2_DX = np.array([3.0, 5, 7, 7, 4, 2])  # dout = ones: the full convolution with the flipped w


DECK2_DW = np.array([5.0, 7, 8])  # dout = ones: the sum of each tap's inputs


DECK2_DX_STRIDE2 = np.array([3.0, 2, 5, 2, 2, 0])  # stride 2: the windows overlap at x[2]


# a 3x3 image and a 2x2 kernel worked by hand in the notebook (dout = ones)
SMALL_IMAGE = np.arange(1.0, 10).reshape(3, 3)


SMALL_KERNEL = np.array([[1.0, 0], [0, -1]])


SMALL_DX = np.array([[1.0, 1, 0], [1, 0, -1], [0, -1, -1]])


SMALL_DW = np.array([[12.0, 16], [24, 28]])


# Deck 000 (Jaewook Lee, SNU): a 6x6 map, 3x3 max pooling with stride 3 gives [[8, 7], [6, 7]]
DECK0_POOL = np.array(
    [
        [1.0, 3, 1, 7, 2, 3],
        [3, 8, 2, 2, 4, 3],
        [3, 2, 0, 1, 2, 1],
        [2, 0, 4, 2, 1, 3],
        [6, 3, 2, 3, 1, 2],
        [1, 2, 1, 2, 7, 2],
    ]
)


DECK0_POOL_MAX = np.array([[8.0, 7], [6, 7]])


# Deck 004 (Kalogerakis, UMass): a transposed convolution maps a 2x2 input to 4x4 with a 3x3 kernel
TRANSPOSE_X = np.array([[1.0, 2], [3, 4]])


TRANSPOSE_OUT = np.array([[1.0, 3, 3, 2], [4, 10, 10, 6], [4, 10, 10, 6], [3, 7, 7, 4]])


# the digits network: conv 3x3 (padding 1) -> ReLU -> 2x2 max pool, twice, then a linear layer
DIGITS_PARAMETERS = (
    "conv1.weight",
    "conv1.bias",
    "conv2.weight",
    "conv2.bias",
    "fc.weight",
    "fc.bias",
)


DIGITS_BATCH_SIZE, DIGITS_LR, DIGITS_STEPS = 32, 0.01, 5


# The solution reaches 94.7 to 98.6 % on the 20 split seeds tried (the grader draws one of
# 1000 per run): 93 % leaves the honest student a margin and still needs real training.
DIGITS_MIN_ACCURACY, DIGITS_TIME_LIMIT_S = 0.93, 60.0


DIGITS_LOSS_ATOL = 1e-6


Pair = tuple[int, int]


_MIX = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])


def cubic(x: np.ndarray) -> np.ndarray:
    """x**3 entry by entry (any shape): the gradient of sum(x**3 * dout) is 3 x**2 dout."""
    return np.asarray(x, dtype=np.float64) ** 3


def wave(x: np.ndarray) -> np.ndarray:
    """x * sin(x) entry by entry: the gradient of sum(f(x) * dout) is (sin x + x cos x) dout."""
    x = np.asarray(x, dtype=np.float64)
    return x * np.sin(x)


def softplus_total(x: np.ndarray) -> np.ndarray:
    """A scalar, sum(log(1 + e^x)): its gradient is the logistic sigmoid of x."""
    return np.asarray(np.sum(np.logaddexp(0.0, np.asarray(x, dtype=np.float64))))


def mix_rows(x: np.ndarray) -> np.ndarray:
    """A (2, 3) matrix times x (3, M) -> (2, M): the gradient of sum(f(x) * dout) is A^T dout."""
    return _MIX @ np.asarray(x, dtype=np.float64)


_ANALYTIC = {
    "cubic": lambda x, dout: 3 * x**2 * dout,
    "wave": lambda x, dout: (np.sin(x) + x * np.cos(x)) * dout,
    "softplus_total": lambda x, dout: dout / (1 + np.exp(-x)),
    "mix_rows": lambda x, dout: _MIX.T @ dout,
}


_FUNCTIONS = {"cubic": cubic, "wave": wave, "softplus_total": softplus_total, "mix_rows": mix_rows}


def _pair(value: Any) -> Pair:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _pad(x: np.ndarray, pads: Pair, fill: float = 0.0) -> np.ndarray:
    (ph, pw) = pads
    return np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], constant_values=fill)


def _crop(x_pad: np.ndarray, pads: Pair) -> np.ndarray:
    (ph, pw) = pads
    return x_pad[:, :, ph : x_pad.shape[2] - ph, pw : x_pad.shape[3] - pw]


def _windows(out_shape: Sequence[int], kernel: Pair, stride: Pair, dilation: Pair):
    """Yield (i, j, rows, cols): output position and the slices of its window in the padded input."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    for i in range(out_shape[0]):
        for j in range(out_shape[1]):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
            yield i, j, rows, cols


def _conv_scatter(
    dout: np.ndarray,
    w: np.ndarray,
    padded_shape: Sequence[int],
    stride: Pair,
    dilation: Pair,
    overwrite: bool = False,
) -> np.ndarray:
    """dx_pad: each output's dout times w added into its window (``overwrite``: assigned instead)."""
    dx_pad = np.zeros(tuple(padded_shape))
    for i, j, rows, cols in _windows(dout.shape[2:], w.shape[2:], stride, dilation):
        part = np.tensordot(dout[:, :, i, j], w, axes=(1, 0))
        if overwrite:
            dx_pad[:, :, rows, cols] = part
        else:
            dx_pad[:, :, rows, cols] += part
    return dx_pad


def _conv_dw(
    dout: np.ndarray,
    x_pad: np.ndarray,
    kernel: Pair,
    stride: Pair,
    dilation: Pair,
    overwrite: bool = False,
) -> np.ndarray:
    """dw: the sum over positions (and the batch) of dout times the window (``overwrite``: the last one)."""
    dw = np.zeros((dout.shape[1], x_pad.shape[1], *kernel))
    for i, j, rows, cols in _windows(dout.shape[2:], kernel, stride, dilation):
        part = np.tensordot(dout[:, :, i, j], x_pad[:, :, rows, cols], axes=(0, 0))
        dw = part if overwrite else dw + part
    return dw


def col2im_2d_reference(
    cols: Any,
    x_shape: Sequence[int],
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
) -> np.ndarray:
    """The adjoint of im2col_2d: cols (N, C*KH*KW, H_out*W_out) -> (N, C, H, W), overlaps added, padding cropped."""
    kernel, strides, pads, dilations = (
        _pair(kernel_size),
        _pair(stride),
        _pair(padding),
        _pair(dilation),
    )
    n, c, h, w = (int(v) for v in x_shape)
    padded = (n, c, h + 2 * pads[0], w + 2 * pads[1])
    out = tuple(
        (size - d * (k - 1) - 1) // s + 1
        for size, k, s, d in zip(padded[2:], kernel, strides, dilations, strict=True)
    )
    blocks = np.asarray(cols, dtype=np.float64).reshape(n, c, *kernel, *out)
    dx_pad = np.zeros(padded)
    for i, j, rows, cols_ in _windows(out, kernel, strides, dilations):
        dx_pad[:, :, rows, cols_] += blocks[:, :, :, :, i, j]
    return _crop(dx_pad, pads)


def _pool_scatter(
    dout: np.ndarray,
    x: np.ndarray,
    kernel: Pair,
    stride: Pair,
    pads: Pair,
    rule: str = "first",
    overwrite: bool = False,
) -> np.ndarray:
    """dx_pad of max pooling under a routing ``rule``: the first/last/every maximum, split among ties, or the corner."""
    x_pad = _pad(x, pads, -np.inf)
    n, c = x.shape[:2]
    dx_pad = np.zeros(x_pad.shape)
    kh, kw = kernel
    for i, j, rows, cols in _windows(dout.shape[2:], kernel, stride, (1, 1)):
        window = x_pad[:, :, rows, cols].reshape(n, c, kh * kw)
        g = dout[:, :, i, j][:, :, None]
        if rule == "first":
            share = np.eye(kh * kw)[window.argmax(axis=-1)]
        elif rule == "last":
            share = np.eye(kh * kw)[kh * kw - 1 - window[:, :, ::-1].argmax(axis=-1)]
        elif rule in ("all", "split"):
            share = (window == window.max(axis=-1, keepdims=True)).astype(float)
            if rule == "split":
                share /= share.sum(axis=-1, keepdims=True)
        else:  # "corner": the window's first element
            share = np.eye(kh * kw)[np.zeros((n, c), dtype=int)]
        part = (g * share).reshape(n, c, kh, kw)
        if overwrite:
            dx_pad[:, :, rows, cols] = part
        else:
            dx_pad[:, :, rows, cols] += part
    return dx_pad


def _avg_counts(
    shape: Sequence[int], kernel: Pair, stride: Pair, pads: Pair, out: Sequence[int]
) -> np.ndarray:
    """The number of real (not padded) inputs in each window, (H_out, W_out)."""
    ones = _pad(np.ones((1, 1, *shape)), pads)[0, 0]
    counts = np.zeros(tuple(out))
    for i, j, rows, cols in _windows(out, kernel, stride, (1, 1)):
        counts[i, j] = ones[rows, cols].sum()
    return counts


def _avg_scatter(
    dout: np.ndarray,
    kernel: Pair,
    stride: Pair,
    pads: Pair,
    shape: Sequence[int],
    divisor: Any,
    overwrite: bool = False,
) -> np.ndarray:
    """dx_pad of average pooling, each window's dout divided by ``divisor`` (a number or per window)."""
    n, c = dout.shape[:2]
    dx_pad = np.zeros((n, c, shape[0] + 2 * pads[0], shape[1] + 2 * pads[1]))
    divisors = np.broadcast_to(np.asarray(divisor, dtype=float), dout.shape[2:])
    for i, j, rows, cols in _windows(dout.shape[2:], kernel, stride, (1, 1)):
        part = (dout[:, :, i, j] / divisors[i, j])[:, :, None, None]
        if overwrite:
            dx_pad[:, :, rows, cols] = part
        else:
            dx_pad[:, :, rows, cols] += part
    return dx_pad


def _unpack(result: Any, count: int, name: str, what: str) -> tuple:
    if isinstance(result, tuple) and len(result) == count:
        return result
    got = (
        f"a tuple of {len(result)}"
        if isinstance(result, (tuple, list))
        else ("None (a missing `return`?)" if result is None else type(result).__name__)
    )
    raise AssertionError(f"{name} returned {got}; return {what}")


def _border_hint(actual: Any, expected: np.ndarray, margin: Pair) -> str | None:
    """'Right inside, wrong near the border' for a (N, C, H, W) gradient, else None."""
    got = np.asarray(actual, dtype=np.float64) if isinstance(actual, np.ndarray) else None
    if got is None or got.shape != expected.shape or expected.ndim != 4:
        return None
    wrong = ~np.isclose(got, expected, rtol=1e-7, atol=1e-9)
    if not wrong.any():
        return None
    mh, mw = (max(1, m) for m in margin)
    inside = np.zeros(expected.shape[2:], dtype=bool)
    inside[mh : expected.shape[2] - mh, mw : expected.shape[3] - mw] = True
    if not inside.any() or wrong[:, :, inside].any():
        return None
    return (
        "The gradient is right inside and wrong near the border: look at the padding. Pad x, "
        "scatter into dx_pad (the padded shape), then crop the padding away, "
        "dx = dx_pad[:, :, ph:ph + H, pw:pw + W]."
    )


def _call_failed_hint(exc: AssertionError, hints: dict[str, tuple[str, str]]) -> AssertionError:
    """Return ``exc`` with the first hint whose key occurs in its message appended.

    ``hints``: a phrase of the error the student's code raised (torch's own words, e.g.
    "incorrect number of gradients") -> (the mistake's family, the hint).
    """
    message = str(exc)
    for key, (family, hint) in hints.items():
        if key in message:
            return diagnoses.mark(AssertionError(f"{message}\nLikely mistake: {hint}"), [family])
    return exc
