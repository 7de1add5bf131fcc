"""Lectures 1-3's new pictures and tables: viz.learned_filters, viz.receptive_fields, viz.tables,
viz.imagenet and viz.attention.

Each draws from real inputs (one bar per result, one cell per weight), with text of at least
16 px on a 1280x720 slide; the numbers it shows agree with course_utils.arithmetic and
course_utils.reference; bad arguments raise errors that name them.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from course_utils import reference, viz  # noqa: E402
from course_utils.viz import learned_filters, receptive_fields, slides  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig) -> list[str]:
    return [t.get_text() for t in slides._texts(fig)]


# ------------------------------------------------------------------ learned filters


def test_oriented_stimuli_are_bars_and_edges_in_range():
    stimuli = viz.oriented_stimuli(size=8)
    assert len(stimuli) == 12 and all(s.shape == (8, 8) for s in stimuli.values())
    assert all(s.min() >= 0 and s.max() <= 1 for s in stimuli.values())
    horizontal = stimuli["bar —"]
    assert horizontal[3:5].mean() > 0.5 and horizontal[0].max() == 0  # a bright middle row
    up = stimuli["edge ↑"]
    assert up[0].min() == 1 and up[-1].max() == 0  # bright above, dark below
    with pytest.raises(ValueError, match="size"):
        viz.oriented_stimuli(size=2)


def test_probe_finds_the_filter_that_matches_each_stimulus():
    """A filter equal to a stimulus's centre patch (zero mean) answers that stimulus best."""
    stimuli = viz.oriented_stimuli(size=9)
    names = list(stimuli)
    chosen = ["edge ↑", "bar |", "edge ↙"]
    weights = np.stack([stimuli[n][2:7, 2:7] - stimuli[n][2:7, 2:7].mean() for n in chosen])
    responses = viz.probe_filters(weights[:, None], np.zeros(3), stimuli, padding=2)
    assert responses.shape == (3, 12)
    assert viz.best_stimuli(responses, names) == chosen
    # the layer's own output: reference.conv2d at the centre
    image = stimuli["bar |"][None, None]
    centre = reference.conv2d(image, weights[:, None], padding=2)[0, :, 4, 4]
    assert np.allclose(responses[:, names.index("bar |")], centre)


def test_reversed_stimuli():
    assert viz.reversed_stimulus("edge ↑") == "edge ↓"
    assert viz.reversed_stimulus("edge ↙") == "edge ↗"
    assert viz.reversed_stimulus("bar /") == "bar \\"
    with pytest.raises(ValueError, match="unknown stimulus"):
        viz.reversed_stimulus("blob")


def test_probe_refuses_bad_shapes():
    stimuli = viz.oriented_stimuli()
    with pytest.raises(ValueError, match="one input channel"):
        viz.probe_filters(np.zeros((2, 3, 5, 5)), np.zeros(2), stimuli)
    with pytest.raises(ValueError, match="bias"):
        viz.probe_filters(np.zeros((2, 1, 5, 5)), np.zeros(3), stimuli)
    with pytest.raises(ValueError, match="stimuli"):
        viz.probe_filters(np.zeros((2, 1, 5, 5)), np.zeros(2), {})
    with pytest.raises(ValueError, match="names"):
        viz.best_stimuli(np.zeros((2, 12)), ["a"])


def test_filter_probe_figure_titles_best_pictures_and_has_a_colour_bar():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(8, 1, 5, 5))
    stimuli = viz.oriented_stimuli()
    responses = viz.probe_filters(weights, np.zeros(8), stimuli, padding=2)
    fig = viz.draw_filter_probes(weights, stimuli, responses)
    texts = _texts(fig)
    best = viz.best_stimuli(responses, list(stimuli))
    assert [f"filter {i}" for i in range(8)] == [t for t in texts if t.startswith("filter")]
    assert all(name in texts for name in best)
    assert "weight" in texts  # the colour bar's label
    images = [im for ax in fig.axes for im in ax.images if im.get_cmap().name == viz.DIVERGING_CMAP]
    assert len(images) == 8 and len({im.get_clim() for im in images}) == 1  # one colour scale
    assert slides.slide_text_px(fig) >= 16


# ------------------------------------------------------------------ receptive fields


