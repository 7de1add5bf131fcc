"""Assignment 3, Parts G and H: the transposed convolution as a backward pass, and conv2d in autograd."""

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
    hidden_rng,
)
from ..toolkit import (
    assert_array_close,
    call_student,
    call_student_torch,
    describe_call,
)
from ._shared import (
    CONV2D_BACKWARD_FEATURES,
    HIDDEN_RANDOM_CASES_3,
    SMALL_IMAGE,
    SMALL_KERNEL,
    TRANSPOSE_X,
    _call_failed_hint,
    _pair,
)
from .convolution import (
    _conv2d_case,
    _conv2d_forward_bugs,
    _conv2d_options,
    _random_conv2d,
    _visible_conv2d_cases,
)
from .gradients import _central


def _transpose_bugs(
    x: np.ndarray, w: np.ndarray, s: Any, p: Any, op: Any, expected: np.ndarray
) -> list[Bug]:
    stride, pads, extra = _pair(s), _pair(p), _pair(op)

    def ref(**options: Any) -> np.ndarray:
        base = {"stride": stride, "padding": pads, "output_padding": extra}
        return reference.conv_transpose2d(x, options.pop("w", w), **{**base, **options})

    bugs: list[Bug] = [
        (
            "flipped-kernel",
            "the kernel is flipped: the transposed convolution scatters each input times w itself "
            "(the flip appears only when it is written as a full convolution).",
            lambda: ref(w=w[:, :, ::-1, ::-1]),
        ),
        (
            "transposed-size",
            "the padding is not cropped: `padding` removes that many rows and columns from each side of "
            "the scattered result.",
            lambda: ref(padding=(0, 0)),
        ),
    ]
    if extra != (0, 0):
        bugs.append(
            (
                "transposed-size",
                "output_padding is ignored: it adds rows/columns at the bottom/right.",
                lambda: ref(output_padding=(0, 0)),
            )
        )
    if stride != (1, 1):
        bugs.append(
            (
                "stride-ignored",
                "the stride is ignored: input (i, j) scatters to the window starting at (i*s, j*s).",
                lambda: ref(stride=(1, 1), output_padding=(0, 0)),
            )
        )
    if w.shape[0] == w.shape[1]:
        bugs.append(
            (
                "weight-layout",
                "w is read as (C_out, C_in, ...): a transposed convolution's w has shape (C_in, C_out, kH, kW).",
                lambda: ref(w=w.transpose(1, 0, 2, 3)),
            )
        )
    return bugs


def _check_transpose_case(
    fn: Callable, x: np.ndarray, w: np.ndarray, s: Any = 1, p: Any = 0, op: Any = 0, label: str = ""
) -> None:
    expected = reference.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op)
    name = describe_call("conv_transpose2d", x, w, stride=s, padding=p, output_padding=op) + label
    actual = call_student(
        fn, x, w, stride=s, padding=p, output_padding=op, exercise="conv_transpose2d"
    )
    _assert_close(actual, expected, name, _transpose_bugs(x, w, s, p, op, expected))


def _check_uses_conv2d_backward(fn: Callable, namespace: dict[str, Any]) -> None:
    calls = {"count": 0}
    replaced = {}
    for name in ("conv2d_backward", "conv2d_backward_im2col"):
        original = namespace.get(name)
        if callable(original):

            def counted(*args: Any, _original: Callable = original, **kwargs: Any) -> Any:
                calls["count"] += 1
                return _original(*args, **kwargs)

            replaced[name] = counted
    with _names_replaced(namespace, replaced):
        call_student(
            fn, TRANSPOSE_X[None, None], np.ones((1, 1, 3, 3)), exercise="conv_transpose2d"
        )
    if calls["count"] == 0:
        raise AssertionError(
            "conv_transpose2d did not call conv2d_backward (or conv2d_backward_im2col): write it as the "
            "input-gradient of a convolution, dx = conv2d_backward(x, cache)[0], with the cache of a "
            "conv2d_forward on an input of the output's shape"
        )


