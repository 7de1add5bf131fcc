"""Assignment 2 (solutions/assignment2/conv2d.ipynb): typical 2-D bugs, injected one at a time, must lose points.

Each bug edits one solution cell of the source notebook (the other solutions stay correct); the
notebook's code cells, hidden tests included, then run in this process and are scored as nbgrader
scores them (``notebook_scoring.py``, shared with Assignment 1). Also checked: the correct
notebook earns every point, the release earns none, and the points table matches the metadata.
The ungraded speed cells (Part G) are skipped here; ``test_notebooks.py`` runs them.

A mistake in a shared helper (``as_pair``, ``padding_2d``, ``output_size_2d``) costs only the
conv2d tests: the later parts pass with the course's helper in place of the wrong one, in the
notebook and in the grader's re-run (``course_utils.checks.assignment2.helpers``).
"""

from __future__ import annotations

import copy
import functools

import pytest
from notebook_scoring import Result, bug, nbgrader_meta, run_quietly, scored_notebook

from course_utils import checks
from course_utils.checks.diagnoses import diagnoses_of
from course_utils.grading import verify
from course_utils.grading.sandbox.bubblewrap import Limits

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
        fails="test_conv2d_padding_modes",  # only there: a helper's mistake costs Part B alone
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


# --------------------------------------------------------------------------------------------
# A mistake in a shared helper costs its own part's points once (issue 23, item 8)
# --------------------------------------------------------------------------------------------

SAME_SWAPPED = (
    "before, after = total // 2, total - total // 2",
    "before, after = total - total // 2, total // 2",
)
UNPACK_PADS = (
    "(top, bottom), (left, right) = padding_2d(",
    "top, bottom, left, right = padding_2d(",
)
# padding_2d returns (top, bottom, left, right), and every function of the student's reads it so
FLAT_PADS = {
    "conv2d": (
        ("return tuple(pads)", "return tuple(p for pair in pads for p in pair)"),
        ("dilations, pads, strict=True", "dilations, zip(pads[::2], pads[1::2]), strict=True"),
        UNPACK_PADS,
    ),
    "im2col-2d": (UNPACK_PADS,),
    "conv2d-torch": (UNPACK_PADS,),
}
COLUMN_MAJOR = (
    "return cols.reshape(n, c * kh * kw, h_out * w_out)",
    "return cols.transpose(0, 1, 2, 3, 5, 4).reshape(n, c * kh * kw, h_out * w_out)",
)
# name -> the edits of each answer cell
VARIANTS = {
    "padding_2d: 'same' puts the odd zero first": {"conv2d": (SAME_SWAPPED,)},
    "padding_2d: (bottom, top) returned": {
        "conv2d": (("pads.append((before, after))", "pads.append((after, before))"),)
    },
    "padding_2d in another format, read so everywhere": FLAT_PADS,
    "im2col_2d: a real bug (columns column-major)": {"im2col-2d": (COLUMN_MAJOR,)},
    "im2col_2d: a real bug, and padding_2d in another format": {
        **FLAT_PADS,
        "im2col-2d": (UNPACK_PADS, COLUMN_MAJOR),
    },
}
# the conv2d tests with "same" cases: where a wrong "same" in padding_2d costs points
PADDING_TESTS = {"test_conv2d_padding_modes", "test_conv2d_groups"}
# every later part whose test failed before, because it calls padding_2d
LATER_TESTS = [
    "test_im2col_2d",
    "test_conv2d_im2col",
    "test_conv2d_errors",
    "test_depthwise_separable_conv2d",
    "test_conv2d_torch",
]


def _variant_sources(name: str) -> dict[str, str]:
    return {
        cell: NOTEBOOK.buggy_source(bug(cell, *edits, fails=""))
        for cell, edits in VARIANTS[name].items()
    }


@functools.cache
def _variant_result(name: str) -> Result:
    return NOTEBOOK.run(sources=_variant_sources(name), only_affected=True)


def _variant_namespace(name: str) -> dict:
    """The set-up and answer cells of a variant, run in one namespace (the student's kernel)."""
    namespace: dict = {"__name__": "__main__"}
    sources = _variant_sources(name)
    for cell in NOTEBOOK.source.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and (meta.get("grade_id") == "setup" or meta.get("solution")):
            run_quietly(lambda c=cell: exec(sources.get(c.id, c.source), namespace))
    return namespace


@pytest.mark.parametrize(
    "name", ["padding_2d: 'same' puts the odd zero first", "padding_2d: (bottom, top) returned"]
)
def test_a_wrong_helper_costs_only_the_conv2d_tests_that_pad(name):
    result = _variant_result(name)
    assert set(result.failed) == PADDING_TESTS, result.failed
    assert result.score == NOTEBOOK.total - sum(TEST_POINTS[g] for g in PADDING_TESTS) == 30


