"""Assignment 2: the argument checks of every function (clear errors for bad input)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import reference
from .._common import (
    _KERNEL_WORDS,
    _check_cases,
    _checker,
    _expect_argument_error,
    _print_advice,
    _report,
)
from ..toolkit import (
    assert_array_close,
    call_student,
    describe_call,
)
from ._shared import ERROR_FUNCTIONS_2D, im2col_2d_reference
from .helpers import own_code_first


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


def _legal_edges_work(fn: Callable, function: str) -> int:
    """Check the legal calls at the limits (they must not raise, and give the right values)."""
    edges = _legal_edges(function)
    for args, kwargs, expected in edges:
        actual = call_student(fn, *args, exercise=function, **kwargs)
        assert_array_close(
            actual,
            expected,
            name=describe_call(function, *args, **kwargs) + " (legal: it must not raise)",
        )
    return len(edges)


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
        # their values come from the shared helpers too, so a wrong helper costs only Part B's
        # points; the illegal calls are never run again (the course's helper raising a
        # ValueError would earn the student nothing of theirs)
        legal_edges = own_code_first(_legal_edges_work, f"{function}'s legal calls at the limits")
        count += legal_edges(fn, function)
    _report(f"{function} argument checks", count, cases)
    _print_advice(advice)
