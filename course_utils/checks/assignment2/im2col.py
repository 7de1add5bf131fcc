"""Assignment 2, Part C: im2col_2d and conv2d_im2col."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import reference
from ...validation import check_int
from .._common import (
    Bug,
    _assert_close,
    _check_cases,
    _checker,
    _names_replaced,
    _namespace,
    _report,
    _student_lines_run,
    hidden_rng,
)
from ..toolkit import (
    assert_array_close,
    call_student,
    describe_call,
    random_conv2d_case,
)
from ._shared import (
    CONV2D_FEATURES,
    DECK2_IMAGE,
    HIDDEN_RANDOM_CASES_2D,
    Pads,
    Pair,
    _pad_2d,
    _pair,
    _resolve_pads,
    im2col_2d_reference,
)
from .conv2d import (
    _case,
    _check_conv2d_case,
    _check_conv2d_feature,
    _options,
    _visible_conv2d_cases,
)
from .helpers import own_code_first


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
            "im2col-row-order",
            "the rows are in (kernel row, kernel column, channel) order: row c*KH*KW + a*KW + b must "
            "hold channel c, tap (a, b) (channel-major), so that w.reshape(F, -1) lines up with it.",
            lambda: blocks.transpose(0, 2, 3, 1, 4, 5).reshape(n, rows, positions),
        ),
        (
            "im2col-row-order",
            "the kernel column comes before the kernel row in the rows: use (channel, row, column) order.",
            lambda: blocks.transpose(0, 1, 3, 2, 4, 5).reshape(n, rows, positions),
        ),
        (
            "im2col-layout",
            "the columns run down the image first (column-major): column i*W_out + j is output (i, j), "
            "row by row.",
            lambda: blocks.transpose(0, 1, 2, 3, 5, 4).reshape(n, rows, positions),
        ),
        (
            "im2col-layout",
            "each receptive field is a row, not a column: the result is (N, C*KH*KW, H_out*W_out).",
            lambda: expected.transpose(0, 2, 1),
        ),
        (
            "flipped-kernel",
            "the taps of each window are reversed (a flipped kernel order).",
            lambda: blocks[:, :, ::-1, ::-1].reshape(n, rows, positions),
        ),
        ("im2col-layout", "the batch axis is missing: keep N first.", lambda: expected[0]),
    ]
    if s != (1, 1):
        bugs.append(("stride-ignored", "the stride is ignored.", lambda: cols(ss=(1, 1))))
        if s[0] != s[1]:
            bugs += [
                (
                    "height-width-swapped",
                    "height and width are swapped in the stride.",
                    lambda: cols(ss=s[::-1]),
                ),
                (
                    "one-axis-only",
                    "the stride is applied to the height only.",
                    lambda: cols(ss=(s[0], 1)),
                ),
                (
                    "one-axis-only",
                    "the stride is applied to the width only.",
                    lambda: cols(ss=(1, s[1])),
                ),
            ]
    if d != (1, 1):
        bugs += [
            (
                "dilation-ignored",
                "dilation ignored: tap (a, b) reads x_pad[i*sh + a*dh, j*sw + b*dw].",
                lambda: cols(dd=(1, 1)),
            ),
            (
                "one-axis-only",
                "dilation applied on the height axis only.",
                lambda: cols(dd=(d[0], 1)),
            ),
            (
                "one-axis-only",
                "dilation applied on the width axis only.",
                lambda: cols(dd=(1, d[1])),
            ),
        ]
    if kh != kw:
        bugs.append(
            (
                "height-width-swapped",
                "height and width are swapped in kernel_size: kernel_size=(KH, KW) is KH rows, KW columns.",
                lambda: cols(kk=(kw, kh)),
            )
        )
    if pads != ((0, 0), (0, 0)):
        (top, bottom), (left, right) = pads
        bugs += [
            ("padding-ignored", "the padding is ignored.", lambda: cols(pp=0)),
            (
                "padding-one-side",
                "zeros added at the top and left only.",
                lambda: padded(((top + bottom, 0), (left + right, 0))),
            ),
            (
                "padding-one-side",
                "zeros added at the bottom and right only.",
                lambda: padded(((0, top + bottom), (0, left + right))),
            ),
            (
                "height-width-swapped",
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


@own_code_first
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
            "im2col-reshape",
            "wrong reshape of the product: an (F, N*L) product was reshaped straight to (N, F, H_out, W_out). "
            "Reshape to (F, N, H_out, W_out) and move the batch first, or multiply W @ cols with cols "
            "(N, C*KH*KW, L) to get (N, F, L) directly.",
            lambda: no_bias.transpose(1, 0, 2, 3).reshape(n, f, h_out, w_out) + bias,
        ),
        (
            "im2col-reshape",
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
            "im2col-reshape",
            "the weights were flattened in (kernel row, kernel column, channel) order "
            "(w.transpose(0, 2, 3, 1).reshape(F, -1)) but the columns are channel-major: use w.reshape(F, -1).",
            lambda: with_kernel(w.transpose(0, 2, 3, 1).reshape(w.shape[0], fc, kh, kw)),
        ),
        (
            "im2col-reshape",
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


@own_code_first
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
