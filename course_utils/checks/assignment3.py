"""Checkers for Assignment 3 (backpropagation through convolution and pooling), called by its test cells.

Each ``check_*`` takes the student's functions and ``cases="visible"`` (the decks' worked examples
and small cases, shown to students) or ``cases="hidden"`` (random cases compared with PyTorch's
autograd in float64 through :mod:`course_utils.reference`: non-square images and kernels,
strides with overlapping and non-overlapping windows, padding and dilation per axis, batches
and channels; run at grading time). A failure is an ``AssertionError`` naming the call, what
differs and the likely mistake, found by comparing the result with the outputs of typical
backprop bugs (an overwrite instead of an accumulation, the padding not cropped, the stride
ignored in the scatter, dw not summed over the batch, the gradient sent to every tied maximum,
...). The training checkers measure the student's network themselves: they rebuild it in torch
from the returned weights and compute its test accuracy and its first losses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import reference
from ..validation import check_int
from ._common import (
    Bug,
    _assert_close,
    _check_cases,
    _checker,
    _expect_argument_error,
    _names_replaced,
    _namespace,
    _print_advice,
    _report,
    _student_lines_run,
    hidden_rng,
)
from .assignment2 import POOL_INPUT, im2col_2d_reference
from .toolkit import (
    assert_array_close,
    call_student,
    call_student_torch,
    describe_call,
    describe_value,
    random_conv1d_case,
    random_conv2d_case,
    random_pool_case,
    tie_free,
)

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

# --------------------------------------------------------------------------------------------
# Functions whose gradient numeric_gradient must find (module level: the grader can name them)
# --------------------------------------------------------------------------------------------

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

# --------------------------------------------------------------------------------------------
# Reference pieces the library does not have (checker-side only), with the knobs of the bugs
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Shared parts of the checks: results that must be tuples, hints about where a gradient differs
# --------------------------------------------------------------------------------------------


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


def _call_failed_hint(exc: AssertionError, hints: dict[str, str]) -> AssertionError:
    """Return ``exc`` with the first hint whose key occurs in its message appended."""
    message = str(exc)
    for key, hint in hints.items():
        if key in message:
            return AssertionError(f"{message}\nLikely mistake: {hint}")
    return exc


# --------------------------------------------------------------------------------------------
# Part A: numeric_gradient
# --------------------------------------------------------------------------------------------


def _central(
    f: Callable, x: np.ndarray, dout: np.ndarray, h: float, kind: str = "central"
) -> np.ndarray:
    """The checker's own finite differences of sum(f(x) * dout) (``kind``: central, forward, backward...)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros(x.shape)

    def value(point: np.ndarray) -> float:
        out = np.asarray(f(point), dtype=np.float64)
        return float(np.sum(out if kind == "no_dout" else out * dout))

    base = value(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        if kind == "forward":
            grad[index] = (value(plus) - base) / h
        elif kind == "backward":
            grad[index] = (base - value(minus)) / h
        elif kind == "over_h":
            grad[index] = (value(plus) - value(minus)) / h
        else:
            grad[index] = (value(plus) - value(minus)) / (2 * h)
    return grad


def _numeric_bugs(
    f: Callable, x: np.ndarray, dout: np.ndarray, h: float, given_h: bool
) -> list[Bug]:
    bugs: list[Bug] = [
        (
            "one-sided differences (f(x + h) - f(x)) / h: their error shrinks only like h. Use central "
            "differences, (f(x + h) - f(x - h)) / (2h), whose error shrinks like h**2.",
            lambda: _central(f, x, dout, h, "forward"),
        ),
        (
            "one-sided differences (f(x) - f(x - h)) / h: use central differences, "
            "(f(x + h) - f(x - h)) / (2h).",
            lambda: _central(f, x, dout, h, "backward"),
        ),
        (
            "the central difference is divided by h: the two points are 2h apart, divide by 2 * h.",
            lambda: _central(f, x, dout, h, "over_h"),
        ),
        (
            "dout is ignored: the gradient is that of sum(f(x) * dout), so weight f(x) by dout "
            "before summing.",
            lambda: _central(f, x, dout, h, "no_dout"),
        ),
    ]
    if given_h:
        bugs.append(
            (
                "the step h passed in is ignored (a fixed step is used): use the argument h.",
                lambda: _central(f, x, dout, 1e-5),
            )
        )
    return bugs


def _check_numeric_case(
    fn: Callable, name: str, x: np.ndarray, dout: np.ndarray, h: float | None, label: str = ""
) -> None:
    f = _FUNCTIONS[name]
    options = {} if h is None else {"h": h}
    call = describe_call("numeric_gradient", name, x, dout, **options) + label
    try:
        actual = call_student(fn, f, x, dout, exercise="numeric_gradient", **options)
    except AssertionError as exc:
        raise _call_failed_hint(
            exc,
            {
                "in place": "x must be left exactly as it was: after trying x[i] + h and x[i] - h, "
                "put the saved value back (x[i] = old), not x[i] += h then x[i] -= h, which can "
                "round differently.",
            },
        ) from None
    step = 1e-5 if h is None else h
    expected = _central(f, x, dout, step)
    _assert_close(
        actual,
        expected,
        call,
        _numeric_bugs(f, x, dout, step, h is not None),
        rtol=NUMERIC_RTOL,
        atol=NUMERIC_ATOL,
    )
    analytic = _ANALYTIC[name](x, dout)
    if h is None:  # with the default step, central differences match the calculus closely
        assert_array_close(
            actual, analytic, name=f"{call} against the exact gradient", rtol=1e-5, atol=1e-7
        )


@_checker
def check_numeric_gradient(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(f, x, dout, h=1e-5) -> dx`` (central differences of sum(f(x) * dout)) on functions with known gradients; x must be left unchanged."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        selected = [
            (
                "cubic",
                np.array([3.0]),
                np.array([1.0]),
                None,
                " (f(x) = x**3 at x = 3: expect [27])",
            ),
            ("cubic", np.array([[1.0, -2.0], [0.5, 0.0]]), np.ones((2, 2)), None, " (a 2x2 x)"),
            (
                "wave",
                np.array([0.3, -1.2, 2.0]),
                np.array([1.0, -2.0, 0.5]),
                None,
                " (dout weights the outputs)",
            ),
            (
                "softplus_total",
                np.array([[0.0, 1.0, -3.0]]),
                np.array(1.0),
                None,
                " (a scalar f: dout = 1)",
            ),
            (
                "mix_rows",
                np.arange(6.0).reshape(3, 2),
                np.ones((2, 2)),
                None,
                " (f(x) = A @ x changes the shape)",
            ),
            ("cubic", np.array([1.0, 2.0]), np.array([1.0, 1.0]), 1e-2, " (h = 0.01 is passed in)"),
        ]
    else:
        rng = hidden_rng(seed)
        selected = []
        for index in range(HIDDEN_RANDOM_CASES_3):
            name = ("cubic", "wave", "softplus_total", "mix_rows")[index % 4]
            shape = (
                (3, int(rng.integers(1, 4)))
                if name == "mix_rows"
                else tuple(int(v) for v in rng.integers(1, 4, size=int(rng.integers(1, 5))))
            )
            x = rng.uniform(-2, 2, shape)
            if name == "mix_rows":
                dout = rng.standard_normal((2, shape[1]))
            elif name == "softplus_total":
                dout = np.array(float(rng.uniform(0.5, 2)))
            else:
                dout = rng.standard_normal(shape)
            h = None if index % 3 else float(rng.choice([1e-3, 1e-4, 1e-2]))
            selected.append((name, x, dout, h, ""))
    for name, x, dout, h, label in selected:
        _check_numeric_case(fn, name, x, dout, h, label)
    _report("numeric_gradient", len(selected), cases)


# --------------------------------------------------------------------------------------------
# Part B: ReLU
# --------------------------------------------------------------------------------------------


def _relu_bugs(x: np.ndarray, dout: np.ndarray) -> list[Bug]:
    return [
        (
            "the gradient at x = 0 is 1 ([x >= 0]); ReLU'(x) = [x > 0], so 0 at x = 0, as in PyTorch.",
            lambda: dout * (x >= 0),
        ),
        (
            "dx = dout * relu(x): the derivative of ReLU is the 0/1 mask [x > 0], not ReLU's output.",
            lambda: dout * np.maximum(x, 0),
        ),
        (
            "the mask was taken from dout ([dout > 0]); it comes from the forward input x: dout * [x > 0].",
            lambda: dout * (dout > 0),
        ),
        (
            "dout is ignored: dx = dout * [x > 0], not the mask alone.",
            lambda: (x > 0).astype(float),
        ),
        ("the mask is missing: dx = dout * [x > 0].", lambda: dout),
        ("the mask is inverted: ReLU passes the gradient where x > 0.", lambda: dout * (x < 0)),
    ]


def _check_relu_case(
    forward: Callable, backward: Callable, x: np.ndarray, dout: np.ndarray, label: str = ""
) -> None:
    name = describe_call("relu_forward", x) + label
    out, cache = _unpack(call_student(forward, x, exercise="relu_forward"), 2, name, "(out, cache)")
    _assert_close(out, np.maximum(x, 0), name)
    back = describe_call("relu_backward", dout, "cache") + " after " + name
    dx = call_student(backward, dout, cache, exercise="relu_backward")
    _assert_close(dx, dout * (x > 0), back, _relu_bugs(x, dout))


@_checker
def check_relu(
    forward: Callable, backward: Callable, cases: str = "visible", seed: int = 0
) -> None:
    """Check ``relu_forward(x) -> (out, cache)`` and ``relu_backward(dout, cache) -> dx``; the gradient is 0 at x = 0."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        selected = [
            (
                np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
                np.array([1.0, 2, 3, 4, 5]),
                " (expect out [0, 0, 0, 0.5, 2], dx [0, 0, 0, 4, 5])",
            ),
            (np.array([[1.0, -1.0], [0.0, 3.0]]), np.array([[-2.0, 5.0], [7.0, -1.0]]), ""),
        ]
    else:
        rng = hidden_rng(seed)
        selected = []
        for _ in range(HIDDEN_RANDOM_CASES_3):
            shape = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(1, 5))))
            x = np.round(rng.standard_normal(shape), 1)  # rounding makes some entries exactly 0
            x.flat[int(rng.integers(x.size))] = 0.0
            selected.append((x, rng.standard_normal(shape), ""))
    for x, dout, label in selected:
        _check_relu_case(forward, backward, x, dout, label)
    _report("relu_forward / relu_backward", len(selected), cases)


# --------------------------------------------------------------------------------------------
# Parts C and D: conv1d_backward, conv2d_forward, conv2d_backward
# --------------------------------------------------------------------------------------------


def _conv_gradient_bugs(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: Pair, pads: Pair, dilation: Pair
) -> dict[str, list[Bug]]:
    """The typical mistakes' (dx, dw, db) for one 2-D case (1-D cases come as height 1)."""
    n, c_in = x.shape[:2]
    c_out = w.shape[0]
    x_pad = _pad(x, pads)
    kernel = (w.shape[2], w.shape[3])
    (ph, pw) = pads

    def dx_scatter(**options: Any) -> np.ndarray:
        s = options.pop("stride", stride)
        d = options.pop("dilation", dilation)
        g = options.pop("dout", dout)
        kernel_w = options.pop("w", w)
        return _conv_scatter(g, kernel_w, x_pad.shape, s, d, **options)

    dx: list[Bug] = [
        (
            "the padding is not cropped: dx must have x's shape; return dx_pad[:, :, ph:ph + H, pw:pw + W].",
            lambda: dx_scatter(),
        ),
        (
            "dx_pad[:, :, p:-p] with p = 0 is empty (-0 is 0): crop with dx_pad[:, :, ph:ph + H, pw:pw + W].",
            lambda: dx_scatter()[:, :, ph:-ph, pw:-pw],
        ),
        (
            "overwrite instead of accumulate: where windows overlap, an input gets gradient from every "
            "window that contains it; add (+=) into dx, do not assign (=).",
            lambda: _crop(dx_scatter(overwrite=True), pads),
        ),
        (
            "the kernel is flipped in dx: with the window loop, scatter dout * w itself (a flip appears "
            "only when dx is written as a full convolution with the flipped kernel).",
            lambda: _crop(dx_scatter(w=w[:, :, ::-1, ::-1]), pads),
        ),
    ]
    if ph or pw:
        dx += [
            (
                "the padding was cropped from one side only (dx_pad[:, :, :H, :W]): crop ph rows and pw "
                "columns from both sides, dx_pad[:, :, ph:ph + H, pw:pw + W].",
                lambda: dx_scatter()[:, :, : x.shape[2], : x.shape[3]],
            ),
        ]
    if stride != (1, 1):
        dx.append(
            (
                "the stride is ignored in the scatter: output (i, j) came from the window starting at "
                "(i * stride, j * stride), so its gradient goes back there (right for stride 1 only).",
                lambda: _crop(dx_scatter(stride=(1, 1)), pads),
            )
        )
    if dilation != (1, 1):
        dx.append(
            (
                "the dilation is ignored in the scatter: the taps are `dilation` apart, "
                "rows i*sh : i*sh + dh*(kh-1) + 1 : dh.",
                lambda: _crop(dx_scatter(dilation=(1, 1)), pads),
            )
        )
    if c_out > 1:
        dx.append(
            (
                "only the first filter's gradient reaches dx: sum over every output channel o, "
                "dx += dout[n, o] * w[o].",
                lambda: _crop(dx_scatter(dout=dout[:, :1], w=w[:1]), pads),
            )
        )
    if c_in == c_out and c_in > 1:
        dx.append(
            (
                "w is indexed as w[c, o]; its shape is (C_out, C_in, kH, kW).",
                lambda: _crop(dx_scatter(w=w.transpose(1, 0, 2, 3)), pads),
            )
        )

    def dw_from(**options: Any) -> np.ndarray:
        g = options.pop("dout", dout)
        xp = options.pop("x_pad", x_pad)
        return _conv_dw(
            g,
            xp,
            kernel,
            options.pop("stride", stride),
            options.pop("dilation", dilation),
            **options,
        )

    dw: list[Bug] = [
        (
            "overwrite instead of accumulate: dw gets a contribution from every output position; add "
            "(+=) them up.",
            lambda: dw_from(overwrite=True),
        ),
        (
            "dw is flipped: dw[o, c, u, v] = sum dout[n, o, i, j] * x_pad[n, c, i*s + u*d, j*s + v*d].",
            lambda: dw_from()[:, :, ::-1, ::-1],
        ),
    ]
    if n > 1:
        dw += [
            (
                "dw is not summed over the batch: it is right for one image only. The weights are shared "
                "by every image, so add the contributions of all N images.",
                lambda: dw_from(dout=dout[:1], x_pad=x_pad[:1]),
            ),
            (
                "dw is not summed over the batch: it is right for the last image only (each image "
                "overwrote the previous one). Add the contributions of all N images.",
                lambda: dw_from(dout=dout[-1:], x_pad=x_pad[-1:]),
            ),
            (
                "dw is averaged over the batch: sum over the images, do not divide by N.",
                lambda: dw_from() / n,
            ),
        ]
    if stride != (1, 1):
        dw.append(
            (
                "the stride is ignored when dw reads the windows: output (i, j) saw the window at "
                "(i * stride, j * stride).",
                lambda: dw_from(stride=(1, 1)),
            )
        )
    if ph or pw:
        dw.append(
            (
                "dw reads the windows from the unpadded x: read them from x_pad, the input the forward "
                "pass convolved.",
                lambda: _conv_dw(
                    dout,
                    np.pad(x, [(0, 0), (0, 0), (0, 2 * ph), (0, 2 * pw)]),
                    kernel,
                    stride,
                    dilation,
                ),
            )
        )
    if dilation != (1, 1):
        dw.append(
            ("the dilation is ignored when dw reads the windows.", lambda: dw_from(dilation=(1, 1)))
        )
    db: list[Bug] = [
        (
            "db is summed over the batch axis only: db[o] = sum over n, i, j of dout[n, o, i, j].",
            lambda: dout.sum(axis=0),
        ),
        (
            "db is summed over the positions only: also sum over the batch (axis 0).",
            lambda: dout.sum(axis=(2, 3)),
        ),
        (
            "db is summed over everything: keep one entry per output channel, dout.sum(axis=(0, 2, 3)).",
            lambda: dout.sum(),
        ),
        (
            "db is the mean of dout: the bias is added to every output, so db is the sum.",
            lambda: dout.mean(axis=(0, 2, 3)),
        ),
        (
            "db is summed over the channel axis: db[o] sums over n, i, j.",
            lambda: dout.sum(axis=(1, 2, 3)),
        ),
    ]
    if n > 1:
        db.append(
            (
                "db is right for one image only: sum over the batch too.",
                lambda: dout[0].sum(axis=(1, 2)),
            )
        )
    return {"dx": dx, "dw": dw, "db": db}


def _squeeze_bugs(bugs: list[Bug]) -> list[Bug]:
    """The 2-D bugs of a height-1 case as 1-D results: (N, C, 1, L) -> (N, C, L)."""

    def one_d(make: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            value = np.asarray(make())
            if value.ndim == 4:
                if value.shape[2] != 1:
                    raise ValueError("not a 1-D mistake")
                return value[:, :, 0]
            return value

        return run

    return [
        (message.replace("[:, :, ph:ph + H, pw:pw + W]", "[:, :, p:p + L]"), one_d(make))
        for message, make in bugs
        if "p:-p" not in message
    ]


def _check_gradients(
    got: tuple,
    expected: tuple[np.ndarray, np.ndarray, np.ndarray],
    name: str,
    bugs: dict[str, list[Bug]],
    margin: Pair,
) -> None:
    dx, dw, db = got
    try:
        _assert_close(dx, expected[0], f"dx of {name}", bugs["dx"])
    except AssertionError as exc:
        hint = _border_hint(dx, expected[0], margin) if expected[0].ndim == 4 else None
        if hint and "Likely mistake" not in str(exc):
            raise AssertionError(f"{exc}\n{hint}") from None
        raise
    _assert_close(dw, expected[1], f"dw of {name}", bugs["dw"])
    _assert_close(db, expected[2], f"db of {name}", bugs["db"])


def _check_conv1d_backward_case(
    fn: Callable, case: dict[str, Any], dout: np.ndarray | None = None, label: str = ""
) -> None:
    x, w, s, p, d = case["x"], case["w"], case["stride"], case["padding"], case["dilation"]
    out = reference.conv1d(x, w, stride=s, padding=p, dilation=d)
    dout = np.ones(out.shape) if dout is None else dout
    expected = reference.conv1d_backward(dout, x, w, stride=s, padding=p, dilation=d)
    name = describe_call("conv1d_backward", dout, x, w, stride=s, padding=p, dilation=d) + label
    got = _unpack(
        call_student(fn, dout, x, w, stride=s, padding=p, dilation=d, exercise="conv1d_backward"),
        3,
        name,
        "(dx, dw, db)",
    )
    bugs2 = _conv_gradient_bugs(
        dout[:, :, None], x[:, :, None], w[:, :, None], (1, s), (0, p), (1, d)
    )
    bugs = {key: _squeeze_bugs(value) for key, value in bugs2.items()}
    uncropped = _squeeze_bugs(bugs2["dx"][:1])[0][1]
    bugs["dx"].append(
        (
            "dx_pad[:, :, p:-p] with p = 0 is empty (-0 is 0): crop with dx_pad[:, :, p:p + L].",
            lambda: uncropped()[:, :, p:-p],
        )
    )
    bugs["db"] = [
        (
            "db is summed over the batch axis only: db[o] = sum over n and t of dout[n, o, t].",
            lambda: dout.sum(axis=0),
        ),
        (
            "db is summed over the positions only: also sum over the batch.",
            lambda: dout.sum(axis=2),
        ),
        (
            "db is summed over everything: one entry per output channel, dout.sum(axis=(0, 2)).",
            lambda: dout.sum(),
        ),
    ]
    _check_gradients(got, expected, name, bugs, (0, p))


@_checker
def check_conv1d_backward(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(dout, x, w, stride, padding, dilation) -> (dx, dw, db)`` against autograd: Lecture 2's example, then random cases."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)

    def deck(**options: Any) -> dict[str, Any]:
        base = {
            "x": DECK2_X[None, None],
            "w": DECK2_W[None, None],
            "b": None,
            "stride": 1,
            "padding": 0,
            "dilation": 1,
        }
        return {**base, **options}

    if cases == "visible":
        rng = np.random.default_rng(3)
        selected = [
            (
                deck(),
                None,
                " (Lecture 2's example, dout = ones: expect dx [3, 5, 7, 7, 4, 2], dw [5, 7, 8], db [4])",
            ),
            (deck(stride=2), None, " (stride 2, dout = ones: expect dx [3, 2, 5, 2, 2, 0])"),
            (deck(padding=1), None, " (padding 1: dx is cropped back to 6 entries)"),
            (deck(dilation=2), None, " (dilation 2)"),
        ]
        for _ in range(3):
            selected.append(
                (random_conv1d_case(rng, padding=[0, 1, 2], max_length=10), "random", "")
            )
    else:
        rng = hidden_rng(seed)
        selected = [
            (random_conv1d_case(rng, padding=[0, 1, 2, 3]), "random", "")
            for _ in range(2 * HIDDEN_RANDOM_CASES_3)
        ]
    for case, dout, label in selected:
        if isinstance(dout, str):
            out = reference.conv1d(
                case["x"],
                case["w"],
                stride=case["stride"],
                padding=case["padding"],
                dilation=case["dilation"],
            )
            dout = rng.standard_normal(out.shape)
        _check_conv1d_backward_case(fn, case, dout, label)
    _report("conv1d_backward", len(selected), cases)


def _conv2d_options(case: dict[str, Any]) -> dict[str, Any]:
    return {"stride": case["stride"], "padding": case["padding"], "dilation": case["dilation"]}


def _conv2d_case(x, w, b=None, stride=1, padding=0, dilation=1) -> dict[str, Any]:
    as_array = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return {
        "x": as_array(x),
        "w": as_array(w),
        "b": as_array(b),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
    }


_FEATURE_CASES: dict[str, dict[str, Any]] = {
    "basic": dict(stride=1, padding=0, dilation=1, batch=[1, 2, 3]),
    "stride_padding": dict(
        stride=[1, 2, 3, (2, 1), (1, 3)], padding=[0, 1, 2, (1, 0), (0, 2), (2, 1)], dilation=1
    ),
    "dilation": dict(dilation=[2, (2, 1), (1, 3)], stride=[1, 2, (1, 2)], padding=[0, 1, (1, 2)]),
}


def _random_conv2d(rng: np.random.Generator, feature: str) -> dict[str, Any]:
    return random_conv2d_case(rng, max_size=9, **_FEATURE_CASES[feature])


def _visible_conv2d_cases(feature: str) -> list[tuple[dict[str, Any], str]]:
    rng = np.random.default_rng(33)
    small = SMALL_IMAGE[None, None]
    kernel = SMALL_KERNEL[None, None]
    randoms = [(_random_conv2d(rng, feature), "") for _ in range(3)]
    if feature == "basic":
        return [
            (
                _conv2d_case(small, kernel, [0.5]),
                " (the worked example, dout = ones: expect dx [[1, 1, 0], [1, 0, -1], [0, -1, -1]], dw [[12, 16], [24, 28]], db [4])",
            ),
            (
                _conv2d_case(np.stack([small, 2 * small])[:, 0:1, 0], kernel),
                " (a batch of two images: dw adds both)",
            ),
            *randoms,
        ]
    if feature == "stride_padding":
        return [
            (_conv2d_case(small, kernel, padding=1), " (padding 1: dx is cropped back to 3x3)"),
            (
                _conv2d_case(
                    np.arange(30.0).reshape(1, 1, 5, 6), np.ones((1, 1, 3, 2)), stride=(2, 3)
                ),
                " (stride (2, 3): no window overlaps)",
            ),
            (
                _conv2d_case(
                    np.arange(35.0).reshape(1, 1, 5, 7),
                    np.ones((2, 1, 3, 3)),
                    stride=2,
                    padding=(1, 0),
                ),
                " (stride 2 < kernel 3: the windows overlap)",
            ),
            *randoms,
        ]
    return [
        (
            _conv2d_case(np.arange(36.0).reshape(1, 1, 6, 6), np.ones((1, 1, 2, 2)), dilation=2),
            " (dilation 2)",
        ),
        *randoms,
    ]


def _forward_name(case: dict[str, Any]) -> str:
    return describe_call("conv2d_forward", case["x"], case["w"], case["b"], **_conv2d_options(case))


def _conv2d_forward_bugs(case: dict[str, Any], expected: np.ndarray) -> list[Bug]:
    x, w, b = case["x"], case["w"], case["b"]
    options = _conv2d_options(case)
    bugs: list[Bug] = [
        (
            "the kernel is flipped (a textbook convolution); CNNs use cross-correlation.",
            lambda: reference.conv2d(x, w[:, :, ::-1, ::-1], b, **options),
        ),
    ]
    if b is not None:
        bugs.append(
            (
                "the bias is missing: add b[o] to every output of channel o.",
                lambda: reference.conv2d(x, w, None, **options),
            )
        )
    if case["stride"] != 1:
        bugs.append(
            (
                "the stride is ignored.",
                lambda: reference.conv2d(x, w, b, **{**options, "stride": 1}),
            )
        )
    if case["dilation"] != 1:
        bugs.append(
            (
                "the dilation is ignored.",
                lambda: reference.conv2d(x, w, b, **{**options, "dilation": 1}),
            )
        )
    if case["padding"] != 0:
        bugs.append(
            (
                "the padding is ignored.",
                lambda: reference.conv2d(x, w, b, **{**options, "padding": 0}),
            )
        )
    return bugs


def _student_forward(
    forward: Callable, case: dict[str, Any], purpose: str = ""
) -> tuple[Any, Any, str]:
    name = _forward_name(case)
    result = call_student(
        forward, case["x"], case["w"], case["b"], exercise="conv2d_forward", **_conv2d_options(case)
    )
    out, cache = _unpack(
        result, 2, name + purpose, "(out, cache): the output and what backward needs"
    )
    return out, cache, name


def _check_conv2d_forward_case(forward: Callable, case: dict[str, Any], label: str = "") -> None:
    expected = reference.conv2d(case["x"], case["w"], case["b"], **_conv2d_options(case))
    out, _, name = _student_forward(forward, case)
    _assert_close(out, expected, name + label, _conv2d_forward_bugs(case, expected))


@_checker
def check_conv2d_forward(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x, w, b, stride, padding, dilation) -> (out, cache)``: out as torch's conv2d; stride, padding, dilation as an int or an (h, w) pair."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        selected = [
            case for feature in CONV2D_BACKWARD_FEATURES for case in _visible_conv2d_cases(feature)
        ]
    else:
        rng = hidden_rng(seed)
        selected = [
            (_random_conv2d(rng, feature), "")
            for feature in CONV2D_BACKWARD_FEATURES
            for _ in range(4)
        ]
    for case, label in selected:
        _check_conv2d_forward_case(fn, case, label)
    _report("conv2d_forward", len(selected), cases)


def _check_conv2d_backward_case(
    forward: Callable,
    backward: Callable,
    case: dict[str, Any],
    dout: np.ndarray | None,
    label: str,
    exercise: str,
) -> None:
    options = _conv2d_options(case)
    out_shape = reference.conv2d(case["x"], case["w"], case["b"], **options).shape
    dout = np.ones(out_shape) if dout is None else dout
    _, cache, forward_name = _student_forward(
        forward, case, f" (run to get the cache for {exercise})"
    )
    name = f"{exercise}({describe_value(dout)}, cache of {forward_name})" + label
    got = _unpack(call_student(backward, dout, cache, exercise=exercise), 3, name, "(dx, dw, db)")
    expected = reference.conv2d_backward(dout, case["x"], case["w"], **options)
    stride, pads, dilation = _pair(case["stride"]), _pair(case["padding"]), _pair(case["dilation"])
    bugs = _conv_gradient_bugs(dout, case["x"], case["w"], stride, pads, dilation)
    _check_gradients(got, expected, name, bugs, pads)


def _conv2d_backward_cases(
    feature: str, cases: str, seed: int
) -> list[tuple[dict[str, Any], np.ndarray | None, str]]:
    if cases == "visible":
        rng = np.random.default_rng(44)
        chosen = _visible_conv2d_cases(feature)
        selected = [
            (case, None if index == 0 else rng, label) for index, (case, label) in enumerate(chosen)
        ]
    else:
        rng = hidden_rng(seed)
        selected = [(_random_conv2d(rng, feature), rng, "") for _ in range(HIDDEN_RANDOM_CASES_3)]
    result = []
    for case, source, label in selected:
        dout = None
        if source is not None:
            shape = reference.conv2d(case["x"], case["w"], case["b"], **_conv2d_options(case)).shape
            dout = source.standard_normal(shape)
        result.append((case, dout, label))
    return result


@_checker
def check_conv2d_backward(
    forward: Callable,
    backward: Callable,
    feature: str = "basic",
    cases: str = "visible",
    seed: int = 0,
) -> None:
    """Check ``backward(dout, cache) -> (dx, dw, db)`` (cache from ``forward``) against autograd for one ``feature``.

    ``feature`` is one of ``CONV2D_BACKWARD_FEATURES``: "basic" (batches and channels, stride 1,
    no padding), "stride_padding" (per axis, overlapping and separate windows) or "dilation".
    """
    if feature not in CONV2D_BACKWARD_FEATURES:
        raise ValueError(f"feature must be one of {CONV2D_BACKWARD_FEATURES}, got {feature!r}")
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    selected = _conv2d_backward_cases(feature, cases, seed)
    for case, dout, label in selected:
        _check_conv2d_backward_case(forward, backward, case, dout, label, "conv2d_backward")
    _report(f"conv2d_backward ({feature})", len(selected), cases)


# --------------------------------------------------------------------------------------------
# Part E: col2im and the im2col backward pass
# --------------------------------------------------------------------------------------------


def _col2im_bugs(
    cols: np.ndarray, shape: tuple[int, ...], k: Any, s: Any, p: Any, d: Any
) -> list[Bug]:
    kernel, strides, pads, dilations = _pair(k), _pair(s), _pair(p), _pair(d)
    n, c, h, w = shape
    padded = (n, c, h + 2 * pads[0], w + 2 * pads[1])
    out = tuple(
        (size - dd * (kk - 1) - 1) // ss + 1
        for size, kk, ss, dd in zip(padded[2:], kernel, strides, dilations, strict=True)
    )
    blocks = cols.reshape(n, c, *kernel, *out)

    def place(overwrite: bool = False, stride: Pair = strides, crop: bool = True) -> np.ndarray:
        dx_pad = np.zeros(padded)
        for i, j, rows, cols_ in _windows(out, kernel, stride, dilations):
            if overwrite:
                dx_pad[:, :, rows, cols_] = blocks[:, :, :, :, i, j]
            else:
                dx_pad[:, :, rows, cols_] += blocks[:, :, :, :, i, j]
        return _crop(dx_pad, pads) if crop else dx_pad

    bugs: list[Bug] = [
        (
            "overlapping entries are overwritten: col2im is the adjoint of im2col, so every column entry "
            "that came from the same input position is ADDED back there (+=).",
            lambda: place(overwrite=True),
        ),
        (
            "the padding is not cropped: return the (N, C, H, W) gradient of the unpadded input.",
            lambda: place(crop=False),
        ),
    ]
    if strides != (1, 1):
        bugs.append(
            (
                "the stride is ignored: column (i, j) came from the window at (i*sh, j*sw).",
                lambda: place(stride=(1, 1)),
            )
        )
    return bugs


def _check_col2im_case(
    fn: Callable,
    cols: np.ndarray,
    shape: tuple[int, ...],
    k: Any,
    s: Any,
    p: Any,
    d: Any,
    label: str = "",
) -> None:
    expected = col2im_2d_reference(cols, shape, k, s, p, d)
    name = describe_call("col2im_2d", cols, shape, k, stride=s, padding=p, dilation=d) + label
    actual = call_student(fn, cols, shape, k, stride=s, padding=p, dilation=d, exercise="col2im_2d")
    _assert_close(actual, expected, name, _col2im_bugs(cols, shape, k, s, p, d))


def _col2im_case(
    rng: np.random.Generator,
) -> tuple[np.ndarray, tuple[int, ...], Any, Any, Any, Any]:
    case = random_conv2d_case(rng, max_size=8, padding=[0, 1, (1, 0), (0, 2)])
    k = tuple(case["w"].shape[2:])
    k = k[0] if k[0] == k[1] else k
    cols = im2col_2d_reference(case["x"], k, case["stride"], case["padding"], case["dilation"])
    return (
        rng.standard_normal(cols.shape),
        case["x"].shape,
        k,
        case["stride"],
        case["padding"],
        case["dilation"],
    )


@_checker
def check_col2im_2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(cols, x_shape, kernel_size, stride, padding, dilation) -> (N, C, H, W)``: the adjoint of im2col_2d (overlaps add, padding cropped)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        rng = np.random.default_rng(55)
        ones = np.ones((1, 4, 4))
        selected = [
            (
                ones,
                (1, 1, 3, 3),
                2,
                1,
                0,
                1,
                " (all ones, 2x2 windows, stride 1: each entry counts its windows, expect [[1, 2, 1], [2, 4, 2], [1, 2, 1]])",
            ),
            (
                np.arange(1.0, 17).reshape(1, 4, 4),
                (1, 1, 4, 4),
                2,
                2,
                0,
                1,
                " (stride 2: no overlap, a rearrangement)",
            ),
            (
                np.ones((1, 4, 16)),
                (1, 1, 3, 3),
                2,
                1,
                1,
                1,
                " (padding 1: the padded rim is cropped)",
            ),
        ]
        selected += [(*_col2im_case(rng), "") for _ in range(3)]
    else:
        rng = hidden_rng(seed)
        selected = [(*_col2im_case(rng), "") for _ in range(2 * HIDDEN_RANDOM_CASES_3)]
    for cols, shape, k, s, p, d, label in selected:
        _check_col2im_case(fn, cols, shape, k, s, p, d, label)
    if cases == "hidden":  # the adjoint identity <im2col(x), c> = <x, col2im(c)>
        cols, shape, k, s, p, d = _col2im_case(rng)
        x = rng.standard_normal(shape)
        back = call_student(
            fn, cols, shape, k, stride=s, padding=p, dilation=d, exercise="col2im_2d"
        )
        left = float(np.sum(im2col_2d_reference(x, k, s, p, d) * cols))
        assert_array_close(
            np.sum(np.asarray(back, dtype=np.float64) * x),
            left,
            name="<x, col2im_2d(c)>, which must equal <im2col_2d(x), c> (col2im is im2col's adjoint)",
        )
        selected.append(None)
    _report("col2im_2d", len(selected), cases)


def _check_no_position_loop(
    forward: Callable, backward: Callable, namespace: dict[str, Any]
) -> None:
    """conv2d_backward_im2col calls col2im_2d once, not the loop version, and runs as many lines for a large input as for a small one."""
    col2im = namespace.get("col2im_2d")
    if not callable(col2im):
        raise AssertionError("col2im_2d is not defined: run the cell with your col2im_2d first")
    calls = {"col2im_2d": 0}

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["col2im_2d"] += 1
        return col2im(*args, **kwargs)

    def blocked(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(
            "conv2d_backward_im2col called your loop version conv2d_backward: compute dw and dx with "
            "matrix products on the columns, and col2im_2d for dx"
        )

    rng = np.random.default_rng(6)
    small = _conv2d_case(
        rng.standard_normal((1, 1, 4, 5)), rng.standard_normal((1, 1, 2, 3)), [1.0], padding=1
    )
    large = _conv2d_case(
        rng.standard_normal((3, 4, 9, 11)),
        rng.standard_normal((5, 4, 2, 3)),
        rng.standard_normal(5),
        padding=1,
    )

    def prepared(case: dict[str, Any]) -> tuple[np.ndarray, Any]:
        out, cache, _ = _student_forward(
            forward, case, " (run to get the cache for conv2d_backward_im2col)"
        )
        return np.ones(np.shape(out)), cache

    with _names_replaced(namespace, {"col2im_2d": counted, "conv2d_backward": blocked}):
        dout, cache = prepared(large)
        try:
            call_student(backward, dout, cache, exercise="conv2d_backward_im2col")
        except AssertionError as exc:
            if "loop version" in str(exc):
                raise AssertionError(str(exc).split(" raised AssertionError: ")[-1]) from None
            raise
        if calls["col2im_2d"] != 1:
            raise AssertionError(
                f"conv2d_backward_im2col called col2im_2d {calls['col2im_2d']} times for a batch of 3 "
                "images; call it once: dx = col2im_2d(w_matrix.T @ dout_matrix, x.shape, ...)"
            )
    runs = []
    for case in (small, large):
        dout, cache = prepared(case)
        runs.append(
            _student_lines_run(
                lambda dout=dout, cache=cache: call_student(
                    backward, dout, cache, exercise="conv2d_backward_im2col"
                )
            )
        )
    if runs[0] != runs[1]:
        raise AssertionError(
            f"conv2d_backward_im2col (with the im2col_2d and col2im_2d it calls) ran {runs[0]} lines of "
            f"your code for one 1-channel 4x5 image and {runs[1]} for three 4-channel 9x11 images: a "
            "Python loop over images, channels or positions is hidden in it. Loop at most over the "
            "kernel taps (in im2col_2d and col2im_2d); matrix products do the rest."
        )


@_checker
def check_conv2d_backward_im2col(
    forward: Callable, backward: Callable, cases: str = "visible", seed: int = 0
) -> None:
    """Check ``backward(dout, cache)`` (im2col and col2im, no loop over positions) gives conv2d_backward's gradients."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    namespace = _namespace(backward)
    if cases == "visible" and namespace is not None:
        _check_no_position_loop(forward, backward, namespace)
    selected = []
    for index, feature in enumerate(CONV2D_BACKWARD_FEATURES):
        chosen = _conv2d_backward_cases(feature, cases, seed + index)
        selected += chosen if cases == "visible" else chosen[: HIDDEN_RANDOM_CASES_3 // 2]
    for case, dout, label in selected:
        _check_conv2d_backward_case(forward, backward, case, dout, label, "conv2d_backward_im2col")
    _report("conv2d_backward_im2col", len(selected), cases)


# --------------------------------------------------------------------------------------------
# Part F: pooling backward
# --------------------------------------------------------------------------------------------


def _pool_options(kind: str, k: Any, s: Any, p: Any, include_pad: bool | None) -> dict[str, Any]:
    options: dict[str, Any] = {"stride": s, "padding": p}
    if kind == "avg" and include_pad is not None:
        options["count_include_pad"] = include_pad
    return options


def _pool_expected(
    kind: str, dout: np.ndarray | None, x: np.ndarray, k: Any, s: Any, p: Any, include_pad: bool
) -> np.ndarray:
    if kind == "max":
        return (
            reference.max_pool2d(x, k, s, p)
            if dout is None
            else reference.max_pool2d_backward(dout, x, k, s, p)
        )
    if dout is None:
        return reference.avg_pool2d(x, k, s, p, count_include_pad=include_pad)
    return reference.avg_pool2d_backward(dout, x, k, s, p, count_include_pad=include_pad)


def _pool_backward_bugs(
    kind: str, dout: np.ndarray, x: np.ndarray, k: Any, s: Any, p: Any, include_pad: bool
) -> list[Bug]:
    kernel, pads = _pair(k), _pair(p)
    stride = kernel if s is None else _pair(s)
    shape = x.shape[2:]

    def routed(rule: str, **options: Any) -> np.ndarray:
        crop = options.pop("crop", True)
        dx_pad = _pool_scatter(
            dout, x, kernel, options.pop("stride", stride), pads, rule, **options
        )
        return _crop(dx_pad, pads) if crop else dx_pad

    if kind == "max":
        bugs: list[Bug] = [
            (
                "the gradient goes to EVERY maximum of a window with ties: it belongs to one input only, "
                "the first maximum in row-major order (what argmax returns), as in PyTorch.",
                lambda: routed("all"),
            ),
            (
                "the gradient goes to the LAST maximum of a window with ties (a >= comparison while "
                "scanning): keep the first one, a strict > (or np.argmax).",
                lambda: routed("last"),
            ),
            (
                "the gradient is split among tied maxima: it goes whole to the first maximum.",
                lambda: routed("split"),
            ),
            (
                "the gradient goes to the window's first element, not to its maximum: find the arg-max "
                "(deck 000: d a / d x_ij = 1 only at (i_max, j_max)).",
                lambda: routed("corner"),
            ),
            (
                "overwrite instead of accumulate: when windows overlap (stride < kernel) an input that "
                "is the maximum of two windows gets both gradients; add them (+=).",
                lambda: routed("first", overwrite=True),
            ),
            ("the padding is not cropped: dx has x's shape.", lambda: routed("first", crop=False)),
        ]
    else:
        real = _avg_counts(shape, kernel, stride, pads, dout.shape[2:])
        full = kernel[0] * kernel[1]
        divisor = full if include_pad else real

        def averaged(div: Any, **options: Any) -> np.ndarray:
            crop = options.pop("crop", True)
            dx_pad = _avg_scatter(dout, kernel, options.pop("stride", stride), pads, shape, div)
            return _crop(dx_pad, pads) if crop else dx_pad

        bugs = [
            (
                "the gradient is not divided by the window size: each input of a window contributed "
                "1/(kH*kW) of the average (deck 000: d a / d x_ij = 1/(rc)).",
                lambda: averaged(1.0),
            ),
            (
                "the gradient is divided by kH only: divide by kH * kW, the window's size.",
                lambda: averaged(float(kernel[0])),
            ),
            (
                "the gradient is divided by the window size twice.",
                lambda: averaged(float(full) ** 2),
            ),
            (
                "overwrite instead of accumulate: overlapping windows add their gradients (+=).",
                lambda: _crop(_avg_scatter(dout, kernel, stride, pads, shape, divisor, True), pads),
            ),
            (
                "the padding is not cropped: dx has x's shape.",
                lambda: averaged(divisor, crop=False),
            ),
            (
                "count_include_pad is ignored: with True (the default) divide by kH*kW; with False by the "
                "number of real inputs in the window (what the forward pass divided by).",
                lambda: averaged(real if include_pad else full),
            ),
        ]
    if stride != (1, 1):
        if kind == "max":
            ignored = lambda: routed("first", stride=(1, 1))  # noqa: E731
        else:
            ignored = lambda: _crop(_avg_scatter(dout, kernel, (1, 1), pads, shape, divisor), pads)  # noqa: E731
        bugs.append(
            (
                "the stride is ignored in the scatter: output (i, j) came from the window at "
                "(i * stride, j * stride), so its gradient goes back there (right for stride 1 only).",
                ignored,
            )
        )
    return bugs


def _check_pool_backward_case(
    forward: Callable,
    backward: Callable,
    kind: str,
    x: np.ndarray,
    k: Any,
    s: Any = None,
    p: Any = 0,
    include_pad: bool | None = None,
    dout: np.ndarray | None = None,
    label: str = "",
) -> None:
    cip = True if include_pad is None else include_pad
    options = _pool_options(kind, k, s, p, include_pad)
    exercise = f"{kind}_pool2d_forward"
    name = describe_call(exercise, x, k, **options)
    out, cache = _unpack(
        call_student(forward, x, k, exercise=exercise, **options), 2, name, "(out, cache)"
    )
    expected_out = _pool_expected(kind, None, x, k, s, p, cip)
    _assert_close(out, expected_out, name + label)
    dout = np.ones(expected_out.shape) if dout is None else dout
    back = f"{kind}_pool2d_backward({describe_value(dout)}, cache of {name})" + label
    dx = call_student(backward, dout, cache, exercise=f"{kind}_pool2d_backward")
    expected = _pool_expected(kind, dout, x, k, s, p, cip)
    _assert_close(dx, expected, back, _pool_backward_bugs(kind, dout, x, k, s, p, cip))


def _random_pool_cases(rng: np.random.Generator, count: int, kind: str) -> list[tuple]:
    selected = []
    for index in range(count):
        overlap = index % 2 == 0  # every other case has overlapping windows (stride < kernel)
        case = random_pool_case(rng, stride=[1, 2] if overlap else [None, 3], max_size=9)
        cip = None if kind == "max" else bool(rng.integers(2))
        out = _pool_expected(
            kind,
            None,
            case["x"],
            case["kernel_size"],
            case["stride"],
            case["padding"],
            True if cip is None else cip,
        )
        selected.append(
            (
                case["x"],
                case["kernel_size"],
                case["stride"],
                case["padding"],
                cip,
                rng.standard_normal(out.shape),
                "",
            )
        )
    return selected


@_checker
def check_max_pool2d_backward(
    forward: Callable, backward: Callable, cases: str = "visible", seed: int = 0
) -> None:
    """Check ``max_pool2d_forward -> (out, cache)`` and ``max_pool2d_backward(dout, cache) -> dx`` on tie-free inputs, overlapping windows included."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        rng = np.random.default_rng(66)
        deck = DECK0_POOL[None, None]
        selected: list[tuple] = [
            (
                deck,
                3,
                None,
                0,
                None,
                None,
                " (deck 000's 6x6 map, 3x3 windows: out [[8, 7], [6, 7]]; dx is 1 at each window's maximum)",
            ),
            (
                deck,
                3,
                1,
                0,
                None,
                None,
                " (stride 1 < kernel 3: an input that is the maximum of several windows collects all their gradients)",
            ),
            (
                tie_free(rng, (2, 3, 5, 6)),
                (2, 3),
                (1, 2),
                1,
                None,
                rng.standard_normal((2, 3, 6, 3)),
                " (padding 1, stride (1, 2))",
            ),
        ]
        selected += _random_pool_cases(rng, 3, "max")
    else:
        rng = hidden_rng(seed)
        selected = _random_pool_cases(rng, 2 * HIDDEN_RANDOM_CASES_3, "max")
        selected.append(
            (
                tie_free(rng, (1, 2, 5, 5)) - 3,
                3,
                1,
                1,
                None,
                rng.standard_normal((1, 2, 5, 5)),
                " (negative inputs, padding 1: the padding never wins)",
            )
        )
    for x, k, s, p, cip, dout, label in selected:
        _check_pool_backward_case(forward, backward, "max", x, k, s, p, cip, dout, label)
    _report("max_pool2d_forward / max_pool2d_backward", len(selected), cases)


@_checker
def check_max_pool2d_ties(
    forward: Callable, backward: Callable, cases: str = "visible", seed: int = 0
) -> None:
    """Check that max_pool2d_backward sends each window's gradient to its FIRST maximum (row-major), as PyTorch does, when values tie."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        selected: list[tuple] = [
            (
                POOL_INPUT[None, None],
                2,
                None,
                0,
                None,
                None,
                " (Lecture 1's 4x4 example: the window [[1, 4], [4, 3]] has two maxima; only the first, row 2 column 3, gets the gradient)",
            ),
            (
                np.ones((1, 1, 2, 2)),
                2,
                None,
                0,
                None,
                np.array([[[[5.0]]]]),
                " (all equal: the top-left entry gets all of it)",
            ),
            (
                np.zeros((1, 2, 3, 4)),
                2,
                1,
                0,
                None,
                None,
                " (ReLU's zeros tie everywhere; stride 1)",
            ),
        ]
    else:
        rng = hidden_rng(seed)
        selected = []
        for _ in range(HIDDEN_RANDOM_CASES_3):
            case = random_pool_case(rng, max_size=7)
            x = rng.integers(0, 3, size=case["x"].shape).astype(float)  # few values: many ties
            out = reference.max_pool2d(x, case["kernel_size"], case["stride"], case["padding"])
            selected.append(
                (
                    x,
                    case["kernel_size"],
                    case["stride"],
                    case["padding"],
                    None,
                    rng.standard_normal(out.shape),
                    "",
                )
            )
    for x, k, s, p, cip, dout, label in selected:
        _check_pool_backward_case(forward, backward, "max", x, k, s, p, cip, dout, label)
    _report("max_pool2d_backward with ties", len(selected), cases)


@_checker
def check_avg_pool2d_backward(
    forward: Callable, backward: Callable, cases: str = "visible", seed: int = 0
) -> None:
    """Check ``avg_pool2d_forward -> (out, cache)`` and ``avg_pool2d_backward(dout, cache) -> dx``, with count_include_pad."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        rng = np.random.default_rng(77)
        selected: list[tuple] = [
            (
                POOL_INPUT[None, None],
                2,
                None,
                0,
                None,
                None,
                " (Lecture 1's 4x4 example, dout = ones: every input gets 1/4)",
            ),
            (
                POOL_INPUT[None, None],
                3,
                1,
                0,
                None,
                None,
                " (3x3 windows, stride 1: the centre is in 4 windows, 4/9)",
            ),
            (
                POOL_INPUT[None, None],
                2,
                None,
                1,
                False,
                None,
                " (padding 1, count_include_pad=False: a corner window averages 1 real input)",
            ),
            (
                POOL_INPUT[None, None],
                2,
                None,
                1,
                True,
                None,
                " (padding 1, count_include_pad=True: every window divides by 4)",
            ),
        ]
        selected += _random_pool_cases(rng, 3, "avg")
    else:
        rng = hidden_rng(seed)
        selected = _random_pool_cases(rng, 2 * HIDDEN_RANDOM_CASES_3, "avg")
    for x, k, s, p, cip, dout, label in selected:
        _check_pool_backward_case(forward, backward, "avg", x, k, s, p, cip, dout, label)
    _report("avg_pool2d_forward / avg_pool2d_backward", len(selected), cases)


# --------------------------------------------------------------------------------------------
# Argument errors of the backward functions
# --------------------------------------------------------------------------------------------


def _layer_call(layer: str, x: np.ndarray) -> tuple[tuple, dict[str, Any], tuple[int, ...]]:
    """(args, kwargs, output shape) of a forward call of ``layer`` on ``x`` (N, C, H, W)."""
    if layer == "relu":
        return (x,), {}, x.shape
    if layer == "conv2d":
        w = np.ones((2, x.shape[1], 2, 2))
        return (
            (x, w, np.zeros(2)),
            {"stride": 1, "padding": 1},
            reference.conv2d(x, w, padding=1).shape,
        )
    kind = layer.split("_")[0]
    shape = _pool_expected(kind, None, x, 2, None, 0, True).shape
    return (x, 2), {}, shape


@_checker
def check_backward_errors(
    backward: Callable,
    forward: Callable,
    other_forward: Callable,
    layer: str = "conv2d",
    cases: str = "visible",
) -> None:
    """Check ``backward`` raises ValueError for a dout of the wrong shape or a cache from ``other_forward`` (another layer).

    Any ValueError earns the points; a message that does not name ``dout`` or ``cache`` is
    printed as advice.
    """
    if layer not in BACKWARD_LAYERS:
        raise ValueError(f"layer must be one of {BACKWARD_LAYERS}, got {layer!r}")
    cases = _check_cases(cases)
    x = np.arange(2 * 3 * 4 * 6, dtype=np.float64).reshape(2, 3, 4, 6) / 10 - 7
    others = {
        "relu": "conv2d",
        "conv2d": "relu",
        "max_pool2d": "avg_pool2d",
        "avg_pool2d": "max_pool2d",
    }
    args, kwargs, shape = _layer_call(layer, x)
    other_args, other_kwargs, _ = _layer_call(others[layer], x)
    name = f"{layer}_forward"
    count = 0
    advice: list[str | None] = []

    def cache_of(fn: Callable, exercise: str, call_args: tuple, call_kwargs: dict) -> Any:
        described = describe_call(exercise, *call_args, **call_kwargs)
        return _unpack(
            call_student(fn, *call_args, exercise=exercise, **call_kwargs),
            2,
            described,
            "(out, cache)",
        )[1]

    cache = cache_of(forward, name, args, kwargs)
    wrong_shapes = (
        [shape[:-1] + (shape[-1] + 1,)]
        if cases == "visible"
        else [(shape[0] + 1, *shape[1:]), shape[:-1], (shape[1], shape[0], *shape[2:])]
    )
    for wrong in wrong_shapes:
        if wrong == shape:
            continue
        advice.append(
            _expect_argument_error(
                backward,
                np.ones(wrong),
                cache,
                because=f"dout has shape {wrong} but the forward output has shape {shape}",
                mentions=("dout",),
                exercise=f"{layer}_backward",
            )
        )
        count += 1
    if cases == "visible" or layer in ("relu", "conv2d"):
        other = cache_of(other_forward, f"{others[layer]}_forward", other_args, other_kwargs)
        advice.append(
            _expect_argument_error(
                backward,
                np.ones(shape),
                other,
                because=f"the cache comes from {others[layer]}_forward, not from {name}",
                mentions=("cache",),
                exercise=f"{layer}_backward",
            )
        )
        count += 1
    if cases == "hidden":
        advice.append(
            _expect_argument_error(
                backward,
                np.ones(shape),
                "not a cache",
                because="the cache is a string, not what the forward pass returned",
                mentions=("cache",),
                exercise=f"{layer}_backward",
            )
        )
        count += 1
    _report(f"{layer}_backward argument checks", count, cases)
    _print_advice(advice)


# --------------------------------------------------------------------------------------------
# Part G: the transposed convolution as the backward pass of a convolution
# --------------------------------------------------------------------------------------------


def _transpose_bugs(
    x: np.ndarray, w: np.ndarray, s: Any, p: Any, op: Any, expected: np.ndarray
) -> list[Bug]:
    stride, pads, extra = _pair(s), _pair(p), _pair(op)

    def ref(**options: Any) -> np.ndarray:
        base = {"stride": stride, "padding": pads, "output_padding": extra}
        return reference.conv_transpose2d(x, options.pop("w", w), **{**base, **options})

    bugs: list[Bug] = [
        (
            "the kernel is flipped: the transposed convolution scatters each input times w itself "
            "(the flip appears only when it is written as a full convolution).",
            lambda: ref(w=w[:, :, ::-1, ::-1]),
        ),
        (
            "the padding is not cropped: `padding` removes that many rows and columns from each side of "
            "the scattered result.",
            lambda: ref(padding=(0, 0)),
        ),
    ]
    if extra != (0, 0):
        bugs.append(
            (
                "output_padding is ignored: it adds rows/columns at the bottom/right.",
                lambda: ref(output_padding=(0, 0)),
            )
        )
    if stride != (1, 1):
        bugs.append(
            (
                "the stride is ignored: input (i, j) scatters to the window starting at (i*s, j*s).",
                lambda: ref(stride=(1, 1), output_padding=(0, 0)),
            )
        )
    if w.shape[0] == w.shape[1]:
        bugs.append(
            (
                "w is read as (C_out, C_in, ...): a transposed convolution's w has shape (C_in, C_out, kH, kW).",
                lambda: ref(w=w.transpose(1, 0, 2, 3)),
            )
        )
    return bugs


def _check_transpose_case(
    fn: Callable, x: np.ndarray, w: np.ndarray, s: Any = 1, p: Any = 0, op: Any = 0, label: str = ""
) -> None:
    expected = reference.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op)
    name = describe_call("conv_transpose2d", x, w, stride=s, padding=p, output_padding=op) + label
    actual = call_student(
        fn, x, w, stride=s, padding=p, output_padding=op, exercise="conv_transpose2d"
    )
    _assert_close(actual, expected, name, _transpose_bugs(x, w, s, p, op, expected))


def _check_uses_conv2d_backward(fn: Callable, namespace: dict[str, Any]) -> None:
    calls = {"count": 0}
    replaced = {}
    for name in ("conv2d_backward", "conv2d_backward_im2col"):
        original = namespace.get(name)
        if callable(original):

            def counted(*args: Any, _original: Callable = original, **kwargs: Any) -> Any:
                calls["count"] += 1
                return _original(*args, **kwargs)

            replaced[name] = counted
    with _names_replaced(namespace, replaced):
        call_student(
            fn, TRANSPOSE_X[None, None], np.ones((1, 1, 3, 3)), exercise="conv_transpose2d"
        )
    if calls["count"] == 0:
        raise AssertionError(
            "conv_transpose2d did not call conv2d_backward (or conv2d_backward_im2col): write it as the "
            "input-gradient of a convolution, dx = conv2d_backward(x, cache)[0], with the cache of a "
            "conv2d_forward on an input of the output's shape"
        )


@_checker
def check_conv_transpose2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C_in, H, W), w (C_in, C_out, kH, kW), stride, padding, output_padding)`` equals torch's conv_transpose2d; visible cases check it uses conv2d_backward."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    namespace = _namespace(fn)
    if cases == "visible" and namespace is not None:
        _check_uses_conv2d_backward(fn, namespace)
    if cases == "visible":
        rng = np.random.default_rng(88)
        selected = [
            (
                TRANSPOSE_X[None, None],
                np.ones((1, 1, 3, 3)),
                1,
                0,
                0,
                " (deck 004: 2x2 in, 3x3 kernel of ones, 4x4 out: expect [[1, 3, 3, 2], [4, 10, 10, 6], [4, 10, 10, 6], [3, 7, 7, 4]])",
            ),
            (
                TRANSPOSE_X[None, None],
                np.ones((1, 1, 3, 3)),
                2,
                0,
                0,
                " (stride 2: 5x5, the copies overlap on one row and column)",
            ),
            (
                TRANSPOSE_X[None, None],
                np.ones((1, 1, 3, 3)),
                2,
                1,
                1,
                " (stride 2, padding 1, output_padding 1: 4x4)",
            ),
            (
                rng.standard_normal((2, 3, 3, 4)),
                rng.standard_normal((3, 2, 2, 3)),
                (2, 1),
                (1, 0),
                (1, 0),
                "",
            ),
        ]
    else:
        rng = hidden_rng(seed)
        selected = []
        for _ in range(HIDDEN_RANDOM_CASES_3):
            s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            size = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
            p = tuple(
                int(rng.integers(0, 1 + ((n - 1) * ss + kk - 1) // 2))
                for n, ss, kk in zip(size, s, k, strict=True)
            )
            op = tuple(int(rng.integers(0, ss)) for ss in s)
            x = rng.standard_normal((int(rng.integers(1, 3)), int(rng.integers(1, 4)), *size))
            w = rng.standard_normal((x.shape[1], int(rng.integers(1, 4)), *k))
            selected.append((x, w, s, p, op, ""))
    for x, w, s, p, op, label in selected:
        _check_transpose_case(fn, x, w, s, p, op, label)
    _report("conv_transpose2d", len(selected), cases)


# --------------------------------------------------------------------------------------------
# Part H: conv2d in autograd (Conv2dFunction)
# --------------------------------------------------------------------------------------------

_FUNCTION_HINTS = {
    "incorrect number of gradients": "backward must return one value per argument of forward, in "
    "the same order: (dx, dw, db, None, None, None), None for stride, padding and dilation.",
    "different than None": "return None for every argument that is not a tensor: stride, padding, "
    "dilation, and b when it is None.",
    "invalid gradient at index": "the gradients come back in the wrong order or shape: return them "
    "in the order of forward's arguments, (dx, dw, db, None, None, None).",
    "expected a torch.Tensor": "forward must return a tensor: torch.as_tensor(out, dtype=x.dtype, device=x.device).",
    "not connected": "call it as Conv2dFunction.apply(x, w, b, stride, padding, dilation), which "
    "connects the result to autograd; do not call forward directly.",
}


def _function_bugs(dout: np.ndarray, case: dict[str, Any], expected: tuple) -> dict[int, list[Bug]]:
    dx, dw, db = expected
    return {
        0: [
            (
                "the gradients come back in the wrong order: forward(ctx, x, w, b, ...) needs (dx, dw, db, ...).",
                lambda: dw,
            )
        ],
        1: [
            (
                "the gradients come back in the wrong order: forward(ctx, x, w, b, ...) needs (dx, dw, db, ...).",
                lambda: dx,
            )
        ],
        2: [("db is missing or misplaced.", lambda: np.zeros_like(db))],
    }


def _check_function_case(
    fn: Callable, case: dict[str, Any], dout: np.ndarray, label: str = ""
) -> None:
    options = _conv2d_options(case)
    name = describe_call("Conv2dFunction.apply", case["x"], case["w"], case["b"], **options) + label
    expected_out = reference.conv2d(case["x"], case["w"], case["b"], **options)
    try:
        result = call_student_torch(
            fn, case["x"], case["w"], case["b"], exercise="Conv2dFunction", dout=dout, **options
        )
    except AssertionError as exc:
        raise _call_failed_hint(exc, _FUNCTION_HINTS) from None
    if result.dtype != "torch.float64":
        raise AssertionError(
            f"{name}: float64 inputs gave a {result.dtype} result; return a tensor of x's dtype (dtype=x.dtype)"
        )
    _assert_close(result.output, expected_out, name, _conv2d_forward_bugs(case, expected_out))
    expected = reference.conv2d_backward(dout, case["x"], case["w"], **options)
    bugs = _function_bugs(dout, case, expected)
    for index, what in enumerate(("x", "w", "b")):
        if index == 2 and case["b"] is None:
            continue
        _assert_close(
            result.grads[index],
            expected[index],
            f"autograd's gradient of {name} with respect to {what}",
            bugs[index],
        )


def _gradcheck(fn: Callable, case: dict[str, Any]) -> None:
    """gradcheck's test: the student's autograd gradients against central differences of the student's own forward."""
    options = _conv2d_options(case)
    dout = np.random.default_rng(9).standard_normal(
        reference.conv2d(case["x"], case["w"], case["b"], **options).shape
    )
    try:
        analytic = call_student_torch(
            fn, case["x"], case["w"], case["b"], exercise="Conv2dFunction", dout=dout, **options
        ).grads
    except AssertionError as exc:
        raise _call_failed_hint(exc, _FUNCTION_HINTS) from None
    arrays = [case["x"], case["w"], case["b"]]
    for index, what in enumerate(("x", "w", "b")):

        def output(value: np.ndarray, index: int = index) -> np.ndarray:
            given = [value if i == index else a for i, a in enumerate(arrays)]
            return call_student_torch(fn, *given, exercise="Conv2dFunction", **options).output

        numeric = _central(output, arrays[index], dout, 1e-6)
        assert_array_close(
            analytic[index],
            numeric,
            name=f"gradcheck: autograd's gradient of Conv2dFunction with respect to {what} (your backward) "
            "against central differences of your forward",
            rtol=1e-5,
            atol=1e-7,
        )


@_checker
def check_conv2d_function(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``Conv2dFunction.apply(x, w, b, stride, padding, dilation)`` in float64: output, autograd's gradients (order, None for non-tensors), gradcheck."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        rng = np.random.default_rng(99)
        selected = [
            (case, "")
            for feature in CONV2D_BACKWARD_FEATURES
            for case, _ in _visible_conv2d_cases(feature)[-1:]
        ]
        selected.insert(
            0,
            (
                _conv2d_case(SMALL_IMAGE[None, None], SMALL_KERNEL[None, None], [0.5]),
                " (the worked example)",
            ),
        )
        selected.append(
            (
                _conv2d_case(
                    rng.standard_normal((2, 2, 4, 5)),
                    rng.standard_normal((3, 2, 2, 2)),
                    None,
                    padding=1,
                ),
                " (b = None: its gradient is None)",
            )
        )
        selected.append(
            (
                _conv2d_case(
                    rng.standard_normal((2, 2, 3, 3)),
                    rng.standard_normal((2, 2, 3, 3)),
                    [1.0, -1.0],
                ),
                " (x and w of the same shape: the gradient order shows)",
            )
        )
    else:
        rng = hidden_rng(seed)
        selected = [
            (_random_conv2d(rng, feature), "")
            for feature in CONV2D_BACKWARD_FEATURES
            for _ in range(3)
        ]
    for case, label in selected:
        shape = reference.conv2d(case["x"], case["w"], case["b"], **_conv2d_options(case)).shape
        _check_function_case(fn, case, rng.standard_normal(shape), label)
    if cases == "visible":
        _gradcheck(
            fn,
            _conv2d_case(
                rng.standard_normal((1, 2, 3, 4)),
                rng.standard_normal((2, 2, 2, 2)),
                [0.1, 0.2],
                stride=(1, 2),
                padding=1,
            ),
        )
        selected.append(None)
    _report("Conv2dFunction", len(selected), cases)


# --------------------------------------------------------------------------------------------
# Part I: training on the digits (the checker measures the network itself)
# --------------------------------------------------------------------------------------------


def _digits_parameters(result: Any, key: str, name: str) -> dict[str, np.ndarray]:
    if not isinstance(result, dict):
        raise AssertionError(
            f"{name} returned {type(result).__name__}; return a dict with 'parameters', 'initial_parameters' and 'losses'"
        )
    if key not in result:
        raise AssertionError(f"{name} returned a dict without {key!r} (it has {sorted(result)})")
    params = result[key]
    if not isinstance(params, dict):
        raise AssertionError(
            f"{name}[{key!r}] is a {type(params).__name__}; make it a dict name -> numpy array (model.state_dict() converted with .numpy())"
        )
    missing = [p for p in DIGITS_PARAMETERS if p not in params]
    if missing:
        raise AssertionError(
            f"{name}[{key!r}] lacks {missing} (it has {sorted(params)}): name the layers conv1, conv2 and "
            "fc, so that state_dict() has conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias"
        )
    arrays = {}
    for p in DIGITS_PARAMETERS:
        value = params[p]
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise AssertionError(
                f"{name}[{key!r}][{p!r}] is {type(value).__name__}; convert it with tensor.detach().cpu().numpy()"
            )
        if not np.all(np.isfinite(value)):
            raise AssertionError(
                f"{name}[{key!r}][{p!r}] contains NaN or inf: did the training diverge?"
            )
        arrays[p] = value.astype(np.float64)
    c1, c2, fc = (
        arrays["conv1.weight"].shape,
        arrays["conv2.weight"].shape,
        arrays["fc.weight"].shape,
    )
    problems = []
    if len(c1) != 4 or c1[1:] != (1, 3, 3):
        problems.append(f"conv1.weight has shape {c1}, expected (C1, 1, 3, 3)")
    elif len(c2) != 4 or c2[1:] != (c1[0], 3, 3):
        problems.append(f"conv2.weight has shape {c2}, expected (C2, {c1[0]}, 3, 3)")
    elif fc != (10, 4 * c2[0]):
        problems.append(
            f"fc.weight has shape {fc}, expected (10, {4 * c2[0]}): the 2x2 maps of {c2[0]} channels, flattened"
        )
    else:
        for p, rows in (("conv1.bias", c1[0]), ("conv2.bias", c2[0]), ("fc.bias", 10)):
            if arrays[p].shape != (rows,):
                problems.append(f"{p} has shape {arrays[p].shape}, expected ({rows},)")
    if problems:
        raise AssertionError(
            f"{name}[{key!r}]: "
            + "; ".join(problems)
            + ". The network is conv 3x3 (padding 1) -> ReLU -> 2x2 max pool -> conv 3x3 (padding 1) -> ReLU -> 2x2 max pool -> linear."
        )
    return arrays


def _digits_logits(params: dict[str, Any], images: Any) -> Any:
    """The reference network (torch's own conv2d and pooling) with the given parameter tensors."""
    import torch.nn.functional as F

    h = F.max_pool2d(
        F.relu(F.conv2d(images, params["conv1.weight"], params["conv1.bias"], padding=1)), 2
    )
    h = F.max_pool2d(
        F.relu(F.conv2d(h, params["conv2.weight"], params["conv2.bias"], padding=1)), 2
    )
    return F.linear(h.flatten(1), params["fc.weight"], params["fc.bias"])


def _digits_reference_run(
    initial: dict[str, np.ndarray], seed: int, steps: int
) -> tuple[list[float], dict[str, np.ndarray]]:
    """Train the reference network (nn.Conv2d's arithmetic) from ``initial`` for ``steps`` Adam steps; return losses and weights."""
    import torch
    import torch.nn.functional as F

    from ..data import digits_dataloaders

    params = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in initial.items()
    }
    optimizer = torch.optim.Adam(list(params.values()), lr=DIGITS_LR)
    train_loader, _ = digits_dataloaders(batch_size=DIGITS_BATCH_SIZE, seed=seed)
    losses: list[float] = []
    while len(losses) < steps:
        for images, labels in train_loader:
            if len(losses) >= steps:
                break
            loss = F.cross_entropy(_digits_logits(params, images.double()), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses, {k: v.detach().numpy() for k, v in params.items()}


def _digits_accuracy(params: dict[str, np.ndarray], seed: int) -> float:
    import torch

    from ..data import digits_dataloaders

    _, test_loader = digits_dataloaders(batch_size=DIGITS_BATCH_SIZE, seed=seed)
    tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    images, labels = test_loader.dataset.tensors
    with torch.no_grad():
        predicted = _digits_logits(tensors, images.double()).argmax(dim=1)
    return float((predicted == labels).double().mean())


def _digits_seed(cases: str, seed: int) -> int:
    return 0 if cases == "visible" else 1 + int(hidden_rng(seed).integers(1000))


@_checker
def check_digits_cnn_steps(
    fn: Callable, cases: str = "visible", seed: int = 0, steps: int = DIGITS_STEPS
) -> None:
    """Check the first ``steps`` losses and weights of ``fn`` (with NumpyConv2d) equal those of the same net with nn.Conv2d, to 1e-6."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    steps = check_int("steps", steps, 1)
    split = _digits_seed(cases, seed)
    options = dict(
        seed=split,
        epochs=1,
        batch_size=DIGITS_BATCH_SIZE,
        lr=DIGITS_LR,
        max_steps=steps,
        verbose=False,
    )
    name = describe_call("train_digits_cnn", **options)
    result = call_student(fn, exercise="train_digits_cnn", **options)
    initial = _digits_parameters(result, "initial_parameters", name)
    trained = _digits_parameters(result, "parameters", name)
    losses = result.get("losses")
    expected, weights = _digits_reference_run(initial, split, steps)
    got = _as_losses(losses, name)
    if got.shape != (steps,):
        raise AssertionError(
            f"{name}['losses'] has {got.size} entries; with max_steps={steps} it must hold the {steps} losses of the steps taken (loss.item() after each batch)"
        )
    wrong = np.flatnonzero(~np.isclose(got, expected, rtol=0, atol=DIGITS_LOSS_ATOL))
    if wrong.size:
        first = int(wrong[0])
        where = (
            "The first loss already differs, before any update: the forward pass differs from the "
            "reference network (conv 3x3 with padding 1, ReLU, 2x2 max pooling, twice, then linear; "
            "float64; mean cross-entropy over the batch; the batches of "
            "cu.data.digits_dataloaders(batch_size, seed)). "
            if first == 0
            else f"The first {first} loss(es) agree, so the forward pass is right; the weights after the "
            "update differ, so a gradient is wrong (check Conv2dFunction.backward and NumpyConv2d, or "
            "the optimiser: torch.optim.Adam(model.parameters(), lr=lr))."
        )
        raise AssertionError(
            f"{name}: the losses of your network (NumpyConv2d) and of the same network with nn.Conv2d "
            f"from the same initial weights differ at step {first}: got {got[first]:.10f}, expected "
            f"{expected[first]:.10f} (allowed: {DIGITS_LOSS_ATOL:g}).\n{where}"
        )
    for p in DIGITS_PARAMETERS:
        assert_array_close(
            trained[p],
            weights[p],
            name=f"{name}['parameters'][{p!r}] after {steps} steps",
            rtol=1e-6,
            atol=1e-8,
        )
    largest = float(np.max(np.abs(got - np.asarray(expected))))
    print(
        f"train_digits_cnn (seed {split}): the first {steps} losses match nn.Conv2d's to {largest:.1e}"
    )
    _report("train_digits_cnn steps", steps, cases)


def _as_losses(losses: Any, name: str) -> np.ndarray:
    try:
        values = np.asarray(losses, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise AssertionError(
            f"{name}['losses'] is {type(losses).__name__}; make it a list or array of floats (loss.item())"
        ) from None
    return values


@_checker
def check_digits_cnn_accuracy(
    fn: Callable,
    cases: str = "visible",
    seed: int = 0,
    minimum: float = DIGITS_MIN_ACCURACY,
    time_limit: float = DIGITS_TIME_LIMIT_S,
) -> None:
    """Train with ``fn(seed=...)`` (its own epochs and settings), then measure the returned weights' test accuracy here: >= ``minimum`` within ``time_limit`` seconds."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    split = _digits_seed(cases, seed)
    name = describe_call("train_digits_cnn", seed=split, verbose=False)
    start = time.perf_counter()
    result = call_student(fn, seed=split, verbose=False, exercise="train_digits_cnn")
    seconds = time.perf_counter() - start
    params = _digits_parameters(result, "parameters", name)
    accuracy = _digits_accuracy(params, split)
    if not accuracy >= minimum:
        raise AssertionError(
            f"{name}: the returned weights classify {100 * accuracy:.1f} % of the test digits correctly "
            f"(measured by the grader on the test split of cu.data.digits_dataloaders(seed={split})); at "
            f"least {100 * minimum:.0f} % is needed. Train longer or with a larger learning rate, and "
            "return the weights after training (model.state_dict()), not the initial ones."
        )
    if seconds > time_limit:
        raise AssertionError(
            f"{name} took {seconds:.1f} s; the limit is {time_limit:.0f} s. Use fewer epochs, or "
            "make conv2d_forward/conv2d_backward loop only over output positions (or kernel taps) "
            "with whole-batch numpy operations inside."
        )
    print(
        f"train_digits_cnn (seed {split}): test accuracy {100 * accuracy:.1f} % in {seconds:.1f} s"
    )
    _report("train_digits_cnn accuracy", 1, cases)


__all__ = [
    "BACKWARD_LAYERS",
    "CONV2D_BACKWARD_FEATURES",
    "check_avg_pool2d_backward",
    "check_backward_errors",
    "check_col2im_2d",
    "check_conv1d_backward",
    "check_conv2d_backward",
    "check_conv2d_backward_im2col",
    "check_conv2d_forward",
    "check_conv2d_function",
    "check_conv_transpose2d",
    "check_digits_cnn_accuracy",
    "check_digits_cnn_steps",
    "check_max_pool2d_backward",
    "check_max_pool2d_ties",
    "check_numeric_gradient",
    "check_relu",
    "col2im_2d_reference",
    "cubic",
    "mix_rows",
    "softplus_total",
    "wave",
]
