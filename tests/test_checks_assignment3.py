"""course_utils.checks.assignment3: the checkers accept the notebook's solutions and name typical backprop bugs."""

from __future__ import annotations

import functools
from collections.abc import Callable

import notebook_scoring
import numpy as np
import pytest
from notebook_scoring import run_quietly, solution_namespace

from course_utils import checks
from course_utils.checks import assignment3

SOLUTIONS = solution_namespace("assignment3")


def variant(source: str) -> Callable:
    """Define a (buggy) function in a copy of the solutions' namespace."""
    return notebook_scoring.variant(SOLUTIONS, source)


S = SOLUTIONS


def _check_backward_feature(feature: str, fn: Callable, cases: str) -> None:
    checks.check_conv2d_backward(S["conv2d_forward"], fn, feature, cases, 5)


CHECKS = {
    "numeric_gradient": lambda fn, cases: checks.check_numeric_gradient(fn, cases, 1),
    "relu_backward": lambda fn, cases: checks.check_relu(S["relu_forward"], fn, cases, 2),
    "conv1d_backward": lambda fn, cases: checks.check_conv1d_backward(fn, cases, 3),
    "conv2d_forward": lambda fn, cases: checks.check_conv2d_forward(fn, cases, 4),
    **{
        f"conv2d_backward {feature}": functools.partial(_check_backward_feature, feature)
        for feature in checks.CONV2D_BACKWARD_FEATURES
    },
    "conv2d_backward errors": lambda fn, cases: checks.check_backward_errors(
        fn, S["conv2d_forward"], S["relu_forward"], "conv2d", cases
    ),
    "relu_backward errors": lambda fn, cases: checks.check_backward_errors(
        fn, S["relu_forward"], S["conv2d_forward"], "relu", cases
    ),
    "col2im_2d": lambda fn, cases: checks.check_col2im_2d(fn, cases, 6),
    "conv2d_backward_im2col": lambda fn, cases: checks.check_conv2d_backward_im2col(
        S["conv2d_forward"], fn, cases, 7
    ),
    "max_pool2d_backward": lambda fn, cases: checks.check_max_pool2d_backward(
        S["max_pool2d_forward"], fn, cases, 8
    ),
    "max_pool2d_backward ties": lambda fn, cases: checks.check_max_pool2d_ties(
        S["max_pool2d_forward"], fn, cases, 9
    ),
    "avg_pool2d_backward": lambda fn, cases: checks.check_avg_pool2d_backward(
        S["avg_pool2d_forward"], fn, cases, 10
    ),
    "max_pool2d_backward errors": lambda fn, cases: checks.check_backward_errors(
        fn, S["max_pool2d_forward"], S["avg_pool2d_forward"], "max_pool2d", cases
    ),
    "conv_transpose2d": lambda fn, cases: checks.check_conv_transpose2d(fn, cases, 11),
}


@pytest.mark.parametrize("cases", ["visible", "hidden"])
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_checkers_accept_the_solutions(name, cases):
    function = SOLUTIONS[name.split()[0]]
    output = run_quietly(lambda: CHECKS[name](function, cases))
    assert f"{cases} cases passed" in output


@pytest.mark.parametrize("cases", ["visible", "hidden"])
def test_conv2d_function_checker_accepts_the_solution(cases):
    output = run_quietly(
        lambda: checks.check_conv2d_function(SOLUTIONS["Conv2dFunction"].apply, cases, 12)
    )
    assert f"{cases} cases passed" in output


