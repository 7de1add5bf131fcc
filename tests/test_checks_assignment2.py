"""course_utils.checks (Assignment 2): the checkers accept the notebook's solutions and name typical 2-D bugs."""

from __future__ import annotations

import functools
from collections.abc import Callable

import notebook_scoring
import numpy as np
import pytest
from notebook_scoring import run_quietly, solution_namespace

from course_utils import checks, reference
from course_utils.checks.toolkit import LibraryShortcutError

SOLUTIONS = solution_namespace("assignment2")


def variant(source: str) -> Callable:
    """Define a (buggy) function in a copy of the solutions' namespace."""
    return notebook_scoring.variant(SOLUTIONS, source)


def _feature(feature: str, fn: Callable, cases: str) -> None:
    checks.check_conv2d(fn, feature, cases, 5)


def _errors(function: str, fn: Callable, cases: str) -> None:
    checks.check_argument_errors_2d(fn, function, cases)


CHECKS = {
    "conv2d_single": lambda fn, cases: checks.check_conv2d_single(fn, cases, 1),
    **{f"conv2d {f}": functools.partial(_feature, f) for f in checks.CONV2D_FEATURES},
    **{f"{f} errors": functools.partial(_errors, f) for f in checks.ERROR_FUNCTIONS_2D},
    "im2col_2d": lambda fn, cases: checks.check_im2col_2d(fn, cases, 2),
    "conv2d_im2col": lambda fn, cases: checks.check_conv2d_im2col(fn, cases, 3),
    "max_pool2d": lambda fn, cases: checks.check_max_pool2d(fn, cases, 4),
    "avg_pool2d": lambda fn, cases: checks.check_avg_pool2d(fn, cases, 5),
    "depthwise_separable_conv2d": lambda fn, cases: checks.check_depthwise_separable_conv2d(
        fn, cases, 6
    ),
    "conv2d_parameters": lambda fn, cases: checks.check_conv2d_parameters(fn, cases, 7),
    "conv2d_multiplications": lambda fn, cases: checks.check_conv2d_multiplications(fn, cases, 8),
    "receptive_field": lambda fn, cases: checks.check_receptive_field(fn, cases, 9),
    "conv2d_torch": lambda fn, cases: checks.check_conv2d_torch(fn, cases, 10),
}


@pytest.mark.parametrize("cases", ["visible", "hidden"])
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_checkers_accept_the_solutions(name, cases):
    function = SOLUTIONS[name.split()[0]]
    output = run_quietly(lambda: CHECKS[name](function, cases))
    assert f"{cases} cases passed" in output


CONV = "def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):\n"
IM2COL_CONV = "def conv2d_im2col(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):\n"
TORCH = "def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):\n"
PAIR = "    s = (stride, stride) if isinstance(stride, int) else stride\n"

