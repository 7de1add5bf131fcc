"""course_utils.viz.training: training curves and per-layer statistics draw headless with the data given."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils import viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_curves_draws_one_line_per_label_with_smoothing_and_positions():
    fig = viz.plot_curves(
        {"a": [3, 2, 1, 0.5], "b": [1, 1, 1]}, smooth=2, x={"a": [10, 20, 30, 40]}
    )
    assert isinstance(fig, Figure)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2
    assert np.allclose(lines[0].get_ydata(), [2.5, 1.5, 0.75])
    assert np.allclose(lines[0].get_xdata(), [20, 30, 40])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["a", "b"]


def test_plot_curves_on_given_axes_returns_the_axes():
    fig, ax = plt.subplots()
    assert viz.plot_curves({"a": [1, 2]}, ax=ax, logy=True) is ax
    assert ax.get_yscale() == "log"


def test_plot_per_layer_starts_at_layer_one_and_draws_the_reference():
    fig = viz.plot_per_layer({"He": [1, 1.1, 0.9]}, reference=1.0)
    ax = fig.axes[0]
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log"


@pytest.mark.parametrize("bad", [{}, [1, 2], {"a": []}, {"a": [[1, 2]]}])
def test_bad_curves_raise(bad):
    with pytest.raises((TypeError, ValueError)):
        viz.plot_curves(bad)


def test_bad_smoothing_raises():
    with pytest.raises(ValueError, match="smooth"):
        viz.plot_curves({"a": [1, 2]}, smooth=0)


def test_plot_descent_paths_draws_contours_one_line_per_path_and_the_minimum():
    paths = {"plain": [[-4, 1], [-3, -0.5], [-2, 0.2]], "momentum": [[-4, 1], [-2, 0.1]]}
    fig = viz.plot_descent_paths(np.diag([0.1, 10.0]), paths, title="valley")
    ax = fig.axes[0]
    assert ax.collections  # the contours
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["plain", "momentum", "minimum"]
    assert np.allclose(ax.get_lines()[0].get_xdata(), [-4, -3, -2])


@pytest.mark.parametrize(
    "hessian, paths",
    [(np.eye(3), {"a": [[0, 0], [1, 1]]}), (np.eye(2), {}), (np.eye(2), {"a": [[0, 0]]})],
)
def test_plot_descent_paths_rejects_bad_input(hessian, paths):
    with pytest.raises((TypeError, ValueError)):
        viz.plot_descent_paths(hessian, paths)