# (checker, the buggy function's source, a phrase its failure message must contain)
BUGS = {
    "numeric: one-sided": (
        "numeric_gradient",
        "def numeric_gradient(f, x, dout, h=1e-5):\n"
        "    base, grad = np.sum(f(x) * dout), np.zeros(np.shape(x))\n"
        "    for i in np.ndindex(*np.shape(x)):\n"
        "        old = x[i]\n        x[i] = old + h\n"
        "        grad[i] = (np.sum(f(x) * dout) - base) / h\n        x[i] = old\n"
        "    return grad",
        "one-sided differences",
    ),
    "numeric: x left perturbed": (
        "numeric_gradient",
        "def numeric_gradient(f, x, dout, h=1e-5):\n"
        "    grad = np.zeros(np.shape(x))\n"
        "    for i in np.ndindex(*np.shape(x)):\n"
        "        old = x[i]\n        x[i] = old + h\n        plus = np.sum(f(x) * dout)\n"
        "        x[i] = old - h\n        grad[i] = (plus - np.sum(f(x) * dout)) / (2 * h)\n"
        "    return grad",
        "x must be left exactly as it was",
    ),
    "numeric: dout ignored": (
        "numeric_gradient",
        "def numeric_gradient(f, x, dout, h=1e-5):\n"
        "    return _sol['numeric_gradient'](lambda z: np.sum(f(z)), x, 1.0, h)",
        "dout is ignored",
    ),
    "numeric: h ignored": (
        "numeric_gradient",
        "def numeric_gradient(f, x, dout, h=1e-5):\n    return _sol['numeric_gradient'](f, x, dout)",
        "the step h passed in is ignored",
    ),
    "relu: 1 at 0": (
        "relu_backward",
        "def relu_backward(dout, cache):\n    return np.asarray(dout) * (cache['x'] >= 0)",
        "the gradient at x = 0 is 1",
    ),
    "relu: no cache check": (
        "relu_backward errors",
        "def relu_backward(dout, cache):\n    return np.asarray(dout) * (cache['x'] > 0)",
        "should raise ValueError (the cache comes from conv2d_forward",
    ),
    "conv1d: not cropped": (
        "conv1d_backward",
        "def conv1d_backward(dout, x, w, stride=1, padding=0, dilation=1):\n"
        "    x_pad = np.pad(x, [(0, 0), (0, 0), (padding, padding)])\n"
        "    return _sol['conv1d_backward'](dout, x_pad, w, stride, 0, dilation)",
        "the padding is not cropped",
    ),
    "conv1d: [p:-p] with p = 0": (
        "conv1d_backward",
        "def conv1d_backward(dout, x, w, stride=1, padding=0, dilation=1):\n"
        "    x_pad = np.pad(x, [(0, 0), (0, 0), (padding, padding)])\n"
        "    dx, dw, db = _sol['conv1d_backward'](dout, x_pad, w, stride, 0, dilation)\n"
        "    return dx[:, :, padding:-padding], dw, db",
        "with p = 0 is empty",
    ),
    "conv2d: overwrite in dx": (
        "conv2d_backward stride_padding",
        "def conv2d_backward(dout, cache):\n"
        "    x, w, (sh, sw), (ph, pw), (dh, dw_) = cache['x'], cache['w'], cache['stride'], cache['padding'], cache['dilation']\n"
        "    dx_pad = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))\n"
        "    kh, kw = w.shape[2:]\n"
        "    for i in range(dout.shape[2]):\n        for j in range(dout.shape[3]):\n"
        "            dx_pad[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw_ * (kw - 1) + 1 : dw_] = np.tensordot(dout[:, :, i, j], w, axes=(1, 0))\n"
        "    _, dw, db = _sol['conv2d_backward'](dout, cache)\n"
        "    return dx_pad[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], dw, db",
        "overwrite instead of accumulate",
    ),
    "conv2d: dw of one image": (
        "conv2d_backward basic",
        "def conv2d_backward(dout, cache):\n"
        "    dx, dw, db = _sol['conv2d_backward'](dout, cache)\n"
        "    one = dict(cache, x=cache['x'][:1])\n"
        "    return dx, _sol['conv2d_backward'](dout[:1], one)[1], db",
        "dw is not summed over the batch",
    ),
    "conv2d: db over the wrong axes": (
        "conv2d_backward basic",
        "def conv2d_backward(dout, cache):\n"
        "    dx, dw, db = _sol['conv2d_backward'](dout, cache)\n"
        "    return dx, dw, np.asarray(dout).sum(axis=(2, 3))",
        "db is summed over the positions only",
    ),
    "conv2d: stride ignored in the scatter": (
        "conv2d_backward stride_padding",
        "def conv2d_backward(dout, cache):\n"
        "    x, w, (sh, sw), (ph, pw), (dh, dw_) = cache['x'], cache['w'], cache['stride'], cache['padding'], cache['dilation']\n"
        "    dx_pad = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw))\n"
        "    kh, kw = w.shape[2:]\n"
        "    for i in range(dout.shape[2]):\n        for j in range(dout.shape[3]):\n"
        "            dx_pad[:, :, i : i + dh * (kh - 1) + 1 : dh, j : j + dw_ * (kw - 1) + 1 : dw_] += np.tensordot(dout[:, :, i, j], w, axes=(1, 0))\n"
        "    _, dw, db = _sol['conv2d_backward'](dout, cache)\n"
        "    return dx_pad[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], dw, db",
        "the stride is ignored in the scatter",
    ),
    "conv2d: no dout check": (
        "conv2d_backward errors",
        "def conv2d_backward(dout, cache):\n"
        "    if np.shape(dout)[-1] != 1 + cache['x'].shape[-1]:\n"
        "        return np.zeros(1), np.zeros(1), np.zeros(1)\n"
        "    return _sol['conv2d_backward'](dout, cache)",
        "should raise ValueError (dout has shape",
    ),
    "col2im: overwrite": (
        "col2im_2d",
        "def col2im_2d(cols, x_shape, kernel_size, stride=1, padding=0, dilation=1):\n"
        "    kh, kw = pair(kernel_size)\n    n, c, h, w = x_shape\n"
        "    blocks = np.asarray(cols).reshape(n, c, kh, kw, h - kh + 1, w - kw + 1)\n"
        "    out = np.zeros(x_shape)\n"
        "    for u in range(kh):\n        for v in range(kw):\n"
        "            out[:, :, u : u + h - kh + 1, v : v + w - kw + 1] = blocks[:, :, u, v]\n"
        "    return out",
        "overlapping entries are overwritten",
    ),
    "im2col backward: the loop version": (
        "conv2d_backward_im2col",
        "def conv2d_backward_im2col(dout, cache):\n    return conv2d_backward(dout, cache)",
        "called your loop version conv2d_backward",
    ),
    "max pool: the window's first element": (
        "max_pool2d_backward",
        "def max_pool2d_backward(dout, cache):\n"
        "    return _sol['max_pool2d_backward'](dout, dict(cache, winner=0 * cache['winner']))",
        "the window's first element",
    ),
    "avg pool: not divided": (
        "avg_pool2d_backward",
        "def avg_pool2d_backward(dout, cache):\n"
        "    return _sol['avg_pool2d_backward'](dout, dict(cache, sizes=np.ones_like(cache['sizes'])))",
        "not divided by the window size",
    ),
    "transpose: output_padding ignored": (
        "conv_transpose2d",
        "def conv_transpose2d(x, w, stride=1, padding=0, output_padding=0):\n"
        "    (sh, sw), (ph, pw) = pair(stride), pair(padding)\n"
        "    (n, _, h, width), (_, c_out, kh, kw) = x.shape, w.shape\n"
        "    shape = (n, c_out, (h - 1) * sh - 2 * ph + kh, (width - 1) * sw - 2 * pw + kw)\n"
        "    _, cache = conv2d_forward(np.zeros(shape), w, None, (sh, sw), (ph, pw))\n"
        "    return conv2d_backward(x, cache)[0]",
        "output_padding is ignored",
    ),
}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_checkers_name_the_bug(bug):
    check, source, phrase = BUGS[bug]
    function = variant(source)
    with pytest.raises(AssertionError) as info:
        for cases in ("visible", "hidden"):
            run_quietly(lambda cases=cases: CHECKS[check](function, cases))
    assert phrase in str(info.value), str(info.value)


