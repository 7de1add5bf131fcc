"""Assignment 2, Part E: depthwise separable convolution, parameter and multiplication counts, receptive field."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import arithmetic, reference
from ...validation import check_int
from .._common import (
    Bug,
    _assert_close,
    _assert_int,
    _check_cases,
    _checker,
    _outputs,
    _report,
    hidden_rng,
)
from ..toolkit import (
    call_student,
    describe_call,
    random_conv2d_case,
)
from ._shared import (
    DECK2_IMAGE,
    DECK2_KERNEL,
    HIDDEN_RANDOM_CASES_2D,
    SHARPEN_IMAGE,
    SHARPEN_KERNEL,
    Pair,
    _pair,
)
from .helpers import own_code_first


def _separable_expected(x, wd, wp, s, p) -> np.ndarray:
    return reference.conv2d(reference.conv2d(x, wd, stride=s, padding=p, groups=x.shape[1]), wp)


def _separable_bugs(x, wd, wp, s, p, expected) -> list[Bug]:
    c = x.shape[1]
    depthwise = reference.conv2d(x, wd, stride=s, padding=p, groups=c)
    return [
        (
            "separable-steps",
            "the depthwise step summed over the channels (a normal convolution): use groups=C, "
            "so that channel c is filtered by w_depthwise[c] alone.",
            lambda: reference.conv2d(
                reference.conv2d(x, wd.transpose(1, 0, 2, 3), stride=s, padding=p), wp[:, :1]
            ),
        ),
        (
            "separable-steps",
            "the 1x1 convolution is missing: return the depthwise output mixed by w_pointwise.",
            lambda: depthwise,
        ),
        (
            "separable-steps",
            "the stride was applied in the 1x1 convolution too: only the depthwise step is strided.",
            lambda: reference.conv2d(depthwise, wp, stride=s),
        ),
        ("stride-ignored", "the stride is ignored.", lambda: _separable_expected(x, wd, wp, 1, p)),
        (
            "padding-ignored",
            "the padding is ignored.",
            lambda: _separable_expected(x, wd, wp, s, 0),
        ),
        (
            "separable-steps",
            "the channels were filtered in reverse order: channel c goes with w_depthwise[c].",
            lambda: reference.conv2d(
                reference.conv2d(x, wd[::-1], stride=s, padding=p, groups=c), wp
            ),
        ),
        (
            "flipped-kernel",
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


@own_code_first
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
            "bias-count",
            "the bias is missing: a layer with bias=True has one bias per output channel.",
            lambda: c_out * (c_in // groups) * kh * kw,
        ),
        (
            "bias-count",
            "the bias was counted although bias=False.",
            lambda: c_out * (c_in // groups) * kh * kw + c_out,
        ),
        (
            "groups",
            "groups ignored: each filter sees only C_in / groups channels.",
            lambda: c_out * c_in * kh * kw + b,
        ),
        (
            "groups",
            "divided by groups twice: there are C_out filters of (C_in / groups) x KH x KW weights.",
            lambda: (c_out // groups) * (c_in // groups) * kh * kw + b,
        ),
        (
            "one-axis-only",
            "an int kernel_size was read as one axis: in 2-D, kernel_size=k means a k x k kernel.",
            lambda: c_out * (c_in // groups) * kh + b,
        ),
        (
            "channels-not-counted",
            "the input channels are missing: each filter spans C_in / groups channels.",
            lambda: c_out * kh * kw + b,
        ),
        (
            "bias-count",
            "one bias per weight: a filter has a single bias.",
            lambda: 2 * c_out * (c_in // groups) * kh * kw,
        ),
    ]


@own_code_first
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
            "groups",
            "groups ignored: each output value sums over C_in / groups channels only.",
            lambda: count(g_=1),
        ),
        (
            "stride-ignored",
            "the stride is ignored: a stride of s computes about 1/s of the outputs per axis.",
            lambda: count(s_=(1, 1)),
        ),
        (
            "padding-counted-once",
            "padding counted once: the padded size is n + 2 * padding.",
            lambda: count(sides=1),
        ),
        ("padding-ignored", "the padding is ignored.", lambda: count(p_=(0, 0))),
        (
            "dilation-ignored",
            "dilation ignored in the output size: the dilated kernel spans d(k-1)+1 inputs.",
            lambda: count(d_=(1, 1)),
        ),
        (
            "dilated-span",
            "the dilated span was counted as the kernel: a dilated kernel still has KH x KW weights, "
            "so each output costs C_in/groups x KH x KW multiplications.",
            lambda: count(taps=math.prod(spans)),
        ),
        (
            "ceil-not-floor",
            "ceil instead of floor for the output size.",
            lambda: count(rounding=math.ceil),
        ),
        (
            "height-width-swapped",
            "height and width are swapped in the kernel size.",
            lambda: count(k_=k[::-1]),
        ),
        (
            "height-width-swapped",
            "height and width are swapped in the stride.",
            lambda: count(s_=s[::-1]),
        ),
        (
            "height-width-swapped",
            "height and width are swapped in the padding.",
            lambda: count(p_=p[::-1]),
        ),
        (
            "channels-not-counted",
            "the output channels are missing: every one of the C_out maps costs the same.",
            lambda: count() // c_out,
        ),
    ]


@own_code_first
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
            "receptive-field",
            "the strides are ignored: a layer after a stride-s layer moves s input pixels per step.",
            lambda: (
                _field_reference([(k, 1, d) for k, _, d in layers])[0],
                _field_reference(layers)[1],
            ),
        ),
        (
            "dilation-ignored",
            "dilation ignored: a dilated layer grows the field by d(k-1) steps.",
            lambda: _field_reference([(k, s, 1) for k, s, _ in layers]),
        ),
        (
            "a layer's own stride was applied to its growth: only the strides of the layers BEFORE it count.",
            after_stride,
        ),
        (
            "receptive-field",
            "the field starts at 0: one output of no layer sees 1 pixel, r = 1 + sum d(k-1) * (product of earlier strides).",
            lambda: (_field_reference(layers)[0] - 1, _field_reference(layers)[1]),
        ),
        (
            "receptive-field",
            "the kernel sizes were summed: r = 1 + sum d(k-1) * jump.",
            lambda: (sum(k for k, _, _ in layers), _field_reference(layers)[1]),
        ),
        (
            "receptive-field",
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
        bugs = [
            (family, message, lambda out=out, i=index: out[i]) for family, message, out in outputs
        ]
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