# (checker, the buggy function's source, a phrase its failure message must contain)
BUGS = {
    "single: flipped kernel": (
        "conv2d_single",
        "def conv2d_single(x, w):\n    return _sol['conv2d_single'](x, np.asarray(w)[::-1, ::-1])",
        "the kernel is flipped",
    ),
    "single: transposed kernel": (
        "conv2d_single",
        "def conv2d_single(x, w):\n    return _sol['conv2d_single'](x, np.asarray(w).T)",
        "the kernel is transposed",
    ),
    "single: last row missing": (
        "conv2d_single",
        "def conv2d_single(x, w):\n    return _sol['conv2d_single'](x, w)[:-1]",
        "last output row is missing",
    ),
    "single: scipy shortcut": (
        "conv2d_single",
        "import scipy.signal\ndef conv2d_single(x, w):\n    return scipy.signal.correlate2d(x, w, 'valid')",
        "is not allowed",
    ),
    "conv2d: flipped kernel": (
        "conv2d channels_bias",
        CONV
        + "    return _sol['conv2d'](x, np.asarray(w)[..., ::-1, ::-1], b, stride, padding, dilation, groups)",
        "the kernel is flipped",
    ),
    "conv2d: bias on the width axis": (
        "conv2d channels_bias",
        CONV + "    y = _sol['conv2d'](x, w, None, stride, padding, dilation, groups)\n"
        "    return y if b is None else y + np.asarray(b)[None, None, None, :]",
        "the bias is added along the width axis",
    ),
    "conv2d: first channel only": (
        "conv2d channels_bias",
        CONV
        + "    return _sol['conv2d'](x[:, :1], w[:, :1], b, stride, padding, dilation, groups)",
        "only the first input channel",
    ),
    "conv2d: stride H/W swapped": (
        "conv2d stride_padding",
        CONV + PAIR + "    return _sol['conv2d'](x, w, b, s[::-1], padding, dilation, groups)",
        "height and width are swapped in the stride",
    ),
    "conv2d: padding H/W swapped": (
        "conv2d stride_padding",
        CONV + "    p = padding[::-1] if isinstance(padding, tuple) else padding\n"
        "    return _sol['conv2d'](x, w, b, stride, p, dilation, groups)",
        "height and width are swapped in the padding",
    ),
    "conv2d: padding at the top and left only": (
        "conv2d stride_padding",
        CONV + "    ph, pw = (padding, padding) if isinstance(padding, int) else padding\n"
        "    x = np.pad(x, [(0, 0), (0, 0), (2 * ph, 0), (2 * pw, 0)])\n"
        "    return _sol['conv2d'](x, w, b, stride, 0, dilation, groups)",
        "zeros added at the top and left only",
    ),
    "conv2d: stride on one axis": (
        "conv2d stride_padding",
        CONV + PAIR + "    return _sol['conv2d'](x, w, b, (s[0], 1), padding, dilation, groups)",
        "one axis only (the height)",
    ),
    "conv2d: dilation ignored": (
        "conv2d dilation",
        CONV + "    return _sol['conv2d'](x, w, b, stride, padding, 1, groups)",
        "dilation ignored",
    ),
    "conv2d: dilation on the height only": (
        "conv2d dilation",
        CONV + "    d = (dilation, dilation) if isinstance(dilation, int) else dilation\n"
        "    return _sol['conv2d'](x, w, b, stride, padding, (d[0], 1), groups)",
        "dilation applied on the height axis only",
    ),
    "conv2d: same extra zero at the top/left": (
        "conv2d padding_modes",
        CONV + "    if padding == 'same':\n"
        "        (t, bo), (le, r) = padding_2d(x.shape[2:], w.shape[2:], stride, 'same', dilation)\n"
        "        x, padding = np.pad(x, [(0, 0), (0, 0), (bo, t), (r, le)]), 0\n"
        "    return _sol['conv2d'](x, w, b, stride, padding, dilation, groups)",
        "'same' put the extra zero at the top/left",
    ),
    "conv2d: groups o % G": (
        "conv2d groups",
        CONV + "    f, g = w.shape[0], groups\n"
        "    y = _sol['conv2d'](x, w, b, stride, padding, dilation, groups)\n"
        "    order = [o for o in range(f)]\n"
        "    blocks = [_sol['conv2d'](x[:, (o % g) * (x.shape[1] // g):(o % g + 1) * (x.shape[1] // g)], w[o:o + 1], None, stride, padding, dilation) for o in order]\n"
        "    y = np.concatenate(blocks, axis=1)\n"
        "    return y if b is None else y + np.asarray(b)[None, :, None, None]",
        "output channel o belongs to group o // (F // groups)",
    ),
    "conv2d: no channel check": (
        "conv2d errors",
        CONV + "    if x.shape[1] != w.shape[1] * groups:\n        return np.zeros((1, 1, 1, 1))\n"
        "    return _sol['conv2d'](x, w, b, stride, padding, dilation, groups)",
        "should raise ValueError (x has 6 channels",
    ),
    "conv2d: torch shortcut": (
        "conv2d channels_bias",
        "import torch\n"
        + CONV
        + "    t = lambda a: None if a is None else torch.as_tensor(a, dtype=torch.float64)\n"
        "    return torch.nn.functional.conv2d(t(x), t(w), t(b), stride, padding, dilation, groups).numpy()",
        "torch.nn.functional.conv2d is not allowed",
    ),
    "im2col: (kh, kw, c) rows": (
        "im2col_2d",
        "def im2col_2d(x, kernel_size, stride=1, padding=0, dilation=1):\n"
        "    cols = _sol['im2col_2d'](x, kernel_size, stride, padding, dilation)\n"
        "    kh, kw = as_pair(kernel_size, 'k')\n    n, r, l = cols.shape\n"
        "    return cols.reshape(n, r // (kh * kw), kh, kw, l).transpose(0, 2, 3, 1, 4).reshape(n, r, l)",
        "(kernel row, kernel column, channel) order",
    ),
    "im2col: column-major positions": (
        "im2col_2d",
        "def im2col_2d(x, kernel_size, stride=1, padding=0, dilation=1):\n"
        "    cols = _sol['im2col_2d'](x, kernel_size, stride, padding, dilation)\n"
        "    h, w = output_size_2d(np.shape(x)[2:], kernel_size, stride, padding, dilation)\n"
        "    n, r, l = cols.shape\n"
        "    return cols.reshape(n, r, h, w).transpose(0, 1, 3, 2).reshape(n, r, l)",
        "column-major",
    ),
    "im2col: rows instead of columns": (
        "im2col_2d",
        "def im2col_2d(x, kernel_size, stride=1, padding=0, dilation=1):\n"
        "    return _sol['im2col_2d'](x, kernel_size, stride, padding, dilation).transpose(0, 2, 1)",
        "is a row, not a column",
    ),
    "im2col conv: wrong reshape of the product": (
        "conv2d_im2col",
        IM2COL_CONV
        + "    h, wo = output_size_2d(np.shape(x)[2:], w.shape[2:], stride, padding, dilation)\n"
        "    cols = im2col_2d(x, w.shape[2:], stride, padding, dilation)\n"
        "    y = np.asarray(w).reshape(w.shape[0], -1) @ cols\n"
        "    y = y.reshape(len(x), w.shape[0], wo, h).transpose(0, 1, 3, 2)\n"
        "    return y if b is None else y + np.asarray(b)[:, None, None]",
        "the output positions were reshaped in the wrong order",
    ),
    "im2col conv: calls the loop version": (
        "conv2d_im2col",
        IM2COL_CONV + "    return conv2d(x, w, b, stride, padding, dilation, groups)",
        "called your loop version conv2d",
    ),
    "im2col conv: one im2col per image": (
        "conv2d_im2col",
        IM2COL_CONV
        + "    h, wo = output_size_2d(np.shape(x)[2:], w.shape[2:], stride, padding, dilation)\n"
        "    k = np.asarray(w).reshape(w.shape[0], -1)\n"
        "    ys = [k @ im2col_2d(x[i : i + 1], w.shape[2:], stride, padding, dilation)[0] for i in range(len(x))]\n"
        "    y = np.stack(ys).reshape(len(x), w.shape[0], h, wo)\n"
        "    return y if b is None else y + np.asarray(b)[:, None, None]",
        "called im2col_2d 3 times",
    ),
    "im2col conv: a loop over the filters": (
        "conv2d_im2col",
        IM2COL_CONV + "    cols = im2col_2d(x, w.shape[2:], stride, padding, dilation)\n"
        "    h, wo = output_size_2d(x.shape[2:], w.shape[2:], stride, padding, dilation)\n"
        "    y = np.stack([w[o].reshape(-1) @ cols for o in range(w.shape[0])], axis=1)\n"
        "    y = y.reshape(len(x), w.shape[0], h, wo)\n"
        "    return y if b is None else y + np.asarray(b)[:, None, None]",
        "a Python loop over images, channels, filters or positions is hidden in it",
    ),
    "max pool: zero padding": (
        "max_pool2d",
        "def max_pool2d(x, kernel_size, stride=None, padding=0):\n"
        "    p = as_pair(padding, 'p')\n"
        "    x = np.pad(x, [(0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])])\n"
        "    return _sol['max_pool2d'](x, kernel_size, stride, 0)",
        "pad with -inf",
    ),
    "max pool: stride default 1": (
        "max_pool2d",
        "def max_pool2d(x, kernel_size, stride=None, padding=0):\n"
        "    return _sol['max_pool2d'](x, kernel_size, 1 if stride is None else stride, padding)",
        "the stride defaults to 1",
    ),
    "avg pool: count_include_pad ignored": (
        "avg_pool2d",
        "def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):\n"
        "    return _sol['avg_pool2d'](x, kernel_size, stride, padding, True)",
        "count_include_pad ignored",
    ),
    "avg pool: max instead": (
        "avg_pool2d",
        "def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):\n"
        "    return _sol['max_pool2d'](x, kernel_size, stride, padding)",
        "this is max pooling",
    ),
    "separable: stride in the 1x1 too": (
        "depthwise_separable_conv2d",
        "def depthwise_separable_conv2d(x, w_depthwise, w_pointwise, stride=1, padding=0):\n"
        "    y = conv2d(x, w_depthwise, stride=stride, padding=padding, groups=np.shape(x)[1])\n"
        "    return conv2d(y, w_pointwise, stride=stride)",
        "stride was applied in the 1x1 convolution too",
    ),
    "parameters: bias forgotten": (
        "conv2d_parameters",
        "def conv2d_parameters(c_in, c_out, kernel_size, bias=True, groups=1):\n"
        "    return _sol['conv2d_parameters'](c_in, c_out, kernel_size, False, groups)",
        "the bias is missing",
    ),
    "parameters: int kernel as 1-D": (
        "conv2d_parameters",
        "def conv2d_parameters(c_in, c_out, kernel_size, bias=True, groups=1):\n"
        "    k = (kernel_size, 1) if isinstance(kernel_size, int) else kernel_size\n"
        "    return _sol['conv2d_parameters'](c_in, c_out, k, bias, groups)",
        "an int kernel_size was read as one axis",
    ),
    "multiplications: groups ignored": (
        "conv2d_multiplications",
        "def conv2d_multiplications(input_size, c_in, c_out, kernel_size, stride=1, padding=0, dilation=1, groups=1):\n"
        "    return groups * _sol['conv2d_multiplications'](input_size, c_in, c_out, kernel_size, stride, padding, dilation, groups)",
        "groups ignored",
    ),
    "multiplications: padding once": (
        "conv2d_multiplications",
        "def conv2d_multiplications(input_size, c_in, c_out, kernel_size, stride=1, padding=0, dilation=1, groups=1):\n"
        "    h, w = as_pair(input_size, 'n')\n    ph, pw = as_pair(padding, 'p')\n"
        "    return _sol['conv2d_multiplications']((h - ph, w - pw), c_in, c_out, kernel_size, stride, padding, dilation, groups)",
        "padding counted once",
    ),
    "receptive field: own stride applied": (
        "receptive_field",
        "def receptive_field(layers):\n    field, jump = 1, 1\n    for k, s, d in layers:\n"
        "        jump *= s\n        field += d * (k - 1) * jump\n    return field, jump",
        "only the strides of the layers BEFORE it count",
    ),
    "receptive field: one number": (
        "receptive_field",
        "def receptive_field(layers):\n    return _sol['receptive_field'](layers)[0]",
        "returned one number",
    ),
    "torch: F.conv2d": (
        "conv2d_torch",
        TORCH + "    return F.conv2d(x, w, b, stride, padding, dilation, groups)",
        "torch.nn.functional.conv2d is not allowed",
    ),
    "torch: F.unfold": (
        "conv2d_torch",
        TORCH + "    cols = F.unfold(x, w.shape[2:], dilation, padding, stride)\n"
        "    return (w.reshape(w.shape[0], -1) @ cols).reshape(1, 1, 1, 1)",
        "torch.nn.functional.unfold is not allowed",
    ),
    "torch: numpy round trip": (
        "conv2d_torch",
        TORCH
        + "    y = conv2d_im2col(x.detach().cpu().numpy(), w.detach().cpu().numpy(), None, stride, padding, dilation, groups)\n"
        "    y = torch.as_tensor(y, device=x.device)\n    return y if b is None else y + b[:, None, None]",
        "autograd's graph",
    ),
    "torch: float32": (
        "conv2d_torch",
        TORCH
        + "    return _sol['conv2d_torch'](x.float(), w.float(), None if b is None else b.float(), stride, padding, dilation, groups)",
        "float64 inputs gave a torch.float32 result",
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


def test_failure_messages_name_the_call_and_the_expected_values():
    flipped = variant(BUGS["conv2d: flipped kernel"][1])
    with pytest.raises(AssertionError) as info:
        run_quietly(lambda: checks.check_conv2d(flipped, "channels_bias"))
    message = str(info.value)
    assert message.startswith("conv2d(array of shape (1, 1, 4, 4), array of shape (1, 1, 2, 2)")
    assert "Lecture 2's example" in message and "the kernel is flipped" in message


def test_shortcuts_are_library_shortcut_errors():
    cheat = variant(BUGS["torch: F.conv2d"][1])
    with pytest.raises(LibraryShortcutError, match="implement the convolution yourself"):
        run_quietly(lambda: checks.check_conv2d_torch(cheat))


def test_im2col_reference_matches_the_product_with_the_flattened_kernel():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((4, 3, 2, 3))
    options = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))
    cols = checks.im2col_2d_reference(x, (2, 3), **options)
    expected = reference.conv2d(x, w, **options)
    np.testing.assert_allclose(
        (w.reshape(4, -1) @ cols).reshape(expected.shape), expected, rtol=1e-9
    )