def test_the_worked_examples_hold():
    """The numbers the notebook works by hand are what the reference gives."""
    from course_utils import reference

    dx, dw, db = reference.conv1d_backward(
        np.ones((1, 1, 4)), assignment3.DECK2_X[None, None], assignment3.DECK2_W[None, None]
    )
    np.testing.assert_allclose(dx[0, 0], assignment3.DECK2_DX)
    np.testing.assert_allclose(dw[0, 0], assignment3.DECK2_DW)
    dx2, _, _ = reference.conv1d_backward(
        np.ones((1, 1, 2)), assignment3.DECK2_X[None, None], assignment3.DECK2_W[None, None], 2
    )
    np.testing.assert_allclose(dx2[0, 0], assignment3.DECK2_DX_STRIDE2)
    dx, dw, db = reference.conv2d_backward(
        np.ones((1, 1, 2, 2)),
        assignment3.SMALL_IMAGE[None, None],
        assignment3.SMALL_KERNEL[None, None],
    )
    np.testing.assert_allclose(dx[0, 0], assignment3.SMALL_DX)
    np.testing.assert_allclose(dw[0, 0], assignment3.SMALL_DW)
    np.testing.assert_allclose(
        reference.max_pool2d(assignment3.DECK0_POOL[None, None], 3)[0, 0],
        assignment3.DECK0_POOL_MAX,
    )
    np.testing.assert_allclose(
        reference.conv_transpose2d(assignment3.TRANSPOSE_X[None, None], np.ones((1, 1, 3, 3)))[
            0, 0
        ],
        assignment3.TRANSPOSE_OUT,
    )


