"""Assignment 3's max-pool tests price the tie convention once: only check_max_pool2d_ties (1 point).

A backward pass that sends a window's gradient to every tied maximum (or to the last, or splits
it) is right wherever a window has one maximum, so it must pass check_max_pool2d_backward
(3 points) on every case, visible and hidden, and fail the ties test alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from notebook_scoring import run_quietly, solution_namespace

from course_utils import checks
from course_utils.checks.assignment3 import pooling

SOLUTIONS = solution_namespace("assignment3")


def _forward(x, kernel_size, stride=None, padding=0):
    out, cache = SOLUTIONS["max_pool2d_forward"](x, kernel_size, stride, padding)
    return out, dict(cache, x=np.asarray(x, dtype=float))


def _backward(rule: str):
    """A max-pool backward pass with its tie convention: 'first' (PyTorch's), 'all', 'last', 'split'."""

    def max_pool2d_backward(dout, cache):
        (kh, kw), (sh, sw), (ph, pw) = cache["kernel"], cache["stride"], cache["padding"]
        x = cache["x"]
        x_pad = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], constant_values=-np.inf)
        dx_pad = np.zeros_like(x_pad)
        n, c, h_out, w_out = np.shape(dout)
        for a in range(n):
            for b in range(c):
                for i in range(h_out):
                    for j in range(w_out):
                        window = x_pad[a, b, i * sh : i * sh + kh, j * sw : j * sw + kw]
                        top = window == window.max()
                        if rule in ("first", "last"):
                            kept = np.flatnonzero(top.reshape(-1))[0 if rule == "first" else -1]
                            top = np.arange(top.size).reshape(top.shape) == kept
                        share = dout[a, b, i, j] / (top.sum() if rule == "split" else 1)
                        dx_pad[a, b, i * sh : i * sh + kh, j * sw : j * sw + kw] += share * top
        return dx_pad[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]

    return max_pool2d_backward


def test_the_deck_map_has_ties_at_stride_1_and_its_tie_free_copy_none():
    windows = np.lib.stride_tricks.sliding_window_view(pooling.DECK0_POOL, (3, 3))
    tied = (windows == windows.max(axis=(-1, -2), keepdims=True)).sum(axis=(-1, -2)) > 1
    assert tied.any(), "the deck's map no longer ties: the tie-free copy is not needed"
    free = pooling.DECK0_POOL_TIE_FREE
    assert len(np.unique(free)) == free.size


@pytest.mark.parametrize("rule", ["all", "last", "split"])
@pytest.mark.parametrize(("cases", "seed"), [("visible", 0), ("hidden", 310), ("hidden", 8)])
def test_another_tie_convention_passes_the_backward_test(rule, cases, seed):
    output = run_quietly(
        lambda: checks.check_max_pool2d_backward(_forward, _backward(rule), cases, seed)
    )
    assert f"{cases} cases passed" in output


@pytest.mark.parametrize("rule", ["all", "last", "split"])
def test_another_tie_convention_fails_the_ties_test(rule):
    with pytest.raises(AssertionError, match="maxim"):
        run_quietly(lambda: checks.check_max_pool2d_ties(_forward, _backward(rule)))


def test_the_first_maximum_passes_both():
    for check in (checks.check_max_pool2d_backward, checks.check_max_pool2d_ties):
        assert "cases passed" in run_quietly(
            lambda check=check: check(_forward, _backward("first"))
        )
