"""course_utils.checks: the Assignment 1 checkers accept the notebook's solutions and name typical bugs."""

from __future__ import annotations

import functools
from collections.abc import Callable

import notebook_scoring
import pytest
from notebook_scoring import run_quietly, solution_namespace

from course_utils import checks
from course_utils.checks.toolkit import LibraryShortcutError

SOLUTIONS = solution_namespace("assignment1")


def variant(source: str) -> Callable:
    """Define a (buggy) function in a copy of the solutions' namespace."""
    return notebook_scoring.variant(SOLUTIONS, source)


def _check_feature(feature: str, fn: Callable, cases: str) -> None:
    checks.check_conv1d(fn, feature, cases, 5)


CHECKS = {
    "conv1d_single": lambda fn, cases: checks.check_conv1d_single(fn, cases=cases, seed=1),
    "conv_output_size": lambda fn, cases: checks.check_conv_output_size(fn, cases=cases, seed=2),
    "conv_output_size errors": lambda fn, cases: checks.check_argument_errors(
        fn, "conv_output_size", cases
    ),
    "same_padding": lambda fn, cases: checks.check_same_padding(fn, cases=cases, seed=3),
    "same_padding errors": lambda fn, cases: checks.check_argument_errors(
        fn, "same_padding", cases
    ),
    "conv_transpose_output_size": lambda fn, cases: checks.check_conv_transpose_output_size(
        fn, cases, 4
    ),
    "conv_transpose_output_size errors": lambda fn, cases: checks.check_argument_errors(
        fn, "conv_transpose_output_size", cases
    ),
    **{
        f"conv1d {feature}": functools.partial(_check_feature, feature)
        for feature in checks.CONV1D_FEATURES
    },
    "conv1d errors": lambda fn, cases: checks.check_argument_errors(fn, "conv1d", cases),
    "im2col_1d": lambda fn, cases: checks.check_im2col_1d(fn, cases, 6),
    "im2col_1d errors": lambda fn, cases: checks.check_argument_errors(fn, "im2col_1d", cases),
    "conv1d_im2col": lambda fn, cases: checks.check_conv1d_im2col(fn, cases, 7),
    "conv1d_im2col errors": lambda fn, cases: checks.check_argument_errors(
        fn, "conv1d_im2col", cases
    ),
}


@pytest.mark.parametrize("cases", ["visible", "hidden"])
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_checkers_accept_the_solutions(name, cases):
    function = SOLUTIONS[name.split()[0]]
    output = run_quietly(lambda: CHECKS[name](function, cases))
    assert f"{cases} cases passed" in output


