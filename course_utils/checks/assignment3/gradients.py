"""Assignment 3, Parts A and B: numeric_gradient and the ReLU backward pass."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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
    assert_array_close,
    call_student,
    describe_call,
)
from ._shared import (
    _ANALYTIC,
    _FUNCTIONS,
    HIDDEN_RANDOM_CASES_3,
    NUMERIC_ATOL,
    NUMERIC_RTOL,
    _call_failed_hint,
    _unpack,
)


def _central(
    f: Callable, x: np.ndarray, dout: np.ndarray, h: float, kind: str = "central"
) -> np.ndarray:
    """The checker's own finite differences of sum(f(x) * dout) (``kind``: central, forward, backward...)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros(x.shape)

    def value(point: np.ndarray) -> float:
        out = np.asarray(f(point), dtype=np.float64)
        return float(np.sum(out if kind == "no_dout" else out * dout))

    base = value(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        if kind == "forward":
            grad[index] = (value(plus) - base) / h
        elif kind == "backward":
            grad[index] = (base - value(minus)) / h
        elif kind == "over_h":
            grad[index] = (value(plus) - value(minus)) / h
        else:
            grad[index] = (value(plus) - value(minus)) / (2 * h)
    return grad


def _numeric_bugs(
    f: Callable, x: np.ndarray, dout: np.ndarray, h: float, given_h: bool
) -> list[Bug]:
    bugs: list[Bug] = [
        (
            "finite-difference",
            "one-sided differences (f(x + h) - f(x)) / h: their error shrinks only like h. Use central "
            "differences, (f(x + h) - f(x - h)) / (2h), whose error shrinks like h**2.",
            lambda: _central(f, x, dout, h, "forward"),
        ),
        (
            "finite-difference",
            "one-sided differences (f(x) - f(x - h)) / h: use central differences, "
            "(f(x + h) - f(x - h)) / (2h).",
            lambda: _central(f, x, dout, h, "backward"),
        ),
        (
            "finite-difference",
            "the central difference is divided by h: the two points are 2h apart, divide by 2 * h.",
            lambda: _central(f, x, dout, h, "over_h"),
        ),
        (
            "dout-ignored",
            "dout is ignored: the gradient is that of sum(f(x) * dout), so weight f(x) by dout "
            "before summing.",
            lambda: _central(f, x, dout, h, "no_dout"),
        ),
    ]
    if given_h:
        bugs.append(
            (
                "finite-difference",
                "the step h passed in is ignored (a fixed step is used): use the argument h.",
                lambda: _central(f, x, dout, 1e-5),
            )
        )
    return bugs


def _check_numeric_case(
    fn: Callable, name: str, x: np.ndarray, dout: np.ndarray, h: float | None, label: str = ""
) -> None:
    f = _FUNCTIONS[name]
    options = {} if h is None else {"h": h}
    call = describe_call("numeric_gradient", name, x, dout, **options) + label
    try:
        actual = call_student(fn, f, x, dout, exercise="numeric_gradient", **options)
    except AssertionError as exc:
        raise _call_failed_hint(
            exc,
            {
                "in place": (
                    "input-modified",
                    "x must be left exactly as it was: after trying x[i] + h and x[i] - h, "
                    "put the saved value back (x[i] = old), not x[i] += h then x[i] -= h, which "
                    "can round differently.",
                ),
            },
        ) from None
    step = 1e-5 if h is None else h
    expected = _central(f, x, dout, step)
    _assert_close(
        actual,
        expected,
        call,
        _numeric_bugs(f, x, dout, step, h is not None),
        rtol=NUMERIC_RTOL,
        atol=NUMERIC_ATOL,
    )
    analytic = _ANALYTIC[name](x, dout)
    if h is None:  # with the default step, central differences match the calculus closely
        assert_array_close(
            actual, analytic, name=f"{call} against the exact gradient", rtol=1e-5, atol=1e-7
        )


@_checker
def check_numeric_gradient(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(f, x, dout, h=1e-5) -> dx`` (central differences of sum(f(x) * dout)) on functions with known gradients; x must be left unchanged."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        selected = [
            (
                "cubic",
                np.array([3.0]),
                np.array([1.0]),
                None,
                " (f(x) = x**3 at x = 3: expect [27])",
            ),
            ("cubic", np.array([[1.0, -2.0], [0.5, 0.0]]), np.ones((2, 2)), None, " (a 2x2 x)"),
            (
                "wave",
                np.array([0.3, -1.2, 2.0]),
                np.array([1.0, -2.0, 0.5]),
                None,
                " (dout weights the outputs)",
            ),
            (
                "softplus_total",
                np.array([[0.0, 1.0, -3.0]]),
                np.array(1.0),
                None,
                " (a scalar f: dout = 1)",
            ),
            (
                "mix_rows",
                np.arange(6.0).reshape(3, 2),
                np.ones((2, 2)),
                None,
                " (f(x) = A @ x changes the shape)",
            ),
            ("cubic", np.array([1.0, 2.0]), np.array([1.0, 1.0]), 1e-2, " (h = 0.01 is passed in)"),
        ]
    else:
        rng = hidden_rng(seed)
        selected = []
        for index in range(HIDDEN_RANDOM_CASES_3):
            name = ("cubic", "wave", "softplus_total", "mix_rows")[index % 4]
            shape = (
                (3, int(rng.integers(1, 4)))
                if name == "mix_rows"
                else tuple(int(v) for v in rng.integers(1, 4, size=int(rng.integers(1, 5))))
            )
            x = rng.uniform(-2, 2, shape)
            if name == "mix_rows":
                dout = rng.standard_normal((2, shape[1]))
            elif name == "softplus_total":
                dout = np.array(float(rng.uniform(0.5, 2)))
            else:
                dout = rng.standard_normal(shape)
            h = None if index % 3 else float(rng.choice([1e-3, 1e-4, 1e-2]))
            selected.append((name, x, dout, h, ""))
    for name, x, dout, h, label in selected:
        _check_numeric_case(fn, name, x, dout, h, label)
    _report("numeric_gradient", len(selected), cases)


def _relu_bugs(x: np.ndarray, dout: np.ndarray) -> list[Bug]:
    return [
        (
            "relu-at-zero",
            "the gradient at x = 0 is 1 ([x >= 0]); ReLU'(x) = [x > 0], so 0 at x = 0, as in PyTorch.",
            lambda: dout * (x >= 0),
        ),
        (
            "relu-derivative",
            "dx = dout * relu(x): the derivative of ReLU is the 0/1 mask [x > 0], not ReLU's output.",
            lambda: dout * np.maximum(x, 0),
        ),
        (
            "relu-derivative",
            "the mask was taken from dout ([dout > 0]); it comes from the forward input x: dout * [x > 0].",
            lambda: dout * (dout > 0),
        ),
        (
            "dout-ignored",
            "dout is ignored: dx = dout * [x > 0], not the mask alone.",
            lambda: (x > 0).astype(float),
        ),
        ("relu-derivative", "the mask is missing: dx = dout * [x > 0].", lambda: dout),
        (
            "relu-derivative",
            "the mask is inverted: ReLU passes the gradient where x > 0.",
            lambda: dout * (x < 0),
        ),
    ]


def _check_relu_case(
    forward: Callable, backward: Callable, x: np.ndarray, dout: np.ndarray, label: str = ""
) -> None:
    name = describe_call("relu_forward", x) + label
    out, cache = _unpack(call_student(forward, x, exercise="relu_forward"), 2, name, "(out, cache)")
    _assert_close(out, np.maximum(x, 0), name)
    back = describe_call("relu_backward", dout, "cache") + " after " + name
    dx = call_student(backward, dout, cache, exercise="relu_backward")
    _assert_close(dx, dout * (x > 0), back, _relu_bugs(x, dout))


@_checker
def check_relu(
    forward: Callable, backward: Callable, cases: str = "visible", seed: int = 0
) -> None:
    """Check ``relu_forward(x) -> (out, cache)`` and ``relu_backward(dout, cache) -> dx``; the gradient is 0 at x = 0."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        selected = [
            (
                np.array([-2.0, -0.5, 0.0, 0.5, 2.0]),
                np.array([1.0, 2, 3, 4, 5]),
                " (expect out [0, 0, 0, 0.5, 2], dx [0, 0, 0, 4, 5])",
            ),
            (np.array([[1.0, -1.0], [0.0, 3.0]]), np.array([[-2.0, 5.0], [7.0, -1.0]]), ""),
        ]
    else:
        rng = hidden_rng(seed)
        selected = []
        for _ in range(HIDDEN_RANDOM_CASES_3):
            shape = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(1, 5))))
            x = np.round(rng.standard_normal(shape), 1)  # rounding makes some entries exactly 0
            x.flat[int(rng.integers(x.size))] = 0.0
            selected.append((x, rng.standard_normal(shape), ""))
    for x, dout, label in selected:
        _check_relu_case(forward, backward, x, dout, label)
    _report("relu_forward / relu_backward", len(selected), cases)
