"""Checkers for Assignment 2 (2-D convolution and pooling, loops to im2col to the GPU), called by its test cells.

Each ``check_*`` takes the student's function and ``cases="visible"`` (the decks' examples and
small cases, shown to students) or ``cases="hidden"`` (random cases against
:mod:`course_utils.reference` in float64: non-square images and kernels, strides that do not
divide evenly, padding and dilation per axis, groups, tie-free pooling inputs; run at grading
time). A failure is an ``AssertionError`` naming the call, what differs and the likely mistake,
found by comparing the result with the outputs of typical 2-D bugs (height and width swapped,
padding on one side, pooling padded with zeros, groups split wrongly, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import arithmetic, reference
from ..device import float64_device
from ..validation import check_int
from ._common import (
    _KERNEL_WORDS,
    Bug,
    _assert_close,
    _assert_int,
    _check_cases,
    _checker,
    _expect_argument_error,
    _names_replaced,
    _namespace,
    _outputs,
    _print_advice,
    _report,
    _student_lines_run,
    hidden_rng,
)
from .toolkit import (
    assert_array_close,
    call_student,
    call_student_torch,
    describe_call,
    random_conv2d_case,
    random_pool_case,
    tie_free,
)

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

# --------------------------------------------------------------------------------------------
# Reference pieces the library does not have (checker-side only)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Part A: conv2d_single
# --------------------------------------------------------------------------------------------


def _single_bugs(x: np.ndarray, w: np.ndarray, expected: np.ndarray) -> list[Bug]:
    def ref(image, kernel, pads=((0, 0), (0, 0))):
        return _conv2d_padded(image[None, None], kernel[None, None], None, 1, pads, 1)[0, 0]

    kh, kw = w.shape
    return [
        (
            "the kernel is flipped (a textbook convolution, w[KH-1-a, KW-1-b]). CNNs use "
            "cross-correlation: y[i, j] = sum_a sum_b w[a, b] * x[i + a, j + b], no flip.",
            lambda: ref(x, w[::-1, ::-1]),
        ),
        (
            "the kernel is transposed: w[b, a] instead of w[a, b] (a is the kernel row, b its column).",
            lambda: ref(x, w.T),
        ),
        (
            "the image is transposed: x[j + b, i + a] instead of x[i + a, j + b] (rows first).",
            lambda: ref(x.T, w).T,
        ),
        ("the last output row is missing (off by one): H - KH + 1 rows.", lambda: expected[:-1]),
        (
            "the last output column is missing (off by one): W - KW + 1 columns.",
            lambda: expected[:, :-1],
        ),
        (
            "the image was zero-padded to keep its size: conv2d_single is 'valid' (no padding).",
            lambda: ref(x, w, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))),
        ),
        (
            "the result was truncated to integers: create y with np.zeros((H - KH + 1, W - KW + 1)).",
            lambda: np.trunc(expected),
        ),
    ]


def _check_single_case(fn: Callable, x: Any, w: Any, label: str = "") -> None:
    xf, wf = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    expected = reference.conv2d(xf[None, None], wf[None, None])[0, 0]
    actual = call_student(fn, x, w, exercise="conv2d_single")
    _assert_close(
        actual,
        expected,
        describe_call("conv2d_single", x, w) + label,
        _single_bugs(xf, wf, expected),
    )


@_checker
def check_conv2d_single(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (H, W), w (KH, KW)) -> (H-KH+1, W-KW+1)``: the decks' examples (visible) or random images (hidden)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        examples = [
            (
                SHARPEN_IMAGE,
                SHARPEN_KERNEL,
                " (Lecture 1's sharpen kernel: expect [[6, 1, 8], [-7, 9, 2], [-5, -9, 3]])",
            ),
            (
                DECK2_IMAGE,
                DECK2_KERNEL,
                " (Lecture 2's 2-D example: expect [[2, 0, 2], [2, -1, 2], [3, -1, 0]])",
            ),
            (
                np.arange(12.0).reshape(3, 4),
                np.array([[1.0, 0, -1]]),
                " (a 1x3 kernel: non-square)",
            ),
            (np.arange(12.0).reshape(4, 3), np.array([[1.0], [2], [-1]]), " (a 3x1 kernel)"),
            (np.arange(6.0).reshape(2, 3), np.ones((2, 3)), " (kernel as large as the image)"),
        ]
    else:
        rng = hidden_rng(seed)
        examples = []
        for _ in range(2 * HIDDEN_RANDOM_CASES_2D):
            h, w_ = int(rng.integers(1, 10)), int(rng.integers(1, 10))
            kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w_ + 1))
            examples.append((rng.standard_normal((h, w_)), rng.standard_normal((kh, kw)), ""))
        examples += [
            (np.arange(20).reshape(4, 5), np.array([[0.5, 0.25]]), " (integer image)"),
            (rng.standard_normal((1, 1)), rng.standard_normal((1, 1)), " (1x1)"),
            (
                rng.standard_normal((3, 7)),
                rng.standard_normal((3, 2)),
                " (kernel as tall as the image)",
            ),
        ]
    for x, w, label in examples:
        _check_single_case(fn, x, w, label)
    _report("conv2d_single", len(examples), cases)


# --------------------------------------------------------------------------------------------
# Part B: conv2d (and the same cases for conv2d_im2col and conv2d_torch)
# --------------------------------------------------------------------------------------------


def _case(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> dict[str, Any]:
    as_array = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return {
        "x": as_array(x),
        "w": as_array(w),
        "b": as_array(b),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
    }


def _options(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups")}


def _expected(case: dict[str, Any]) -> np.ndarray:
    return reference.conv2d(case["x"], case["w"], case["b"], **_options(case))


def _conv2d_bugs(case: dict[str, Any], expected: np.ndarray) -> list[Bug]:
    """Outputs of the typical 2-D mistakes for one conv2d case, computed with the reference."""
    x, w, b, groups = case["x"], case["w"], case["b"], case["groups"]
    stride, dilation = _pair(case["stride"]), _pair(case["dilation"])
    p = case["padding"]
    kernel = (w.shape[2], w.shape[3])
    pads = _resolve_pads(p, x.shape[2:], kernel, stride, dilation)
    c_in, f = x.shape[1], w.shape[0]

    def ref(xx=x, ww=w, bb=b, ss=stride, pp=pads, dd=dilation, gg=groups):
        return _conv2d_padded(xx, ww, bb, ss, pp, dd, gg)

    no_bias = expected if b is None else expected - b[None, :, None, None]
    bugs: list[Bug] = [
        (
            "the kernel is flipped (a textbook convolution). CNNs use cross-correlation: "
            "y[n, f, i, j] = b[f] + sum_c,a,b w[f, c, a, b] * x_pad[n, c, i*sh + a*dh, j*sw + b*dw], no flip.",
            lambda: ref(ww=w[..., ::-1, ::-1]),
        ),
        (
            "the kernel's rows and columns are swapped: read w[f, c, a, b] with a the kernel row "
            "(KH = w.shape[2]) and b the column (KW = w.shape[3]).",
            lambda: ref(ww=w.transpose(0, 1, 3, 2)),
        ),
        ("the last output row is missing (off by one).", lambda: expected[:, :, :-1]),
        ("the last output column is missing (off by one).", lambda: expected[:, :, :, :-1]),
    ]
    if b is not None:
        bugs += [
            ("the bias is missing: add b[f] to every output of filter f.", lambda: no_bias),
            ("the bias is added twice.", lambda: expected + b[None, :, None, None]),
            (
                "the bias is added along the width axis (b[None, None, None, :]): it belongs to "
                "the filter axis, b[None, :, None, None].",
                lambda: no_bias + b[None, None, None, :],
            ),
            (
                "the bias is added along the height axis (b[None, None, :, None]): it belongs to "
                "the filter axis, b[None, :, None, None].",
                lambda: no_bias + b[None, None, :, None],
            ),
        ]
    if c_in > 1 and groups == 1:
        bugs += [
            (
                "only the first input channel is summed: a filter spans all input channels.",
                lambda: ref(xx=x[:, :1], ww=w[:, :1]),
            ),
            (
                "only the last input channel counts: each channel overwrote the previous one (=) "
                "instead of being accumulated (+=).",
                lambda: ref(xx=x[:, -1:], ww=w[:, -1:]),
            ),
        ]
        if f == c_in:
            bugs.append(
                (
                    "w is indexed as w[c, f], but its shape is (F, C, KH, KW): use w[f, c].",
                    lambda: ref(ww=w.transpose(1, 0, 2, 3)),
                )
            )
    if stride != (1, 1):
        bugs += [
            (
                "the stride is ignored: output (i, j) starts at (i*sh, j*sw).",
                lambda: ref(ss=(1, 1)),
            ),
            (
                "the output size uses the stride but the windows do not: output (i, j) starts at "
                "(i*sh, j*sw).",
                lambda: ref(ss=(1, 1))[:, :, : expected.shape[2], : expected.shape[3]],
            ),
        ]
        bugs += [
            (
                "the stride is applied on one axis only (the height).",
                lambda: ref(ss=(stride[0], 1)),
            ),
            ("the stride is applied on one axis only (the width).", lambda: ref(ss=(1, stride[1]))),
        ]
        if stride[0] != stride[1]:
            bugs += [
                (
                    "height and width are swapped in the stride: stride=(sh, sw) moves sh rows "
                    "down and sw columns right.",
                    lambda: ref(ss=stride[::-1]),
                ),
                (
                    "an (h, w) stride was read as one number: use stride[0] for the rows and "
                    "stride[1] for the columns.",
                    lambda: ref(ss=(stride[0],) * 2),
                ),
            ]
    if dilation != (1, 1):
        bugs += [
            (
                "dilation ignored: tap (a, b) reads x_pad[i*sh + a*dh, j*sw + b*dw].",
                lambda: ref(dd=(1, 1)),
            ),
            (
                "the output size uses the dilation but the taps do not: tap (a, b) reads "
                "x_pad[i*sh + a*dh, j*sw + b*dw].",
                lambda: ref(dd=(1, 1))[:, :, : expected.shape[2], : expected.shape[3]],
            ),
            ("dilation applied on the height axis only.", lambda: ref(dd=(dilation[0], 1))),
            ("dilation applied on the width axis only.", lambda: ref(dd=(1, dilation[1]))),
        ]
        if dilation[0] != dilation[1]:
            bugs.append(
                (
                    "height and width are swapped in the dilation: dilation=(dh, dw).",
                    lambda: ref(dd=dilation[::-1]),
                )
            )
    if not isinstance(p, str) and _pair(p) != (0, 0):
        (ph, _), (pw, _) = pads
        bugs += [
            (
                "zeros added at the top and left only: pad `padding` zeros on BOTH sides of each axis.",
                lambda: ref(pp=((2 * ph, 0), (2 * pw, 0))),
            ),
            (
                "zeros added at the bottom and right only: pad `padding` zeros on BOTH sides of each axis.",
                lambda: ref(pp=((0, 2 * ph), (0, 2 * pw))),
            ),
            (
                "zeros added on one side of each axis only, `padding` of them: pad on BOTH sides.",
                lambda: ref(pp=((ph, 0), (pw, 0))),
            ),
            (
                "zeros added on one side of each axis only, `padding` of them: pad on BOTH sides.",
                lambda: ref(pp=((0, ph), (0, pw))),
            ),
            (
                "padding treated as the total: `padding` zeros go on EACH side.",
                lambda: ref(pp=((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))),
            ),
            ("the padding is applied to the height only.", lambda: ref(pp=((ph, ph), (0, 0)))),
            ("the padding is applied to the width only.", lambda: ref(pp=((0, 0), (pw, pw)))),
            ("padding ignored.", lambda: ref(pp=((0, 0), (0, 0)))),
        ]
        if ph != pw:
            bugs.append(
                (
                    "height and width are swapped in the padding: padding=(ph, pw) puts ph rows "
                    "above and below, pw columns left and right.",
                    lambda: ref(pp=((pw, pw), (ph, ph))),
                )
            )
    if p == "same":
        swapped = tuple(pair[::-1] for pair in pads)
        same_stride1 = _resolve_pads("same", x.shape[2:], kernel, (1, 1), dilation)
        bugs += [
            (
                "'same' put the extra zero at the top/left: when an axis's total is odd, the "
                "extra zero goes at the BOTTOM/RIGHT (before = total // 2, after = total - before).",
                lambda: ref(pp=swapped),
            ),
            (
                "'same' ignores the stride: each axis needs max((ceil(n/s) - 1)*s + d(k-1) + 1 - n, 0) "
                "zeros in total, for ceil(n / s) outputs.",
                lambda: ref(pp=same_stride1),
            ),
            (
                "'same' padded (k-1)//2 on each side: only right for odd kernels and stride 1.",
                lambda: ref(pp=tuple((t // 2, t // 2) for t in (sum(a) for a in pads))),
            ),
            ("padding='same' gave the 'valid' result.", lambda: ref(pp=((0, 0), (0, 0)))),
        ]
        if dilation != (1, 1):
            bugs.append(
                (
                    "'same' padding ignores the dilation.",
                    lambda: ref(pp=_resolve_pads("same", x.shape[2:], kernel, stride, (1, 1))),
                )
            )
    if p == "full":
        spans = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        bugs += [
            (
                "'full' ignores the dilation: pad dilation * (k - 1) zeros on each side.",
                lambda: ref(pp=((kernel[0] - 1,) * 2, (kernel[1] - 1,) * 2)),
            ),
            (
                "'full' padded on one side only: pad d*(k-1) zeros at BOTH ends of each axis.",
                lambda: ref(pp=((spans[0], 0), (spans[1], 0))),
            ),
            ("padding='full' gave the 'valid' result.", lambda: ref(pp=((0, 0), (0, 0)))),
        ]
    if p == "valid":
        bugs.append(
            (
                "padding='valid' gave the 'same' result.",
                lambda: ref(pp=_resolve_pads("same", x.shape[2:], kernel, stride, dilation)),
            )
        )
    if groups > 1:
        cg, fg = c_in // groups, f // groups
        bugs += [
            (
                "the groups are split wrongly: output channel o belongs to group o // (F // groups) "
                "(consecutive blocks), not o % groups.",
                lambda: _by_output_channel(
                    x,
                    w,
                    b,
                    stride,
                    pads,
                    dilation,
                    lambda o: slice((o % groups) * cg, (o % groups + 1) * cg),
                ),
            ),
            (
                "the input channels of a group were taken interleaved (c, c + groups, ...): group g "
                "holds the consecutive channels g*C/groups ... (g+1)*C/groups - 1.",
                lambda: _by_output_channel(
                    x, w, b, stride, pads, dilation, lambda o: slice(o // fg, None, groups)
                ),
            ),
            (
                "every group read the first group's channels: shift the channel block with the group.",
                lambda: _by_output_channel(x, w, b, stride, pads, dilation, lambda o: slice(0, cg)),
            ),
        ]
    return bugs


def _conv2d_name(exercise: str, case: dict[str, Any], label: str) -> str:
    return describe_call(exercise, case["x"], case["w"], case["b"], **_options(case)) + label


def _check_conv2d_case(
    fn: Callable,
    case: dict[str, Any],
    label: str = "",
    exercise: str = "conv2d",
    extra_bugs: Callable[[dict[str, Any], np.ndarray], list[Bug]] | None = None,
) -> None:
    expected = _expected(case)
    actual = call_student(fn, case["x"], case["w"], case["b"], exercise=exercise, **_options(case))
    bugs = _conv2d_bugs(case, expected) + (extra_bugs(case, expected) if extra_bugs else [])
    _assert_close(actual, expected, _conv2d_name(exercise, case, label), bugs)


def _deck2(**options: Any) -> dict[str, Any]:
    return _case(DECK2_IMAGE[None, None], DECK2_KERNEL[None, None], **options)


def _sharpen(**options: Any) -> dict[str, Any]:
    return _case(SHARPEN_IMAGE[None, None], SHARPEN_KERNEL[None, None], **options)


# the features each conv2d test cell grades, as restrictions of random_conv2d_case
_FEATURE_CASES: dict[str, dict[str, Any]] = {
    "channels_bias": dict(stride=1, padding=0, dilation=1),
    "stride_padding": dict(
        stride=[1, 2, 3, (1, 2), (2, 1), (3, 2)],
        padding=[0, 1, 2, (0, 1), (2, 1), (1, 0)],
        dilation=1,
    ),
    "dilation": dict(dilation=[2, (1, 2), (2, 1), (3, 2)], padding=[0, 1, (1, 2)]),
    "padding_modes": dict(padding=["valid", "same", "full"]),
    "groups": dict(),
}


def _random_conv2d(rng: np.random.Generator, feature: str, **overrides: Any) -> dict[str, Any]:
    if feature != "groups":
        case = random_conv2d_case(rng, **{**_FEATURE_CASES[feature], **overrides})
        return {**case, "groups": 1}
    groups = int(rng.choice([2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    case = random_conv2d_case(rng, in_channels=c_in, out_channels=c_out, **overrides)
    kh, kw = case["w"].shape[2:]
    return {**case, "w": rng.standard_normal((c_out, c_in // groups, kh, kw)), "groups": groups}


def _visible_conv2d_cases(feature: str) -> list[tuple[dict[str, Any], str]]:
    rng = np.random.default_rng(2025)
    randoms = [(_random_conv2d(rng, feature, max_size=7), "") for _ in range(3)]
    two = np.stack([DECK2_IMAGE, DECK2_IMAGE.T])  # (2, 4, 4)
    if feature == "channels_bias":
        w2 = np.stack([np.stack([DECK2_KERNEL, np.zeros((2, 2))]), np.ones((2, 2, 2))])
        three = np.stack([DECK2_KERNEL, DECK2_KERNEL.T, np.ones((2, 2))])[:, None]
        return [
            (_sharpen(), " (Lecture 1's sharpen kernel as a batch of one image)"),
            (_deck2(), " (Lecture 2's example: expect [[[[2, 0, 2], [2, -1, 2], [3, -1, 0]]]])"),
            (
                _case(
                    np.stack([SHARPEN_IMAGE, -SHARPEN_IMAGE])[:, None], SHARPEN_KERNEL[None, None]
                ),
                " (a batch of two images)",
            ),
            (
                _case(DECK2_IMAGE[None, None], three, [1.0, 2.0, 3.0]),
                " (three filters with bias [1, 2, 3]: Lecture 2's kernel, its transpose, ones)",
            ),
            (
                _case(two[None], w2, [10.0, -1.0]),
                " (two channels, two filters, bias [10, -1]: filter 0 is Lecture 2's kernel on channel 0)",
            ),
            *randoms,
        ]
    if feature == "stride_padding":
        return [
            (_sharpen(padding=1), " (Lecture 1's image, padding 1: a 5x5 output)"),
            (_deck2(stride=2), " (stride 2: expect [[[[2, 2], [3, 0]]]])"),
            (_sharpen(stride=(2, 1)), " (stride (2, 1): every second row)"),
            (_deck2(padding=(1, 0)), " (padding (1, 0): zero rows above and below only)"),
            (
                _case(
                    np.arange(35.0).reshape(1, 1, 5, 7),
                    np.ones((1, 1, 3, 2)),
                    stride=(3, 2),
                    padding=(0, 1),
                ),
                " (strides that do not divide evenly: floor)",
            ),
            *randoms,
        ]
    if feature == "dilation":
        return [
            (_sharpen(dilation=2), " (dilation 2: the 3x3 kernel spans 5x5, one output)"),
            (
                _case(
                    np.arange(42.0).reshape(1, 1, 6, 7), DECK2_KERNEL[None, None], dilation=(1, 3)
                ),
                " (dilation (1, 3): taps 3 columns apart)",
            ),
            (
                _case(
                    np.arange(42.0).reshape(1, 1, 7, 6),
                    DECK2_KERNEL[None, None],
                    dilation=(2, 1),
                    padding=1,
                ),
                " (dilation (2, 1), padding 1)",
            ),
            *randoms,
        ]
    if feature == "padding_modes":
        return [
            (_deck2(padding="valid"), " ('valid': expect [[[[2, 0, 2], [2, -1, 2], [3, -1, 0]]]])"),
            (
                _deck2(padding="same"),
                " ('same', 2x2 kernel: the extra zero row and column at the bottom/right)",
            ),
            (_sharpen(padding="same", stride=2), " ('same' with stride 2: ceil(5/2) = 3 per axis)"),
            (_deck2(padding="full"), " ('full': every overlap, 5x5)"),
            (
                _case(
                    np.arange(30.0).reshape(1, 1, 5, 6),
                    np.ones((1, 1, 2, 3)),
                    padding="same",
                    dilation=(2, 1),
                ),
                " ('same' with dilation (2, 1))",
            ),
            *randoms,
        ]
    # groups
    x = np.stack([DECK2_IMAGE, DECK2_IMAGE.T, -DECK2_IMAGE, np.ones((4, 4))])[None]  # (1, 4, 4, 4)
    w = np.stack(
        [np.stack([DECK2_KERNEL, np.zeros((2, 2))]), np.ones((2, 2, 2))] * 2
    )  # (4, 2, 2, 2)
    depthwise = np.stack([DECK2_KERNEL, np.ones((2, 2)), DECK2_KERNEL.T, -DECK2_KERNEL])[:, None]
    return [
        (
            _case(x, w, groups=2),
            " (groups=2: filters 0-1 see channels 0-1, filters 2-3 see channels 2-3)",
        ),
        (_case(x, depthwise, groups=4), " (groups=4, depthwise: one kernel per channel)"),
        (_case(x, np.concatenate([w, w]), groups=2), " (groups=2, 8 filters: 4 per group)"),
        *randoms,
    ]


def _hidden_conv2d_edges(
    feature: str, rng: np.random.Generator
) -> list[tuple[dict[str, Any], str]]:
    n = rng.standard_normal
    edges: dict[str, list[tuple[dict[str, Any], str]]] = {
        "channels_bias": [
            (_case(n((2, 3, 4, 5)), n((2, 3, 4, 5)), n(2)), " (kernel as large as the image)"),
            (_case(n((1, 1, 1, 1)), n((3, 1, 1, 1)), n(3)), " (1x1 image and kernel)"),
            (_case(np.arange(24).reshape(1, 2, 3, 4), np.ones((1, 2, 2, 2))), " (integer image)"),
        ],
        "stride_padding": [
            (
                _case(n((1, 2, 3, 5)), n((2, 2, 2, 2)), stride=(7, 9)),
                " (stride larger than the image)",
            ),
            (
                _case(n((2, 1, 2, 3)), n((1, 1, 2, 2)), n(1), padding=(3, 1)),
                " (more zeros than needed)",
            ),
            (
                _case(n((1, 2, 1, 1)), n((2, 2, 3, 3)), padding=1, stride=(2, 3)),
                " (one pixel, padded)",
            ),
        ],
        "dilation": [
            (_case(n((1, 2, 9, 5)), n((2, 2, 3, 3)), dilation=(4, 2)), " (span equals the image)"),
            (
                _case(n((2, 1, 4, 6)), n((1, 1, 1, 1)), dilation=3),
                " (1x1 kernel: dilation has no effect)",
            ),
            (
                _case(
                    n((1, 3, 11, 8)),
                    n((2, 3, 3, 2)),
                    n(2),
                    stride=(2, 1),
                    padding=(2, 1),
                    dilation=(3, 2),
                ),
                "",
            ),
        ],
        "padding_modes": [
            (
                _case(n((1, 1, 3, 4)), n((1, 1, 2, 3)), stride=(5, 2), padding="same"),
                " ('same', stride > H)",
            ),
            (
                _case(n((2, 2, 7, 5)), n((2, 2, 4, 2)), padding="same", dilation=2),
                " (dilated 'same', odd totals)",
            ),
            (
                _case(n((1, 2, 2, 3)), n((1, 2, 5, 4)), n(1), padding="full"),
                " ('full', kernel larger than x)",
            ),
            (
                _case(n((1, 1, 4, 3)), n((1, 1, 6, 5)), padding="same"),
                " ('same', kernel larger than x)",
            ),
        ],
        "groups": [
            (
                _case(n((1, 6, 5, 4)), n((6, 1, 3, 2)), n(6), groups=6, padding=1),
                " (depthwise, 6 channels)",
            ),
            (
                _case(n((2, 6, 4, 4)), n((9, 2, 2, 2)), groups=3, stride=2),
                " (3 groups, 3 filters each)",
            ),
            (
                _case(
                    n((1, 4, 6, 5)),
                    n((2, 2, 3, 3)),
                    n(2),
                    groups=2,
                    dilation=(1, 2),
                    padding="same",
                ),
                "",
            ),
        ],
    }
    return edges[feature]


def _check_conv2d_feature(
    fn: Callable,
    feature: str,
    cases: str,
    seed: int,
    exercise: str,
    extra_bugs: Callable[[dict[str, Any], np.ndarray], list[Bug]] | None = None,
    random_cases: int = HIDDEN_RANDOM_CASES_2D,
) -> int:
    if feature not in CONV2D_FEATURES:
        raise ValueError(f"feature must be one of {CONV2D_FEATURES}, got {feature!r}")
    if cases == "visible":
        selected = _visible_conv2d_cases(feature)
    else:
        rng = hidden_rng(seed)
        selected = [(_random_conv2d(rng, feature), "") for _ in range(random_cases)]
        selected += _hidden_conv2d_edges(feature, rng)
    for case, label in selected:
        _check_conv2d_case(fn, case, label, exercise=exercise, extra_bugs=extra_bugs)
    return len(selected)


@_checker
def check_conv2d(
    fn: Callable, feature: str = "channels_bias", cases: str = "visible", seed: int = 0
) -> None:
    """Check ``fn(x (N, C, H, W), w (F, C/groups, KH, KW), b, stride, padding, dilation, groups) -> (N, F, H_out, W_out)`` for one ``feature``.

    ``feature`` is one of ``CONV2D_FEATURES``: "channels_bias", "stride_padding", "dilation",
    "padding_modes" or "groups".
    """
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    count = _check_conv2d_feature(fn, feature, cases, seed, exercise="conv2d")
    _report(f"conv2d ({feature})", count, cases)


# --------------------------------------------------------------------------------------------
# Part C: im2col_2d and conv2d_im2col
# --------------------------------------------------------------------------------------------


def _im2col_bugs(
    x: np.ndarray, k: Pair, s: Pair, p: Any, d: Pair, expected: np.ndarray
) -> list[Bug]:
    n, rows, positions = expected.shape
    c = x.shape[1]
    kh, kw = k
    pads = _resolve_pads(p, x.shape[2:], k, s, d)
    h_out = (x.shape[2] + sum(pads[0]) - d[0] * (kh - 1) - 1) // s[0] + 1
    w_out = positions // h_out

    def cols(kk=k, ss=s, pp=p, dd=d, xx=x):
        return im2col_2d_reference(xx, kk, ss, pp, dd)

    blocks = expected.reshape(n, c, kh, kw, h_out, w_out)

    def padded(new_pads: Pads) -> np.ndarray:
        return cols(xx=_pad_2d(x, new_pads), pp=0)

    bugs: list[Bug] = [
        (
            "the rows are in (kernel row, kernel column, channel) order: row c*KH*KW + a*KW + b must "
            "hold channel c, tap (a, b) (channel-major), so that w.reshape(F, -1) lines up with it.",
            lambda: blocks.transpose(0, 2, 3, 1, 4, 5).reshape(n, rows, positions),
        ),
        (
            "the kernel column comes before the kernel row in the rows: use (channel, row, column) order.",
            lambda: blocks.transpose(0, 1, 3, 2, 4, 5).reshape(n, rows, positions),
        ),
        (
            "the columns run down the image first (column-major): column i*W_out + j is output (i, j), "
            "row by row.",
            lambda: blocks.transpose(0, 1, 2, 3, 5, 4).reshape(n, rows, positions),
        ),
        (
            "each receptive field is a row, not a column: the result is (N, C*KH*KW, H_out*W_out).",
            lambda: expected.transpose(0, 2, 1),
        ),
        (
            "the taps of each window are reversed (a flipped kernel order).",
            lambda: blocks[:, :, ::-1, ::-1].reshape(n, rows, positions),
        ),
        ("the batch axis is missing: keep N first.", lambda: expected[0]),
    ]
    if s != (1, 1):
        bugs.append(("the stride is ignored.", lambda: cols(ss=(1, 1))))
        if s[0] != s[1]:
            bugs += [
                ("height and width are swapped in the stride.", lambda: cols(ss=s[::-1])),
                ("the stride is applied to the height only.", lambda: cols(ss=(s[0], 1))),
                ("the stride is applied to the width only.", lambda: cols(ss=(1, s[1]))),
            ]
    if d != (1, 1):
        bugs += [
            (
                "dilation ignored: tap (a, b) reads x_pad[i*sh + a*dh, j*sw + b*dw].",
                lambda: cols(dd=(1, 1)),
            ),
            ("dilation applied on the height axis only.", lambda: cols(dd=(d[0], 1))),
            ("dilation applied on the width axis only.", lambda: cols(dd=(1, d[1]))),
        ]
    if kh != kw:
        bugs.append(
            (
                "height and width are swapped in kernel_size: kernel_size=(KH, KW) is KH rows, KW columns.",
                lambda: cols(kk=(kw, kh)),
            )
        )
    if pads != ((0, 0), (0, 0)):
        (top, bottom), (left, right) = pads
        bugs += [
            ("the padding is ignored.", lambda: cols(pp=0)),
            (
                "zeros added at the top and left only.",
                lambda: padded(((top + bottom, 0), (left + right, 0))),
            ),
            (
                "zeros added at the bottom and right only.",
                lambda: padded(((0, top + bottom), (0, left + right))),
            ),
            (
                "height and width are swapped in the padding.",
                lambda: padded(((left, right), (top, bottom))),
            ),
        ]
    return bugs


def _check_im2col_case(
    fn: Callable, x: Any, k: Any, s: Any = 1, p: Any = 0, d: Any = 1, label: str = ""
) -> None:
    expected = im2col_2d_reference(x, k, s, p, d)
    actual = call_student(fn, x, k, stride=s, padding=p, dilation=d, exercise="im2col_2d")
    name = describe_call("im2col_2d", x, k, stride=s, padding=p, dilation=d) + label
    xf = np.asarray(x, dtype=np.float64)
    _assert_close(
        actual, expected, name, _im2col_bugs(xf, _pair(k), _pair(s), p, _pair(d), expected)
    )


@_checker
def check_im2col_2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C, H, W), kernel_size, stride, padding, dilation) -> (N, C*KH*KW, H_out*W_out)`` (torch's unfold layout)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        examples = [
            (
                DECK2_IMAGE[None, None],
                2,
                1,
                0,
                1,
                " (Lecture 2's 4x4 image: 9 receptive fields of 4 values)",
            ),
            (
                np.stack([DECK2_IMAGE, 10 * DECK2_IMAGE])[None],
                2,
                1,
                0,
                1,
                " (two channels: channel 0's 4 rows, then channel 1's)",
            ),
            (
                np.arange(30.0).reshape(1, 1, 5, 6),
                (2, 3),
                (2, 1),
                0,
                1,
                " (kernel (2, 3), stride (2, 1))",
            ),
            (np.arange(24.0).reshape(2, 1, 3, 4), 2, 1, (1, 0), 1, " (padding (1, 0))"),
            (np.arange(49.0).reshape(1, 1, 7, 7), 3, 1, 0, (2, 1), " (dilation (2, 1))"),
            (
                np.arange(20.0).reshape(1, 1, 4, 5),
                2,
                1,
                "same",
                1,
                " ('same': the extra zeros at the bottom and right)",
            ),
        ]
        for x, k, s, p, d, label in examples:
            _check_im2col_case(fn, x, k, s, p, d, label)
        count = len(examples)
    else:
        rng = hidden_rng(seed)
        count = 0
        for _ in range(2 * HIDDEN_RANDOM_CASES_2D):
            case = random_conv2d_case(rng)
            k = tuple(case["w"].shape[2:])
            _check_im2col_case(
                fn,
                case["x"],
                k if k[0] != k[1] else k[0],
                case["stride"],
                case["padding"],
                case["dilation"],
            )
            count += 1
        # the point of im2col: one matrix product gives the convolution
        case = random_conv2d_case(rng, bias=False)
        cols = call_student(
            fn,
            case["x"],
            tuple(case["w"].shape[2:]),
            stride=case["stride"],
            padding=case["padding"],
            dilation=case["dilation"],
            exercise="im2col_2d",
        )
        expected = reference.conv2d(
            case["x"],
            case["w"],
            stride=case["stride"],
            padding=case["padding"],
            dilation=case["dilation"],
        )
        product = case["w"].reshape(case["w"].shape[0], -1) @ np.asarray(cols, dtype=np.float64)
        assert_array_close(
            product.reshape(expected.shape),
            expected,
            name="w.reshape(F, C*KH*KW) @ im2col_2d(x, (KH, KW)), reshaped to (N, F, H_out, W_out)",
        )
        count += 1
    _report("im2col_2d", count, cases)


def _reshape_bugs(case: dict[str, Any], expected: np.ndarray) -> list[Bug]:
    w, b = case["w"], case["b"]
    n, f, h_out, w_out = expected.shape
    bias = 0.0 if b is None else b[None, :, None, None]
    no_bias = expected - bias

    def with_kernel(kernel: np.ndarray) -> np.ndarray:
        return reference.conv2d(case["x"], kernel, b, **_options(case))

    fc, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    return [
        (
            "wrong reshape of the product: an (F, N*L) product was reshaped straight to (N, F, H_out, W_out). "
            "Reshape to (F, N, H_out, W_out) and move the batch first, or multiply W @ cols with cols "
            "(N, C*KH*KW, L) to get (N, F, L) directly.",
            lambda: no_bias.transpose(1, 0, 2, 3).reshape(n, f, h_out, w_out) + bias,
        ),
        (
            "the output positions were reshaped in the wrong order: the columns are row-major, "
            "so reshape (N, F, L) to (N, F, H_out, W_out), not (N, F, W_out, H_out).",
            lambda: (
                no_bias.reshape(n, f, w_out, h_out).transpose(0, 1, 3, 2).reshape(expected.shape)
                + bias
                if h_out != w_out
                else no_bias.transpose(0, 1, 3, 2) + bias
            ),
        ),
        (
            "the weights were flattened in (kernel row, kernel column, channel) order "
            "(w.transpose(0, 2, 3, 1).reshape(F, -1)) but the columns are channel-major: use w.reshape(F, -1).",
            lambda: with_kernel(w.transpose(0, 2, 3, 1).reshape(w.shape[0], fc, kh, kw)),
        ),
        (
            "the result is (F, N, H_out, W_out): move the batch axis first.",
            lambda: expected.transpose(1, 0, 2, 3),
        ),
    ]


def _check_uses_im2col_2d(fn: Callable, namespace: dict[str, Any], exercise: str) -> None:
    """Run ``fn`` with im2col_2d counted and the loop versions blocked; then compare the student lines run for two sizes."""
    im2col = namespace.get("im2col_2d")
    if not callable(im2col):
        raise AssertionError("im2col_2d is not defined: run the cell with your im2col_2d first")
    calls = {"im2col_2d": 0}

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["im2col_2d"] += 1
        return im2col(*args, **kwargs)

    def forbidden(name: str) -> Callable:
        def blocked(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(
                f"{exercise} called your loop version {name}: build the columns with im2col_2d and "
                "compute the convolution as one matrix product (per group) instead"
            )

        return blocked

    small = _case(np.arange(20.0).reshape(1, 1, 4, 5), np.ones((1, 1, 2, 3)), [1.0], padding=1)
    rng = np.random.default_rng(5)
    large = _case(
        rng.standard_normal((3, 4, 9, 11)),
        rng.standard_normal((5, 4, 2, 3)),
        rng.standard_normal(5),
        padding=1,
    )
    replaced = {
        "im2col_2d": counted,
        "conv2d": forbidden("conv2d"),
        "conv2d_single": forbidden("conv2d_single"),
    }

    def run(case: dict[str, Any]) -> Any:
        return call_student(
            fn, case["x"], case["w"], case["b"], exercise=exercise, **_options(case)
        )

    with _names_replaced(namespace, replaced):
        try:
            run(large)
        except AssertionError as exc:
            if "loop version" in str(exc):
                raise AssertionError(str(exc).split(" raised AssertionError: ")[-1]) from None
            raise
        if calls["im2col_2d"] != 1:
            raise AssertionError(
                f"{exercise} called im2col_2d {calls['im2col_2d']} times for a batch of 3 images; call it "
                "once on the whole batch and multiply once per group: w.reshape(G, F/G, -1) @ cols"
            )
    lines_small, lines_large = (
        _student_lines_run(lambda: run(small)),
        _student_lines_run(lambda: run(large)),
    )
    if lines_large != lines_small:
        raise AssertionError(
            f"{exercise} (with the im2col_2d it calls) ran {lines_small} lines of your code for one "
            f"1-channel 4x5 image and {lines_large} for three 4-channel 9x11 images with 5 filters: a "
            "Python loop over images, channels, filters or positions is hidden in it. Loop at most over "
            "the kernel taps (in im2col_2d) and the groups; numpy does the rest."
        )


@_checker
def check_conv2d_im2col(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn`` (conv2d as im2col and one matrix product per group) matches conv2d; visible cases also check there is no Python loop over images, channels or positions."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    namespace = _namespace(fn)
    if cases == "visible" and namespace is not None:
        _check_uses_im2col_2d(fn, namespace, "conv2d_im2col")
    count = 0
    for index, feature in enumerate(CONV2D_FEATURES):
        if cases == "visible":
            selected = _visible_conv2d_cases(feature)[:2]
            for case, label in selected:
                _check_conv2d_case(fn, case, label, "conv2d_im2col", _reshape_bugs)
            count += len(selected)
        else:
            count += _check_conv2d_feature(
                fn,
                feature,
                cases,
                seed + index,
                "conv2d_im2col",
                _reshape_bugs,
                HIDDEN_RANDOM_CASES_2D // 2,
            )
    _report("conv2d_im2col", count, cases)


# --------------------------------------------------------------------------------------------
# Part D: pooling
# --------------------------------------------------------------------------------------------


def _pool_bugs(
    kind: str, x: np.ndarray, k: Any, s: Any, p: Any, include_pad: bool, expected: np.ndarray
) -> list[Bug]:
    kernel, pad = _pair(k), _pair(p)
    stride = kernel if s is None else _pair(s)

    def pool(xx=x, kk=kernel, ss=stride, pp=pad, what=kind, cip=include_pad, ceil=False):
        if what == "max":
            return reference.max_pool2d(xx, kk, ss, pp, ceil_mode=ceil)
        return reference.avg_pool2d(xx, kk, ss, pp, ceil_mode=ceil, count_include_pad=cip)

    def padded(fill: float, pads: Pads, **options: Any) -> np.ndarray:
        return pool(xx=_pad_2d(x, pads, fill), pp=(0, 0), **options)

    other = "avg" if kind == "max" else "max"
    bugs: list[Bug] = [
        (
            f"this is {other} pooling: {kind}_pool2d takes the {'largest value' if kind == 'max' else 'mean'} of each window.",
            lambda: pool(what=other),
        ),
        (
            "ceil instead of floor for the output size: a last window that does not fit is dropped.",
            lambda: pool(ceil=True),
        ),
        ("the last output row is missing (off by one).", lambda: expected[:, :, :-1]),
        ("the last output column is missing (off by one).", lambda: expected[:, :, :, :-1]),
    ]
    if s is None and kernel != (1, 1):
        bugs.append(
            (
                "the stride defaults to 1: when stride is None it equals kernel_size (non-overlapping windows).",
                lambda: pool(ss=(1, 1)),
            )
        )
    if kernel[0] != kernel[1]:
        bugs.append(
            (
                "height and width are swapped in kernel_size.",
                lambda: pool(kk=kernel[::-1], ss=(kernel[::-1] if s is None else stride)),
            )
        )
    if stride[0] != stride[1]:
        bugs.append(("height and width are swapped in the stride.", lambda: pool(ss=stride[::-1])))
    if pad != (0, 0):
        fill = -np.inf if kind == "max" else 0.0
        (ph, pw) = pad
        bugs += [
            (
                "padded at the top and left only: `padding` goes on both sides.",
                lambda: padded(fill, ((2 * ph, 0), (2 * pw, 0))),
            ),
            (
                "padded at the top and left only: `padding` goes on both sides.",
                lambda: padded(fill, ((ph, 0), (pw, 0))),
            ),
            (
                "padded at the bottom and right only: `padding` goes on both sides.",
                lambda: padded(fill, ((0, ph), (0, pw))),
            ),
            ("padding ignored.", lambda: pool(pp=(0, 0))),
        ]
        if ph != pw:
            bugs.append(
                ("height and width are swapped in the padding.", lambda: pool(pp=pad[::-1]))
            )
        if kind == "max":
            bugs.append(
                (
                    "max pooling padded with zeros: pad with -inf, so that a padded value never wins "
                    "(a window of negative values must give its largest negative value).",
                    lambda: padded(0.0, ((ph, ph), (pw, pw))),
                )
            )
        else:
            bugs.append(
                (
                    "count_include_pad ignored: with count_include_pad=False divide each window's sum "
                    "by the number of real (not padded) inputs in it; with True, by KH*KW."
                    if not include_pad
                    else "count_include_pad ignored: with count_include_pad=True (the default) the padded "
                    "zeros count, so divide every window's sum by KH*KW.",
                    lambda: pool(cip=not include_pad),
                )
            )
    return bugs


def _pool_call(
    fn: Callable, kind: str, x: Any, k: Any, s: Any, p: Any, include_pad: bool | None
) -> tuple[Any, str]:
    options: dict[str, Any] = {"stride": s, "padding": p}
    if include_pad is not None:
        options["count_include_pad"] = include_pad
    exercise = f"{kind}_pool2d"
    return call_student(fn, x, k, exercise=exercise, **options), describe_call(
        exercise, x, k, **options
    )


def _check_pool_case(
    fn: Callable,
    kind: str,
    x: Any,
    k: Any,
    s: Any = None,
    p: Any = 0,
    include_pad: bool | None = None,
    label: str = "",
) -> None:
    xf = np.asarray(x, dtype=np.float64)
    cip = True if include_pad is None else include_pad
    if kind == "max":
        expected = reference.max_pool2d(xf, k, s, p)
    else:
        expected = reference.avg_pool2d(xf, k, s, p, count_include_pad=cip)
    actual, name = _pool_call(fn, kind, x, k, s, p, include_pad)
    _assert_close(actual, expected, name + label, _pool_bugs(kind, xf, k, s, p, cip, expected))


def _check_pool(fn: Callable, kind: str, cases: str, seed: int) -> None:
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    deck = POOL_INPUT[None, None]
    negative = -1.0 - np.arange(20.0).reshape(1, 1, 4, 5) / 10
    count = 0
    if cases == "visible":
        expect = POOL_MAX if kind == "max" else POOL_AVG
        text = str(expect.tolist()).replace(".0", "")
        examples: list[tuple] = [
            (
                deck,
                2,
                None,
                0,
                None,
                f" (Lecture 1's example, stride defaults to 2: expect [[{text}]])",
            ),
            (deck, 2, 1, 0, None, " (stride 1: overlapping windows)"),
            (
                np.arange(30.0).reshape(1, 1, 5, 6),
                (2, 3),
                None,
                0,
                None,
                " (a 2x3 window; 5 rows: floor drops the last)",
            ),
            (
                np.arange(42.0).reshape(1, 1, 6, 7),
                3,
                (2, 1),
                1,
                None,
                " (stride (2, 1), padding 1)",
            ),
            (negative, 2, None, 1, None, " (negative inputs, padding 1)"),
        ]
        if kind == "avg":
            examples.append(
                (
                    negative,
                    2,
                    None,
                    1,
                    False,
                    " (count_include_pad=False: average over the real inputs)",
                )
            )
            examples.append((deck, 3, 2, 1, False, " (count_include_pad=False)"))
        for x, k, s, p, cip, label in examples:
            _check_pool_case(fn, kind, x, k, s, p, cip, label)
        count = len(examples)
    else:
        rng = hidden_rng(seed)
        for _ in range(2 * HIDDEN_RANDOM_CASES_2D):
            case = random_pool_case(rng)
            cip = None if kind == "max" else bool(rng.integers(2))
            _check_pool_case(
                fn, kind, case["x"], case["kernel_size"], case["stride"], case["padding"], cip
            )
            count += 1
        edges = [
            (tie_free(rng, (2, 3, 5, 4)) - 2, (2, 3), None, (1, 1), False, " (negative, padded)"),
            (tie_free(rng, (1, 2, 3, 3)), 3, None, 0, True, " (one window)"),
            (tie_free(rng, (1, 1, 1, 7)), (1, 2), (1, 3), (0, 1), False, " (one row)"),
            (tie_free(rng, (1, 2, 4, 4)), 1, None, 0, True, " (1x1 window: a copy)"),
        ]
        for x, k, s, p, cip, label in edges:
            _check_pool_case(fn, kind, x, k, s, p, None if kind == "max" else cip, label)
            count += 1
    _report(f"{kind}_pool2d", count, cases)


@_checker
def check_max_pool2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C, H, W), kernel_size, stride=None, padding=0) -> (N, C, H_out, W_out)``: -inf padding, floor, stride default."""
    _check_pool(fn, "max", cases, seed)