def test_backprojection_counts_and_union():
    fig = viz.draw_backprojection(input_size=7, kernel_size=3)
    numbers = [int(t) for t in _texts(fig) if t.isdigit()]
    assert len(numbers) == 25  # the 5x5 union, each pixel with its count
    assert sorted(numbers)[-1] == 9 and sum(numbers) == 81  # nine patches of nine pixels
    outlines = [p for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle) and not p.fill]
    assert len(outlines) == 9 + 9 + 1  # the block on layer 1, the patches, the union
    assert "cover 5×5" in " ".join(_texts(fig))
    with pytest.raises(ValueError):
        viz.draw_backprojection(input_size=4, kernel_size=3)


def test_dilated_growth_draws_taps_d_apart_and_fields_3_7_15():
    fig = viz.draw_dilated_growth(kernel_size=3, dilations=(1, 2, 4))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "layer 1: taps 1 apart\nfield 3×3",
        "layer 2: taps 2 apart\nfield 7×7",
        "layer 3: taps 4 apart\nfield 15×15",
    ]
    for ax, rate in zip(fig.axes, (1, 2, 4), strict=True):
        (dots,) = ax.collections[-1:]
        xs = sorted({round(x, 6) for x, _ in dots.get_offsets()})
        assert len(xs) == 3 and np.allclose(np.diff(xs), rate)
    with pytest.raises(ValueError, match="dilations"):
        viz.draw_dilated_growth(dilations=())
    assert receptive_fields.FONTSIZE >= 12 and learned_filters.FONTSIZE >= 12


# ------------------------------------------------------------------ tables


def test_markdown_table_formats_numbers_for_people():
    table = viz.markdown_table(
        ["layer", "parameters", "share"],
        [("fully connected", 31_467_520, 0.09999999999999998), ("conv | 5x5", 760, 2 / 3)],
    )
    assert table.splitlines() == [
        "| layer | parameters | share |",
        "| :--- | ---: | ---: |",
        "| fully connected | 31,467,520 | 0.1 |",
        "| conv \\| 5x5 | 760 | 0.667 |",
    ]
    assert viz.format_number(3.0) == "3" and viz.format_number(12832.5) == "12,832"
    assert viz.format_number("1.531") == "1.531"


def test_markdown_table_refuses_ragged_rows_and_bad_alignment():
    with pytest.raises(ValueError, match="row 0"):
        viz.markdown_table(["a", "b"], [(1,)])
    with pytest.raises(ValueError, match="align"):
        viz.markdown_table(["a"], [(1,)], align="x")
    with pytest.raises(ValueError, match="header"):
        viz.markdown_table([], [])


# ------------------------------------------------------------------ Lecture 3: ImageNet, attention

RESULTS = [(2012, "AlexNet", 15.3), (2014, "VGG", 7.3), (2014, "GoogLeNet", 6.67)]


def test_one_bar_per_result_with_its_value_year_and_note():
    fig = viz.plot_imagenet_by_year(
        RESULTS, groups={"AlexNet": "CNN", "VGG": "CNN", "GoogLeNet": "CNN"}, notes={"VGG": "2nd"}
    )
    (ax,) = fig.axes
    assert [round(p.get_height(), 2) for p in ax.patches] == [15.3, 7.3, 6.67]
    texts = _texts(fig)
    assert {"15.3 %", "7.3 %", "6.67 %", "VGG\n2014\n2nd", "GoogLeNet\n2014", "CNN"} <= set(texts)
    assert slides.slide_text_px(fig) >= slides.MIN_TEXT_PX


def test_a_shared_colour_key_gives_a_group_the_same_colour_in_every_chart():
    key = {"features": "#636363", "CNN": "#3182bd"}
    first = viz.plot_imagenet_by_year(
        [(2011, "XRCE", 25.8), *RESULTS[:1]],
        groups={"XRCE": "features", "AlexNet": "CNN"},
        colors=key,
    )
    second = viz.plot_imagenet_by_year(
        RESULTS, groups=dict.fromkeys(["AlexNet", "VGG"], "CNN"), colors=key
    )
    alexnet_first, alexnet_second = first.axes[0].patches[1], second.axes[0].patches[0]
    assert alexnet_first.get_facecolor() == alexnet_second.get_facecolor()
    assert matplotlib.colors.to_hex(alexnet_first.get_facecolor()) == "#3182bd"
    assert second.axes[0].patches[2].get_facecolor() != alexnet_second.get_facecolor()


def test_a_long_model_name_is_broken_after_its_hyphen():
    fig = viz.plot_imagenet_by_year([(2016, "Trimps-Soushen", 2.99), (2015, "ResNet-152", 3.57)])
    assert {"Trimps-\nSoushen\n2016", "ResNet-152\n2015"} <= set(_texts(fig))


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
