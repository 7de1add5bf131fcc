"""Assignment 2, Part A: conv2d_single (one channel, one kernel)."""

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
)
from ._shared import (
    DECK2_IMAGE,
    DECK2_KERNEL,
    HIDDEN_RANDOM_CASES_2D,
    SHARPEN_IMAGE,
    SHARPEN_KERNEL,
    _conv2d_padded,
)


def _single_bugs(x: np.ndarray, w: np.ndarray, expected: np.ndarray) -> list[Bug]:
    def ref(image, kernel, pads=((0, 0), (0, 0))):
        return _conv2d_padded(image[None, None], kernel[None, None], None, 1, pads, 1)[0, 0]

    kh, kw = w.shape
    return [
        (
            "flipped-kernel",
            "the kernel is flipped (a textbook convolution, w[KH-1-a, KW-1-b]). CNNs use "
            "cross-correlation: y[i, j] = sum_a sum_b w[a, b] * x[i + a, j + b], no flip.",
            lambda: ref(x, w[::-1, ::-1]),
        ),
        (
            "rows-columns-swapped",
            "the kernel is transposed: w[b, a] instead of w[a, b] (a is the kernel row, b its column).",
            lambda: ref(x, w.T),
        ),
        (
            "rows-columns-swapped",
            "the image is transposed: x[j + b, i + a] instead of x[i + a, j + b] (rows first).",
            lambda: ref(x.T, w).T,
        ),
        (
            "off-by-one",
            "the last output row is missing (off by one): H - KH + 1 rows.",
            lambda: expected[:-1],
        ),
        (
            "off-by-one",
            "the last output column is missing (off by one): W - KW + 1 columns.",
            lambda: expected[:, :-1],
        ),
        (
            "padded-when-valid",
            "the image was zero-padded to keep its size: conv2d_single is 'valid' (no padding).",
            lambda: ref(x, w, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))),
        ),
        (
            "truncated-to-int",
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