@_checker
def check_avg_pool2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C, H, W), kernel_size, stride=None, padding=0, count_include_pad=True) -> (N, C, H_out, W_out)``."""
    _check_pool(fn, "avg", cases, seed)


# --------------------------------------------------------------------------------------------
# Part E: depthwise separable convolution, counts, receptive field
# --------------------------------------------------------------------------------------------


def _separable_expected(x, wd, wp, s, p) -> np.ndarray:
    return reference.conv2d(reference.conv2d(x, wd, stride=s, padding=p, groups=x.shape[1]), wp)


def _separable_bugs(x, wd, wp, s, p, expected) -> list[Bug]:
    c = x.shape[1]
    depthwise = reference.conv2d(x, wd, stride=s, padding=p, groups=c)
    return [
        (
            "the depthwise step summed over the channels (a normal convolution): use groups=C, "
            "so that channel c is filtered by w_depthwise[c] alone.",
            lambda: reference.conv2d(
                reference.conv2d(x, wd.transpose(1, 0, 2, 3), stride=s, padding=p), wp[:, :1]
            ),
        ),
        (
            "the 1x1 convolution is missing: return the depthwise output mixed by w_pointwise.",
            lambda: depthwise,
        ),
        (
            "the stride was applied in the 1x1 convolution too: only the depthwise step is strided.",
            lambda: reference.conv2d(depthwise, wp, stride=s),
        ),
        ("the stride is ignored.", lambda: _separable_expected(x, wd, wp, 1, p)),
        ("the padding is ignored.", lambda: _separable_expected(x, wd, wp, s, 0)),
        (
            "the channels were filtered in reverse order: channel c goes with w_depthwise[c].",
            lambda: reference.conv2d(
                reference.conv2d(x, wd[::-1], stride=s, padding=p, groups=c), wp
            ),
        ),
        (
            "the kernels are flipped (a textbook convolution): use cross-correlation, as conv2d does.",
            lambda: _separable_expected(x, wd[..., ::-1, ::-1], wp, s, p),
        ),
    ]


def _check_separable_case(fn: Callable, x, wd, wp, s=1, p=0, label: str = "") -> None:
    x, wd, wp = (np.asarray(a, dtype=np.float64) for a in (x, wd, wp))
    expected = _separable_expected(x, wd, wp, s, p)
    actual = call_student(fn, x, wd, wp, stride=s, padding=p, exercise="depthwise_separable_conv2d")
    name = describe_call("depthwise_separable_conv2d", x, wd, wp, stride=s, padding=p) + label
    _assert_close(actual, expected, name, _separable_bugs(x, wd, wp, s, p, expected))


@_checker
def check_depthwise_separable_conv2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C, H, W), w_depthwise (C, 1, KH, KW), w_pointwise (F, C, 1, 1), stride, padding) -> (N, F, H_out, W_out)``."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        x = np.stack([DECK2_IMAGE, DECK2_IMAGE.T])[None]
        wd = np.stack([DECK2_KERNEL, np.ones((2, 2))])[:, None]
        examples = [
            (
                x,
                wd,
                np.array([[1.0, 0]])[..., None, None],
                1,
                0,
                " (w_pointwise [[1, 0]]: channel 0's depthwise output, Lecture 2's [[2, 0, 2], [2, -1, 2], [3, -1, 0]])",
            ),
            (
                x,
                wd,
                np.array([[1.0, 1], [1, -1], [0.5, 2]])[..., None, None],
                1,
                0,
                " (3 filters mixing the 2 channels)",
            ),
            (
                SHARPEN_IMAGE[None, None],
                SHARPEN_KERNEL[None, None],
                np.array([[2.0]])[..., None, None],
                2,
                1,
                " (one channel: 2 x Lecture 1's sharpen, stride 2, padding 1)",
            ),
        ]
        for x, wd, wp, s, p, label in examples:
            _check_separable_case(fn, x, wd, wp, s, p, label)
        count = len(examples)
    else:
        rng = hidden_rng(seed)
        count = 0
        for _ in range(HIDDEN_RANDOM_CASES_2D):
            case = random_conv2d_case(rng, dilation=1, padding=[0, 1, (1, 0), "same"], bias=False)
            c = case["x"].shape[1]
            kh, kw = case["w"].shape[2:]
            wd, wp = (
                rng.standard_normal((c, 1, kh, kw)),
                rng.standard_normal((int(rng.integers(1, 5)), c, 1, 1)),
            )
            _check_separable_case(fn, case["x"], wd, wp, case["stride"], case["padding"])
            count += 1
    _report("depthwise_separable_conv2d", count, cases)


def _parameter_bugs(c_in: int, c_out: int, k: Any, bias: bool, groups: int) -> list[Bug]:
    kh, kw = _pair(k)
    b = c_out if bias else 0
    return [
        (
            "the bias is missing: a layer with bias=True has one bias per output channel.",
            lambda: c_out * (c_in // groups) * kh * kw,
        ),
        (
            "the bias was counted although bias=False.",
            lambda: c_out * (c_in // groups) * kh * kw + c_out,
        ),
        (
            "groups ignored: each filter sees only C_in / groups channels.",
            lambda: c_out * c_in * kh * kw + b,
        ),
        (
            "divided by groups twice: there are C_out filters of (C_in / groups) x KH x KW weights.",
            lambda: (c_out // groups) * (c_in // groups) * kh * kw + b,
        ),
        (
            "an int kernel_size was read as one axis: in 2-D, kernel_size=k means a k x k kernel.",
            lambda: c_out * (c_in // groups) * kh + b,
        ),
        (
            "the input channels are missing: each filter spans C_in / groups channels.",
            lambda: c_out * kh * kw + b,
        ),
        (
            "one bias per weight: a filter has a single bias.",
            lambda: 2 * c_out * (c_in // groups) * kh * kw,
        ),
    ]


@_checker
def check_conv2d_parameters(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(c_in, c_out, kernel_size, bias=True, groups=1) -> int`` (weights plus biases)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        examples = [
            (3, 64, 3, True, 1, " (the first layer of VGG-16: 1,792)"),
            (3, 10, 5, True, 1, " (Lecture 1: 10 filters 5x5 on an RGB image, 76 each: 760)"),
            (32, 64, 3, False, 1, " (Lecture 2: a standard 3x3 layer, 32 -> 64, no bias)"),
            (32, 32, 3, False, 32, " (its depthwise replacement: groups = 32)"),
            (32, 64, 1, False, 1, " (and the 1x1 pointwise layer)"),
            (16, 32, (5, 1), True, 1, " (a 5x1 kernel)"),
            (6, 4, (3, 2), True, 2, " (groups=2)"),
        ]
    else:
        rng = hidden_rng(seed)
        examples = []
        for _ in range(5 * HIDDEN_RANDOM_CASES_2D):
            groups = int(rng.choice([1, 1, 2, 3, 4]))
            c_in, c_out = groups * int(rng.integers(1, 9)), groups * int(rng.integers(1, 9))
            kh, kw = int(rng.integers(1, 8)), int(rng.integers(1, 8))
            examples.append(
                (
                    c_in,
                    c_out,
                    kh if rng.integers(2) else (kh, kw),
                    bool(rng.integers(2)),
                    groups,
                    "",
                )
            )
    for c_in, c_out, k, bias, groups, label in examples:
        actual = call_student(
            fn, c_in, c_out, k, bias=bias, groups=groups, exercise="conv2d_parameters"
        )
        expected = arithmetic.conv_parameter_count(c_in, c_out, _pair(k), bias=bias, groups=groups)
        name = describe_call("conv2d_parameters", c_in, c_out, k, bias=bias, groups=groups) + label
        _assert_int(actual, expected, name, _parameter_bugs(c_in, c_out, k, bias, groups))
    _report("conv2d_parameters", len(examples), cases)


def _out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _multiplication_bugs(
    size: Pair, c_in: int, c_out: int, k: Pair, s: Pair, p: Pair, d: Pair, groups: int
) -> list[Bug]:
    def count(
        size_=size, k_=k, s_=s, p_=p, d_=d, g_=groups, taps=None, rounding=math.floor, sides=2
    ):
        outs = [
            rounding((n + sides * pp - dd * (kk - 1) - 1) / ss) + 1
            for n, kk, ss, pp, dd in zip(size_, k_, s_, p_, d_, strict=True)
        ]
        per_output = (c_in // g_) * (math.prod(k_) if taps is None else taps)
        return c_out * outs[0] * outs[1] * per_output

    spans = [dd * (kk - 1) + 1 for kk, dd in zip(k, d, strict=True)]
    return [
        (
            "groups ignored: each output value sums over C_in / groups channels only.",
            lambda: count(g_=1),
        ),
        (
            "the stride is ignored: a stride of s computes about 1/s of the outputs per axis.",
            lambda: count(s_=(1, 1)),
        ),
        ("padding counted once: the padded size is n + 2 * padding.", lambda: count(sides=1)),
        ("the padding is ignored.", lambda: count(p_=(0, 0))),
        (
            "dilation ignored in the output size: the dilated kernel spans d(k-1)+1 inputs.",
            lambda: count(d_=(1, 1)),
        ),
        (
            "the dilated span was counted as the kernel: a dilated kernel still has KH x KW weights, "
            "so each output costs C_in/groups x KH x KW multiplications.",
            lambda: count(taps=math.prod(spans)),
        ),
        ("ceil instead of floor for the output size.", lambda: count(rounding=math.ceil)),
        ("height and width are swapped in the kernel size.", lambda: count(k_=k[::-1])),
        ("height and width are swapped in the stride.", lambda: count(s_=s[::-1])),
        ("height and width are swapped in the padding.", lambda: count(p_=p[::-1])),
        (
            "the output channels are missing: every one of the C_out maps costs the same.",
            lambda: count() // c_out,
        ),
    ]


@_checker
def check_conv2d_multiplications(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(input_size, c_in, c_out, kernel_size, stride, padding, dilation, groups) -> int`` (per image)."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        examples = [
            (224, 3, 64, 3, 1, 1, 1, 1, " (the first layer of VGG-16: 86,704,128)"),
            (
                56,
                32,
                64,
                3,
                1,
                1,
                1,
                1,
                " (Lecture 2: a standard 3x3 layer, 32 -> 64 on 56x56: 57,802,752)",
            ),
            (56, 32, 32, 3, 1, 1, 1, 32, " (its depthwise step: 903,168)"),
            (
                56,
                32,
                64,
                1,
                1,
                0,
                1,
                1,
                " (its pointwise step: 6,422,528; separable total 7,325,696)",
            ),
            (
                224,
                3,
                1,
                5,
                2,
                1,
                1,
                1,
                " (Lecture 2, qn5: 224x224, 5x5, padding 1, stride 2 -> 111x111)",
            ),
            (224, 3, 1, (5, 1), 2, 1, 1, 1, " (Lecture 2, qn6: a 5x1 kernel -> 111x113)"),
            ((30, 20), 4, 8, 3, 1, 0, 2, 1, " (dilation 2: smaller output, same cost per output)"),
            (
                (7, 9),
                6,
                4,
                (3, 2),
                (2, 1),
                (1, 0),
                1,
                2,
                " (per-axis stride and padding, groups=2)",
            ),
        ]
    else:
        rng = hidden_rng(seed)
        examples = []
        for _ in range(5 * HIDDEN_RANDOM_CASES_2D):
            groups = int(rng.choice([1, 1, 2, 3]))
            c_in, c_out = groups * int(rng.integers(1, 6)), groups * int(rng.integers(1, 6))
            k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
            s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            p = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
            d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            size = tuple(
                int(rng.integers(max(1, dd * (kk - 1) + 1 - 2 * pp), 40))
                for kk, pp, dd in zip(k, p, d, strict=True)
            )
            examples.append((size, c_in, c_out, k, s, p, d, groups, ""))
    for size, c_in, c_out, k, s, p, d, groups, label in examples:
        actual = call_student(
            fn,
            size,
            c_in,
            c_out,
            k,
            stride=s,
            padding=p,
            dilation=d,
            groups=groups,
            exercise="conv2d_multiplications",
        )
        sizes, kernel, strides, pads, dilations = (
            _pair(size),
            _pair(k),
            _pair(s),
            _pair(p),
            _pair(d),
        )
        outs = [
            _out_size(*args) for args in zip(sizes, kernel, strides, pads, dilations, strict=True)
        ]
        expected = arithmetic.conv_multiplications(c_in, c_out, kernel, outs, groups=groups)
        name = (
            describe_call(
                "conv2d_multiplications",
                size,
                c_in,
                c_out,
                k,
                stride=s,
                padding=p,
                dilation=d,
                groups=groups,
            )
            + label
        )
        _assert_int(
            actual,
            expected,
            name,
            _multiplication_bugs(sizes, c_in, c_out, kernel, strides, pads, dilations, groups),
        )
    _report("conv2d_multiplications", len(examples), cases)


def _field_reference(layers: Sequence[tuple[int, int, int]]) -> tuple[int, int]:
    field, jump = 1, 1
    for k, s, d in layers:
        field += d * (k - 1) * jump
        jump *= s
    return field, jump


def _field_bugs(layers: list[tuple[int, int, int]]) -> list[Bug]:
    def after_stride():  # the jump updated before the layer's own growth
        field, jump = 1, 1
        for k, s, d in layers:
            jump *= s
            field += d * (k - 1) * jump
        return field, jump

    return [
        (
            "the strides are ignored: a layer after a stride-s layer moves s input pixels per step.",
            lambda: (
                _field_reference([(k, 1, d) for k, _, d in layers])[0],
                _field_reference(layers)[1],
            ),
        ),
        (
            "dilation ignored: a dilated layer grows the field by d(k-1) steps.",
            lambda: _field_reference([(k, s, 1) for k, s, _ in layers]),
        ),
        (
            "a layer's own stride was applied to its growth: only the strides of the layers BEFORE it count.",
            after_stride,
        ),
        (
            "the field starts at 0: one output of no layer sees 1 pixel, r = 1 + sum d(k-1) * (product of earlier strides).",
            lambda: (_field_reference(layers)[0] - 1, _field_reference(layers)[1]),
        ),
        (
            "the kernel sizes were summed: r = 1 + sum d(k-1) * jump.",
            lambda: (sum(k for k, _, _ in layers), _field_reference(layers)[1]),
        ),
        (
            "the total stride is the sum of the strides: it is their product.",
            lambda: (_field_reference(layers)[0], sum(s for _, s, _ in layers)),
        ),
    ]


def _check_field_case(fn: Callable, layers: list[tuple[int, int, int]], label: str = "") -> None:
    expected = _field_reference(layers)
    actual = call_student(fn, layers, exercise="receptive_field")
    name = describe_call("receptive_field", layers) + label
    if isinstance(actual, (int, np.integer)):
        raise AssertionError(
            f"{name} returned one number ({actual}); return the pair (receptive field, total stride), e.g. {expected}"
        )
    if not isinstance(actual, (tuple, list)) or len(actual) != 2:
        raise AssertionError(
            f"{name} returned {actual!r}; return a tuple of two ints (receptive field, total stride)"
        )
    outputs = _outputs(_field_bugs(layers))
    for index, what in enumerate(("the receptive field", "the total stride")):
        bugs = [(message, lambda out=out, i=index: out[i]) for message, out in outputs]
        _assert_int(actual[index], expected[index], f"{name}: {what}", bugs)


@_checker
def check_receptive_field(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn([(kernel_size, stride, dilation), ...]) -> (receptive field, total stride)``."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        examples = [
            ([(3, 1, 1)], " (one 3x3 layer: 3)"),
            ([(3, 1, 1), (3, 1, 2)], " (Lecture 2's dilated stack, two layers: 7)"),
            (
                [(3, 1, 1), (3, 1, 2), (3, 1, 4)],
                " (Lecture 2's dilated stack, dilations 1, 2, 4: 15)",
            ),
            ([(3, 1, 1), (3, 1, 1)], " (Lecture 1: two 3x3 layers see 5x5)"),
            (
                [(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)],
                " (Lecture 2's self-check: conv, conv, 2x2 pool stride 2, conv: 10, total stride 2)",
            ),
            ([(7, 2, 1), (3, 2, 1)], " (a ResNet stem: 7x7 stride 2, then a 3x3 pool stride 2)"),
        ]
    else:
        rng = hidden_rng(seed)
        examples = []
        for _ in range(3 * HIDDEN_RANDOM_CASES_2D):
            depth = int(rng.integers(1, 7))
            layers = [
                (int(rng.integers(1, 8)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))
                for _ in range(depth)
            ]
            examples.append((layers, ""))
    for layers, label in examples:
        _check_field_case(fn, layers, label)
    _report("receptive_field", len(examples), cases)


# --------------------------------------------------------------------------------------------
# Part F: conv2d_torch
# --------------------------------------------------------------------------------------------


def _check_torch_case(
    fn: Callable, case: dict[str, Any], label: str, rng: np.random.Generator, device: str
) -> None:
    expected = _expected(case)
    dout = rng.standard_normal(expected.shape)
    name = _conv2d_name("conv2d_torch", case, label)
    result = call_student_torch(
        fn,
        case["x"],
        case["w"],
        case["b"],
        exercise="conv2d_torch",
        dout=dout,
        device=device,
        **_options(case),
    )
    if result.device != device.split(":")[0]:
        raise AssertionError(
            f"{name}: the inputs are on {device} but the result is on {result.device}; keep every tensor on x.device (no .cpu(), no torch.tensor(...) without device=x.device)"
        )
    if result.dtype != "torch.float64":
        raise AssertionError(
            f"{name}: float64 inputs gave a {result.dtype} result; keep the inputs' dtype (create new tensors with dtype=x.dtype)"
        )
    _assert_close(
        result.output, expected, name, _conv2d_bugs(case, expected) + _reshape_bugs(case, expected)
    )
    dx, dw, db = reference.conv2d_backward(dout, case["x"], case["w"], **_options(case))
    hint = " (the values are right, so something breaks autograd's graph or detaches a tensor)"
    _assert_close(result.grads[0], dx, f"the gradient of {name} with respect to x{hint}")
    _assert_close(result.grads[1], dw, f"the gradient of {name} with respect to w{hint}")
    if case["b"] is not None:
        _assert_close(result.grads[2], db, f"the gradient of {name} with respect to b{hint}")


@_checker
def check_conv2d_torch(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn`` on float64 tensors on the course device: values, the result's device and dtype, and autograd's gradients."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    device = str(float64_device())
    if cases == "visible":
        rng = np.random.default_rng(7)
        selected = [
            (_sharpen(), " (Lecture 1's sharpen kernel)"),
            (_deck2(padding=1, stride=(2, 1)), " (Lecture 2's example, padding 1, stride (2, 1))"),
            *[
                (case, label)
                for feature in CONV2D_FEATURES
                for case, label in _visible_conv2d_cases(feature)[-1:]
            ],
        ]
    else:
        rng = hidden_rng(seed)
        selected = [
            (_random_conv2d(rng, feature), "") for feature in CONV2D_FEATURES for _ in range(3)
        ]
    for case, label in selected:
        _check_torch_case(fn, case, label, rng, device)
    _report(f"conv2d_torch (on {device})", len(selected), cases)


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _error_cases(function: str) -> list[tuple[str, tuple, dict[str, Any], tuple[str, ...], bool]]:
    """Return (because, args, kwargs, words one of which the message must contain, visible?)."""
    if function in ("conv2d", "conv2d_im2col"):
        x, w = np.ones((1, 6, 5, 5)), np.ones((4, 3, 3, 3))
        return [
            ("stride must be >= 1", (x, w), dict(stride=0, groups=2), ("stride",), True),
            ("padding must be >= 0", (x, w), dict(padding=-1, groups=2), ("padding",), True),
            (
                "unknown padding mode",
                (x, w),
                dict(padding="middle", groups=2),
                ("padding", "middle", "mode"),
                True,
            ),
            ("x has 6 channels, w expects 3 (groups=1)", (x, w), {}, ("channel",), True),
            (
                "groups (4) must divide the 6 channels",
                (x, np.ones((4, 1, 3, 3))),
                dict(groups=4),
                ("group",),
                True,
            ),
            (
                "the kernel is larger than the padded input",
                (x, np.ones((4, 3, 6, 3))),
                dict(groups=2),
                _KERNEL_WORDS,
                True,
            ),
            (
                "stride must be >= 1 on each axis",
                (x, w),
                dict(stride=(1, 0), groups=2),
                ("stride",),
                False,
            ),
            (
                "padding must be >= 0 on each axis",
                (x, w),
                dict(padding=(0, -1), groups=2),
                ("padding",),
                False,
            ),
            ("dilation must be >= 1", (x, w), dict(dilation=0, groups=2), ("dilation",), False),
            (
                "the dilated kernel is wider than the padded input",
                (x, w),
                dict(dilation=(1, 3), groups=2),
                _KERNEL_WORDS,
                False,
            ),
            (
                "groups (3) must divide the 4 filters",
                (x, np.ones((4, 2, 3, 3))),
                dict(groups=3),
                ("group",),
                False,
            ),
            (
                "x has 6 channels, w expects 4",
                (x, np.ones((4, 2, 3, 3))),
                dict(groups=2),
                ("channel",),
                False,
            ),
        ]
    if function == "im2col_2d":
        x = np.ones((2, 2, 4, 6))
        return [
            ("stride must be >= 1", (x, 3), dict(stride=0), ("stride",), True),
            ("the kernel is larger than the input", (x, (5, 2)), {}, _KERNEL_WORDS, True),
            ("dilation must be >= 1", (x, 3), dict(dilation=(1, 0)), ("dilation",), False),
            ("padding must be >= 0", (x, 3), dict(padding=-1), ("padding",), False),
            (
                "the dilated kernel is wider than the input",
                (x, 3),
                dict(dilation=(1, 3)),
                _KERNEL_WORDS,
                False,
            ),
        ]
    if function in ("max_pool2d", "avg_pool2d"):
        x = np.ones((1, 2, 5, 5))
        return [
            (
                "padding must be at most half the kernel size",
                (x, 2),
                dict(padding=2),
                ("padding",),
                True,
            ),
            (
                "padding must be at most half the kernel size",
                (x, 2),
                dict(padding=(0, 2)),
                ("padding",),
                False,
            ),
            ("padding must be >= 0", (x, 2), dict(padding=-1), ("padding",), False),
            ("stride must be >= 1", (x, 2), dict(stride=0), ("stride",), False),
            ("the kernel is larger than the padded input", (x, (7, 2)), {}, _KERNEL_WORDS, False),
        ]
    if function == "depthwise_separable_conv2d":
        return [
            (
                "w_depthwise has 2 kernels for 3 channels",
                (np.ones((1, 3, 4, 4)), np.ones((2, 1, 3, 3)), np.ones((2, 3, 1, 1))),
                {},
                ("channel", "w_depthwise", "depthwise"),
                True,
            )
        ]
    if function == "conv2d_parameters":
        return [("groups (4) must divide c_in (6)", (6, 4, 3), dict(groups=4), ("groups",), True)]
    if function == "conv2d_multiplications":
        return [
            ("the kernel is larger than the input", (8, 3, 4, 9), {}, _KERNEL_WORDS, True),
            ("groups (4) must divide c_in (6)", (8, 6, 4, 3), dict(groups=4), ("groups",), True),
        ]
    if function == "receptive_field":
        return [
            ("the list of layers is empty", ([],), {}, ("layer", "empty"), False),
            ("stride must be >= 1", ([(3, 0, 1)],), {}, ("stride",), False),
            ("dilation must be >= 1", ([(3, 1, 0)],), {}, ("dilation",), False),
        ]
    raise ValueError(f"function must be one of {ERROR_FUNCTIONS_2D}, got {function!r}")


def _legal_edges(function: str) -> list[tuple[tuple, dict[str, Any], Any]]:
    """Legal calls at the limits (must NOT raise): (args, kwargs, expected)."""
    if function in ("conv2d", "conv2d_im2col"):
        x, w = np.arange(40.0).reshape(1, 2, 4, 5), np.ones((2, 2, 6, 5))
        return [
            (
                (x, w),
                dict(padding=(1, 0)),
                reference.conv2d(x, w, padding=(1, 0)),
            ),  # kernel = padded input
            ((x, w), dict(padding="same"), reference.conv2d(x, w, padding="same")),
            (
                (x, w[..., :2, :2]),
                dict(stride=(9, 20)),
                reference.conv2d(x, w[..., :2, :2], stride=(9, 20)),
            ),
        ]
    if function == "im2col_2d":
        x = np.arange(48.0).reshape(2, 2, 3, 4)
        return [
            ((x, (3, 4)), {}, im2col_2d_reference(x, (3, 4))),
            ((x, 2), dict(dilation=(2, 3)), im2col_2d_reference(x, 2, dilation=(2, 3))),
        ]
    return []


@_checker
def check_argument_errors_2d(
    fn: Callable, function: str = "conv2d", cases: str = "visible"
) -> None:
    """Check that ``fn`` (the student's ``function``) raises ValueError for illegal arguments; legal calls at the limits must still work.

    Any ValueError earns the points; a message that does not name the problem is printed as advice.
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
            assert_array_close(
                actual,
                expected,
                name=describe_call(function, *args, **kwargs) + " (legal: it must not raise)",
            )
            count += 1
    _report(f"{function} argument checks", count, cases)
    _print_advice(advice)


__all__ = [
    "CONV2D_FEATURES",
    "ERROR_FUNCTIONS_2D",
    "check_argument_errors_2d",
    "check_avg_pool2d",
    "check_conv2d",
    "check_conv2d_im2col",
    "check_conv2d_multiplications",
    "check_conv2d_parameters",
    "check_conv2d_single",
    "check_conv2d_torch",
    "check_depthwise_separable_conv2d",
    "check_im2col_2d",
    "check_max_pool2d",
    "check_receptive_field",
    "im2col_2d_reference",
]
