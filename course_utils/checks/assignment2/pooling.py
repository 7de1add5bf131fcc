"""Assignment 2, Part D: max and average pooling."""

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
    _report,
    hidden_rng,
)
from ..toolkit import (
    call_student,
    describe_call,
    random_pool_case,
    tie_free,
)
from ._shared import HIDDEN_RANDOM_CASES_2D, POOL_AVG, POOL_INPUT, POOL_MAX, Pads, _pad_2d, _pair
from .helpers import own_code_first


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
            "pool-kind",
            f"this is {other} pooling: {kind}_pool2d takes the {'largest value' if kind == 'max' else 'mean'} of each window.",
            lambda: pool(what=other),
        ),
        (
            "ceil-not-floor",
            "ceil instead of floor for the output size: a last window that does not fit is dropped.",
            lambda: pool(ceil=True),
        ),
        ("off-by-one", "the last output row is missing (off by one).", lambda: expected[:, :, :-1]),
        (
            "off-by-one",
            "the last output column is missing (off by one).",
            lambda: expected[:, :, :, :-1],
        ),
    ]
    if s is None and kernel != (1, 1):
        bugs.append(
            (
                "pool-stride-default",
                "the stride defaults to 1: when stride is None it equals kernel_size (non-overlapping windows).",
                lambda: pool(ss=(1, 1)),
            )
        )
    if kernel[0] != kernel[1]:
        bugs.append(
            (
                "height-width-swapped",
                "height and width are swapped in kernel_size.",
                lambda: pool(kk=kernel[::-1], ss=(kernel[::-1] if s is None else stride)),
            )
        )
    if stride[0] != stride[1]:
        bugs.append(
            (
                "height-width-swapped",
                "height and width are swapped in the stride.",
                lambda: pool(ss=stride[::-1]),
            )
        )
    if pad != (0, 0):
        fill = -np.inf if kind == "max" else 0.0
        (ph, pw) = pad
        bugs += [
            (
                "padding-one-side",
                "padded at the top and left only: `padding` goes on both sides.",
                lambda: padded(fill, ((2 * ph, 0), (2 * pw, 0))),
            ),
            (
                "padding-one-side",
                "padded at the top and left only: `padding` goes on both sides.",
                lambda: padded(fill, ((ph, 0), (pw, 0))),
            ),
            (
                "padding-one-side",
                "padded at the bottom and right only: `padding` goes on both sides.",
                lambda: padded(fill, ((0, ph), (0, pw))),
            ),
            ("padding-ignored", "padding ignored.", lambda: pool(pp=(0, 0))),
        ]
        if ph != pw:
            bugs.append(
                (
                    "height-width-swapped",
                    "height and width are swapped in the padding.",
                    lambda: pool(pp=pad[::-1]),
                )
            )
        if kind == "max":
            bugs.append(
                (
                    "max-pool-zero-padding",
                    "max pooling padded with zeros: pad with -inf, so that a padded value never wins "
                    "(a window of negative values must give its largest negative value).",
                    lambda: padded(0.0, ((ph, ph), (pw, pw))),
                )
            )
        else:
            bugs.append(
                (
                    "count-include-pad",
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


@own_code_first
@_checker
def check_max_pool2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C, H, W), kernel_size, stride=None, padding=0) -> (N, C, H_out, W_out)``: -inf padding, floor, stride default."""
    _check_pool(fn, "max", cases, seed)


@own_code_first
@_checker
def check_avg_pool2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C, H, W), kernel_size, stride=None, padding=0, count_include_pad=True) -> (N, C, H_out, W_out)``."""
    _check_pool(fn, "avg", cases, seed)
