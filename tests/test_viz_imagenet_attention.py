"""Lecture 3's charts (course_utils.viz.imagenet, viz.attention): real inputs, readable text.

Each draws what it is given (one bar per result, one cell per weight) with text of at least 16 px
on a 1280x720 slide, and refuses arguments it cannot draw honestly.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_utils import viz  # noqa: E402
from course_utils.viz import slides  # noqa: E402

RESULTS = [(2012, "AlexNet", 15.3), (2014, "VGG", 7.3), (2014, "GoogLeNet", 6.67)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig) -> list[str]:
    return [t.get_text() for t in slides._texts(fig)]


def test_one_bar_per_result_with_its_value_year_and_note():
    fig = viz.plot_imagenet_by_year(
        RESULTS, groups={"AlexNet": "CNN", "VGG": "CNN", "GoogLeNet": "CNN"}, notes={"VGG": "2nd"}
    )
    (ax,) = fig.axes
    assert [round(p.get_height(), 2) for p in ax.patches] == [15.3, 7.3, 6.67]
    texts = _texts(fig)
    assert {"15.3 %", "7.3 %", "6.67 %", "VGG\n2014\n2nd", "GoogLeNet\n2014", "CNN"} <= set(texts)
    assert slides.slide_text_px(fig) >= slides.MIN_TEXT_PX


def test_imagenet_chart_refuses_what_it_cannot_draw():
    with pytest.raises(TypeError, match="results"):
        viz.plot_imagenet_by_year([])
    with pytest.raises(ValueError, match="percentage"):
        viz.plot_imagenet_by_year([(2012, "AlexNet", 115.3)])
    with pytest.raises(ValueError, match="once"):
        viz.plot_imagenet_by_year([(2012, "AlexNet", 15.3), (2013, "AlexNet", 14.0)])
    with pytest.raises(ValueError, match="not in results"):
        viz.plot_imagenet_by_year(RESULTS, notes={"ResNet": "152 layers"})


def test_attention_heat_map_shows_every_weight_on_one_scale():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 4, 2, dtype=torch.float64, generator=gen) for _ in range(3))
    weights = torch.softmax(q[0] @ k[0].T / 2**0.5, dim=1)  # (4 queries, 4 keys), d_k = 2
    assert torch.allclose(weights @ v[0], F.scaled_dot_product_attention(q, k, v)[0])
    fig = viz.show_attention_weights(weights, ["a", "b", "c", "d"])
    image = fig.axes[0].images[0]
    assert image.get_clim() == (0, 1) and len(fig.axes) == 2  # the heat map and its colour bar
    cells = [t for t in _texts(fig) if t.startswith("0.") or t == "1.00"]
    assert cells == [f"{w:.2f}" for w in weights.numpy().ravel()]
    assert slides.slide_text_px(fig) >= slides.MIN_TEXT_PX


def test_attention_heat_map_needs_softmax_rows_and_a_name_per_row_and_column():
    with pytest.raises(ValueError, match="softmax"):
        viz.show_attention_weights(np.array([[0.5, 0.2], [0.5, 0.5]]), ["a", "b"])
    with pytest.raises(ValueError, match="names"):
        viz.show_attention_weights(np.full((2, 3), 1 / 3), ["a", "b"])
    with pytest.raises(ValueError, match="dimensions"):
        viz.show_attention_weights(np.ones(3) / 3, ["a"])
