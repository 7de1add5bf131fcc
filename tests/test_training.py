"""The shared training loop and the cost counters that every lecture uses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import course_utils as cu
from course_utils import measure, training


def _digits_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 10)
    )


def test_train_learns_digits_and_records_history():
    train_loader, test_loader = cu.data.digits_dataloaders(batch_size=64, seed=0)
    history = training.train(
        _digits_model(), train_loader, test_loader=test_loader, epochs=3, progress=False
    )
    assert history.steps == 3 * len(train_loader)
    assert len(history.epoch_losses) == len(history.test_accuracy) == 3
    assert history.epoch_losses[-1] < history.epoch_losses[0]
    assert history.test_accuracy[-1] > 0.85


def test_train_is_repeatable_and_stops_at_max_steps():
    runs = []
    for _ in range(2):
        train_loader, _ = cu.data.digits_dataloaders(batch_size=32, seed=1)
        runs.append(
            training.train(_digits_model(), train_loader, max_steps=7, seed=3, progress=False)
        )
    assert runs[0].steps == 7
    assert runs[0].losses == runs[1].losses


def test_train_with_sgd_and_float64_model():
    train_loader, _ = cu.data.digits_dataloaders(batch_size=64)
    model = _digits_model().double()
    history = training.train(model, train_loader, optimizer="sgd", lr=0.1, progress=False)
    assert history.train_accuracy and 0.0 <= history.train_accuracy[0] <= 1.0
    assert next(model.parameters()).dtype == torch.float64


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"optimizer": "adagrad"}, "optimizer"),
        ({"optimizer": 3}, "optimizer"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_train_rejects_bad_arguments(kwargs, message):
    train_loader, _ = cu.data.digits_dataloaders()
    with pytest.raises((ValueError, TypeError), match=message):
        training.train(_digits_model(), train_loader, progress=False, **kwargs)


def test_train_rejects_a_non_module():
    with pytest.raises(TypeError, match="model"):
        training.train(lambda x: x, [], progress=False)


def test_parameter_count_and_multiply_adds_of_a_conv_layer():
    layer = nn.Conv2d(3, 6, 5)
    assert measure.parameter_count(layer) == 6 * 3 * 5 * 5 + 6
    assert measure.multiply_adds(layer, (1, 3, 32, 32)) == 28 * 28 * 6 * 3 * 5 * 5
    assert measure.parameter_table(layer) == [("weight", (6, 3, 5, 5), 450), ("bias", (6,), 6)]


def test_multiply_adds_counts_linear_and_keeps_training_mode():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    model.train()
    assert measure.multiply_adds(model, (2, 1, 8, 8)) == 2 * 64 * 10
    assert model.training


def test_multiply_adds_rejects_bad_shape():
    with pytest.raises(ValueError, match="input_shape"):
        measure.multiply_adds(nn.Linear(2, 2), (0, 2))
