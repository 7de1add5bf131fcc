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


def test_cube_figure_as_a_two_by_two_grid():
    fig = viz.draw_normalization_cubes(columns=2)
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes] == [(2, 2)] * 4
    plt.close(fig)
    with pytest.raises(ValueError, match="columns"):
        viz.draw_normalization_cubes(columns=3)


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


def test_residual_diagram_rows_follow_the_blocks_layers():
    unit = models.ResidualUnit(16, 16)
    texts = _texts(viz.draw_residual_blocks({"unit": unit}, group=False))
    assert texts.count("3x3 conv\n16→16") == 2 and texts.count("BN") == 2
    assert texts.count("ReLU") == 2 and "+" in texts and "identity x" in texts and "F(x)" in texts
    steps = dict(models.convnext_step_blocks(96))
    blocks = {"ResNet": steps["ResNet bottleneck"], "ConvNeXt": steps["BN -> LN"]}
    fig = viz.draw_residual_blocks(blocks, title="two blocks")
    texts = _texts(fig)
    assert fig._suptitle.get_text() == "two blocks" and {"ResNet", "ConvNeXt"} <= set(texts)
    assert "1x1 conv\n96→24\nBN, ReLU" in texts and "1x1 conv\n24→96\nBN" in texts
    assert "7x7 depthwise\nconv, 96\nLN" in texts and "1x1 conv\n96→384\nGELU" in texts
    assert "1x1 conv\n384→96" in texts and texts.count("+") == 2
    ax = fig.axes[0]
    pluses = {text.get_position() for text in ax.texts if text.get_text() == "+"}
    shortcuts = [
        a for a in ax.texts if hasattr(a, "arrow_patch") and a.arrow_patch.get_edgecolor()[0] > 0.8
    ]
    assert {a.xy for a in shortcuts} == pluses  # each shortcut ends at its row's sum
    plain = viz.draw_residual_blocks({"plain": models.ResidualUnit(8, 8, residual=False)})
    assert "+" not in _texts(plain)
    with pytest.raises(ValueError, match="blocks"):
        viz.draw_residual_blocks({})
    with pytest.raises(TypeError, match="residual block"):
        viz.draw_residual_blocks({"conv": nn.Conv2d(3, 3, 3)})


def test_dense_block_diagram_counts_the_channels_each_layer_sees():
    block = models.dense_block(5, 8, 4, bottleneck=False)
    fig = viz.draw_dense_block(block, models.transition(28))
    texts = _texts(fig)
    for ell in range(1, 6):
        assert f"layer {ell}\nsees {8 + (ell - 1) * 4}\nadds 4" in texts
    assert "transition\n28→14 ch.\nH, W halved" in texts and "input\nk0 = 8" in texts
    assert "15 connections" in fig._suptitle.get_text()
    arrows = [child for child in fig.axes[0].get_children() if hasattr(child, "arrow_patch")]
    assert len(arrows) == 6 * 7 // 2  # every box feeds every later one: 5 layers + transition
    with pytest.raises(ValueError, match="transition expects 16"):
        viz.draw_dense_block(block, models.transition(16))
    with pytest.raises(TypeError, match="DenseLayer"):
        viz.draw_dense_block(nn.Sequential(nn.Conv2d(3, 3, 3)))
    with pytest.raises(TypeError, match="block"):
        viz.draw_dense_block(nn.Conv2d(3, 3, 3))


def test_se_diagram_carries_the_shapes():
    fig = viz.draw_se_block(models.SqueezeExcitation(256, 16), height=56, width=56)
    texts = _texts(fig)
    assert "r = 16" in fig._suptitle.get_text()
    assert "FC\n256→16" in texts and "FC\n16→256" in texts and "sigmoid" in texts
    assert texts.count("(C, H, W)\n(256, 56, 56)") == 2 and "(C/r,)\n(16,)" in texts
    assert "(C,)\n(256,)" in texts and "s: (C,)\n(256,)" in texts
    with pytest.raises(ValueError, match="height"):
        viz.draw_se_block(models.SqueezeExcitation(8, 2), height=0, width=4)
    with pytest.raises(TypeError, match="SqueezeExcitation"):
        viz.draw_se_block(nn.ReLU(), 4, 4)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_block_diagrams_fit_a_slide():
    """Every block diagram is at most 10 x 4.5 inches (a 1280x720 slide holds about that)."""
    steps = dict(models.convnext_step_blocks(32))
    config = dict(in_channels=16, c1=4, c3_reduce=4, c3=8, c5_reduce=2, c5=4, pool_proj=4)
    figures = [
        viz.draw_inception_modules([models.Inception(**config)] * 3),
        viz.draw_residual_blocks(dict(list(steps.items())[:3])),
        viz.draw_dense_block(models.dense_block(8, 8, 4), models.transition(40)),
        viz.draw_se_block(models.SqueezeExcitation(32, 4), 8, 8),
    ]
    for fig in figures:
        width, height = fig.get_size_inches()
        assert width <= 10 and height <= 4.5, fig._suptitle.get_text()
