"""course_utils.viz.architectures: normalization masks and cubes, block diagrams of networks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from torch import nn  # noqa: E402

from course_utils import models, viz  # noqa: E402


def test_normalization_masks_count_the_pooled_values():
    shape = (3, 4, 5)  # (N, C, H*W)
    sizes = {
        kind: int(viz.normalization_mask(kind, shape, groups=2).sum())
        for kind in viz.NORMALIZATIONS
    }
    assert sizes == {"batch": 3 * 5, "layer": 4 * 5, "instance": 5, "group": 2 * 5}
    with pytest.raises(ValueError, match="kind"):
        viz.normalization_mask("weight", shape)
    with pytest.raises(ValueError, match="groups"):
        viz.normalization_mask("group", shape, groups=3)


def test_cube_figure_has_four_titled_panels():
    fig = viz.draw_normalization_cubes()
    assert [ax.get_title() for ax in fig.axes] == [
        "Batch norm",
        "Layer norm",
        "Instance norm",
        "Group norm (2 groups)",
    ]
    plt.close(fig)


# ------------------------------------------------------------------ block diagrams


def _texts(fig) -> list[str]:
    return [text.get_text() for ax in fig.axes for text in ax.texts]


def test_inception_diagram_reads_the_channels_from_the_modules():
    config = dict(in_channels=192, c1=64, c3_reduce=96, c3=128, c5_reduce=16, c5=32, pool_proj=32)
    modules = [models.Inception(**config, bottleneck=False), models.Inception(**config)]
    fig = viz.draw_inception_modules(modules)
    texts = _texts(fig)
    assert "naive" in texts and "with 1x1 bottlenecks" in texts
    assert "concatenate: 64 + 128 + 32 + 192 = 416" in texts  # the pool passes 192 channels on
    assert f"concatenate: 64 + 128 + 32 + 32 = {modules[1].out_channels}" in texts
    assert "1x1 conv\n192→96\nReLU" in texts and "3x3 conv\n96→128\nReLU" in texts
    assert "3x3 max pool\n192" in texts and texts.count("input: 192 channels") == 2
    plt.close(fig)
    with pytest.raises(TypeError, match="Inception"):
        viz.draw_inception_modules(nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="1 to 3"):
        viz.draw_inception_modules([])
    with pytest.raises(ValueError, match="titles"):
        viz.draw_inception_modules(modules, titles=["only one"])
