"""course_utils.explain: activations, occlusion, saliency and class-model images on a tiny network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import explain


@pytest.fixture
def model():
    # class 0 scores the top-left pixel, class 1 the bottom-right one
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 1, bias=False), nn.Flatten(), nn.Linear(2 * 16, 2, bias=False)
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        net[2].weight.zero_()
        net[2].weight[0, 0] = 1.0  # channel 0, pixel (0, 0)
        net[2].weight[1, 15] = 1.0  # channel 0, pixel (3, 3)
    return net


def test_layer_output_and_top_activations(model):
    images = torch.zeros(4, 1, 4, 4)
    for i in range(4):
        images[i, 0, i, i] = i + 1.0
    assert explain.layer_output(model, 0, images).shape == (4, 2, 4, 4)
    order, strengths, positions = explain.top_activations(model, 0, 0, images, k=2)
    assert order.tolist() == [3, 2] and strengths.tolist() == [4.0, 3.0]
    assert positions.tolist() == [[3, 3], [2, 2]]


def test_saliency_is_the_score_gradient(model):
    saliency = explain.saliency_map(model, torch.zeros(1, 4, 4), target=1)
    expected = np.zeros((4, 4))
    expected[3, 3] = 1.0
    assert np.allclose(saliency, expected)


def test_occlusion_hits_only_the_pixel_the_class_reads(model):
    image = torch.zeros(1, 4, 4)
    image[0, 0, 0] = 3.0
    drop = explain.occlusion_map(model, image, target=0, patch=1)
    assert drop.argmax() == 0 and drop[0, 0] > 0.4 and np.allclose(drop.ravel()[1:], 0)


def test_class_model_image_raises_the_score(model):
    images, scores = explain.class_model_image(
        model, [0, 1], torch.zeros(1, 4, 4), steps=20, lr=0.1
    )
    assert images.shape == (2, 1, 4, 4) and scores.shape == (20, 2)
    assert np.all(scores[-1] > scores[0]) and images[0, 0, 0, 0] > 0.5 and images[1, 0, 3, 3] > 0.5


def test_bad_input_is_named(model):
    with pytest.raises(TypeError, match="model"):
        explain.layer_output(nn.Linear(2, 2), 0, torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="layer"):
        explain.layer_output(model, 9, torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="image"):
        explain.saliency_map(model, torch.zeros(4, 4), target=0)
