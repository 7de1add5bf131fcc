"""course_utils.models: the builders give the published sizes, shapes and behaviour.

Sizes are counted on the meta device (shapes only, no memory, no arithmetic).
"""

from __future__ import annotations

import pytest
import torch

from course_utils import measure, models


def _meta(builder, *args, **kwargs):
    with torch.device("meta"):
        return builder(*args, **kwargs)


def test_lenet5_has_lecuns_61706_parameters_and_adapts_to_digits():
    assert measure.parameter_count(models.lenet5()) == 61_706
    net = models.lenet5(image_size=8, padding=2)
    assert net(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(ValueError, match="image_size"):
        models.lenet5(image_size=8)


def test_vgg19_resnet34_and_plain34_multiply_adds():
    """He et al. 2016: VGG-19 19.6 billion, plain and residual 34-layer 3.6 billion."""
    vgg19 = _meta(models.vgg, "vgg19")
    assert round(measure.multiply_adds(vgg19, (1, 3, 224, 224)) / 1e9, 1) == 19.6
    plain = _meta(models.resnet, 34, residual=False)
    zeros = _meta(models.resnet, 34, shortcut="zeros")
    plain_macs = measure.multiply_adds(plain, (1, 3, 224, 224))
    assert plain_macs == measure.multiply_adds(zeros, (1, 3, 224, 224))
    assert int(plain_macs / 1e8) == 36
    assert measure.parameter_count(plain) == measure.parameter_count(zeros)
    assert measure.parameter_count(_meta(models.resnet, 34)) == 21_797_672  # option B


def test_resnet_units_and_bad_arguments():
    unit = models.ResidualUnit(8, 16, stride=2, shortcut="zeros")
    assert unit(torch.randn(2, 8, 6, 6)).shape == (2, 16, 3, 3)
    assert measure.parameter_count(unit.shortcut) == 0
    small = models.resnet((1, 1), widths=(8, 16), stem="small", in_channels=1, num_classes=10)
    assert small(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(ValueError, match="depth"):
        models.resnet(35)
    with pytest.raises(ValueError, match="shortcut"):
        models.ResidualUnit(8, 8, shortcut="other")


def test_densenet_blocks_transitions_and_densenet121():
    block = models.dense_block(6, 64, 32)
    assert block(torch.zeros(1, 64, 4, 4)).shape == (1, 64 + 6 * 32, 4, 4)
    assert models.transition(256)(torch.zeros(1, 256, 8, 8)).shape == (1, 128, 4, 4)
    assert measure.parameter_count(_meta(models.densenet)) == 7_978_856


def test_squeeze_excitation_scales_channels_and_se_resnet50_size():
    se = models.SqueezeExcitation(32, reduction=4)
    x = torch.randn(2, 32, 5, 5)
    y = se(x)
    assert y.shape == x.shape and se.last_weights.shape == (2, 32)
    assert torch.allclose(y, x * se.last_weights[:, :, None, None])
    assert measure.parameter_count(se) == 2 * 32 * 8 + 8 + 32
    plain, se50 = _meta(models.resnet, 50), _meta(models.resnet, 50, se_reduction=16)
    assert measure.parameter_count(plain) == 25_557_032
    assert round(measure.parameter_count(se50) / 1e6, 1) == 28.1


def test_inception_with_and_without_bottleneck():
    """GoogLeNet's inception (3a): 256 channels out, 128 million multiply-adds at 28x28."""
    module = models.Inception(192, 64, 96, 128, 16, 32, 32)
    assert module(torch.zeros(1, 192, 28, 28)).shape == (1, 256, 28, 28)
    assert round(measure.multiply_adds(module, (1, 192, 28, 28)) / 1e6) == 128
    naive = models.Inception(192, 64, 96, 128, 16, 32, 32, bottleneck=False)
    assert naive.out_channels == 64 + 128 + 32 + 192


def test_convnext_steps_keep_the_shape():
    blocks = models.convnext_step_blocks(dim=16)
    assert len(blocks) == len(models.CONVNEXT_STEPS) == 9
    x = torch.randn(2, 16, 6, 6)
    for _, block in blocks:
        assert block(x).shape == x.shape
    ln = models.LayerNorm2d(16)
    expected = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (16,)).permute(0, 3, 1, 2)
    assert torch.allclose(ln(x), expected, atol=1e-6)


def test_attention_and_mixer_shapes():
    x = torch.randn(2, 8, 4, 4)
    assert models.SelfAttention2d(8)(x).shape == x.shape
    tokens = models.patchify(3, 8, 4)(torch.zeros(2, 3, 16, 16)).flatten(2).transpose(1, 2)
    assert tokens.shape == (2, 16, 8)
    assert models.MixerBlock(16, 8, 32, 32)(tokens).shape == (2, 16, 8)


def test_squeezenet_has_about_50_times_fewer_parameters_than_alexnet():
    alexnet, squeezenet = _meta(models.alexnet), _meta(models.squeezenet)
    assert measure.parameter_count(alexnet) == 61_100_840
    assert measure.parameter_count(squeezenet) == 1_248_424
    assert models.squeezenet()(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)


def test_alexnet_2012_layers_and_ablations():
    """227x227 input -> 55x55x96 after layer 1; 62.4M parameters; Zeiler & Fergus's removals."""
    from course_utils import measure, models

    full = models.alexnet_2012()
    assert full[0](torch.zeros(1, 3, 227, 227)).shape == (1, 96, 55, 55)
    assert measure.parameter_count(full) == 62_378_344
    assert measure.parameter_count(models.alexnet_2012(groups=2)) == 60_965_224
    assert (
        measure.parameter_count(full) - measure.parameter_count(models.alexnet_2012(remove=(7,)))
        == 4096 * 4096 + 4096
    )
    with pytest.raises(ValueError, match="remove"):
        models.alexnet_2012(remove=(5,))