def test_col2im_reference_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 7))
    cols = checks.im2col_2d_reference(x, (2, 3), (2, 1), (1, 0), (1, 2))
    c = rng.standard_normal(cols.shape)
    back = assignment3.col2im_2d_reference(c, x.shape, (2, 3), (2, 1), (1, 0), (1, 2))
    assert np.isclose(np.sum(cols * c), np.sum(x * back))


def test_functions_given_to_numeric_gradient_live_at_module_level():
    """The grader names them across the sandbox wall: plain module-level functions of course_utils."""
    for f in (
        assignment3.cubic,
        assignment3.wave,
        assignment3.softplus_total,
        assignment3.mix_rows,
    ):
        assert (
            f.__module__.startswith("course_utils.checks.assignment3.")
            and "<locals>" not in f.__qualname__
        )


def test_checkers_reject_bad_arguments():
    with pytest.raises(ValueError, match="feature"):
        checks.check_conv2d_backward(S["conv2d_forward"], S["conv2d_backward"], "everything")
    with pytest.raises(ValueError, match="layer"):
        checks.check_backward_errors(S["relu_backward"], S["relu_forward"], S["relu_forward"], "x")
    with pytest.raises(ValueError, match="cases"):
        checks.check_numeric_gradient(S["numeric_gradient"], cases="secret")


@pytest.mark.slow
def test_digits_checkers_accept_the_solution_and_measure_the_network():
    train = SOLUTIONS["train_digits_cnn"]
    steps = run_quietly(lambda: checks.check_digits_cnn_steps(train))
    assert "match nn.Conv2d's" in steps
    accuracy = run_quietly(lambda: checks.check_digits_cnn_accuracy(train))
    assert "test accuracy" in accuracy


@pytest.mark.slow
def test_digits_accuracy_is_measured_not_trusted():
    """Weights that were never trained fail, whatever the function claims about its accuracy."""
    cheat = variant(
        "def train_digits_cnn(seed=0, verbose=True, **options):\n"
        "    result = _sol['train_digits_cnn'](seed=seed, max_steps=1, verbose=False)\n"
        "    result['test_accuracy'] = np.array([1.0])\n"
        "    return result"
    )
    with pytest.raises(AssertionError, match="classify"):
        run_quietly(lambda: checks.check_digits_cnn_accuracy(cheat))
