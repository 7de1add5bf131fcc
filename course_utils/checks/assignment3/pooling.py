"""Assignment 3, Part F: the pooling backward passes, ties, and the backward functions' argument errors."""

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
    _expect_argument_error,
    _print_advice,
    _report,
    hidden_rng,
)
from ..assignment2 import POOL_INPUT
from ..toolkit import (
    call_student,
    describe_call,
    describe_value,
    random_pool_case,
    tie_free,
)
from ._shared import (
    BACKWARD_LAYERS,
    DECK0_POOL,
    HIDDEN_RANDOM_CASES_3,
    _avg_counts,
    _avg_scatter,
    _crop,
    _pair,
    _pool_scatter,
    _unpack,
)

# Deck 000's 6x6 map with its ties broken (distinct offsets of at most 0.35 on integers): with
# 3x3 windows at stride 1 the map has windows whose maximum ties, and this check prices only
# the gradient's routing; which tied maximum wins is check_max_pool2d_ties' (1 point) alone.
DECK0_POOL_TIE_FREE = (
    DECK0_POOL
    + np.random.default_rng(0).permutation(DECK0_POOL.size).reshape(DECK0_POOL.shape) / 100
)


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
                "maxpool-backward",
                "the gradient goes to EVERY maximum of a window with ties: it belongs to one input only, "
                "the first maximum in row-major order (what argmax returns), as in PyTorch.",
                lambda: routed("all"),
            ),
            (
                "maxpool-backward",
                "the gradient goes to the LAST maximum of a window with ties (a >= comparison while "
                "scanning): keep the first one, a strict > (or np.argmax).",
                lambda: routed("last"),
            ),
            (
                "maxpool-backward",
                "the gradient is split among tied maxima: it goes whole to the first maximum.",
                lambda: routed("split"),
            ),
            (
                "maxpool-backward",
                "the gradient goes to the window's first element, not to its maximum: find the arg-max "
                "(deck 000: d a / d x_ij = 1 only at (i_max, j_max)).",
                lambda: routed("corner"),
            ),
            (
                "overwrite-not-accumulate",
                "overwrite instead of accumulate: when windows overlap (stride < kernel) an input that "
                "is the maximum of two windows gets both gradients; add them (+=).",
                lambda: routed("first", overwrite=True),
            ),
            (
                "padding-backward",
                "the padding is not cropped: dx has x's shape.",
                lambda: routed("first", crop=False),
            ),
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
                "avgpool-backward",
                "the gradient is not divided by the window size: each input of a window contributed "
                "1/(kH*kW) of the average (deck 000: d a / d x_ij = 1/(rc)).",
                lambda: averaged(1.0),
            ),
            (
                "avgpool-backward",
                "the gradient is divided by kH only: divide by kH * kW, the window's size.",
                lambda: averaged(float(kernel[0])),
            ),
            (
                "avgpool-backward",
                "the gradient is divided by the window size twice.",
                lambda: averaged(float(full) ** 2),
            ),
            (
                "overwrite-not-accumulate",
                "overwrite instead of accumulate: overlapping windows add their gradients (+=).",
                lambda: _crop(_avg_scatter(dout, kernel, stride, pads, shape, divisor, True), pads),
            ),
            (
                "padding-backward",
                "the padding is not cropped: dx has x's shape.",
                lambda: averaged(divisor, crop=False),
            ),
            (
                "count-include-pad",
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
                "stride-ignored",
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
                DECK0_POOL_TIE_FREE[None, None],
                3,
                1,
                0,
                None,
                None,
                " (deck 000's map with its ties broken, stride 1 < kernel 3: an input that is the maximum of several windows collects all their gradients)",
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
