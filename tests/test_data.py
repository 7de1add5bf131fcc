"""course_utils.data: bundled images and digits load offline with the promised shapes and ranges."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from course_utils import data

GRAY = ("camera", "brick", "coins", "moon", "text")
RGB = ("astronaut", "coffee", "chelsea", "grace_hopper")


def test_the_promised_images_are_available():
    names = data.available_images()
    for name in (*GRAY, *RGB):
        assert name in names, f"{name} should ship with scikit-image or matplotlib"


@pytest.mark.parametrize("name", data.available_images())
def test_every_image_is_float_in_unit_range(name):
    image = data.load_image(name)
    assert image.dtype == np.float64
    assert image.ndim in (2, 3)
    if image.ndim == 3:
        assert image.shape[-1] == 3, "RGB images must have 3 channels (alpha dropped)"
    assert 0.0 <= image.min() <= image.max() <= 1.0
    assert image.max() > image.min(), "an image should not be constant"


def test_gray_and_rgb_shapes():
    assert data.load_image("camera").shape == (512, 512)
    for name in GRAY:
        assert data.load_image(name).ndim == 2, name
    for name in RGB:
        assert data.load_image(name).ndim == 3, name
    assert data.load_image("grace_hopper").shape == (600, 512, 3)


def test_size_int_sets_the_shorter_side_and_pair_sets_both():
    assert data.load_image("camera", size=64).shape == (64, 64)
    assert data.load_image("coffee", size=100).shape == (100, 150, 3)
    small = data.load_image("coins", size=(30, 40))
    assert small.shape == (30, 40)
    assert 0.0 <= small.min() <= small.max() <= 1.0


def test_as_gray_converts_rgb():
    gray = data.load_image("astronaut", size=32, as_gray=True)
    assert gray.shape == (32, 32)


def test_returned_images_are_independent_copies():
    first = data.load_image("camera")
    first[:] = 0.0
    assert data.load_image("camera").max() == 1.0


def test_unknown_name_lists_the_available_images():
    with pytest.raises(ValueError, match="unknown image 'lena'") as info:
        data.load_image("lena")
    assert "camera" in str(info.value) and "grace_hopper" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": 3}, TypeError, "name must be a str"),
        ({"size": 0}, ValueError, "size must be >= 1"),
        ({"size": "big"}, TypeError, "size must be None, an int or a pair"),
        ({"size": (10, 0)}, ValueError, r"size\[1\] must be >= 1"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.load_image(**kwargs)


def test_missing_scikit_image_says_what_to_install(monkeypatch):
    data._read_image.cache_clear()
    for module in ("skimage", "skimage.data", "skimage.io", "skimage.transform"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match="pip install scikit-image"):
        data.load_image("camera")
    assert data.available_images() == ["grace_hopper"]
    monkeypatch.undo()
    data._read_image.cache_clear()
    assert data.load_image("camera").shape == (512, 512)


def test_missing_scikit_learn_says_what_to_install(monkeypatch):
    data._digits_arrays.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        data.load_digits()
    monkeypatch.undo()
    data._digits_arrays.cache_clear()


def test_digits_shapes_range_and_labels():
    images, labels = data.load_digits()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float32
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert sorted(np.unique(labels)) == list(range(10))


def test_digits_as_tensors():
    images, labels = data.load_digits(as_tensors=True)
    assert isinstance(images, torch.Tensor) and images.shape == (1797, 1, 8, 8)
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    assert images.device.type == "cpu"
    images, _ = data.load_digits(as_tensors=True, device="cpu")
    assert images.device.type == "cpu"


def test_digits_device_needs_tensors():
    with pytest.raises(ValueError, match="device is only used with as_tensors=True"):
        data.load_digits(device="cpu")
    with pytest.raises(TypeError, match="as_tensors must be a bool"):
        data.load_digits(as_tensors="yes")


def test_dataloaders_batches_and_split_sizes():
    train, test = data.digits_dataloaders(batch_size=32, test_fraction=0.25)
    assert len(train.dataset) + len(test.dataset) == 1797
    assert len(test.dataset) == 450  # ceil(0.25 * 1797), as scikit-learn rounds the test part
    x, y = next(iter(train))
    assert x.shape == (32, 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (32,) and y.dtype == torch.int64
    sizes = [len(batch[1]) for batch in test]
    assert sum(sizes) == 450 and max(sizes) == 32


def test_dataloaders_are_deterministic_and_disjoint():
    def content(loader):
        return torch.cat([x.reshape(len(x), -1) for x, _ in loader])

    train_a, test_a = data.digits_dataloaders(seed=1)
    train_b, test_b = data.digits_dataloaders(seed=1)
    assert torch.equal(content(test_a), content(test_b))
    assert torch.equal(content(train_a), content(train_b)), "the shuffled order must repeat"
    _, test_c = data.digits_dataloaders(seed=2)
    assert not torch.equal(content(test_a), content(test_c)), "another seed, another split"
    train_rows = {tuple(row.tolist()) for row in content(train_a)}
    test_rows = {tuple(row.tolist()) for row in content(test_a)}
    # digits contains a few duplicate images, so allow a handful of coincidences
    assert len(train_rows & test_rows) < 10


def test_dataloaders_split_is_stratified():
    _, test = data.digits_dataloaders(test_fraction=0.2)
    labels = torch.cat([y for _, y in test])
    counts = torch.bincount(labels, minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"test_fraction": 1.0}, ValueError, "test_fraction must be strictly between 0 and 1"),
        ({"test_fraction": "0.2"}, TypeError, "test_fraction must be a float"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
    ],
)
def test_dataloader_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        data.digits_dataloaders(**kwargs)
