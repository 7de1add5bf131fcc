"""course_utils.augment: shifts, rotations, scalings and elastic distortions of (N, C, H, W) batches."""

from __future__ import annotations

import pytest
import torch

from course_utils import augment


def _dot(row: int, col: int, size: int = 8) -> torch.Tensor:
    image = torch.zeros(1, 1, size, size)
    image[0, 0, row, col] = 1.0
    return image


def test_identity_and_integer_shift_move_pixels_exactly():
    image = _dot(2, 3)
    assert torch.allclose(augment.affine(image), image, atol=1e-6)
    moved = augment.affine(image, shift=(1, 2))
    assert moved[0, 0].nonzero().tolist() == [[3, 5]]


def test_rotation_by_90_degrees_is_counter_clockwise_on_screen():
    rotated = augment.affine(_dot(2, 3), degrees=90)
    assert torch.allclose(rotated, torch.rot90(_dot(2, 3), 1, dims=(2, 3)), atol=1e-5)


def test_scale_two_enlarges_about_the_centre():
    image = torch.zeros(1, 1, 8, 8)
    image[0, 0, 3:5, 3:5] = 1.0
    assert augment.affine(image, scale=2.0)[0, 0].sum() == pytest.approx(16.0, abs=1e-4)


def test_elastic_with_zero_field_is_identity_and_random_one_is_repeatable():
    images = torch.rand(3, 1, 8, 8)
    assert torch.allclose(augment.elastic(images, field=torch.zeros(3, 2, 8, 8)), images, atol=1e-6)
    first = augment.elastic(images, 3.0, 1.0, torch.Generator().manual_seed(1))
    second = augment.elastic(images, 3.0, 1.0, torch.Generator().manual_seed(1))
    assert torch.equal(first, second) and not torch.allclose(first, images)


def test_augmented_loader_transforms_each_batch_and_keeps_targets():
    data = [(torch.ones(2, 1, 4, 4), torch.tensor([0, 1]))]
    loader = augment.AugmentedLoader(data, augment.random_affine, max_shift=1.0, max_degrees=10)
    assert len(loader) == 1
    ((images, targets),) = list(loader)
    assert images.shape == (2, 1, 4, 4) and targets.tolist() == [0, 1]


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="images"):
        augment.affine([[1.0]])
    with pytest.raises(ValueError, match="scale"):
        augment.affine(torch.zeros(1, 1, 4, 4), scale=0.0)
    with pytest.raises(ValueError, match="shift"):
        augment.affine(torch.zeros(2, 1, 4, 4), shift=torch.zeros(3, 2))
