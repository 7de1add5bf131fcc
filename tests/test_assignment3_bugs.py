"""Assignment 3 (solutions/assignment3/backprop.ipynb): typical backprop bugs, injected one at a time, must lose points.

Each bug edits one solution cell of the source notebook (the other solutions stay correct); the
notebook's code cells, hidden tests included, then run in this process and are scored as nbgrader
scores them (``notebook_scoring.py``, shared with Assignments 1 and 2). Also checked: the correct
notebook earns every point, the release earns none, and the points table matches the metadata.
The ungraded cells (the gradient check, the timing, the training run with its plot) are skipped
here; ``test_notebooks.py`` runs them.
"""

from __future__ import annotations

import pytest
from notebook_scoring import ScoredNotebook, bug, remove, scored_notebook

NOTEBOOK = scored_notebook("assignment3")
TEST_POINTS = NOTEBOOK.points
# The training tests take most of a run. They use only these answer cells (the helpers live in
# the ReLU cell), so a bug elsewhere cannot change their outcome: such bugs run without them,
# the two cells counted as passed (what the correct solution earns there).
TRAINING_TESTS = frozenset({"test_digits_cnn_steps", "test_digits_cnn_accuracy"})
TRAINING_CELLS = frozenset(
    {"relu", "conv2d-forward", "conv2d-backward", "conv2d-function", "digits-cnn"}
)
WITHOUT_TRAINING = ScoredNotebook(
    NOTEBOOK.path,
    skip=NOTEBOOK.skip | {grade_id.replace("_", "-") for grade_id in TRAINING_TESTS},
)

# the tests that run conv2d_backward through other functions
USES_CONV2D_BACKWARD = "test_conv_transpose2d test_conv2d_function test_digits_cnn_steps"
DX_SCATTER = "dx_pad[:, :, rows, cols] += np.tensordot(g, w, axes=(1, 0))"
DW_SUM = "dw += np.tensordot(g, x_pad[:, :, rows, cols], axes=(0, 0))"
CROP = "return dx_pad[:, :, ph : ph + height, pw : pw + width], dw, db"
MAX_ROUTE = "np.add.at(dx_pad, (images, channels, i * sh + u, j * sw + v), dout[:, :, i, j])"
AVG_SHARE = "share = dout[:, :, i, j] / sizes[i, j]"
BACKWARD_RETURN = "return like(dx), like(dw), like(db) if ctx.has_bias else None, None, None, None"

