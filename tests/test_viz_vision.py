"""Lecture 4's pictures (course_utils.viz.vision): each draws, with readable text, from real inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils import models
from course_utils.viz import vision


def _smallest_font(fig) -> float:
    return min(t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text())


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_each_picture_draws_with_text_of_at_least_10_points():
    rng = np.random.default_rng(0)
    with torch.device("meta"):
        net = models.alexnet_2012(groups=2)
    figures = [
        vision.show_number_grids([np.arange(25).reshape(5, 5)] * 2, ["a", "b"]),
        vision.draw_connectivity(),
        vision.draw_two_towers(net),
        vision.plot_embeddings({"a": rng.normal(size=(20, 2))}, rng.integers(0, 10, 20)),
        vision.plot_error_curves({"plain": {"8": [3.0, 2.0], "22": [5.0, 4.0]}}, "error (%)"),
        vision.plot_map_strengths(rng.random((8, 8)), rng.random((16, 4, 4)), "maps"),
        vision.plot_top5({"a": 18.2, "b": 3.57}),
    ]
    for fig in figures:
        assert fig.get_figwidth() == pytest.approx(10.0)
        assert _smallest_font(fig) >= 10


def test_connectivity_titles_count_the_weights():
    fig = vision.draw_connectivity(size=6, k=3)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["locally connected: 16 x 9 = 144 weights", "convolution: 9 weights, shared"]


def test_two_towers_reads_the_grouped_layers_from_the_network():
    with torch.device("meta"):
        layers = vision._alexnet_layers(models.alexnet_2012(groups=2))
    assert [name for name, _, g in layers if g == 2] == ["conv2", "conv4", "conv5"]
    assert layers[0][1] == (96, 55, 55) and layers[-1][1] == (1000,)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        vision.show_number_grids([np.zeros((2, 2))], ["a", "b"])
    with pytest.raises(ValueError):
        vision.plot_map_strengths(np.zeros((8, 8)), np.zeros((4, 4)), "2-D maps")
