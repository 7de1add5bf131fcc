"""Assignment 1 (solutions/assignment1/conv1d.ipynb): deliberately buggy solutions must lose points.

Each bug edits one solution cell of the source notebook (the other solutions stay correct); the
notebook's code cells, hidden tests included, then run in this process (no Jupyter kernel) and are
scored as nbgrader scores them: a test cell earns its points iff it raises nothing and writes
nothing to stderr. Also checked here: the correct notebook earns every point, the release
(solutions cleared, hidden tests removed) earns none, and the points table in the title cell
matches the nbgrader metadata. The runner is shared with the other assignments
(``notebook_scoring.py``).
"""

from __future__ import annotations

import pytest
from notebook_scoring import bug, remove, scored_notebook

NOTEBOOK = scored_notebook("assignment1")
TEST_POINTS = NOTEBOOK.points

STRIDE_CHECK = (
    'if stride < 1:\n        raise ValueError(f"stride must be >= 1, got {stride}")\n    '
)

BUGS = {
    # Part A
    "conv1d_single: off by one (range(L - K))": bug(
        "conv1d-single",
        ("for t in range(length - k + 1):", "for t in range(length - k):"),
        fails="test_conv1d_single",
    ),
    "conv1d_single: flipped kernel (convolution)": bug(
        "conv1d-single",
        ("y[t] += w[i] * x[t + i]", "y[t] += w[k - 1 - i] * x[t + i]"),
        fails="test_conv1d_single",
    ),
    "conv1d_single: integer output for integer input (np.zeros_like)": bug(
        "conv1d-single",
        ("x = np.asarray(x, dtype=float)", "x = np.asarray(x)"),
        ("y = np.zeros(length - k + 1)", "y = np.zeros_like(x, shape=(length - k + 1,))"),
        fails="test_conv1d_single",
    ),
    "conv1d_single: np.convolve shortcut (captured reference)": bug(
        "conv1d-single",
        (
            None,
            "from numpy import convolve as _convolve\n\n\ndef conv1d_single(x, w):\n    return _convolve(x, w[::-1], 'valid')",
        ),
        fails="test_conv1d_single",
    ),
    # Part B
    "conv_output_size: ceil instead of floor": bug(
        "conv-output-size",
        (
            "return (n + 2 * padding - span) // stride + 1",
            "return -(-(n + 2 * padding - span) // stride) + 1",
        ),
        fails="test_conv_output_size",
    ),
    "conv_output_size: padding counted once": bug(
        "conv-output-size",
        (
            "return (n + 2 * padding - span) // stride + 1",
            "return (n + padding - span) // stride + 1",
        ),
        fails="test_conv_output_size",
    ),
    "conv_output_size: dilation ignored": bug(
        "conv-output-size",
        ("span = dilation * (k - 1) + 1  # inputs", "span = k  # inputs"),
        fails="test_conv_output_size",
    ),
    "conv_output_size: missing stride check": bug(
        "conv-output-size", remove(STRIDE_CHECK), fails="test_part_b_errors"
    ),
    "conv_output_size: missing kernel-length check": bug(
        "conv-output-size",
        remove(
            "if span > n + 2 * padding:\n"
            "        raise ValueError(\n"
            '            f"kernel (span {span}) is larger than the padded input ({n} + 2*{padding})"\n'
            "        )\n"
            "    "
        ),
        fails="test_part_b_errors",
    ),
    "conv_output_size: uses course_utils.arithmetic": bug(
        "conv-output-size",
        (
            None,
            "def conv_output_size(n, k, stride=1, padding=0, dilation=1):\n"
            "    return cu.arithmetic.conv_output_size(n, k, stride, padding, dilation)",
        ),
        fails="test_conv_output_size test_part_b_errors",
    ),
    "same_padding: extra zero first": bug(
        "same-padding",
        ("return total // 2, total - total // 2", "return total - total // 2, total // 2"),
        fails="test_same_padding test_conv1d_padding_modes test_conv1d_im2col",
    ),
    "same_padding: total not clamped at 0": bug(
        "same-padding",
        ("total = max((out - 1) * stride + span - n, 0)", "total = (out - 1) * stride + span - n"),
        fails="test_same_padding test_conv1d_padding_modes",
    ),
    "same_padding: floor instead of ceil for the output": bug(
        "same-padding",
        ("out = -(-n // stride)", "out = n // stride"),
        fails="test_same_padding test_conv1d_padding_modes",
    ),
    "same_padding: stride ignored (total k - 1)": bug(
        "same-padding",
        ("total = max((out - 1) * stride + span - n, 0)", "total = span - 1"),
        fails="test_same_padding test_conv1d_padding_modes",
    ),
    # Part C
    "conv1d: padding on one side only": bug(
        "conv1d",
        ("[(before, after)])", "[(before + after, 0)])"),
        fails="test_conv1d_stride_padding test_conv1d_padding_modes test_conv1d_im2col",
    ),
    "conv1d: stride ignored": bug(
        "conv1d",
        ("start = t * stride", "start = t"),
        fails="test_conv1d_stride_padding test_conv1d_padding_modes",
    ),
    "conv1d: dilation ignored": bug(
        "conv1d",
        (
            "window = x_pad[:, :, start : start + span : dilation]",
            "window = x_pad[:, :, start : start + k]",
        ),
        fails="test_conv1d_dilation",
    ),
    "conv1d: bias missing": bug(
        "conv1d",
        ("y += np.asarray(b, dtype=float)[None, :, None]", "pass"),
        fails="test_conv1d_channels_bias",
    ),
    "conv1d: only the first input channel": bug(
        "conv1d", ("for c in range(c_in):", "for c in range(1):"), fails="test_conv1d_channels_bias"
    ),
    "conv1d: overwrite instead of accumulate across channels": bug(
        "conv1d",
        (
            "y[:, :, t] += window[:, c, :] @ w[:, c, :].T",
            "y[:, :, t] = window[:, c, :] @ w[:, c, :].T",
        ),
        fails="test_conv1d_channels_bias",
    ),
    "conv1d: kernel flipped (convolution)": bug(
        "conv1d",
        (
            "y[:, :, t] += window[:, c, :] @ w[:, c, :].T",
            "y[:, :, t] += window[:, c, ::-1] @ w[:, c, :].T",
        ),
        fails="test_conv1d_single_channel test_conv1d_channels_bias test_conv1d_stride_padding",
    ),
    "conv1d: 'full' ignores the dilation": bug(
        "conv1d",
        ("before = after = dilation * (k - 1)", "before = after = k - 1"),
        fails="test_conv1d_padding_modes test_conv1d_im2col",
    ),
    "conv1d: 'valid' and 'full' swapped": bug(
        "conv1d",
        ('if padding == "valid":', 'if padding == "full":'),
        ('elif padding == "full":', 'elif padding == "valid":'),
        fails="test_conv1d_padding_modes",
    ),
    "conv1d: missing channel check": bug(
        "conv1d",
        remove(
            'if x.shape[1] != c_in:\n        raise ValueError(f"channel mismatch: x has {x.shape[1]} channels, w expects {c_in}")\n    '
        ),
        fails="test_conv1d_errors",
    ),
    "conv1d: unknown padding mode accepted": bug(
        "conv1d",
        (
            "raise ValueError(\n"
            "                f\"unknown padding mode {padding!r}: use an int, 'valid', 'same' or 'full'\"\n"
            "            )",
            "before = after = 0",
        ),
        fails="test_conv1d_errors",
    ),
    # (removing the check alone is no longer a bug: np.pad's own ValueError is a ValueError)
    "conv1d: negative padding accepted (abs)": bug(
        "conv1d",
        (
            'elif padding < 0:\n        raise ValueError(f"padding must be >= 0, got {padding}")\n'
            "    else:\n        before = after = padding",
            "else:\n        before = after = abs(padding)",
        ),
        fails="test_conv1d_errors",
    ),
    # (removing a check that numpy then makes for you, with its own ValueError, is not a bug any
    # more: any ValueError earns the argument checks; an empty result instead of an error is)
    "conv1d: kernel longer than the input gives an empty result": bug(
        "conv1d",
        (
            "l_out = (x_pad.shape[-1] - span) // stride + 1",
            "l_out = max((x_pad.shape[-1] - span) // stride + 1, 0)",
        ),
        remove(
            "if span > x_pad.shape[-1]:\n"
            "        raise ValueError(\n"
            '            f"kernel (span {span}) is larger than the padded input ({x_pad.shape[-1]})"\n'
            "        )\n"
            "    "
        ),
        fails="test_conv1d_errors",
    ),
    # (a missing dilation check is no longer a bug: numpy's slice refuses the step 0 with a
    # ValueError of its own, and any ValueError earns the argument checks)
    "conv1d: torch.nn.functional.conv1d shortcut": bug(
        "conv1d",
        (
            None,
            "import torch\n\n\ndef conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
            "    t = lambda a: None if a is None else torch.as_tensor(a, dtype=torch.float64)\n"
            "    return torch.nn.functional.conv1d(t(x), t(w), t(b), stride, padding, dilation).numpy()",
        ),
        fails="test_conv1d_single_channel test_conv1d_channels_bias test_conv1d_dilation",
    ),
    # Part D
    "im2col_1d: kernel-major rows": bug(
        "im2col-1d",
        ("cols = np.empty((n, c, k, l_out))", "cols = np.empty((n, k, c, l_out))"),
        ("cols[:, :, i, :] = x", "cols[:, i, :, :] = x"),
        fails="test_im2col_1d test_conv1d_im2col",
    ),
    "im2col_1d: stride ignored": bug(
        "im2col-1d",
        ("start : start + (l_out - 1) * stride + 1 : stride]", "start : start + l_out]"),
        fails="test_im2col_1d test_conv1d_im2col",
    ),
    "im2col_1d: dilation ignored": bug(
        "im2col-1d",
        ("start = i * dilation", "start = i"),
        fails="test_im2col_1d test_conv1d_im2col",
    ),
    "im2col_1d: kernel longer than the input gives empty columns": bug(
        "im2col-1d",
        ("l_out = (length - span) // stride + 1", "l_out = max((length - span) // stride + 1, 0)"),
        remove(
            'if span > length:\n        raise ValueError(f"kernel (span {span}) is larger than the input ({length})")\n    '
        ),
        fails="test_conv1d_errors",
    ),
    "conv1d_im2col: wrong reshape of the product": bug(
        "conv1d-im2col",
        (
            "y = w.reshape(c_out, c_in * k) @ cols",
            "y = (w.reshape(c_out, c_in * k) @ cols.transpose(1, 0, 2).reshape(c_in * k, -1)).reshape(x.shape[0], c_out, -1)",
        ),
        fails="test_conv1d_im2col",
    ),
    "conv1d_im2col: weights flattened tap first": bug(
        "conv1d-im2col",
        (
            "y = w.reshape(c_out, c_in * k) @ cols",
            "y = w.transpose(0, 2, 1).reshape(c_out, c_in * k) @ cols",
        ),
        fails="test_conv1d_im2col",
    ),
    "conv1d_im2col: calls the loop version": bug(
        "conv1d-im2col",
        (
            "y = w.reshape(c_out, c_in * k) @ cols",
            "y = conv1d(x, w, None, stride, padding, dilation)",
        ),
        fails="test_conv1d_im2col",
    ),
    "conv1d_im2col: bias on the wrong axis": bug(
        "conv1d-im2col",
        ("y = y + np.asarray(b, dtype=float)[:, None]", "y = y + np.asarray(b, dtype=float)"),
        fails="test_conv1d_im2col",
    ),
    # Part E
    "conv_transpose_output_size: output_padding ignored": bug(
        "conv-transpose-output-size",
        ("+ dilation * (k - 1) + output_padding + 1", "+ dilation * (k - 1) + 1"),
        fails="test_conv_transpose_output_size",
    ),
    "conv_transpose_output_size: missing output_padding check": bug(
        "conv-transpose-output-size",
        ("if output_padding >= max(stride, dilation):", "if False:"),
        fails="test_conv_transpose_output_size_errors",
    ),
    "conv_transpose_output_size: dilation ignored": bug(
        "conv-transpose-output-size",
        ("- 2 * padding + dilation * (k - 1) +", "- 2 * padding + (k - 1) +"),
        fails="test_conv_transpose_output_size",
    ),
    "conv_transpose_output_size: padding counted once": bug(
        "conv-transpose-output-size",
        ("- 2 * padding + dilation", "- padding + dilation"),
        fails="test_conv_transpose_output_size",
    ),
}


@pytest.mark.parametrize("name", list(BUGS))
def test_buggy_solution_loses_points(name):
    NOTEBOOK.assert_bug_loses_points(name, BUGS[name])


@pytest.mark.parametrize("mode", ["plain", "none"])
def test_right_mathematics_with_plain_errors_keeps_most_points(mode):
    """A student whose functions are right but whose errors say only "bad input" (or who raises none)."""
    result = NOTEBOOK.run(sources=NOTEBOOK.plain_errors_sources(mode))
    assert result.score >= 0.85 * NOTEBOOK.total, result.failed
    if mode == "plain":  # any ValueError earns the argument checks
        assert result.score == NOTEBOOK.total, result.failed


def test_argument_errors_weigh_at_most_15_percent():
    errors = sum(points for cell, points in TEST_POINTS.items() if cell.endswith("_errors"))
    assert 0 < errors <= 0.15 * NOTEBOOK.total


def test_enough_bugs_cover_every_test_cell():
    assert len(BUGS) >= 15
    assert set().union(*(b.must_fail for b in BUGS.values())) == set(TEST_POINTS)


def test_written_answers_ask_what_this_assignment_teaches():
    answers = NOTEBOOK.written_answers()
    assert len(answers) == 2