def test_a_later_part_says_which_helper_of_the_students_it_replaced():
    namespace = _variant_namespace("padding_2d: 'same' puts the odd zero first")
    student_padding = namespace["padding_2d"]
    printed = run_quietly(lambda: checks.check_im2col_2d(namespace["im2col_2d"]))
    assert "im2col_2d: 6 visible cases passed" in printed
    assert (
        "im2col_2d passed with the course's padding_2d in place of yours: your padding_2d gives "
        "((1, 0), (1, 0)) for padding_2d((4, 5), (2, 2), 1, 'same', 1), the course's ((0, 1), (0, 1))"
    ) in printed
    assert "costs points only in the conv2d tests" in printed
    assert namespace["padding_2d"] is student_padding  # put back
    with pytest.raises(AssertionError) as caught:  # conv2d keeps the student's own helpers
        checks.check_conv2d(namespace["conv2d"], "padding_modes")
    assert diagnoses_of(caught.value) == ("a2.conv2d.same-extra-zero-first",)


def test_helpers_in_another_consistent_format_keep_full_marks():
    result = _variant_result("padding_2d in another format, read so everywhere")
    assert result.score == NOTEBOOK.total, result.failed


@pytest.mark.parametrize(
    "name",
    [
        "im2col_2d: a real bug (columns column-major)",
        "im2col_2d: a real bug, and padding_2d in another format",
    ],
)
def test_a_real_bug_in_a_later_part_fails_with_its_own_diagnosis(name):
    result = _variant_result(name)
    # conv2d_im2col calls im2col_2d, and the argument checks' legal calls compare its values
    assert set(result.failed) == {*IM2COL.split(), "test_conv2d_errors"}, result.failed
    assert "Mistake a2.im2col_2d.im2col-layout" in result.failed["test_im2col_2d"]
    namespace = _variant_namespace(name)
    with pytest.raises(AssertionError) as caught:
        checks.check_im2col_2d(namespace["im2col_2d"])
    with pytest.raises(AssertionError) as own:  # the checker alone, without the second try
        checks.check_im2col_2d.__wrapped__(namespace["im2col_2d"])
    assert str(caught.value) == str(own.value)
    assert diagnoses_of(caught.value) == diagnoses_of(own.value) == ("a2.im2col_2d.im2col-layout",)


def _rerun(name: str, tests: list[str], passed: set[str]) -> dict[str, verify.CellVerdict]:
    """The grader's re-run (course_utils.grading.verify, the student's code in a worker) of
    ``tests`` for the variant; ``passed``: the tests that passed in the notebook (the others are
    re-run only to name the mistake)."""
    source = copy.deepcopy(NOTEBOOK.source)
    source.cells = [
        c
        for c in source.cells
        if c.cell_type == "code"
        and c.id not in NOTEBOOK.skip
        and (not nbgrader_meta(c).get("grade") or nbgrader_meta(c)["grade_id"] in tests)
    ]
    graded = copy.deepcopy(source)
    sources = _variant_sources(name)
    for cell in graded.cells:
        cell.source = sources.get(cell.id, cell.source)
    report = verify.verify_notebooks(
        [
            (
                "conv2d",
                source,
                graded,
                {g: TEST_POINTS[g] for g in tests},
                {g: TEST_POINTS[g] if g in passed else 0 for g in tests},
            )
        ],
        student="s",
        assignment="assignment2",
        seed=11,
        sandbox=False,
        limits=Limits(notebook_seconds=300),
        cell_seconds=120,
    )
    assert not report.worker_problems and not report.grader_error
    return {cell.grade_id: cell for cell in report.cells}


def test_the_re_run_grades_the_later_parts_with_the_course_helper_too():
    name = "padding_2d: 'same' puts the odd zero first"
    tests = ["test_conv2d_padding_modes", *LATER_TESTS]
    cells = _rerun(name, tests, _variant_result(name).passed)
    assert [g for g in LATER_TESTS if cells[g].verified is not True] == []
    assert "im2col_2d passed with the course's padding_2d in place of yours" in (
        cells["test_im2col_2d"].message
    )
    padding = cells["test_conv2d_padding_modes"]  # failed in the notebook: re-run to name it
    assert padding.explained == "failed"
    assert padding.diagnoses == ["a2.conv2d.same-extra-zero-first"]


@pytest.mark.parametrize(
    "name",
    [
        "padding_2d in another format, read so everywhere",
        "im2col_2d: a real bug, and padding_2d in another format",
    ],
)
def test_the_re_run_keeps_the_students_own_code_first(name):
    tests = ["test_im2col_2d", "test_conv2d_im2col", "test_conv2d_torch"]
    # as if every test had passed in the notebook (a forged pass): the re-run alone decides
    cells = _rerun(name, tests, set(tests))
    if "real bug" in name:
        assert cells["test_im2col_2d"].verified is False
        assert cells["test_im2col_2d"].diagnoses == ["a2.im2col_2d.im2col-layout"]
        assert cells["test_conv2d_torch"].verified is True
    else:
        assert all(cells[g].verified is True for g in tests)
        assert "in place of yours" not in cells["test_im2col_2d"].message