# (checker, the buggy function's source, a phrase its failure message must contain)
BUGS = {
    # conv1d_single
    "single: flipped kernel": (
        "conv1d_single",
        "def conv1d_single(x, w):\n    return _sol['conv1d_single'](x, np.asarray(w)[::-1])",
        "the kernel is flipped",
    ),
    "single: off by one": (
        "conv1d_single",
        "def conv1d_single(x, w):\n    return _sol['conv1d_single'](x, w)[:-1]",
        "off by one",
    ),
    "single: integer output": (
        "conv1d_single",
        "def conv1d_single(x, w):\n    return _sol['conv1d_single'](x, w).astype(int)",
        "integer dtype",
    ),
    "single: no return": (
        "conv1d_single",
        "def conv1d_single(x, w):\n    _sol['conv1d_single'](x, w)",
        "forget to `return`",
    ),
    "single: a list": (
        "conv1d_single",
        "def conv1d_single(x, w):\n    return list(_sol['conv1d_single'](x, w))",
        "is a list",
    ),
    "single: padded to the same length": (
        "conv1d_single",
        "def conv1d_single(x, w):\n    return conv1d(np.asarray(x)[None, None], np.asarray(w)[None, None], padding='same')[0, 0]",
        "zero-padded to keep its length",
    ),
    "single: np.convolve": (
        "conv1d_single",
        "def conv1d_single(x, w):\n    return np.convolve(x, np.asarray(w)[::-1], 'valid')",
        "numpy.convolve is not allowed",
    ),
    "single: captured reference": (
        "conv1d_single",
        "from course_utils.reference import conv1d as _ref\n"
        "def conv1d_single(x, w):\n    return _ref(np.asarray(x)[None, None], np.asarray(w)[None, None])[0, 0]",
        "not allowed",
    ),
    "single: flips w in place": (
        "conv1d_single",
        "def conv1d_single(x, w):\n    w[:] = w[::-1].copy()\n    return _sol['conv1d_single'](x, w[::-1])",
        "in place",
    ),
    # conv_output_size
    "size: ceil": (
        "conv_output_size",
        "import math\ndef conv_output_size(n, k, stride=1, padding=0, dilation=1):\n"
        "    return math.ceil((n + 2 * padding - dilation * (k - 1) - 1) / stride) + 1",
        "ceil instead of floor",
    ),
    "size: padding once": (
        "conv_output_size",
        "def conv_output_size(n, k, stride=1, padding=0, dilation=1):\n    return (n + padding - dilation * (k - 1) - 1) // stride + 1",
        "padding counted once",
    ),
    "size: dilation ignored": (
        "conv_output_size",
        "def conv_output_size(n, k, stride=1, padding=0, dilation=1):\n    return (n + 2 * padding - k) // stride + 1",
        "dilation ignored",
    ),
    "size: true division": (
        "conv_output_size",
        "def conv_output_size(n, k, stride=1, padding=0, dilation=1):\n    return (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1",
        "is a float",
    ),
    "size: no + 1": (
        "conv_output_size",
        "def conv_output_size(n, k, stride=1, padding=0, dilation=1):\n    return (n + 2 * padding - dilation * (k - 1) - 1) // stride",
        "'+ 1' is missing",
    ),
    "size: no stride check": (
        "conv_output_size errors",
        "def conv_output_size(n, k, stride=1, padding=0, dilation=1):\n    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1",
        "but should raise ValueError (stride must be >= 1)",
    ),
    # same_padding
    "same: extra zero first": (
        "same_padding",
        "def same_padding(n, k, stride=1, dilation=1):\n    return _sol['same_padding'](n, k, stride, dilation)[::-1]",
        "extra zero is placed first",
    ),
    "same: no clamp": (
        "same_padding",
        "def same_padding(n, k, stride=1, dilation=1):\n"
        "    total = (-(-n // stride) - 1) * stride + dilation * (k - 1) + 1 - n\n    return total // 2, total - total // 2",
        "not clamped at 0",
    ),
    "same: stride ignored": (
        "same_padding",
        "def same_padding(n, k, stride=1, dilation=1):\n    total = dilation * (k - 1)\n    return total // 2, total - total // 2",
        "the stride is ignored",
    ),
    "same: returns the total": (
        "same_padding",
        "def same_padding(n, k, stride=1, dilation=1):\n    return sum(_sol['same_padding'](n, k, stride, dilation))",
        "one number",
    ),
    "same: uses course_utils.arithmetic": (
        "same_padding",
        "def same_padding(n, k, stride=1, dilation=1):\n    return cu.arithmetic.same_padding(n, k, stride, dilation)",
        "course_utils.arithmetic.same_padding is not allowed",
    ),
    # conv_transpose_output_size
    "transpose: output_padding ignored": (
        "conv_transpose_output_size",
        "def conv_transpose_output_size(n, k, stride=1, padding=0, output_padding=0, dilation=1):\n"
        "    return _sol['conv_transpose_output_size'](n, k, stride, padding, 0, dilation)",
        "output_padding is ignored",
    ),
    "transpose: n * stride": (
        "conv_transpose_output_size",
        "def conv_transpose_output_size(n, k, stride=1, padding=0, output_padding=0, dilation=1):\n"
        "    return n * stride - 2 * padding + dilation * (k - 1) + output_padding + 1",
        "n * stride instead of (n - 1) * stride",
    ),
    "transpose: no output_padding check": (
        "conv_transpose_output_size errors",
        "def conv_transpose_output_size(n, k, stride=1, padding=0, output_padding=0, dilation=1):\n"
        "    return (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1",
        "should raise ValueError (output_padding must be smaller",
    ),
    # conv1d
    "conv1d: flipped kernel": (
        "conv1d single_channel",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    return _sol['conv1d'](x, np.asarray(w)[..., ::-1], b, stride, padding, dilation)",
        "the kernel is flipped",
    ),
    "conv1d: off by one": (
        "conv1d single_channel",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    return _sol['conv1d'](x, w, b, stride, padding, dilation)[..., :-1]",
        "last output position is missing",
    ),
    "conv1d: bias missing": (
        "conv1d channels_bias",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n    return _sol['conv1d'](x, w, None, stride, padding, dilation)",
        "the bias is missing",
    ),
    "conv1d: first channel only": (
        "conv1d channels_bias",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    return _sol['conv1d'](x[:, :1], w[:, :1], b, stride, padding, dilation)",
        "only the first input channel",
    ),
    "conv1d: overwrite instead of accumulate": (
        "conv1d channels_bias",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    return _sol['conv1d'](x[:, -1:], w[:, -1:], b, stride, padding, dilation)",
        "overwrote the previous one",
    ),
    "conv1d: stride ignored": (
        "conv1d stride_padding",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n    return _sol['conv1d'](x, w, b, 1, padding, dilation)",
        "the stride is ignored",
    ),
    "conv1d: dilation ignored": (
        "conv1d dilation",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n    return _sol['conv1d'](x, w, b, stride, padding, 1)",
        "dilation ignored",
    ),
    "conv1d: padding at the start only": (
        "conv1d stride_padding",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    x = np.pad(x, [(0, 0), (0, 0), (padding, 0)])\n    return _sol['conv1d'](x, w, b, stride, 0, dilation)",
        "zeros added at the start only",
    ),
    "conv1d: same with the extra zero first": (
        "conv1d padding_modes",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    if padding == 'same':\n"
        "        after, before = same_padding(x.shape[-1], w.shape[-1], stride, dilation)\n"
        "        x, padding = np.pad(x, [(0, 0), (0, 0), (before, after)]), 0\n"
        "    return _sol['conv1d'](x, w, b, stride, padding, dilation)",
        "'same' put the extra zero first",
    ),
    "conv1d: same ignores the stride": (
        "conv1d padding_modes",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    if padding == 'same':\n"
        "        before, after = same_padding(x.shape[-1], w.shape[-1], 1, dilation)\n"
        "        x, padding = np.pad(x, [(0, 0), (0, 0), (before, after)]), 0\n"
        "    return _sol['conv1d'](x, w, b, stride, padding, dilation)",
        "'same' ignores the stride",
    ),
    "conv1d: full ignores the dilation": (
        "conv1d padding_modes",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    if padding == 'full':\n        padding = w.shape[-1] - 1\n"
        "    return _sol['conv1d'](x, w, b, stride, padding, dilation)",
        "'full' ignores the dilation",
    ),
    "conv1d: torch shortcut": (
        "conv1d single_channel",
        "import torch\ndef conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    t = lambda a: None if a is None else torch.as_tensor(a, dtype=torch.float64)\n"
        "    return torch.nn.functional.conv1d(t(x), t(w), t(b), stride, padding, dilation).numpy()",
        "torch.nn.functional.conv1d is not allowed",
    ),
    "conv1d: no channel check": (
        "conv1d errors",
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    if x.shape[1] != w.shape[1]:\n        return np.zeros((x.shape[0], w.shape[0], 1))\n"
        "    return _sol['conv1d'](x, w, b, stride, padding, dilation)",
        "should raise ValueError (x has 2 channels, w expects 3)",
    ),
    # im2col
    "im2col: kernel-major rows": (
        "im2col_1d",
        "def im2col_1d(x, k, stride=1, dilation=1):\n"
        "    cols = _sol['im2col_1d'](x, k, stride, dilation)\n    n, ck, l = cols.shape\n"
        "    return cols.reshape(n, ck // k, k, l).transpose(0, 2, 1, 3).reshape(n, ck, l)",
        "tap first (kernel-major)",
    ),
    "im2col: rows instead of columns": (
        "im2col_1d",
        "def im2col_1d(x, k, stride=1, dilation=1):\n    return _sol['im2col_1d'](x, k, stride, dilation).transpose(0, 2, 1)",
        "is a row, not a column",
    ),
    "im2col: stride ignored": (
        "im2col_1d",
        "def im2col_1d(x, k, stride=1, dilation=1):\n    return _sol['im2col_1d'](x, k, 1, dilation)",
        "the stride is ignored",
    ),
    # conv1d_im2col
    "im2col conv: wrong reshape": (
        "conv1d_im2col",
        "def conv1d_im2col(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    w = np.asarray(w, dtype=float)\n    c_out, c_in, k = w.shape\n"
        "    cols = im2col_1d(pad_1d(np.asarray(x, dtype=float), k, stride, padding, dilation), k, stride, dilation)\n"
        "    flat = cols.transpose(1, 0, 2).reshape(c_in * k, -1)\n"
        "    y = (w.reshape(c_out, -1) @ flat).reshape(x.shape[0], c_out, -1)\n"
        "    return y if b is None else y + np.asarray(b)[:, None]",
        "wrong reshape of the product",
    ),
    "im2col conv: weights flattened tap first": (
        "conv1d_im2col",
        "def conv1d_im2col(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    w = np.asarray(w, dtype=float)\n    c_out, c_in, k = w.shape\n"
        "    cols = im2col_1d(pad_1d(np.asarray(x, dtype=float), k, stride, padding, dilation), k, stride, dilation)\n"
        "    y = w.transpose(0, 2, 1).reshape(c_out, c_in * k) @ cols\n"
        "    return y if b is None else y + np.asarray(b)[:, None]",
        "flattened tap first",
    ),
    "im2col conv: calls the loop version": (
        "conv1d_im2col",
        "def conv1d_im2col(x, w, b=None, stride=1, padding=0, dilation=1):\n    return conv1d(x, w, b, stride, padding, dilation)",
        "called your loop version conv1d",
    ),
    "im2col conv: one im2col per signal": (
        "conv1d_im2col",
        "def conv1d_im2col(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    w = np.asarray(w, dtype=float)\n    c_out, c_in, k = w.shape\n"
        "    x_pad = pad_1d(np.asarray(x, dtype=float), k, stride, padding, dilation)\n"
        "    y = np.stack([w.reshape(c_out, -1) @ im2col_1d(x_pad[i:i + 1], k, stride, dilation)[0] for i in range(len(x))])\n"
        "    return y if b is None else y + np.asarray(b)[:, None]",
        "called im2col_1d 2 times",
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


@pytest.mark.parametrize("cases", ["visible", "hidden"])
def test_a_vague_error_message_earns_the_points_with_advice(cases):
    """Any ValueError passes an argument check; a message that names nothing is printed as advice."""
    fn = variant(
        "def conv_output_size(n, k, stride=1, padding=0, dilation=1):\n"
        "    if stride < 1 or padding < 0 or dilation < 1 or dilation * (k - 1) + 1 > n + 2 * padding:\n"
        "        raise ValueError('bad input')\n"
        "    return _sol['conv_output_size'](n, k, stride, padding, dilation)"
    )
    output = run_quietly(lambda: checks.check_argument_errors(fn, "conv_output_size", cases))
    assert f"{cases} cases passed" in output
    assert "Advice" in output and "raised ValueError('bad input')" in output
    assert "mention 'stride'" in output


def test_failure_messages_name_the_call():
    flipped = variant(BUGS["conv1d: flipped kernel"][1])
    with pytest.raises(AssertionError) as info:
        run_quietly(lambda: checks.check_conv1d(flipped, "single_channel"))
    message = str(info.value)
    assert message.startswith(
        "conv1d(array of shape (1, 1, 6), array of shape (1, 1, 3), None, stride=1, padding=0"
    )
    assert "expect [[[7, 8, 16, 14]]]" in message
    assert "First difference at index (0, 0, 0): got 8, expected 7" in message, message


def test_shortcuts_are_library_shortcut_errors():
    cheat = variant(BUGS["single: np.convolve"][1])
    with pytest.raises(LibraryShortcutError, match="implement the convolution yourself"):
        run_quietly(lambda: checks.check_conv1d_single(cheat))


def test_im2col_reference_matches_the_product_with_the_flattened_kernel():
    import numpy as np

    from course_utils import reference

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 11)), rng.standard_normal((4, 3, 3))
    cols = checks.im2col_1d_reference(x, 3, stride=2, dilation=2)
    np.testing.assert_allclose(
        w.reshape(4, -1) @ cols, reference.conv1d(x, w, stride=2, dilation=2), rtol=1e-12
    )


def test_checkers_reject_bad_arguments():
    fn = SOLUTIONS["conv1d"]
    with pytest.raises(ValueError, match="cases"):
        checks.check_conv1d(fn, "single_channel", cases="secret")
    with pytest.raises(ValueError, match="feature"):
        checks.check_conv1d(fn, "everything")
    with pytest.raises(ValueError, match="function"):
        checks.check_argument_errors(fn, "conv2d")
    with pytest.raises(ValueError, match="seed"):
        checks.check_conv1d_single(SOLUTIONS["conv1d_single"], seed=-1)
