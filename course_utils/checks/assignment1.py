"""Checkers for Assignment 1 (1D convolution, padding and stride), called by the notebook's test cells.

Each ``check_*`` takes the student's function and ``cases="visible"`` (the slides' examples and
small cases, shown to students) or ``cases="hidden"`` (many random cases against
:mod:`course_utils.reference` in float64, plus edge cases; run at grading time). A failure is
an ``AssertionError`` whose message names the call, what differs and the likely mistake, found
by comparing the result with the outputs of typical bugs (a flipped kernel, padding on one side,
the stride ignored, ...). On success a checker prints one line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import arithmetic, reference
from ..validation import check_int
from . import diagnoses
from ._common import (
    _KERNEL_WORDS,
    Bug,
    _assert_close,
    _assert_int,
    _check_cases,
    _checker,
    _expect_argument_error,
    _outputs,
    _print_advice,
    _report,
    hidden_rng,
)
from .toolkit import (
    assert_array_close,
    assert_int_equal,
    call_student,
    describe_call,
    random_conv1d_case,
)

CONV1D_FEATURES = ("single_channel", "channels_bias", "stride_padding", "dilation", "padding_modes")
ERROR_FUNCTIONS = (
    "conv1d",
    "conv1d_im2col",
    "conv_output_size",
    "same_padding",
    "conv_transpose_output_size",
    "im2col_1d",
)
HIDDEN_RANDOM_CASES = 40  # per hidden checker call: enough to hit every branch, fast with loops

# The slides' examples. Lecture 1: "Convolutional Neural Networks" (box filter); Lecture 2: CS5242 (NUS).
BOX_SIGNAL = np.array([4.0, 3, 2, -5, 3, 5, 2, 5, 5, 6])
BOX_KERNEL = np.full(3, 1 / 3)
BOX_VALID = np.array([3.0, 0, 0, 1, 10 / 3, 4, 4, 16 / 3])
BOX_PADDED = np.array([7 / 3, 3, 0, 0, 1, 10 / 3, 4, 4, 16 / 3, 11 / 3])
DECK2_X = np.array([1.0, 0, 2, 2, 3, 1])
DECK2_W = np.array([3.0, 2, 2])
DECK2_VALID = np.array([7.0, 8, 16, 14])
DECK2_SAME = np.array([2.0, 7, 8, 16, 14, 11])  # padding 1 on each side = "same" for k=3, stride 1
DECK2_SAME_STRIDE2 = np.array([7.0, 16, 11])  # "same", stride 2: one zero, at the end

# --------------------------------------------------------------------------------------------
# Reference pieces the library does not have (checker-side only)
# --------------------------------------------------------------------------------------------


def _pad_last(x: np.ndarray, before: int, after: int) -> np.ndarray:
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(before, after)])


def _conv1d_padded(x, w, b, stride: int, pads: tuple[int, int], dilation: int) -> np.ndarray:
    """Reference conv1d with explicit (possibly asymmetric, possibly wrong) zero padding."""
    return reference.conv1d(_pad_last(x, *pads), w, b, stride=stride, padding=0, dilation=dilation)


def im2col_1d_reference(x: Any, k: int, stride: int = 1, dilation: int = 1) -> np.ndarray:
    """Return the columns of ``x`` (N, C, L): (N, C*k, L_out), row ``c*k + i`` = channel c, tap i."""
    x = np.asarray(x, dtype=np.float64)
    span = arithmetic.effective_kernel_size(k, dilation)
    windows = np.lib.stride_tricks.sliding_window_view(x, span, axis=-1)[..., ::stride, ::dilation]
    n, c, l_out, taps = windows.shape
    return windows.transpose(0, 1, 3, 2).reshape(n, c * taps, l_out)


# --------------------------------------------------------------------------------------------
# Part A: conv1d_single
# --------------------------------------------------------------------------------------------


SINGLE_SHAPE = (
    "conv1d_single has no padding and no stride: L inputs and K taps give L - K + 1 outputs, "
    "one for each t in range(L - K + 1)."
)


def _single_bugs(x: np.ndarray, w: np.ndarray, expected: np.ndarray) -> list[Bug]:
    k = len(w)

    def ref(signal, kernel, pads=(0, 0)):
        return _conv1d_padded(signal[None, None], kernel[None, None], None, 1, pads, 1)[0, 0]

    return [
        (
            "flipped-kernel",
            "the kernel is flipped: that is the textbook convolution y[t] = sum_i w[i] x[t - i]. "
            "CNNs (and this course) use cross-correlation, y[t] = sum_i w[i] * x[t + i], no flip.",
            lambda: ref(x, w[::-1]),
        ),
        (
            "off-by-one",
            "the last output is missing (off by one): with L inputs and K taps there are "
            "L - K + 1 outputs, so loop over range(L - K + 1).",
            lambda: expected[:-1],
        ),
        (
            "off-by-one",
            "the last output is never computed (it stays 0): the loop stops one window short; "
            "loop over range(L - K + 1).",
            lambda: np.concatenate([expected[:-1], [0.0]]),
        ),
        (
            "off-by-one",
            "the first output is missing: the first window starts at t = 0.",
            lambda: expected[1:],
        ),
        (
            "padded-when-valid",
            "the signal was zero-padded: conv1d_single is 'valid' (no padding), L - K + 1 outputs.",
            lambda: ref(x, w, (k - 1, k - 1)),
        ),
        (
            "padded-when-valid",
            "the signal was zero-padded to keep its length: conv1d_single is 'valid' (no padding).",
            lambda: ref(x, w, ((k - 1) // 2, k - 1 - (k - 1) // 2)),
        ),
        (
            "truncated-to-int",
            "the result was truncated to integers: create y with np.zeros(L - K + 1) (float), "
            "not np.zeros_like(x) of an integer x.",
            lambda: np.trunc(expected),
        ),
    ]


def _check_single_case(
    fn: Callable, x: np.ndarray, w: np.ndarray, label: str | None = None
) -> None:
    expected = reference.conv1d(
        np.asarray(x, dtype=np.float64)[None, None], np.asarray(w, dtype=np.float64)[None, None]
    )[0, 0]
    actual = call_student(fn, x, w, exercise="conv1d_single")
    name = label or describe_call("conv1d_single", x, w)
    xf, wf = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    _assert_close(actual, expected, name, _single_bugs(xf, wf, expected), shape_advice=SINGLE_SHAPE)


@_checker
def check_conv1d_single(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (L,), w (K,)) -> (L-K+1,)``: the slides' examples (visible) or random 1-D cases (hidden)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    count = 0
    if cases == "visible":
        _assert_close(
            call_student(fn, BOX_SIGNAL, BOX_KERNEL, exercise="conv1d_single"),
            BOX_VALID,
            "conv1d_single(f, g) for Lecture 1's box filter f=[4, 3, 2, -5, 3, 5, 2, 5, 5, 6], g=[1/3]*3",
            _single_bugs(BOX_SIGNAL, BOX_KERNEL, BOX_VALID),
            shape_advice=SINGLE_SHAPE,
        )
        _check_single_case(
            fn,
            DECK2_X,
            DECK2_W,
            "conv1d_single(x=[1, 0, 2, 2, 3, 1], w=[3, 2, 2]) (Lecture 2, 'valid')",
        )
        small = [
            (
                np.array([1.0, 2, 3, 4]),
                np.array([1.0, 0, -1]),
            ),  # asymmetric: a flip changes the sign
            (np.array([2.0, -1, 3]), np.array([0.5])),  # one tap: a scaled copy
            (np.array([1.0, 2, 3]), np.array([1.0, 1, 1])),  # kernel as long as x: one output
        ]
        for x, w in small:
            _check_single_case(fn, x, w)
        count = 2 + len(small)
    else:
        rng = hidden_rng(seed)
        for _ in range(HIDDEN_RANDOM_CASES):
            length = int(rng.integers(1, 21))
            k = int(rng.integers(1, length + 1))
            _check_single_case(fn, rng.standard_normal(length), rng.standard_normal(k))
        edges = [
            (np.array([5.0]), np.array([2.0])),  # L = K = 1
            (
                np.arange(7, dtype=np.int64),
                np.array([0.5, 0.25]),
            ),  # integer input, fractional result
            (np.arange(6.0), np.arange(6.0)),  # K = L
        ]
        for x, w in edges:
            _check_single_case(fn, x, w)
        count = HIDDEN_RANDOM_CASES + len(edges)
    _report("conv1d_single", count, cases)


# --------------------------------------------------------------------------------------------
# Part B: output size, "same" padding, transposed size
# --------------------------------------------------------------------------------------------


def _size_bugs(n: int, k: int, s: int, p: int, d: int) -> list[Bug]:
    span = d * (k - 1) + 1
    return [
        (
            "ceil-not-floor",
            "ceil instead of floor: PyTorch rounds down; a last window that does not fit is dropped.",
            lambda: math.ceil((n + 2 * p - span) / s) + 1,
        ),
        (
            "padding-counted-once",
            "padding counted once: padding is the number of zeros on EACH side, so the padded "
            "length is n + 2 * padding.",
            lambda: (n + p - span) // s + 1,
        ),
        (
            "dilation-ignored",
            "dilation ignored: a kernel of k taps with dilation d spans d * (k - 1) + 1 inputs.",
            lambda: (n + 2 * p - k) // s + 1,
        ),
        (
            "dilated-span",
            "the dilated span is d * (k - 1) + 1, not d * k.",
            lambda: (n + 2 * p - d * k) // s + 1,
        ),
        (
            "off-by-one",
            "the '+ 1' is missing (off by one): floor((n + 2p - d(k-1) - 1) / s) + 1.",
            lambda: (n + 2 * p - span) // s,
        ),
        (
            "stride-ignored",
            "the stride is ignored: divide by the stride before adding 1.",
            lambda: n + 2 * p - span + 1,
        ),
        (
            "off-by-one",
            "the '+ 1' belongs outside the floor: floor((n + 2p - d(k-1) - 1) / s) + 1.",
            lambda: (n + 2 * p - span + 1) // s,
        ),
    ]


def _check_size_case(fn: Callable, n: int, k: int, s: int, p: int, d: int, label: str = "") -> None:
    expected = arithmetic.conv_output_size(n, k, s, p, d)
    actual = call_student(fn, n, k, stride=s, padding=p, dilation=d, exercise="conv_output_size")
    name = describe_call("conv_output_size", n, k, stride=s, padding=p, dilation=d) + label
    _assert_int(actual, expected, name, _size_bugs(n, k, s, p, d))


@_checker
def check_conv_output_size(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(n, k, stride, padding, dilation) -> int`` against the floor formula: slides (visible) or random (hidden)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        slides = [
            (7, 3, 1, 0, 1, " (Lecture 1: 7 inputs, 3 taps, stride 1)"),
            (7, 3, 2, 0, 1, " (Lecture 1: stride 2)"),
            (7, 3, 3, 0, 1, " (Lecture 1 calls stride 3 'illegal'; PyTorch floors 4/3 + 1 to 2)"),
            (7, 3, 1, 1, 1, " (Lecture 1: padding 1 keeps the size)"),
            (32, 5, 1, 2, 1, " (Lecture 1: 32 inputs, 5 taps, pad 2)"),
            (224, 5, 2, 1, 1, " (Lecture 2, qn5: 224, kernel 5, padding 1, stride 2)"),
            (224, 1, 2, 1, 1, " (Lecture 2, qn6: the width axis of a 5x1 kernel)"),
            (10, 3, 1, 0, 2, " (dilation 2: the kernel spans 5 inputs)"),
            (5, 5, 1, 0, 1, " (kernel as long as the input: one output)"),
        ]
        for n, k, s, p, d, label in slides:
            _check_size_case(fn, n, k, s, p, d, label)
        count = len(slides)
    else:
        rng = hidden_rng(seed)
        count = 0
        for _ in range(5 * HIDDEN_RANDOM_CASES):
            k, s, d = int(rng.integers(1, 8)), int(rng.integers(1, 6)), int(rng.integers(1, 4))
            p = int(rng.integers(0, 5))
            span = d * (k - 1) + 1
            n = int(rng.integers(max(1, span - 2 * p), span + 40))
            _check_size_case(fn, n, k, s, p, d)
            count += 1
        for n, k, s, p, d in [(1, 1, 1, 0, 1), (1, 3, 1, 1, 1), (5, 3, 9, 0, 1), (3, 3, 1, 1, 2)]:
            _check_size_case(fn, n, k, s, p, d, " (edge case)")
            count += 1
    _report("conv_output_size", count, cases)


def _assert_pair(actual: Any, expected: tuple[int, int], name: str, bugs: Sequence[Bug]) -> None:
    if actual is None:
        raise AssertionError(f"{name} is None: did you forget to `return` (before, after)?")
    if isinstance(actual, (int, np.integer, float, np.floating)):
        raise AssertionError(
            f"{name} returned one number ({actual!r}); return the pair (before, after): the zeros "
            "added at the start and at the end"
        )
    if not isinstance(actual, (tuple, list)) or len(actual) != 2:
        raise AssertionError(
            f"{name} returned {actual!r}; return a tuple of two ints (before, after), e.g. (1, 2)"
        )
    for position, value in zip(("before", "after"), actual, strict=True):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise AssertionError(
                f"{name}: {position} is {value!r} ({type(value).__name__}); both amounts must be "
                "ints (use // or math.ceil)"
            )
    got = (int(actual[0]), int(actual[1]))
    if got != tuple(expected):
        family, hint = next(
            ((f, f"Likely mistake: {m}") for f, m, out in _outputs(bugs) if tuple(out) == got),
            (None, None),
        )
        raise diagnoses.mark(
            AssertionError(
                "\n".join(filter(None, [f"{name} is {got} but should be {tuple(expected)}.", hint]))
            ),
            [family] if family else [],
        )


def _same_bugs(n: int, k: int, s: int, d: int) -> list[Bug]:
    span = d * (k - 1) + 1

    def split(total: int) -> tuple[int, int]:
        return total // 2, total - total // 2

    out = math.ceil(n / s)
    return [
        (
            "same-extra-zero-first",
            "the extra zero is placed first: when the total is odd, TensorFlow's rule (and this "
            "course) puts it at the END: before = total // 2, after = total - before.",
            lambda: tuple(reversed(arithmetic.same_padding(n, k, s, d))),
        ),
        (
            "same-padding",
            "the total is not clamped at 0: total = max((ceil(n/s) - 1) * s + d(k-1) + 1 - n, 0); "
            "with a large stride the formula goes negative.",
            lambda: split((out - 1) * s + span - n),
        ),
        (
            "same-padding",
            "the stride is ignored: 'same' means an output of ceil(n / stride), so the total "
            "padding is (ceil(n/s) - 1) * s + d(k-1) + 1 - n, not k - 1.",
            lambda: split(span - 1),
        ),
        (
            "same-padding",
            "floor instead of ceil for the output length: 'same' keeps ceil(n / stride) outputs.",
            lambda: split(max((n // s - 1) * s + span - n, 0)),
        ),
        (
            "dilation-ignored",
            "dilation ignored: the dilated kernel spans d * (k - 1) + 1 inputs.",
            lambda: split(max((out - 1) * s + k - n, 0)),
        ),
    ]


def _check_same_case(fn: Callable, n: int, k: int, s: int, d: int, label: str = "") -> None:
    expected = arithmetic.same_padding(n, k, s, d)
    actual = call_student(fn, n, k, stride=s, dilation=d, exercise="same_padding")
    name = describe_call("same_padding", n, k, stride=s, dilation=d) + label
    _assert_pair(actual, expected, name, _same_bugs(n, k, s, d))


@_checker
def check_same_padding(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(n, k, stride, dilation) -> (before, after)`` (TensorFlow's "same" rule, extra zero at the end)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        examples = [
            (6, 3, 1, 1, " (Lecture 2: l=6, k=3, stride 1)"),
            (6, 3, 2, 1, " (Lecture 2, stride 2: output ceil(6/2) = 3 needs one zero, at the end)"),
            (224, 5, 2, 1, " (Lecture 2, qn3: l=224, k=5, s=2)"),
            (6, 2, 1, 1, " (an even kernel: the total is odd)"),
            (10, 1, 4, 1, " (stride larger than the kernel: no padding needed)"),
            (5, 3, 1, 2, " (dilation 2: the kernel spans 5 inputs)"),
        ]
        for n, k, s, d, label in examples:
            _check_same_case(fn, n, k, s, d, label)
        count = len(examples)
    else:
        rng = hidden_rng(seed)
        count = 0
        for _ in range(5 * HIDDEN_RANDOM_CASES):
            n, k = int(rng.integers(1, 40)), int(rng.integers(1, 8))
            s, d = int(rng.integers(1, 6)), int(rng.integers(1, 4))
            _check_same_case(fn, n, k, s, d)
            count += 1
        for n, k, s, d in [(1, 1, 1, 1), (1, 5, 1, 1), (3, 2, 5, 1), (7, 4, 1, 3)]:
            _check_same_case(fn, n, k, s, d, " (edge case)")
            count += 1
    _report("same_padding", count, cases)


def _transpose_bugs(n: int, k: int, s: int, p: int, op: int, d: int) -> list[Bug]:
    span = d * (k - 1) + 1
    return [
        (
            "transposed-size",
            "output_padding is ignored: it adds output_padding positions at the end.",
            lambda: (n - 1) * s - 2 * p + span,
        ),
        (
            "dilation-ignored",
            "dilation ignored: the dilated kernel spans d * (k - 1) + 1 outputs.",
            lambda: (n - 1) * s - 2 * p + k + op,
        ),
        (
            "padding-counted-once",
            "padding counted once: a transposed convolution removes `padding` from EACH end.",
            lambda: (n - 1) * s - p + span + op,
        ),
        (
            "transposed-size",
            "n * stride instead of (n - 1) * stride: the n inputs are stride apart, so the first and "
            "last are (n - 1) * stride apart.",
            lambda: n * s - 2 * p + span + op,
        ),
        (
            "transposed-size",
            "padding added instead of removed: in a transposed convolution `padding` trims the output.",
            lambda: (n - 1) * s + 2 * p + span + op,
        ),
        (
            "transposed-size",
            "the '+ 1' is missing: (n-1)s - 2p + d(k-1) + output_padding + 1.",
            lambda: (n - 1) * s - 2 * p + span - 1 + op,
        ),
    ]


def _check_transpose_case(
    fn: Callable, n: int, k: int, s: int, p: int, op: int, d: int, label: str = ""
) -> None:
    expected = arithmetic.conv_transpose_output_size(n, k, s, p, op, d)
    actual = call_student(
        fn,
        n,
        k,
        stride=s,
        padding=p,
        output_padding=op,
        dilation=d,
        exercise="conv_transpose_output_size",
    )
    name = describe_call(
        "conv_transpose_output_size", n, k, stride=s, padding=p, output_padding=op, dilation=d
    )
    _assert_int(actual, expected, name + label, _transpose_bugs(n, k, s, p, op, d))


@_checker
def check_conv_transpose_output_size(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(n, k, stride, padding, output_padding, dilation) -> int`` (PyTorch's formula; errors: check_argument_errors)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    count = 0
    if cases == "visible":
        examples = [
            (3, 3, 2, 0, 0, 1, " (3 inputs, stride 2: 7 outputs)"),
            (4, 3, 2, 1, 0, 1, " (undoes conv_output_size(7, 3, stride=2, padding=1) = 4)"),
            (
                4,
                3,
                2,
                1,
                1,
                1,
                " (conv_output_size(8, 3, 2, 1) is also 4: output_padding=1 picks 8)",
            ),
            (4, 3, 1, 0, 0, 2, " (dilation 2)"),
            (5, 4, 2, 1, 0, 1, " (the k=4, s=2, p=1 upsampling layer of DCGAN doubles the length)"),
        ]
        for n, k, s, p, op, d, label in examples:
            _check_transpose_case(fn, n, k, s, p, op, d, label)
        count = len(examples)
    else:
        rng = hidden_rng(seed)
        for _ in range(5 * HIDDEN_RANDOM_CASES):
            n, k = int(rng.integers(1, 30)), int(rng.integers(1, 7))
            s, d = int(rng.integers(1, 5)), int(rng.integers(1, 4))
            op = int(rng.integers(0, max(s, d)))
            span = d * (k - 1) + 1
            p = int(rng.integers(0, ((n - 1) * s + span + op - 1) // 2 + 1))
            _check_transpose_case(fn, n, k, s, p, op, d)
            count += 1
        _check_transpose_case(fn, 4, 3, 2, 0, 2, 3, " (output_padding 2 < dilation 3 is allowed)")
        count += 1
    _report("conv_transpose_output_size", count, cases)


# --------------------------------------------------------------------------------------------
# Part C: conv1d
# --------------------------------------------------------------------------------------------


def _conv1d_bugs(case: dict[str, Any], expected: np.ndarray) -> list[Bug]:
    """Outputs of the typical mistakes for one conv1d case, computed with the reference."""
    x, w, b = case["x"], case["w"], case["b"]
    s, p, d = case["stride"], case["padding"], case["dilation"]
    n_in, k, c_in = x.shape[-1], w.shape[-1], x.shape[1]
    span = d * (k - 1) + 1
    before, after = arithmetic.resolve_padding(p, n_in, k, s, d)
    l_out = expected.shape[-1]

    def ref(xx=x, ww=w, bb=b, ss=s, pads=(before, after), dd=d):
        return _conv1d_padded(xx, ww, bb, ss, pads, dd)

    bugs: list[Bug] = [
        (
            "flipped-kernel",
            "the kernel is flipped (a textbook convolution). CNNs use cross-correlation: "
            "y[n, o, t] = b[o] + sum_c sum_i w[o, c, i] * x_pad[n, c, t*stride + i*dilation], no flip.",
            lambda: ref(ww=w[..., ::-1]),
        ),
    ]
    # listed last: a specific mistake (padding on one side, ...) that gives the same output is
    # the better explanation
    off_by_one: list[Bug] = [
        (
            "off-by-one",
            "the last output position is missing (off by one): there are "
            "floor((L + before + after - d(K-1) - 1) / stride) + 1 positions.",
            lambda: expected[..., :-1],
        ),
        (
            "off-by-one",
            "the first output position is missing: the first window starts at t = 0.",
            lambda: expected[..., 1:],
        ),
    ]
    if b is not None:
        bugs.append(
            (
                "bias-missing",
                "the bias is missing: add b[o] to every output of channel o (b has shape (C_out,)).",
                lambda: ref(bb=None),
            )
        )
        bugs.append(
            ("bias-misapplied", "the bias is added twice.", lambda: ref() + b[None, :, None])
        )
    if c_in > 1:
        bugs += [
            (
                "channels-not-summed",
                "only the first input channel is summed: a filter spans all C_in input channels; "
                "sum over the channels as well as over the kernel taps.",
                lambda: ref(xx=x[:, :1], ww=w[:, :1]),
            ),
            (
                "overwrite-not-accumulate",
                "only the last input channel counts: each channel's contribution overwrote the "
                "previous one (=) instead of being accumulated (+=).",
                lambda: ref(xx=x[:, -1:], ww=w[:, -1:]),
            ),
        ]
        if w.shape[0] == c_in:
            bugs.append(
                (
                    "weight-layout",
                    "w is indexed as w[c, o, i], but its shape is (C_out, C_in, K): use w[o, c, i].",
                    lambda: ref(ww=w.transpose(1, 0, 2)),
                )
            )
    if s > 1:
        bugs += [
            (
                "stride-ignored",
                "the stride is ignored: window t starts at t * stride, and there are "
                "floor((L_pad - span) / stride) + 1 windows.",
                lambda: ref(ss=1),
            ),
            (
                "stride-ignored",
                "the output length uses the stride but the windows do not: window t starts at "
                "t * stride, not at t.",
                lambda: ref(ss=1)[..., :l_out],
            ),
        ]
    if d > 1:
        bugs += [
            (
                "dilation-ignored",
                "dilation ignored: the taps of a dilated kernel are `dilation` apart, "
                "x_pad[t*stride + i*dilation], and it spans d*(K-1) + 1 inputs.",
                lambda: ref(dd=1),
            ),
            (
                "dilation-ignored",
                "the output length uses the dilation but the taps do not: tap i reads "
                "x_pad[t*stride + i*dilation].",
                lambda: ref(dd=1)[..., :l_out],
            ),
        ]
    if isinstance(p, int) and p > 0:
        bugs += [
            (
                "padding-one-side",
                "zeros added at the start only: pad `padding` zeros at BOTH ends.",
                lambda: ref(pads=(p, 0)),
            ),
            (
                "padding-one-side",
                "zeros added at the end only: pad `padding` zeros at BOTH ends.",
                lambda: ref(pads=(0, p)),
            ),
            (
                "padding-one-side",
                "all the zeros at the start: pad `padding` zeros at EACH end, not 2 * padding at one.",
                lambda: ref(pads=(2 * p, 0)),
            ),
            (
                "padding-one-side",
                "all the zeros at the end: pad `padding` zeros at EACH end, not 2 * padding at one.",
                lambda: ref(pads=(0, 2 * p)),
            ),
            (
                "padding-as-total",
                "padding treated as the total: in PyTorch (and here) `padding` zeros go on EACH "
                "side (Lecture 2's deck writes p for the total).",
                lambda: ref(pads=(p // 2, p - p // 2)),
            ),
        ]
    if p == "same":
        total = before + after
        bugs += [
            (
                "same-extra-zero-first",
                "'same' put the extra zero first: when the total is odd it goes at the END "
                "(before = total // 2, after = total - before).",
                lambda: ref(pads=(after, before)),
            ),
            (
                "same-padding",
                "'same' ignores the stride: the total padding is max((ceil(L/s) - 1)*s + d(K-1) + 1 - L, 0), "
                "which gives ceil(L / stride) outputs.",
                lambda: ref(pads=arithmetic.same_padding(n_in, k, 1, d)),
            ),
            (
                "same-padding",
                "'same' padded (K-1)//2 on each side: that is only right for odd kernels and "
                "stride 1; use same_padding.",
                lambda: ref(pads=((span - 1) // 2, (span - 1) // 2)),
            ),
            ("padding-one-side", "'same' padded on one side only.", lambda: ref(pads=(total, 0))),
            ("padding-one-side", "'same' padded on one side only.", lambda: ref(pads=(0, total))),
            (
                "padding-mode-mixed",
                "padding='same' gave the 'full' result.",
                lambda: ref(pads=(span - 1, span - 1)),
            ),
            (
                "padding-mode-mixed",
                "padding='same' gave the 'valid' result.",
                lambda: ref(pads=(0, 0)),
            ),
        ]
        if d > 1:
            bugs.append(
                (
                    "dilation-ignored",
                    "'same' padding ignores the dilation.",
                    lambda: ref(pads=arithmetic.same_padding(n_in, k, s, 1)),
                )
            )
    if p == "full":
        bugs += [
            (
                "padding-mode-mixed",
                "padding='full' gave the 'same' result.",
                lambda: ref(pads=arithmetic.same_padding(n_in, k, s, d)),
            ),
            (
                "padding-mode-mixed",
                "padding='full' gave the 'valid' result.",
                lambda: ref(pads=(0, 0)),
            ),
            (
                "padding-one-side",
                "'full' padded on one side only: pad d*(K-1) zeros at BOTH ends.",
                lambda: ref(pads=(span - 1, 0)),
            ),
        ]
        if d > 1:
            bugs.append(
                (
                    "dilation-ignored",
                    "'full' ignores the dilation: pad span - 1 = dilation * (K - 1) zeros on each side.",
                    lambda: ref(pads=(k - 1, k - 1)),
                )
            )
    if p == "valid":
        bugs.append(
            (
                "padding-mode-mixed",
                "padding='valid' gave the 'same' result.",
                lambda: ref(pads=arithmetic.same_padding(n_in, k, s, d)),
            )
        )
    return bugs + off_by_one


def _conv1d_call(fn: Callable, case: dict[str, Any], exercise: str) -> Any:
    return call_student(
        fn,
        case["x"],
        case["w"],
        case["b"],
        stride=case["stride"],
        padding=case["padding"],
        dilation=case["dilation"],
        exercise=exercise,
    )


def _check_conv1d_case(
    fn: Callable,
    case: dict[str, Any],
    label: str = "",
    exercise: str = "conv1d",
    extra_bugs: Callable[[dict[str, Any], np.ndarray], list[Bug]] | None = None,
) -> None:
    expected = reference.conv1d(
        case["x"],
        case["w"],
        case["b"],
        stride=case["stride"],
        padding=case["padding"],
        dilation=case["dilation"],
    )
    actual = _conv1d_call(fn, case, exercise)
    name = (
        describe_call(
            exercise,
            case["x"],
            case["w"],
            case["b"],
            stride=case["stride"],
            padding=case["padding"],
            dilation=case["dilation"],
        )
        + label
    )
    bugs = _conv1d_bugs(case, expected) + (extra_bugs(case, expected) if extra_bugs else [])
    _assert_close(actual, expected, name, bugs)


def _case(x, w, b=None, stride=1, padding=0, dilation=1) -> dict[str, Any]:
    as_array = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return {
        "x": as_array(x),
        "w": as_array(w),
        "b": as_array(b),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
    }


def _deck2(padding: int | str = 0, stride: int = 1, dilation: int = 1) -> dict[str, Any]:
    return _case(DECK2_X[None, None], DECK2_W[None, None], None, stride, padding, dilation)


# the features each conv1d test cell grades, as restrictions of random_conv1d_case
_FEATURE_CASES: dict[str, dict[str, Any]] = {
    "single_channel": dict(
        in_channels=1, out_channels=1, bias=False, stride=1, padding=0, dilation=1
    ),
    "channels_bias": dict(in_channels=[2, 3, 4], stride=1, padding=0, dilation=1),
    "stride_padding": dict(stride=[1, 2, 3, 4], padding=[0, 1, 2, 3, 4], dilation=1),
    "dilation": dict(dilation=[2, 3], padding=[0, 1, 2]),
    "padding_modes": dict(padding=["valid", "same", "full"], kernel_size=[1, 2, 3, 4, 5]),
}


def _visible_conv1d_cases(feature: str) -> list[tuple[dict[str, Any], str]]:
    rng = np.random.default_rng(2024)
    small = dict(max_length=9, **_FEATURE_CASES[feature])
    randoms = [(random_conv1d_case(rng, **small), "") for _ in range(4)]
    if feature == "single_channel":
        return [
            (
                _deck2(),
                " (Lecture 2's example as a batch of one signal: expect [[[7, 8, 16, 14]]])",
            ),
            (_case(BOX_SIGNAL[None, None], BOX_KERNEL[None, None]), " (Lecture 1's box filter)"),
            (
                _case(np.stack([DECK2_X, 2 * DECK2_X])[:, None], DECK2_W[None, None]),
                " (a batch of two signals)",
            ),
            *randoms,
        ]
    if feature == "channels_bias":
        x2 = np.stack([DECK2_X, np.array([1.0, 1, 1, 1, 1, 1])])[None]  # (1, 2, 6)
        w2 = np.array([[[3.0, 2, 2], [1, 0, -1]], [[0, 1, 0], [1, 1, 1]]])  # (2, 2, 3)
        return [
            (
                _case(x2, w2),
                " (two input channels, two filters: expect [[[7, 8, 16, 14], [3, 5, 5, 6]]])",
            ),
            (_case(x2, w2, [10.0, -1.0]), " (the same with bias [10, -1])"),
            *randoms,
        ]
    if feature == "stride_padding":
        return [
            (
                _deck2(padding=1),
                " (Lecture 2, padding 1 on each side: expect [[[2, 7, 8, 16, 14, 11]]])",
            ),
            (
                _case(BOX_SIGNAL[None, None], BOX_KERNEL[None, None], padding=1),
                " (Lecture 1's box filter, zero-padded)",
            ),
            (_deck2(stride=2), " (stride 2: expect [[[7, 16]]])"),
            (
                _case(np.arange(7.0)[None, None], np.ones((1, 1, 3)), stride=3),
                " (7 inputs, 3 taps, stride 3: floor gives 2 outputs)",
            ),
            *randoms,
        ]
    if feature == "dilation":
        return [
            (_deck2(dilation=2), " (dilation 2: taps x[t], x[t+2], x[t+4]; expect [[[13, 6]]])"),
            (
                _case(np.arange(10.0)[None, None], np.array([[[1.0, -1.0]]]), dilation=3),
                " (a dilated difference: x[t] - x[t+3])",
            ),
            *randoms,
        ]
    # padding_modes
    return [
        (_deck2("valid"), " (Lecture 2, 'valid': expect [[[7, 8, 16, 14]]])"),
        (_deck2("same"), " (Lecture 2, 'same': expect [[[2, 7, 8, 16, 14, 11]]])"),
        (
            _deck2("same", stride=2),
            " (Lecture 2, 'same' with stride 2: one zero at the end, expect [[[7, 16, 11]]])",
        ),
        (
            _case(DECK2_X[None, None], [[[1.0, 2.0]]], padding="same"),
            " (even kernel, 'same': the extra zero goes at the end)",
        ),
        (_deck2("full"), " ('full': every overlap, 8 outputs)"),
        *randoms,
    ]


def _hidden_conv1d_edges(feature: str) -> list[tuple[dict[str, Any], str]]:
    rng = hidden_rng(7)
    edges: dict[str, list[tuple[dict[str, Any], str]]] = {
        "single_channel": [
            (
                _case(np.arange(5.0)[None, None], np.ones((1, 1, 5))),
                " (kernel as long as the input)",
            ),
            (_case(rng.standard_normal((3, 1, 1)), [[[2.0]]]), " (L = K = 1)"),
            ({**_case(None, [[[0.5, 0.25]]]), "x": np.arange(14).reshape(2, 1, 7)}, " (integer x)"),
        ],
        "channels_bias": [
            (
                _case(rng.standard_normal((2, 4, 6)), rng.standard_normal((1, 4, 3)), [0.5]),
                " (one filter)",
            ),
            (
                _case(
                    rng.standard_normal((1, 1, 5)), rng.standard_normal((4, 1, 2)), [1.0, 2, 3, 4]
                ),
                " (one input channel)",
            ),
            (
                _case(rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 3, 4)), [1.0, 0, -1]),
                " (one output position)",
            ),
        ],
        "stride_padding": [
            (
                _case(rng.standard_normal((1, 2, 5)), rng.standard_normal((2, 2, 2)), stride=7),
                " (stride longer than the input)",
            ),
            (
                _case(
                    rng.standard_normal((2, 1, 4)), rng.standard_normal((1, 1, 2)), [1.0], padding=4
                ),
                " (more zeros than the kernel needs)",
            ),
            (
                _case(
                    rng.standard_normal((1, 2, 1)),
                    rng.standard_normal((3, 2, 3)),
                    padding=1,
                    stride=2,
                ),
                " (one input, padded)",
            ),
        ],
        "dilation": [
            (
                _case(rng.standard_normal((1, 2, 9)), rng.standard_normal((2, 2, 3)), dilation=4),
                " (span equals the input)",
            ),
            (
                _case(rng.standard_normal((2, 1, 6)), rng.standard_normal((1, 1, 1)), dilation=3),
                " (one tap: dilation has no effect)",
            ),
            (
                _case(
                    rng.standard_normal((1, 3, 11)),
                    rng.standard_normal((2, 3, 3)),
                    [1.0, -1],
                    stride=2,
                    padding=2,
                    dilation=3,
                ),
                "",
            ),
        ],
        "padding_modes": [
            (
                _case(
                    rng.standard_normal((1, 1, 3)),
                    rng.standard_normal((1, 1, 2)),
                    stride=5,
                    padding="same",
                ),
                " ('same' with stride > L)",
            ),
            (
                _case(
                    rng.standard_normal((2, 2, 7)),
                    rng.standard_normal((2, 2, 4)),
                    padding="same",
                    dilation=2,
                ),
                " (dilated 'same', odd total)",
            ),
            (
                _case(
                    rng.standard_normal((1, 2, 2)),
                    rng.standard_normal((1, 2, 5)),
                    [0.5],
                    padding="full",
                ),
                " ('full', kernel longer than x)",
            ),
            (
                _case(
                    rng.standard_normal((1, 1, 4)), rng.standard_normal((1, 1, 6)), padding="same"
                ),
                " ('same', kernel longer than x)",
            ),
            (
                _case(
                    rng.standard_normal((1, 1, 5)),
                    rng.standard_normal((1, 1, 1)),
                    padding="same",
                    stride=2,
                ),
                " ('same', K = 1)",
            ),
        ],
    }
    return edges[feature]


@_checker
def check_conv1d(
    fn: Callable, feature: str = "single_channel", cases: str = "visible", seed: int = 0
) -> None:
    """Check ``fn(x (N, C_in, L), w (C_out, C_in, K), b, stride, padding, dilation) -> (N, C_out, L_out)`` for one ``feature``.

    ``feature`` is one of ``CONV1D_FEATURES``: "single_channel", "channels_bias",
    "stride_padding", "dilation" or "padding_modes".
    """
    _check_conv1d_feature(fn, feature, cases, seed, exercise="conv1d")


def _check_conv1d_feature(
    fn: Callable,
    feature: str,
    cases: str,
    seed: int,
    exercise: str,
    extra_bugs: Callable[[dict[str, Any], np.ndarray], list[Bug]] | None = None,
    report: bool = True,
    random_cases: int = HIDDEN_RANDOM_CASES,
) -> int:
    if feature not in CONV1D_FEATURES:
        raise ValueError(f"feature must be one of {CONV1D_FEATURES}, got {feature!r}")
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        selected = _visible_conv1d_cases(feature)
    else:
        rng = hidden_rng(seed)
        selected = [
            (random_conv1d_case(rng, **_FEATURE_CASES[feature]), "") for _ in range(random_cases)
        ]
        selected += _hidden_conv1d_edges(feature)
    for case, label in selected:
        _check_conv1d_case(fn, case, label, exercise=exercise, extra_bugs=extra_bugs)
    if report:
        _report(f"{exercise} ({feature})", len(selected), cases)
    return len(selected)


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _error_cases(function: str) -> list[tuple[str, tuple, dict[str, Any], tuple[str, ...], bool]]:
    """Return (because, args, kwargs, words one of which the message must contain, visible?)."""
    if function in ("conv1d", "conv1d_im2col"):
        x, w = np.ones((1, 2, 8)), np.ones((3, 2, 3))
        return [
            ("stride must be >= 1", (x, w), dict(stride=0), ("stride",), True),
            ("padding must be >= 0", (x, w), dict(padding=-1), ("padding",), True),
            (
                "unknown padding mode",
                (x, w),
                dict(padding="middle"),
                ("padding", "middle", "mode"),
                True,
            ),
            ("stride must be >= 1", (x, w), dict(stride=-2), ("stride",), False),
            ("dilation must be >= 1", (x, w), dict(dilation=0), ("dilation",), False),
            (
                "the kernel is longer than the input",
                (x, np.ones((3, 2, 9))),
                {},
                _KERNEL_WORDS,
                False,
            ),
            (
                "the dilated kernel is longer than the padded input",
                (x, w),
                dict(dilation=4, padding=0),
                _KERNEL_WORDS,
                False,
            ),
            ("x has 2 channels, w expects 3", (x, np.ones((3, 3, 3))), {}, ("channel",), False),
        ]
    if function == "conv_output_size":
        return [
            ("stride must be >= 1", (7, 3), dict(stride=0), ("stride",), True),
            ("padding must be >= 0", (7, 3), dict(padding=-1), ("padding",), True),
            ("dilation must be >= 1", (7, 3), dict(dilation=0), ("dilation",), False),
            ("the kernel is longer than the input", (4, 5), {}, _KERNEL_WORDS, True),
            (
                "the dilated kernel is longer than the padded input",
                (7, 3),
                dict(dilation=4, padding=0),
                _KERNEL_WORDS,
                False,
            ),
            ("stride must be >= 1", (7, 3), dict(stride=-1), ("stride",), False),
        ]
    if function == "same_padding":
        return [
            ("stride must be >= 1", (6, 3), dict(stride=0), ("stride",), True),
            ("dilation must be >= 1", (6, 3), dict(dilation=0), ("dilation",), False),
        ]
    if function == "conv_transpose_output_size":
        op_words = ("output_padding", "output padding")
        return [
            (
                "output_padding must be smaller than stride or dilation",
                (3, 3),
                dict(stride=2, output_padding=2),
                op_words,
                True,
            ),
            (
                "output_padding must be smaller than stride or dilation",
                (3, 3),
                dict(output_padding=1),
                op_words,
                False,
            ),
            (
                "output_padding must be smaller than stride or dilation",
                (4, 3),
                dict(stride=2, dilation=3, output_padding=3),
                op_words,
                False,
            ),
            ("stride must be >= 1", (3, 3), dict(stride=0), ("stride",), False),
            ("padding must be >= 0", (3, 3), dict(padding=-1), ("padding",), False),
            ("dilation must be >= 1", (4, 3), dict(dilation=0), ("dilation",), False),
        ]
    if function == "im2col_1d":
        x = np.ones((2, 2, 6))
        return [
            ("stride must be >= 1", (x, 3), dict(stride=0), ("stride",), True),
            ("dilation must be >= 1", (x, 3), dict(dilation=0), ("dilation",), False),
            ("the kernel is longer than the input", (x, 7), {}, _KERNEL_WORDS, True),
            (
                "the dilated kernel is longer than the input",
                (x, 3),
                dict(dilation=3),
                _KERNEL_WORDS,
                False,
            ),
        ]
    raise ValueError(f"function must be one of {ERROR_FUNCTIONS}, got {function!r}")


def _legal_edges(function: str) -> list[tuple[tuple, dict[str, Any], Any]]:
    """Legal calls at the limits (must NOT raise): (args, kwargs, expected)."""
    if function in ("conv1d", "conv1d_im2col"):
        x, w = np.arange(16.0).reshape(1, 2, 8), np.ones((3, 2, 10))
        return [
            (
                (x, w),
                dict(padding=1),
                reference.conv1d(x, w, padding=1),
            ),  # kernel = padded input exactly
            (
                (x, w),
                dict(padding="same"),
                reference.conv1d(x, w, padding="same"),
            ),  # "same" pads enough
            ((x, w[..., :3]), dict(stride=20), reference.conv1d(x, w[..., :3], stride=20)),
        ]
    if function == "conv_output_size":
        return [((4, 6), dict(padding=1), 1), ((9, 3), dict(dilation=4), 1)]
    if function == "im2col_1d":
        x = np.arange(12.0).reshape(1, 2, 6)
        return [
            ((x, 6), {}, im2col_1d_reference(x, 6)),
            ((x, 2), dict(dilation=5), im2col_1d_reference(x, 2, 1, 5)),
        ]
    return []


@_checker
def check_argument_errors(fn: Callable, function: str = "conv1d", cases: str = "visible") -> None:
    """Check that ``fn`` (the student's ``function``) raises ValueError for illegal arguments.

    Any ValueError earns the points; a message that does not name the problem (the argument)
    is printed as advice. Legal calls at the limits (a kernel exactly as long as the padded
    input, a huge stride) must still work.
    """
    cases = _check_cases(cases)
    selected = [c for c in _error_cases(function) if c[4] == (cases == "visible")]
    advice = [
        _expect_argument_error(
            fn, *args, because=because, mentions=words, exercise=function, **kwargs
        )
        for because, args, kwargs, words, _ in selected
    ]
    count = len(selected)
    if cases == "hidden":
        for args, kwargs, expected in _legal_edges(function):
            actual = call_student(fn, *args, exercise=function, **kwargs)
            name = describe_call(function, *args, **kwargs) + " (legal: it must not raise)"
            if isinstance(expected, int):
                assert_int_equal(actual, expected, name=name)
            else:
                assert_array_close(actual, expected, name=name)
            count += 1
    _report(f"{function} argument checks", count, cases)
    _print_advice(advice)


# --------------------------------------------------------------------------------------------
# Part D: im2col
# --------------------------------------------------------------------------------------------


def _im2col_bugs(x: np.ndarray, k: int, s: int, d: int, expected: np.ndarray) -> list[Bug]:
    n, c, l_out = x.shape[0], x.shape[1], expected.shape[-1]
    return [
        (
            "im2col-row-order",
            "the rows are ordered tap first (kernel-major). Row c*K + i must hold channel c, tap i "
            "(channel-major), so that w.reshape(C_out, C_in*K) lines up with the columns.",
            lambda: expected.reshape(n, c, k, l_out).transpose(0, 2, 1, 3).reshape(n, c * k, l_out),
        ),
        (
            "im2col-layout",
            "each receptive field is a row, not a column: the result is (N, C*K, L_out); "
            "column t holds the receptive field of output t.",
            lambda: expected.transpose(0, 2, 1),
        ),
        (
            "stride-ignored",
            "the stride is ignored: window t starts at t * stride.",
            lambda: im2col_1d_reference(x, k, 1, d),
        ),
        (
            "stride-ignored",
            "the output count uses the stride but the windows do not: window t starts at t * stride.",
            lambda: im2col_1d_reference(x, k, 1, d)[..., :l_out],
        ),
        (
            "dilation-ignored",
            "dilation ignored: tap i of window t is x[t*stride + i*dilation].",
            lambda: im2col_1d_reference(x, k, s, 1),
        ),
        (
            "dilation-ignored",
            "the output count uses the dilation but the taps do not: tap i is x[t*stride + i*dilation].",
            lambda: im2col_1d_reference(x, k, s, 1)[..., :l_out],
        ),
        (
            "flipped-kernel",
            "the taps of each window are reversed (a flipped kernel order).",
            lambda: expected.reshape(n, c, k, l_out)[:, :, ::-1].reshape(n, c * k, l_out),
        ),
        ("off-by-one", "the last window is missing (off by one).", lambda: expected[..., :-1]),
        (
            "im2col-layout",
            "the batch axis is missing: keep N first, (N, C*K, L_out).",
            lambda: expected[0],
        ),
    ]


def _check_im2col_case(
    fn: Callable, x: np.ndarray, k: int, s: int, d: int, label: str = ""
) -> None:
    expected = im2col_1d_reference(x, k, s, d)
    actual = call_student(fn, x, k, stride=s, dilation=d, exercise="im2col_1d")
    name = describe_call("im2col_1d", x, k, stride=s, dilation=d) + label
    _assert_close(
        actual, expected, name, _im2col_bugs(np.asarray(x, dtype=np.float64), k, s, d, expected)
    )


@_checker
def check_im2col_1d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C, L), k, stride, dilation) -> (N, C*k, L_out)``, channel-major rows, one column per output."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    count = 0
    if cases == "visible":
        examples = [
            (
                DECK2_X[None, None],
                3,
                1,
                1,
                " (Lecture 2's row-to-column matrix: columns [1,0,2], [0,2,2], [2,2,3], [2,3,1])",
            ),
            (
                np.array([[[1.0, 2, 3, 4], [10, 20, 30, 40]]]),
                2,
                1,
                1,
                " (two channels: rows x0[t], x0[t+1], x1[t], x1[t+1])",
            ),
            (np.arange(14.0).reshape(2, 1, 7), 3, 2, 1, " (stride 2)"),
            (np.arange(9.0).reshape(1, 1, 9), 3, 1, 2, " (dilation 2)"),
        ]
        for x, k, s, d, label in examples:
            _check_im2col_case(fn, x, k, s, d, label)
        count = len(examples)
    else:
        rng = hidden_rng(seed)
        for _ in range(HIDDEN_RANDOM_CASES):
            case = random_conv1d_case(rng, padding="valid")
            k = case["w"].shape[-1]
            _check_im2col_case(fn, case["x"], k, case["stride"], case["dilation"])
            count += 1
        for x, k, s, d in [
            (rng.standard_normal((1, 3, 5)), 5, 1, 1),
            (rng.standard_normal((2, 2, 4)), 1, 3, 1),
            (rng.standard_normal((1, 1, 7)), 2, 2, 6),
        ]:
            _check_im2col_case(fn, x, k, s, d, " (edge case)")
            count += 1
        # the point of im2col: one matrix product gives the convolution
        case = random_conv1d_case(rng, padding="valid", bias=False)
        k = case["w"].shape[-1]
        cols = call_student(
            fn, case["x"], k, stride=case["stride"], dilation=case["dilation"], exercise="im2col_1d"
        )
        product = case["w"].reshape(case["w"].shape[0], -1) @ np.asarray(cols, dtype=np.float64)
        expected = reference.conv1d(
            case["x"], case["w"], stride=case["stride"], dilation=case["dilation"]
        )
        assert_array_close(product, expected, name="w.reshape(C_out, C_in*K) @ im2col_1d(x, K)")
        count += 1
    _report("im2col_1d", count, cases)


def _reshape_bugs(case: dict[str, Any], expected: np.ndarray) -> list[Bug]:
    w, b = case["w"], case["b"]
    n, c_out, l_out = expected.shape
    c_in, k = w.shape[1], w.shape[2]

    def with_kernel(kernel: np.ndarray) -> np.ndarray:
        return reference.conv1d(
            case["x"],
            kernel,
            b,
            stride=case["stride"],
            padding=case["padding"],
            dilation=case["dilation"],
        )

    no_bias = expected if b is None else expected - b[None, :, None]
    bias = 0.0 if b is None else b[None, :, None]
    return [
        (
            "im2col-reshape",
            "wrong reshape of the product: (C_out, N*L_out) was reshaped straight to (N, C_out, L_out). "
            "Reshape to (C_out, N, L_out) and transpose, or use W @ cols with cols of shape "
            "(N, C_in*K, L_out) to get (N, C_out, L_out) directly.",
            lambda: no_bias.transpose(1, 0, 2).reshape(n, c_out, l_out) + bias,
        ),
        (
            "im2col-reshape",
            "wrong reshape of the product: (C_out, N*L_out) was reshaped straight to (N, C_out, L_out). "
            "Reshape to (C_out, N, L_out) and transpose.",
            lambda: expected.transpose(1, 0, 2).reshape(n, c_out, l_out),
        ),
        (
            "im2col-reshape",
            "the weights were flattened tap first (w.transpose(0, 2, 1).reshape(C_out, -1)) but the "
            "columns are channel-major: use w.reshape(C_out, C_in*K).",
            lambda: with_kernel(w.transpose(0, 2, 1).reshape(c_out, c_in, k)),
        ),
        (
            "im2col-reshape",
            "the result is (C_out, N, L_out): move the batch axis first.",
            lambda: expected.transpose(1, 0, 2),
        ),
    ]


@_checker
def check_conv1d_im2col(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn`` (conv1d as ONE matrix product on im2col_1d's columns) matches conv1d; visible cases also check it uses im2col_1d once and not conv1d."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    namespace = getattr(fn, "__globals__", None)
    if cases == "visible" and isinstance(namespace, dict):
        _check_uses_im2col(fn, namespace)
    count = 0
    features = ("single_channel", "channels_bias") if cases == "visible" else CONV1D_FEATURES
    for index, feature in enumerate(features):
        count += _check_conv1d_feature(
            fn,
            feature,
            cases,
            seed + index,
            exercise="conv1d_im2col",
            extra_bugs=_reshape_bugs,
            report=False,
            random_cases=HIDDEN_RANDOM_CASES // 3,  # conv1d's own tests cover each feature in depth
        )
    if cases == "visible":
        for case, label in [
            (
                _deck2("same", stride=2),
                " (Lecture 2, 'same' with stride 2: expect [[[7, 16, 11]]])",
            ),
            (_deck2(padding=1, dilation=2), " (padding 1, dilation 2)"),
        ]:
            _check_conv1d_case(fn, case, label, exercise="conv1d_im2col", extra_bugs=_reshape_bugs)
            count += 1
    _report("conv1d_im2col", count, cases)


def _check_uses_im2col(fn: Callable, namespace: dict[str, Any]) -> None:
    """Run ``fn`` once with im2col_1d counted and the loop versions blocked (names looked up in its globals)."""
    calls = {"im2col_1d": 0}
    im2col = namespace.get("im2col_1d")
    if not callable(im2col):
        raise AssertionError("im2col_1d is not defined: run the cell with your im2col_1d first")

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["im2col_1d"] += 1
        return im2col(*args, **kwargs)

    def forbidden(name: str) -> Callable:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(
                f"conv1d_im2col called your loop version {name}: build the columns with im2col_1d "
                "and compute the convolution as one matrix product instead"
            )

        return blocked

    replaced = {
        "im2col_1d": counted,
        "conv1d": forbidden("conv1d"),
        "conv1d_single": forbidden("conv1d_single"),
    }
    saved = {name: namespace[name] for name in replaced if name in namespace}
    case = _case(np.arange(12.0).reshape(2, 1, 6), np.ones((2, 1, 3)), [1.0, 2.0], padding="same")
    try:
        namespace.update({name: value for name, value in replaced.items() if name in saved})
        try:
            _conv1d_call(fn, case, "conv1d_im2col")
        except AssertionError as exc:
            if "loop version" in str(exc):
                raise AssertionError(str(exc).split(" raised AssertionError: ")[-1]) from None
            raise
    finally:
        namespace.update(saved)
    if calls["im2col_1d"] != 1:
        raise AssertionError(
            f"conv1d_im2col called im2col_1d {calls['im2col_1d']} times for a batch of 2 signals; "
            "call it once on the whole padded batch and multiply once: "
            "w.reshape(C_out, C_in*K) @ cols"
        )


__all__ = [
    "CONV1D_FEATURES",
    "ERROR_FUNCTIONS",
    "check_argument_errors",
    "check_conv1d",
    "check_conv1d_im2col",
    "check_conv1d_single",
    "check_conv_output_size",
    "check_conv_transpose_output_size",
    "check_im2col_1d",
    "check_same_padding",
    "im2col_1d_reference",
]
