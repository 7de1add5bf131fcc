"""The shared training loop and the cost counters that every lecture uses."""

from __future__ import annotations

import time

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


class _Clock:
    """A fake ``time()`` for tqdm that a model moves on by one second per training step."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class _OneSecondSteps(nn.Module):
    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock
        self.linear = nn.Linear(4, 2)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.clock.now += 1.0
        return self.linear(inputs)


def _toy_batches(steps: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    inputs = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    return [(inputs, (inputs[:, 0] > 0).long())] * steps


def test_progress_written_to_a_pipe_redraws_about_once_a_minute(monkeypatch, capsys):
    """3 epochs of 200 one-second steps (10 minutes): ~10 time-driven redraws, not 600 (stdout here is no TTY)."""
    import tqdm.std

    clock = _Clock()
    monkeypatch.setattr(tqdm.std, "time", clock)
    history = training.train(_OneSecondSteps(clock), _toy_batches(200), epochs=3, device="cpu")
    assert history.steps == 600
    text = capsys.readouterr().out
    redraws = text.count("\r")  # tqdm starts every redraw with a carriage return
    # the start, 600 s / 60 s, one per epoch (its loss and accuracy), the close: 15
    assert redraws <= 15, f"{redraws} redraws stored for one run"
    assert "600/600" in text and "train acc" in text.splitlines()[-1]


@pytest.mark.slow
def test_progress_in_an_executed_notebook_is_one_output(tmp_path):
    """In a Jupyter kernel the bar is one display output updated in place: nbclient stores one line."""
    import nbformat

    from course_utils.publish.notebooks import execute_notebook

    source = (
        "import time\n"
        "import torch\n"
        "from torch import nn\n"
        "import course_utils as cu\n"
        "\n"
        "class Slow(nn.Linear):\n"
        "    def forward(self, inputs):\n"
        "        time.sleep(0.01)\n"
        "        return super().forward(inputs)\n"
        "\n"
        "inputs = torch.randn(8, 4)\n"
        "batches = [(inputs, (inputs[:, 0] > 0).long())] * 150\n"
        "history = cu.training.train(Slow(4, 2), batches, epochs=2, device='cpu')\n"
        "assert history.steps == 300"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbformat.write(notebook, tmp_path / "progress.ipynb")
    executed, seconds = execute_notebook(tmp_path / "progress.ipynb")
    outputs = executed.cells[0].outputs
    assert seconds > 0 and len(outputs) == 1, [o.output_type for o in outputs]
    assert outputs[0].output_type == "display_data"
    line = outputs[0].data["text/plain"]
    assert "\n" not in line and "300/300" in line and "step/s" in line and "train acc" in line


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


def test_filter_normalized_direction_matches_each_filters_norm_and_skips_biases():
    from course_utils.training import filter_normalized_direction

    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    direction = filter_normalized_direction(model, seed=1)
    weight = model[0].weight.detach()
    assert torch.allclose(
        direction["0.weight"].flatten(1).norm(dim=1), weight.flatten(1).norm(dim=1), atol=1e-6
    )
    assert not direction["0.bias"].any() and not direction["1.weight"].any()
    again = filter_normalized_direction(model, seed=1)
    assert all(torch.equal(direction[k], again[k]) for k in direction)


def test_loss_slice_is_the_loss_at_step_zero_and_restores_the_weights():
    from course_utils.training import filter_normalized_direction, loss_slice

    torch.manual_seed(0)
    model, x, y = torch.nn.Linear(4, 3), torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    before = model.weight.detach().clone()
    direction = filter_normalized_direction(model)
    losses = loss_slice(model, direction, [-1.0, 0.0, 1.0], x, y)
    assert losses[1] == pytest.approx(torch.nn.functional.cross_entropy(model(x), y).item())
    assert losses[0] != losses[1] and torch.equal(model.weight, before) and model.training
    with pytest.raises(ValueError):
        loss_slice(model, {"weight": direction["weight"]}, [0.0], x, y)
