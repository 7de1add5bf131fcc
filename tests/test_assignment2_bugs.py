"""Assignment 2 (solutions/assignment2/conv2d.ipynb): typical 2-D bugs, injected one at a time, must lose points.

Each bug edits one solution cell of the source notebook (the other solutions stay correct); the
notebook's code cells, hidden tests included, then run in this process and are scored as nbgrader
scores them (``notebook_scoring.py``, shared with Assignment 1). Also checked: the correct
notebook earns every point, the release earns none, and the points table matches the metadata.
The ungraded speed cells (Part G) are skipped here; ``test_notebooks.py`` runs them.
"""

from __future__ import annotations

import pytest
from notebook_scoring import bug, scored_notebook

NOTEBOOK = scored_notebook("assignment2")
TEST_POINTS = NOTEBOOK.points

IM2COL = "test_im2col_2d test_conv2d_im2col"
Y_IM2COL = (
    "y = kernels @ cols  # (N, G, F/G, L): matmul broadcasts over the batch, one product per group"
)

BUGS = {
    # Part A
    "conv2d_single: kernel flipped (a textbook convolution)": bug(
        "conv2d-single",
        (
            "y[i, j] += w[a, b] * x[i + a, j + b]",
            "y[i, j] += w[kh - 1 - a, kw - 1 - b] * x[i + a, j + b]",
        ),
        fails="test_conv2d_single",
    ),
    "conv2d_single: kernel height and width swapped": bug(
        "conv2d-single",
        (
            "(height, width), (kh, kw) = x.shape, w.shape",
            "(height, width), (kw, kh) = x.shape, w.shape",
        ),
        fails="test_conv2d_single",
    ),
    "conv2d_single: last output row missing": bug(
        "conv2d-single",
        ("for i in range(y.shape[0]):", "for i in range(y.shape[0] - 1):"),
        fails="test_conv2d_single",
    ),
    # Part B
    "conv2d: H and W swapped in the stride": bug(
        "conv2d",
        ('sh, sw = as_pair(stride, "stride")', 'sw, sh = as_pair(stride, "stride")'),
        fails="test_conv2d_stride_padding",
    ),
    "conv2d: H and W swapped in the padding": bug(
        "conv2d",
        ('as_pair(padding, "padding")[len(pads)]', 'as_pair(padding, "padding")[1 - len(pads)]'),
        fails="test_conv2d_stride_padding",
    ),
    "conv2d: H and W swapped in the kernel size": bug(
        "conv2d",
        (
            "    f, c_group, kh, kw = w.shape\n    if groups",
            "    f, c_group, kw, kh = w.shape\n    if groups",
        ),
        fails="test_conv2d_channels_bias",
    ),
    "conv2d: H and W swapped in the dilation": bug(
        "conv2d",
        ('dh, dw = as_pair(dilation, "dilation")', 'dw, dh = as_pair(dilation, "dilation")'),
        fails="test_conv2d_dilation",
    ),
    "conv2d: padding on one side only (top/left)": bug(
        "conv2d",
        ("(top, bottom), (left, right)])", "(top + bottom, 0), (left + right, 0)])"),
        fails="test_conv2d_stride_padding test_conv2d_padding_modes",
    ),
    "conv2d: 'same' puts the extra zero at the top/left": bug(
        "conv2d",
        (
            "before, after = total // 2, total - total // 2",
            "before, after = total - total // 2, total // 2",
        ),
        fails=f"test_conv2d_padding_modes {IM2COL}",
    ),
    "conv2d: 'same' ignores the stride": bug(
        "conv2d",
        ("total = max((-(-n // s) - 1) * s + span - n, 0)", "total = span - 1"),
        fails="test_conv2d_padding_modes",
    ),
    "conv2d: 'full' ignores the dilation": bug(
        "conv2d",
        ("before = after = span - 1", "before = after = k - 1"),
        fails="test_conv2d_padding_modes",
    ),
    "conv2d: dilation applied on the width axis only": bug(
        "conv2d",
        (
            "rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)",
            "rows = slice(i * sh, i * sh + kh)",
        ),
        fails="test_conv2d_dilation",
    ),
    "conv2d: bias added on the wrong axis": bug(
        "conv2d",
        ("[None, :, None, None]", "[None, None, None, :]"),
        fails="test_conv2d_channels_bias",
    ),
    "conv2d: groups split wrongly (interleaved channels)": bug(
        "conv2d",
        ("patch = window[:, g * c_group : (g + 1) * c_group]", "patch = window[:, g::groups]"),
        fails="test_conv2d_groups",
    ),
    "conv2d: groups split wrongly (output channel o in group o % groups)": bug(
        "conv2d",
        ("y[:, g * f_group : (g + 1) * f_group, i, j] =", "y[:, g::groups, i, j] ="),
        fails="test_conv2d_groups",
    ),
    "conv2d: groups ignored (only the first group computed)": bug(
        "conv2d", ("for g in range(groups):", "for g in range(1):"), fails="test_conv2d_groups"
    ),
    "conv2d: kernel flipped": bug(
        "conv2d",
        (
            "kernels = w[g * f_group : (g + 1) * f_group]",
            "kernels = w[g * f_group : (g + 1) * f_group, :, ::-1, ::-1]",
        ),
        fails="test_conv2d_channels_bias test_conv2d_stride_padding",
    ),
    "conv2d: missing channel check": bug(
        "conv2d", ("    if c_group * groups != c:\n", "    if False:\n"), fails="test_conv2d_errors"
    ),
    "conv2d: missing groups check": bug(
        "conv2d",
        (
            '    if groups < 1 or c % groups or f % groups:\n        raise ValueError(f"groups ({groups}) must divide the channels ({c}) and filters ({f})")\n    if c_group * groups != c:\n        raise ValueError(f"channel mismatch',
            '    if c_group * groups != c:\n        raise ValueError(f"channel mismatch',
        ),
        fails="test_conv2d_errors",
    ),
    "conv2d: unknown padding mode accepted": bug(
        "conv2d",
        (
            "raise ValueError(f\"unknown padding mode {padding!r}: use 'valid', 'same' or 'full'\")",
            "before = after = 0",
        ),
        fails="test_conv2d_errors",
    ),
    "conv2d_parameters: groups that do not divide the channels accepted": bug(
        "conv2d-parameters",
        ("if groups < 1 or c_in % groups or c_out % groups:", "if groups < 1:"),
        fails="test_part_e_errors",
    ),
    # Part C
    "im2col_2d: rows in (kh, kw, c) order": bug(
        "im2col-2d",
        (
            "cols = np.empty((n, c, kh, kw, h_out, w_out), dtype=x.dtype)",
            "cols = np.empty((n, kh, kw, c, h_out, w_out), dtype=x.dtype)",
        ),
        (
            "cols[:, :, a, b] = x_pad[:, :, rows, columns]",
            "cols[:, a, b] = x_pad[:, :, rows, columns]",
        ),
        fails=IM2COL,
    ),
    "im2col_2d: columns column-major over positions": bug(
        "im2col-2d",
        (
            "return cols.reshape(n, c * kh * kw, h_out * w_out)",
            "return cols.transpose(0, 1, 2, 3, 5, 4).reshape(n, c * kh * kw, h_out * w_out)",
        ),
        fails=IM2COL,
    ),
    "im2col_2d: H and W swapped in the stride": bug(
        "im2col-2d",
        ('sh, sw = as_pair(stride, "stride")', 'sw, sh = as_pair(stride, "stride")'),
        fails=IM2COL,
    ),
    "im2col_2d: dilation applied on the height axis only": bug(
        "im2col-2d",
        (
            "columns = slice(b * dw, b * dw + (w_out - 1) * sw + 1, sw)",
            "columns = slice(b, b + (w_out - 1) * sw + 1, sw)",
        ),
        fails=IM2COL,
    ),
    "conv2d_im2col: unfold output reshaped in the wrong order (W_out, H_out)": bug(
        "conv2d-im2col",
        (
            "y = y.reshape(n, f, h_out, w_out)",
            "y = y.reshape(n, f, w_out, h_out).transpose(0, 1, 3, 2)",
        ),
        fails="test_conv2d_im2col",
    ),
    "conv2d_im2col: weights flattened in (kh, kw, c) order": bug(
        "conv2d-im2col",
        ("kernels = w.reshape(groups,", "kernels = w.transpose(0, 2, 3, 1).reshape(groups,"),
        fails="test_conv2d_im2col",
    ),
    "conv2d_im2col: a Python loop over the images hidden in it": bug(
        "conv2d-im2col",
        (Y_IM2COL, "y = np.stack([kernels @ cols[i] for i in range(n)])"),
        fails="test_conv2d_im2col",
    ),
    "conv2d_im2col: a Python loop over the filters hidden in it": bug(
        "conv2d-im2col",
        (Y_IM2COL, "y = np.stack([kernels[:, o] @ cols for o in range(f // groups)], axis=2)"),
        fails="test_conv2d_im2col",
    ),
    "conv2d_im2col: calls the loop version": bug(
        "conv2d-im2col",
        (Y_IM2COL, "return conv2d(x, w, b, stride, padding, dilation, groups)"),
        fails="test_conv2d_im2col",
    ),
    "conv2d_im2col: groups split wrongly (interleaved channels)": bug(
        "conv2d-im2col",
        (
            "cols = cols.reshape(n, groups, c_group * kh * kw, h_out * w_out)",
            "cols = cols.reshape(n, c_group, groups, kh * kw, -1).transpose(0, 2, 1, 3, 4).reshape(n, groups, -1, h_out * w_out)",
        ),
        fails="test_conv2d_im2col",
    ),
    "conv2d_im2col: bias added on the wrong axis": bug(
        "conv2d-im2col",
        ("np.asarray(b, dtype=dtype)[:, None, None]", "np.asarray(b, dtype=dtype)[None, None, :]"),
        fails="test_conv2d_im2col",
    ),
    # Part D
    "max_pool2d: padded with zeros instead of -inf": bug(
        "pooling",
        (
            "pool_windows(x, kernel_size, stride, padding, -np.inf)",
            "pool_windows(x, kernel_size, stride, padding, 0.0)",
        ),
        fails="test_max_pool2d",
    ),
    "avg_pool2d: count_include_pad ignored": bug(
        "pooling",
        (
            "return total / (kh * kw) if count_include_pad else total / count",
            "return total / (kh * kw)",
        ),
        fails="test_avg_pool2d",
    ),
    "pooling: stride default left at 1": bug(
        "pooling",
        (
            'strides = kernel if stride is None else as_pair(stride, "stride")',
            'strides = (1, 1) if stride is None else as_pair(stride, "stride")',
        ),
        fails="test_max_pool2d test_avg_pool2d",
    ),
    "pooling: padding larger than half the kernel accepted": bug(
        "pooling", ("if p < 0 or 2 * p > k:", "if p < 0:"), fails="test_pool2d_errors"
    ),
    "pooling: padded on one side only": bug(
        "pooling",
        ("[(0, 0), (0, 0), (ph, ph), (pw, pw)]", "[(0, 0), (0, 0), (2 * ph, 0), (2 * pw, 0)]"),
        fails="test_max_pool2d test_avg_pool2d",
    ),
    "pooling: H and W swapped in the kernel size": bug(
        "pooling",
        (
            'kernel = as_pair(kernel_size, "kernel_size")',
            'kernel = as_pair(kernel_size, "kernel_size")[::-1]',
        ),
        fails="test_max_pool2d test_avg_pool2d",
    ),
    # Part E
    "depthwise_separable: stride applied to the 1x1 convolution too": bug(
        "depthwise-separable-conv2d",
        (
            "return conv2d(per_channel, w_pointwise)",
            "return conv2d(per_channel, w_pointwise, stride=stride)",
        ),
        fails="test_depthwise_separable_conv2d",
    ),
    "depthwise_separable: padding applied to the 1x1 convolution instead": bug(
        "depthwise-separable-conv2d",
        ("stride=stride, padding=padding, groups=c)", "stride=stride, groups=c)"),
        (
            "return conv2d(per_channel, w_pointwise)",
            "return conv2d(per_channel, w_pointwise, padding=padding)",
        ),
        fails="test_depthwise_separable_conv2d",
    ),
    "conv2d_parameters: bias forgotten": bug(
        "conv2d-parameters", (" + (c_out if bias else 0)", ""), fails="test_conv2d_parameters"
    ),
    "conv2d_parameters: groups ignored": bug(
        "conv2d-parameters",
        ("return c_out * (c_in // groups) * kh * kw", "return c_out * c_in * kh * kw"),
        fails="test_conv2d_parameters",
    ),
    "conv2d_parameters: an int kernel size read as 1-D": bug(
        "conv2d-parameters",
        (
            'kh, kw = as_pair(kernel_size, "kernel_size")',
            "kh, kw = (kernel_size, 1) if isinstance(kernel_size, int) else kernel_size",
        ),
        fails="test_conv2d_parameters",
    ),
    "conv2d_multiplications: the dilated span counted as the kernel": bug(
        "conv2d-multiplications",
        (
            "per_output = (c_in // groups) * kh * kw",
            'dh, dw = as_pair(dilation, "dilation")\n    per_output = (c_in // groups) * (dh * (kh - 1) + 1) * (dw * (kw - 1) + 1)',
        ),
        fails="test_conv2d_multiplications",
    ),
    "conv2d_multiplications: groups ignored": bug(
        "conv2d-multiplications",
        ("per_output = (c_in // groups) * kh * kw", "per_output = c_in * kh * kw"),
        fails="test_conv2d_multiplications",
    ),
    "receptive_field: a layer's own stride applied to its growth": bug(
        "receptive-field",
        (
            "        field += d * (k - 1) * jump\n        jump *= s",
            "        jump *= s\n        field += d * (k - 1) * jump",
        ),
        fails="test_receptive_field",
    ),
    "receptive_field: dilation ignored": bug(
        "receptive-field",
        ("field += d * (k - 1) * jump", "field += (k - 1) * jump"),
        fails="test_receptive_field",
    ),
    # Part F
    "conv2d_torch: torch.nn.functional.conv2d shortcut": bug(
        "conv2d-torch",
        (
            None,
            "def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):\n"
            "    return F.conv2d(x, w, b, stride, padding, dilation, groups)",
        ),
        fails="test_conv2d_torch",
    ),
    "conv2d_torch: unfold output permuted to (kh, kw, c) rows": bug(
        "conv2d-torch",
        ("windows.permute(0, 1, 4, 5, 2, 3)", "windows.permute(0, 4, 5, 1, 2, 3)"),
        fails="test_conv2d_torch",
    ),
    "conv2d_torch: a round trip through numpy (no gradients)": bug(
        "conv2d-torch",
        (
            "y = (kernels @ cols).reshape(n, f, h_out, w_out)",
            "y = torch.as_tensor((kernels @ cols).detach().cpu().numpy(), device=x.device)\n"
            "    y = y.reshape(n, f, h_out, w_out)",
        ),
        fails="test_conv2d_torch",
    ),
    "conv2d_torch: the output's H_out and W_out swapped in the reshape": bug(
        "conv2d-torch",
        (
            "y = (kernels @ cols).reshape(n, f, h_out, w_out)",
            "y = (kernels @ cols).reshape(n, f, w_out, h_out).transpose(2, 3)",
        ),
        fails="test_conv2d_torch",
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
    assert len(BUGS) >= 30
    assert set().union(*(b.must_fail for b in BUGS.values())) == set(TEST_POINTS)


def test_written_answers_ask_what_this_assignment_teaches():
    answers = NOTEBOOK.written_answers()
    assert len(answers) == 3
    assert any("im2col" in c.source and "18.9 MB" in c.source for c in answers)


@pytest.mark.parametrize(
    "name", ["conv2d: padding on one side only (top/left)", "conv2d_parameters: bias forgotten"]
)
def test_running_only_the_affected_tests_gives_the_full_verdict(name):
    """The shortcut the bug tests take (tests/notebook_scoring.py: affected_tests) changes nothing."""
    sources = {BUGS[name].cell: NOTEBOOK.buggy_source(BUGS[name])}
    fast, full = NOTEBOOK.run(sources=sources, only_affected=True), NOTEBOOK.run(sources=sources)
    assert (fast.passed, set(fast.failed)) == (full.passed, set(full.failed))
    assert 0 < len(fast.failed) < len(NOTEBOOK.points)