BUGS = {
    # Part A: numeric_gradient
    "numeric_gradient: one-sided differences": bug(
        "numeric-gradient",
        (
            "grad[index] = (plus - minus) / (2 * h)",
            "grad[index] = (plus - np.sum(f(x) * dout)) / h",
        ),
        fails="test_numeric_gradient",
    ),
    "numeric_gradient: x left perturbed (x[i] - h)": bug(
        "numeric-gradient",
        remove("        x[index] = old  # the saved value, so x ends exactly as it was\n"),
        fails="test_numeric_gradient",
    ),
    "numeric_gradient: the step h ignored (always 1e-5)": bug(
        "numeric-gradient",
        ("x[index] = old + h", "x[index] = old + 1e-5"),
        ("x[index] = old - h", "x[index] = old - 1e-5"),
        ("(plus - minus) / (2 * h)", "(plus - minus) / (2 * 1e-5)"),
        fails="test_numeric_gradient",
    ),
    "numeric_gradient: divided by h, not 2h": bug(
        "numeric-gradient",
        ("(plus - minus) / (2 * h)", "(plus - minus) / h"),
        fails="test_numeric_gradient",
    ),
    "numeric_gradient: dout ignored": bug(
        "numeric-gradient",
        ("plus = np.sum(f(x) * dout)", "plus = np.sum(f(x))"),
        ("minus = np.sum(f(x) * dout)", "minus = np.sum(f(x))"),
        fails="test_numeric_gradient",
    ),
    # Part B: ReLU
    "relu_backward: gradient 1 at 0 ([x >= 0])": bug(
        "relu",
        ("* (x > 0)  # ReLU'(x)", "* (x >= 0)  # ReLU'(x)"),
        fails="test_relu",
    ),
    "relu_backward: dout * relu(x) instead of the mask": bug(
        "relu",
        ("* (x > 0)  # ReLU'(x)", "* np.maximum(x, 0)  # ReLU'(x)"),
        fails="test_relu",
    ),
    "relu_backward: no cache check": bug(
        "relu",
        (
            'x = check_cache(cache, "relu")["x"]',
            'x = cache["x"] if isinstance(cache, dict) else cache',
        ),
        fails="test_backward_errors",
    ),
    # Part C: conv1d_backward
    "conv1d_backward: dx not cropped": bug(
        "conv1d-backward",
        ("return dx_pad[:, :, padding : padding + length], dw, db", "return dx_pad, dw, db"),
        fails="test_conv1d_backward",
    ),
    "conv1d_backward: [p:-p] with p = 0": bug(
        "conv1d-backward",
        ("dx_pad[:, :, padding : padding + length]", "dx_pad[:, :, padding:-padding]"),
        fails="test_conv1d_backward",
    ),
    "conv1d_backward: stride ignored in the scatter": bug(
        "conv1d-backward",
        (
            "dx_pad[:, :, window] += np.tensordot(",
            "dx_pad[:, :, t : t + span : dilation] += np.tensordot(",
        ),
        fails="test_conv1d_backward",
    ),
    "conv1d_backward: db summed over the batch only": bug(
        "conv1d-backward",
        ("db = dout.sum(axis=(0, 2))", "db = dout.sum(axis=0)"),
        fails="test_conv1d_backward",
    ),
    "conv1d_backward: kernel flipped in dx": bug(
        "conv1d-backward",
        (
            "np.tensordot(dout[:, :, t], w, axes=(1, 0))",
            "np.tensordot(dout[:, :, t], w[:, :, ::-1], axes=(1, 0))",
        ),
        fails="test_conv1d_backward",
    ),
    # Part D: conv2d_forward and conv2d_backward
    "conv2d_forward: dilation ignored": bug(
        "conv2d-forward",
        (
            "window = x_pad[:, :, i * sh : i * sh + span_h : dh, j * sw : j * sw + span_w : dw]",
            "window = x_pad[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]",
        ),
        fails="test_conv2d_forward",
    ),
    "conv2d_backward: overwrite instead of accumulate (dx)": bug(
        "conv2d-backward",
        (DX_SCATTER, DX_SCATTER.replace("+=", "=")),
        fails="test_conv2d_backward_basic test_conv2d_backward_stride_padding "
        + USES_CONV2D_BACKWARD,
    ),
    "conv2d_backward: overwrite instead of accumulate (dw)": bug(
        "conv2d-backward",
        (DW_SUM, DW_SUM.replace("dw +=", "dw =")),
        fails="test_conv2d_backward_basic test_conv2d_function test_digits_cnn_steps",
    ),
    "conv2d_backward: dx not cropped": bug(
        "conv2d-backward",
        (CROP, "return dx_pad, dw, db"),
        fails="test_conv2d_backward_stride_padding test_conv_transpose2d",
    ),
    "conv2d_backward: [p:-p] with p = 0": bug(
        "conv2d-backward",
        (CROP, "return dx_pad[:, :, ph:-ph, pw:-pw], dw, db"),
        fails="test_conv2d_backward_basic test_conv2d_backward_stride_padding",
    ),
    "conv2d_backward: cropped from one side": bug(
        "conv2d-backward",
        (CROP, "return dx_pad[:, :, :height, :width], dw, db"),
        fails="test_conv2d_backward_stride_padding test_conv_transpose2d",
    ),
    "conv2d_backward: db summed over the wrong axes": bug(
        "conv2d-backward",
        ("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(2, 3))"),
        fails="test_conv2d_backward_basic",  # autograd itself sums an (N, C_out) db over the batch
    ),
    "conv2d_backward: dw not summed over the batch": bug(
        "conv2d-backward",
        (DW_SUM, "dw += np.tensordot(g[:1], x_pad[:1, :, rows, cols], axes=(0, 0))"),
        fails="test_conv2d_backward_basic test_conv2d_function test_digits_cnn_steps",
    ),
    "conv2d_backward: stride ignored in the scatter": bug(
        "conv2d-backward",
        (
            "dx_pad[:, :, rows, cols] += np.tensordot",
            "dx_pad[:, :, i : i + span_h : dh, j : j + span_w : dw_] += np.tensordot",
        ),
        fails="test_conv2d_backward_stride_padding test_conv_transpose2d",
    ),
    "conv2d_backward: kernel flipped in dx": bug(
        "conv2d-backward",
        (
            DX_SCATTER,
            DX_SCATTER.replace("np.tensordot(g, w,", "np.tensordot(g, w[:, :, ::-1, ::-1],"),
        ),
        fails="test_conv2d_backward_basic test_conv_transpose2d test_conv2d_function",
    ),
    "conv2d_backward: dilation ignored in the scatter": bug(
        "conv2d-backward",
        (
            "dx_pad[:, :, rows, cols] += np.tensordot",
            "dx_pad[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += np.tensordot",
        ),
        fails="test_conv2d_backward_dilation",
    ),
    "conv2d_backward: dout shape not checked": bug(
        "conv2d-backward",
        (
            "dout = check_dout(dout, (n, c_out, h_out, w_out))",
            "dout = np.asarray(dout, dtype=float)",
        ),
        fails="test_backward_errors",
    ),
    # Part E: col2im_2d and conv2d_backward_im2col
    "col2im_2d: overwrite instead of accumulate": bug(
        "col2im-2d",
        (
            "s : s + (w_out - 1) * sw + 1 : sw] += (",
            "s : s + (w_out - 1) * sw + 1 : sw] = (",
        ),
        fails="test_col2im_2d test_conv2d_backward_im2col",
    ),
    "col2im_2d: padding not cropped": bug(
        "col2im-2d",
        ("    return x_pad[:, :, ph : ph + height, pw : pw + width]\n", "    return x_pad\n"),
        fails="test_col2im_2d test_conv2d_backward_im2col",
    ),
    "conv2d_backward_im2col: loops over the images": bug(
        "conv2d-backward-im2col",
        (
            "dx = col2im_2d(dcols, x.shape, (kh, kw), stride, padding, dilation)",
            "dx = np.concatenate([col2im_2d(dcols[i : i + 1], (1, *x.shape[1:]), (kh, kw), stride, padding, dilation) for i in range(n)])",
        ),
        fails="test_conv2d_backward_im2col",
    ),
    "conv2d_backward_im2col: dw flipped": bug(
        "conv2d-backward-im2col",
        (
            "axes=([0, 2], [0, 2])).reshape(w.shape)",
            "axes=([0, 2], [0, 2])).reshape(w.shape)[:, :, ::-1, ::-1]",
        ),
        fails="test_conv2d_backward_im2col",
    ),
    # Part F: pooling
    "max_pool2d_backward: gradient to every tied maximum": bug(
        "max-pool2d",
        ('"winner": winner,', '"winner": winner,\n        "x_pad": x_pad,\n        "out": out,'),
        (
            MAX_ROUTE,
            "rows, cols = slice(i * sh, i * sh + cache['kernel'][0]), slice(j * sw, j * sw + kw)\n"
            "            ties = cache['x_pad'][:, :, rows, cols] == cache['out'][:, :, i, j][:, :, None, None]\n"
            "            dx_pad[:, :, rows, cols] += ties * dout[:, :, i, j][:, :, None, None]",
        ),
        fails="test_max_pool2d_ties",
    ),
    "max_pool2d_backward: gradient to the last maximum": bug(
        "max-pool2d",
        (
            "winner[:, :, i, j] = window.argmax(axis=-1)",
            "winner[:, :, i, j] = window.shape[-1] - 1 - window[:, :, ::-1].argmax(axis=-1)",
        ),
        fails="test_max_pool2d_ties",
    ),
    "max_pool2d_backward: gradient to the window's first element": bug(
        "max-pool2d",
        (
            "u, v = np.divmod(winner[:, :, i, j], kw)",
            "u, v = np.divmod(0 * winner[:, :, i, j], kw)",
        ),
        fails="test_max_pool2d_backward test_max_pool2d_ties",
    ),
    "max_pool2d_backward: overwrite on overlap": bug(
        "max-pool2d",
        (MAX_ROUTE, "dx_pad[images, channels, i * sh + u, j * sw + v] = dout[:, :, i, j]"),
        fails="test_max_pool2d_backward",
    ),
    "max_pool2d_backward: stride ignored in the scatter": bug(
        "max-pool2d",
        ("(images, channels, i * sh + u, j * sw + v)", "(images, channels, i + u, j + v)"),
        fails="test_max_pool2d_backward",
    ),
    "max_pool2d_forward: padded with zeros": bug(
        "max-pool2d",
        ("(pw, pw)], constant_values=-np.inf)", "(pw, pw)])"),
        fails="test_max_pool2d_backward",
    ),
    "avg_pool2d_backward: not divided by the window size": bug(
        "avg-pool2d",
        (AVG_SHARE, "share = dout[:, :, i, j]"),
        fails="test_avg_pool2d_backward",
    ),
    "avg_pool2d: count_include_pad ignored": bug(
        "avg-pool2d",
        (
            "sizes[i, j] = kh * kw if count_include_pad else real[rows, cols].sum()",
            "sizes[i, j] = kh * kw",
        ),
        fails="test_avg_pool2d_backward",
    ),
    "avg_pool2d_backward: accepts a max-pooling cache": bug(
        "avg-pool2d",
        (
            'cache = check_cache(cache, "avg_pool2d")',
            "cache = dict(cache, sizes=np.ones(cache['winner'].shape[2:])) if 'winner' in cache else cache",
        ),
        fails="test_pool_backward_errors",
    ),
    # Part G: conv_transpose2d
    "conv_transpose2d: output_padding ignored": bug(
        "conv-transpose2d",
        ("h_out = (height - 1) * sh - 2 * ph + kh + oh", "h_out = (height - 1) * sh - 2 * ph + kh"),
        ("w_out = (width - 1) * sw - 2 * pw + kw + ow", "w_out = (width - 1) * sw - 2 * pw + kw"),
        fails="test_conv_transpose2d",
    ),
    "conv_transpose2d: a full convolution with the unflipped kernel": bug(
        "conv-transpose2d",
        (
            "    dx, _, _ = conv2d_backward(x, cache)\n    return dx\n",
            "    full = conv2d_forward(x, w.transpose(1, 0, 2, 3), None, 1, (kh - 1, kw - 1))[0]\n"
            "    return full[:, :, ph : ph + h_out, pw : pw + w_out]\n",
        ),
        fails="test_conv_transpose2d",
    ),
    # Part H: Conv2dFunction
    "Conv2dFunction.backward: gradients in the wrong order": bug(
        "conv2d-function",
        (
            BACKWARD_RETURN,
            "return like(dw), like(dx), like(db) if ctx.has_bias else None, None, None, None",
        ),
        fails="test_conv2d_function test_digits_cnn_steps",
    ),
    "Conv2dFunction.backward: no None for the non-tensor arguments": bug(
        "conv2d-function",
        (BACKWARD_RETURN, "return like(dx), like(dw), like(db) if ctx.has_bias else None"),
        fails="test_conv2d_function test_digits_cnn_steps",
    ),
    "Conv2dFunction.backward: db returned when b is None": bug(
        "conv2d-function",
        (BACKWARD_RETURN, "return like(dx), like(dw), like(db), None, None, None"),
        fails="test_conv2d_function",
    ),
    "Conv2dFunction.forward: float32 result": bug(
        "conv2d-function",
        (
            "return torch.as_tensor(out, dtype=x.dtype, device=x.device)",
            "return torch.as_tensor(out, dtype=torch.float32, device=x.device)",
        ),
        fails="test_conv2d_function",
    ),
    "NumpyConv2d: padding not passed on": bug(
        "conv2d-function",
        (
            "x, self.weight, self.bias, self.stride, self.padding, self.dilation",
            "x, self.weight, self.bias, self.stride, 0, self.dilation",
        ),
        fails="test_digits_cnn_steps test_digits_cnn_accuracy",
    ),
    # Part I: the digits network
    "DigitsCNN: nn.Conv2d instead of NumpyConv2d": bug(
        "digits-cnn",
        (
            "self.conv1 = NumpyConv2d(1, 16, 3, padding=1)",
            "self.conv1 = nn.Conv2d(1, 16, 3, padding=1)",
        ),
        fails="test_digits_cnn_steps test_digits_cnn_accuracy",
    ),
    "train_digits_cnn: returns the initial weights": bug(
        "digits-cnn",
        ('"parameters": weights(),', '"parameters": initial,'),
        fails="test_digits_cnn_steps test_digits_cnn_accuracy",
    ),
    "train_digits_cnn: SGD instead of Adam": bug(
        "digits-cnn",
        (
            "optimizer = torch.optim.Adam(model.parameters(), lr=lr)",
            "optimizer = torch.optim.SGD(model.parameters(), lr=lr)",
        ),
        fails="test_digits_cnn_steps test_digits_cnn_accuracy",
    ),
    "train_digits_cnn: gradients never reset (no zero_grad)": bug(
        "digits-cnn",
        remove("            optimizer.zero_grad()\n"),
        fails="test_digits_cnn_steps",
    ),
    "train_digits_cnn: float32 network": bug(
        "digits-cnn",
        ("model = DigitsCNN().double()", "model = DigitsCNN().float()"),
        ("model(images.double())", "model(images.float())"),
        ("model(x.double())", "model(x.float())"),
        fails="test_digits_cnn_steps",
    ),
}


@pytest.mark.parametrize("name", list(BUGS))
def test_buggy_solution_loses_points(name):
    bug = BUGS[name]
    if bug.cell in TRAINING_CELLS:
        NOTEBOOK.assert_bug_loses_points(name, bug)
        return
    assert not bug.must_fail & TRAINING_TESTS, f"{name}: a bug in {bug.cell} cannot fail training"
    result = WITHOUT_TRAINING.run(
        sources={bug.cell: WITHOUT_TRAINING.buggy_source(bug)}, only_affected=True
    )
    score = result.score + sum(TEST_POINTS[grade_id] for grade_id in TRAINING_TESTS)
    assert score < NOTEBOOK.total, f"{name}: the tests did not notice"
    missed = bug.must_fail - set(result.failed)
    assert not missed, f"{name}: expected {sorted(missed)} to fail; failed: {sorted(result.failed)}"


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
    text = " ".join(c.source for c in answers)
    assert "W^T" in text and "first maximum" in text and "forward" in text