@_checker
def check_conv_transpose2d(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x (N, C_in, H, W), w (C_in, C_out, kH, kW), stride, padding, output_padding)`` equals torch's conv_transpose2d; visible cases check it uses conv2d_backward."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    namespace = _namespace(fn)
    if cases == "visible" and namespace is not None:
        _check_uses_conv2d_backward(fn, namespace)
    if cases == "visible":
        rng = np.random.default_rng(88)
        selected = [
            (
                TRANSPOSE_X[None, None],
                np.ones((1, 1, 3, 3)),
                1,
                0,
                0,
                " (deck 004: 2x2 in, 3x3 kernel of ones, 4x4 out: expect [[1, 3, 3, 2], [4, 10, 10, 6], [4, 10, 10, 6], [3, 7, 7, 4]])",
            ),
            (
                TRANSPOSE_X[None, None],
                np.ones((1, 1, 3, 3)),
                2,
                0,
                0,
                " (stride 2: 5x5, the copies overlap on one row and column)",
            ),
            (
                TRANSPOSE_X[None, None],
                np.ones((1, 1, 3, 3)),
                2,
                1,
                1,
                " (stride 2, padding 1, output_padding 1: 4x4)",
            ),
            (
                rng.standard_normal((2, 3, 3, 4)),
                rng.standard_normal((3, 2, 2, 3)),
                (2, 1),
                (1, 0),
                (1, 0),
                "",
            ),
        ]
    else:
        rng = hidden_rng(seed)
        selected = []
        for _ in range(HIDDEN_RANDOM_CASES_3):
            s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            size = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
            p = tuple(
                int(rng.integers(0, 1 + ((n - 1) * ss + kk - 1) // 2))
                for n, ss, kk in zip(size, s, k, strict=True)
            )
            op = tuple(int(rng.integers(0, ss)) for ss in s)
            x = rng.standard_normal((int(rng.integers(1, 3)), int(rng.integers(1, 4)), *size))
            w = rng.standard_normal((x.shape[1], int(rng.integers(1, 4)), *k))
            selected.append((x, w, s, p, op, ""))
    for x, w, s, p, op, label in selected:
        _check_transpose_case(fn, x, w, s, p, op, label)
    _report("conv_transpose2d", len(selected), cases)


_FUNCTION_HINTS = {
    phrase: ("autograd-function", hint)
    for phrase, hint in {
        "incorrect number of gradients": "backward must return one value per argument of forward, "
        "in the same order: (dx, dw, db, None, None, None), None for stride, padding and dilation.",
        "different than None": "return None for every argument that is not a tensor: stride, "
        "padding, dilation, and b when it is None.",
        "invalid gradient at index": "the gradients come back in the wrong order or shape: return "
        "them in the order of forward's arguments, (dx, dw, db, None, None, None).",
        "expected a torch.Tensor": "forward must return a tensor: "
        "torch.as_tensor(out, dtype=x.dtype, device=x.device).",
        "not connected": "call it as Conv2dFunction.apply(x, w, b, stride, padding, dilation), "
        "which connects the result to autograd; do not call forward directly.",
    }.items()
}


def _function_bugs(dout: np.ndarray, case: dict[str, Any], expected: tuple) -> dict[int, list[Bug]]:
    dx, dw, db = expected
    return {
        0: [
            (
                "autograd-function",
                "the gradients come back in the wrong order: forward(ctx, x, w, b, ...) needs (dx, dw, db, ...).",
                lambda: dw,
            )
        ],
        1: [
            (
                "autograd-function",
                "the gradients come back in the wrong order: forward(ctx, x, w, b, ...) needs (dx, dw, db, ...).",
                lambda: dx,
            )
        ],
        2: [("autograd-function", "db is missing or misplaced.", lambda: np.zeros_like(db))],
    }


def _check_function_case(
    fn: Callable, case: dict[str, Any], dout: np.ndarray, label: str = ""
) -> None:
    options = _conv2d_options(case)
    name = describe_call("Conv2dFunction.apply", case["x"], case["w"], case["b"], **options) + label
    expected_out = reference.conv2d(case["x"], case["w"], case["b"], **options)
    try:
        result = call_student_torch(
            fn, case["x"], case["w"], case["b"], exercise="Conv2dFunction", dout=dout, **options
        )
    except AssertionError as exc:
        raise _call_failed_hint(exc, _FUNCTION_HINTS) from None
    if result.dtype != "torch.float64":
        raise AssertionError(
            f"{name}: float64 inputs gave a {result.dtype} result; return a tensor of x's dtype (dtype=x.dtype)"
        )
    _assert_close(result.output, expected_out, name, _conv2d_forward_bugs(case, expected_out))
    expected = reference.conv2d_backward(dout, case["x"], case["w"], **options)
    bugs = _function_bugs(dout, case, expected)
    for index, what in enumerate(("x", "w", "b")):
        if index == 2 and case["b"] is None:
            continue
        _assert_close(
            result.grads[index],
            expected[index],
            f"autograd's gradient of {name} with respect to {what}",
            bugs[index],
        )


def _gradcheck(fn: Callable, case: dict[str, Any]) -> None:
    """gradcheck's test: the student's autograd gradients against central differences of the student's own forward."""
    options = _conv2d_options(case)
    dout = np.random.default_rng(9).standard_normal(
        reference.conv2d(case["x"], case["w"], case["b"], **options).shape
    )
    try:
        analytic = call_student_torch(
            fn, case["x"], case["w"], case["b"], exercise="Conv2dFunction", dout=dout, **options
        ).grads
    except AssertionError as exc:
        raise _call_failed_hint(exc, _FUNCTION_HINTS) from None
    arrays = [case["x"], case["w"], case["b"]]
    for index, what in enumerate(("x", "w", "b")):

        def output(value: np.ndarray, index: int = index) -> np.ndarray:
            given = [value if i == index else a for i, a in enumerate(arrays)]
            return call_student_torch(fn, *given, exercise="Conv2dFunction", **options).output

        numeric = _central(output, arrays[index], dout, 1e-6)
        assert_array_close(
            analytic[index],
            numeric,
            name=f"gradcheck: autograd's gradient of Conv2dFunction with respect to {what} (your backward) "
            "against central differences of your forward",
            rtol=1e-5,
            atol=1e-7,
        )


@_checker
def check_conv2d_function(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``Conv2dFunction.apply(x, w, b, stride, padding, dilation)`` in float64: output, autograd's gradients (order, None for non-tensors), gradcheck."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        rng = np.random.default_rng(99)
        selected = [
            (case, "")
            for feature in CONV2D_BACKWARD_FEATURES
            for case, _ in _visible_conv2d_cases(feature)[-1:]
        ]
        selected.insert(
            0,
            (
                _conv2d_case(SMALL_IMAGE[None, None], SMALL_KERNEL[None, None], [0.5]),
                " (the worked example)",
            ),
        )
        selected.append(
            (
                _conv2d_case(
                    rng.standard_normal((2, 2, 4, 5)),
                    rng.standard_normal((3, 2, 2, 2)),
                    None,
                    padding=1,
                ),
                " (b = None: its gradient is None)",
            )
        )
        selected.append(
            (
                _conv2d_case(
                    rng.standard_normal((2, 2, 3, 3)),
                    rng.standard_normal((2, 2, 3, 3)),
                    [1.0, -1.0],
                ),
                " (x and w of the same shape: the gradient order shows)",
            )
        )
    else:
        rng = hidden_rng(seed)
        selected = [
            (_random_conv2d(rng, feature), "")
            for feature in CONV2D_BACKWARD_FEATURES
            for _ in range(3)
        ]
    for case, label in selected:
        shape = reference.conv2d(case["x"], case["w"], case["b"], **_conv2d_options(case)).shape
        _check_function_case(fn, case, rng.standard_normal(shape), label)
    if cases == "visible":
        _gradcheck(
            fn,
            _conv2d_case(
                rng.standard_normal((1, 2, 3, 4)),
                rng.standard_normal((2, 2, 2, 2)),
                [0.1, 0.2],
                stride=(1, 2),
                padding=1,
            ),
        )
        selected.append(None)
    _report("Conv2dFunction", len(selected), cases)
