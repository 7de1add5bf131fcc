"""course_utils.digits_nets: the small networks the lectures train on the digits, counted and checked."""

from __future__ import annotations

import pytest
import torch

from course_utils import digits_nets, measure


def test_mlp_shapes_and_parameters():
    model = digits_nets.mlp([64, 32, 10])
    assert model(torch.zeros(5, 1, 8, 8)).shape == (5, 10)
    assert measure.parameter_count(model) == 64 * 32 + 32 + 32 * 10 + 10
    assert sum(isinstance(m, torch.nn.ReLU) for m in model) == 1  # none after the last layer


def test_digits_cnn_shapes_and_parameters():
    model = digits_nets.digits_cnn()
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert measure.parameter_count(model) == 80 + 1168 + 2080 + 330


def test_deep_mlp_layers_and_identity_blocks():
    plain = digits_nets.deep_mlp(64, 16, blocks=4, residual=False)
    linear_layers = [m for m in plain.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear_layers) == 2 * 4 + 2
    residual = digits_nets.deep_mlp(64, 16, blocks=2, residual=True)
    block = residual[3]
    with torch.no_grad():
        block.second.weight.zero_()
        block.second.bias.zero_()
        x = torch.rand(4, 16)
        assert torch.equal(block(x), x)  # F(x) = 0: the block is the identity on x >= 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: digits_nets.mlp([64]),
        lambda: digits_nets.mlp("64"),
        lambda: digits_nets.mlp([64, 0]),
        lambda: digits_nets.digits_cnn(channels=(8,)),
        lambda: digits_nets.deep_mlp(64, 0, 2, True),
    ],
)
def test_bad_arguments_raise_value_errors(call):
    with pytest.raises(ValueError):
        call()


def test_residual_must_be_a_bool():
    with pytest.raises(TypeError, match="residual"):
        digits_nets.deep_mlp(64, 8, 1, residual=1)
