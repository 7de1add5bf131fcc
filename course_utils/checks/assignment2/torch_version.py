"""Assignment 2, Part F: conv2d_torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import reference
from ...device import float64_device
from ...validation import check_int
from .._common import (
    _assert_close,
    _check_cases,
    _checker,
    _report,
    hidden_rng,
)
from ..toolkit import (
    call_student_torch,
)
from ._shared import CONV2D_FEATURES
from .conv2d import (
    _conv2d_bugs,
    _conv2d_name,
    _deck2,
    _expected,
    _options,
    _random_conv2d,
    _sharpen,
    _visible_conv2d_cases,
)
from .helpers import own_code_first
from .im2col import _reshape_bugs


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


@own_code_first
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
