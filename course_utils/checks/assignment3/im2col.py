"""Assignment 3, Part E: col2im and the im2col backward pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

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
from ..assignment2 import im2col_2d_reference
from ..toolkit import (
    assert_array_close,
    call_student,
    describe_call,
    random_conv2d_case,
)
from ._shared import (
    CONV2D_BACKWARD_FEATURES,
    HIDDEN_RANDOM_CASES_3,
    Pair,
    _crop,
    _pair,
    _windows,
    col2im_2d_reference,
)
from .convolution import (
    _check_conv2d_backward_case,
    _conv2d_backward_cases,
    _conv2d_case,
    _student_forward,
)


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
            "overwrite-not-accumulate",
            "overlapping entries are overwritten: col2im is the adjoint of im2col, so every column entry "
            "that came from the same input position is ADDED back there (+=).",
            lambda: place(overwrite=True),
        ),
        (
            "padding-backward",
            "the padding is not cropped: return the (N, C, H, W) gradient of the unpadded input.",
            lambda: place(crop=False),
        ),
    ]
    if strides != (1, 1):
        bugs.append(
            (
                "stride-ignored",
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
