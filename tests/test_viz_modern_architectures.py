"""course_utils.viz.modern_architectures: Lecture 5's pictures are full width with readable text."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from course_utils.viz import modern_architectures as arch_viz  # noqa: E402


def _texts_at_least(fig, points=11):
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
    assert sizes and min(sizes) >= points


@pytest.mark.parametrize(
    "make",
    [
        lambda: arch_viz.draw_depthwise_pointwise(4, 6),
        lambda: arch_viz.draw_stages([("a", "1"), ("b", "2"), ("c", "3")], "t", {1: "aux"}),
        lambda: arch_viz.plot_error_vs_cost(
            {"A": [("A-1", 1.0, 2.0, 25.0), ("A-2", 2.0, 3.0, 23.0)], "B": [("B-1", 3, 4, 24)]}
        ),
        lambda: arch_viz.plot_training_curves({"x": [3, 2, 1, 0.5, 0.4, 0.3]}, smooth=2),
        lambda: arch_viz.show_attention_map(np.eye(4), np.full((4, 4), 0.5)),
        lambda: arch_viz.plot_loss_slices({"a": ([-1, 0, 1], [9.0, 1.0, 4.0])}),
        lambda: arch_viz.show_shifted_responses(np.eye(6), np.eye(6), np.eye(4), -np.eye(4)),
    ],
)
def test_figures_are_full_width_and_readable(make):
    fig = make()
    assert fig.get_size_inches()[0] == pytest.approx(10.0)
    _texts_at_least(fig)
    plt.close(fig)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        arch_viz.draw_depthwise_pointwise(0, 2)
    with pytest.raises(ValueError):
        arch_viz.draw_stages([])
    with pytest.raises(ValueError):
        arch_viz.show_attention_map(np.eye(3), np.eye(4))
    with pytest.raises(ValueError):
        arch_viz.plot_training_curves({"x": [1.0]}, smooth=0)
    with pytest.raises(ValueError):
        arch_viz.plot_loss_slices({"a": ([0, 1], [1.0])})
    with pytest.raises(ValueError):
        arch_viz.show_shifted_responses(np.eye(6), np.eye(5), np.eye(4), np.eye(4))
