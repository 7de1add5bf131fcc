"""course_utils.viz.network_graphs: networks as graphs and pipelines, readable text."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from course_utils import viz
from course_utils.viz import network_graphs


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig):
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def test_draw_network_writes_units_and_connections():
    fig = viz.draw_network(
        [2, 3, 1],
        node_text={(0, 0): "x = 1", (2, 0): "y"},
        edge_text={(1, 2, 1): "0.5", (2, 0, 2): "-1"},
        layer_names=["in", "hidden", "out"],
        title="t",
    )
    texts = _texts(fig)
    for expected in ("x = 1", "y", "0.5", "-1", "in", "hidden", "out", "t"):
        assert expected in texts
    assert network_graphs.smallest_fontsize(fig) >= network_graphs.MIN_FONTSIZE
    width, height = fig.get_size_inches()
    assert width <= 10 and height <= 4.5  # fits a 1280x720 slide


def test_draw_network_backward_and_dropped_units():
    full = viz.draw_network([2, 3, 1])
    thinned = viz.draw_network([2, 3, 1], dropped=[(1, 0)], direction="backward")
    arrows = lambda fig: sum(  # noqa: E731
        isinstance(p, matplotlib.patches.FancyArrowPatch) for p in fig.axes[0].patches
    )
    assert arrows(full) == 2 * 3 + 3 * 1
    assert arrows(thinned) == 2 * 2 + 2 * 1  # the dropped unit's connections are gone


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sizes": [3]},
        {"sizes": [2, 0]},
        {"sizes": [2, 2], "node_text": {(2, 0): "x"}},
        {"sizes": [2, 2], "edge_text": {(1, 0, 5): "x"}},
        {"sizes": [2, 2], "direction": "sideways"},
        {"sizes": [2, 2], "layer_names": ["one"]},
    ],
)
def test_draw_network_rejects_bad_arguments(kwargs):
    sizes = kwargs.pop("sizes")
    with pytest.raises(ValueError):
        viz.draw_network(sizes, **kwargs)


def test_draw_pipeline_boxes_and_errors():
    fig = viz.draw_pipeline([("a", "data"), ("b", "layer"), ("c", "fixed")], per_row=2, title="p")
    assert {"a", "b", "c", "p"} <= set(_texts(fig))
    with pytest.raises(ValueError):
        viz.draw_pipeline([("a", "nonsense")])
    with pytest.raises(ValueError):
        viz.draw_pipeline([])


def test_readable_raises_small_text_only():
    fig, ax = plt.subplots()
    small = ax.text(0, 0, "small", fontsize=6)
    big = ax.text(0, 1, "big", fontsize=20)
    assert viz.readable(fig) is fig
    assert small.get_fontsize() == 12 and big.get_fontsize() == 20
    with pytest.raises(TypeError):
        viz.readable(ax)