def test_the_decks_examples_are_right():
    sharpen = reference.conv2d(
        checks.assignment2.SHARPEN_IMAGE[None, None], checks.assignment2.SHARPEN_KERNEL[None, None]
    )
    assert np.array_equal(sharpen[0, 0], checks.assignment2.SHARPEN_OUTPUT)
    pool = checks.assignment2.POOL_INPUT[None, None]
    assert np.array_equal(reference.max_pool2d(pool, 2)[0, 0], checks.assignment2.POOL_MAX)
    assert np.array_equal(reference.avg_pool2d(pool, 2)[0, 0], checks.assignment2.POOL_AVG)


def test_checkers_reject_bad_arguments():
    fn = SOLUTIONS["conv2d"]
    with pytest.raises(ValueError, match="cases"):
        checks.check_conv2d(fn, "groups", cases="secret")
    with pytest.raises(ValueError, match="feature"):
        checks.check_conv2d(fn, "everything")
    with pytest.raises(ValueError, match="function"):
        checks.check_argument_errors_2d(fn, "conv1d")
    with pytest.raises(ValueError, match="seed"):
        checks.check_conv2d_single(SOLUTIONS["conv2d_single"], seed=-1)


def test_both_assignments_are_registered():
    assert {"assignment1", "assignment2"} <= set(checks.ASSIGNMENT_MODULES)
    assert callable(checks.check_conv1d) and callable(checks.check_conv2d)
