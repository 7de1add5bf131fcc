"""Assignment 3, Part I: training on the digits (the checker measures the network itself)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...validation import check_int
from .._common import (
    _check_cases,
    _checker,
    _report,
    hidden_rng,
)
from ..toolkit import (
    assert_array_close,
    call_student,
    describe_call,
    student_cpu_seconds,
)
from ._shared import (
    DIGITS_BATCH_SIZE,
    DIGITS_LOSS_ATOL,
    DIGITS_LR,
    DIGITS_MIN_ACCURACY,
    DIGITS_PARAMETERS,
    DIGITS_STEPS,
    DIGITS_TIME_LIMIT_S,
)


def _digits_parameters(result: Any, key: str, name: str) -> dict[str, np.ndarray]:
    if not isinstance(result, dict):
        raise AssertionError(
            f"{name} returned {type(result).__name__}; return a dict with 'parameters', 'initial_parameters' and 'losses'"
        )
    if key not in result:
        raise AssertionError(f"{name} returned a dict without {key!r} (it has {sorted(result)})")
    params = result[key]
    if not isinstance(params, dict):
        raise AssertionError(
            f"{name}[{key!r}] is a {type(params).__name__}; make it a dict name -> numpy array (model.state_dict() converted with .numpy())"
        )
    missing = [p for p in DIGITS_PARAMETERS if p not in params]
    if missing:
        raise AssertionError(
            f"{name}[{key!r}] lacks {missing} (it has {sorted(params)}): name the layers conv1, conv2 and "
            "fc, so that state_dict() has conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias"
        )
    arrays = {}
    for p in DIGITS_PARAMETERS:
        value = params[p]
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
            raise AssertionError(
                f"{name}[{key!r}][{p!r}] is {type(value).__name__}; convert it with tensor.detach().cpu().numpy()"
            )
        if not np.all(np.isfinite(value)):
            raise AssertionError(
                f"{name}[{key!r}][{p!r}] contains NaN or inf: did the training diverge?"
            )
        arrays[p] = value.astype(np.float64)
    c1, c2, fc = (
        arrays["conv1.weight"].shape,
        arrays["conv2.weight"].shape,
        arrays["fc.weight"].shape,
    )
    problems = []
    if len(c1) != 4 or c1[1:] != (1, 3, 3):
        problems.append(f"conv1.weight has shape {c1}, expected (C1, 1, 3, 3)")
    elif len(c2) != 4 or c2[1:] != (c1[0], 3, 3):
        problems.append(f"conv2.weight has shape {c2}, expected (C2, {c1[0]}, 3, 3)")
    elif fc != (10, 4 * c2[0]):
        problems.append(
            f"fc.weight has shape {fc}, expected (10, {4 * c2[0]}): the 2x2 maps of {c2[0]} channels, flattened"
        )
    else:
        for p, rows in (("conv1.bias", c1[0]), ("conv2.bias", c2[0]), ("fc.bias", 10)):
            if arrays[p].shape != (rows,):
                problems.append(f"{p} has shape {arrays[p].shape}, expected ({rows},)")
    if problems:
        raise AssertionError(
            f"{name}[{key!r}]: "
            + "; ".join(problems)
            + ". The network is conv 3x3 (padding 1) -> ReLU -> 2x2 max pool -> conv 3x3 (padding 1) -> ReLU -> 2x2 max pool -> linear."
        )
    return arrays


def _digits_logits(params: dict[str, Any], images: Any) -> Any:
    """The reference network (torch's own conv2d and pooling) with the given parameter tensors."""
    import torch.nn.functional as F

    h = F.max_pool2d(
        F.relu(F.conv2d(images, params["conv1.weight"], params["conv1.bias"], padding=1)), 2
    )
    h = F.max_pool2d(
        F.relu(F.conv2d(h, params["conv2.weight"], params["conv2.bias"], padding=1)), 2
    )
    return F.linear(h.flatten(1), params["fc.weight"], params["fc.bias"])


def _digits_reference_run(
    initial: dict[str, np.ndarray], seed: int, steps: int
) -> tuple[list[float], dict[str, np.ndarray]]:
    """Train the reference network (nn.Conv2d's arithmetic) from ``initial`` for ``steps`` Adam steps; return losses and weights."""
    import torch
    import torch.nn.functional as F

    from ...data import digits_dataloaders

    params = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in initial.items()
    }
    optimizer = torch.optim.Adam(list(params.values()), lr=DIGITS_LR)
    train_loader, _ = digits_dataloaders(batch_size=DIGITS_BATCH_SIZE, seed=seed)
    losses: list[float] = []
    while len(losses) < steps:
        for images, labels in train_loader:
            if len(losses) >= steps:
                break
            loss = F.cross_entropy(_digits_logits(params, images.double()), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses, {k: v.detach().numpy() for k, v in params.items()}


def _digits_accuracy(params: dict[str, np.ndarray], seed: int) -> float:
    import torch

    from ...data import digits_dataloaders

    _, test_loader = digits_dataloaders(batch_size=DIGITS_BATCH_SIZE, seed=seed)
    tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    images, labels = test_loader.dataset.tensors
    with torch.no_grad():
        predicted = _digits_logits(tensors, images.double()).argmax(dim=1)
    return float((predicted == labels).double().mean())


def _digits_seed(cases: str, seed: int) -> int:
    return 0 if cases == "visible" else 1 + int(hidden_rng(seed).integers(1000))


@_checker
def check_digits_cnn_steps(
    fn: Callable, cases: str = "visible", seed: int = 0, steps: int = DIGITS_STEPS
) -> None:
    """Check the first ``steps`` losses and weights of ``fn`` (with NumpyConv2d) equal those of the same net with nn.Conv2d, to 1e-6."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    steps = check_int("steps", steps, 1)
    split = _digits_seed(cases, seed)
    options = dict(
        seed=split,
        epochs=1,
        batch_size=DIGITS_BATCH_SIZE,
        lr=DIGITS_LR,
        max_steps=steps,
        verbose=False,
    )
    name = describe_call("train_digits_cnn", **options)
    result = call_student(fn, exercise="train_digits_cnn", **options)
    initial = _digits_parameters(result, "initial_parameters", name)
    trained = _digits_parameters(result, "parameters", name)
    losses = result.get("losses")
    expected, weights = _digits_reference_run(initial, split, steps)
    got = _as_losses(losses, name)
    if got.shape != (steps,):
        raise AssertionError(
            f"{name}['losses'] has {got.size} entries; with max_steps={steps} it must hold the {steps} losses of the steps taken (loss.item() after each batch)"
        )
    wrong = np.flatnonzero(~np.isclose(got, expected, rtol=0, atol=DIGITS_LOSS_ATOL))
    if wrong.size:
        first = int(wrong[0])
        where = (
            "The first loss already differs, before any update: the forward pass differs from the "
            "reference network (conv 3x3 with padding 1, ReLU, 2x2 max pooling, twice, then linear; "
            "float64; mean cross-entropy over the batch; the batches of "
            "cu.data.digits_dataloaders(batch_size, seed)). "
            if first == 0
            else f"The first {first} loss(es) agree, so the forward pass is right; the weights after the "
            "update differ, so a gradient is wrong (check Conv2dFunction.backward and NumpyConv2d, or "
            "the optimiser: torch.optim.Adam(model.parameters(), lr=lr))."
        )
        raise AssertionError(
            f"{name}: the losses of your network (NumpyConv2d) and of the same network with nn.Conv2d "
            f"from the same initial weights differ at step {first}: got {got[first]:.10f}, expected "
            f"{expected[first]:.10f} (allowed: {DIGITS_LOSS_ATOL:g}).\n{where}"
        )
    for p in DIGITS_PARAMETERS:
        assert_array_close(
            trained[p],
            weights[p],
            name=f"{name}['parameters'][{p!r}] after {steps} steps",
            rtol=1e-6,
            atol=1e-8,
        )
    largest = float(np.max(np.abs(got - np.asarray(expected))))
    print(
        f"train_digits_cnn (seed {split}): the first {steps} losses match nn.Conv2d's to {largest:.1e}"
    )
    _report("train_digits_cnn steps", steps, cases)


def _as_losses(losses: Any, name: str) -> np.ndarray:
    try:
        values = np.asarray(losses, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise AssertionError(
            f"{name}['losses'] is {type(losses).__name__}; make it a list or array of floats (loss.item())"
        ) from None
    return values


@_checker
def check_digits_cnn_accuracy(
    fn: Callable,
    cases: str = "visible",
    seed: int = 0,
    minimum: float = DIGITS_MIN_ACCURACY,
    time_limit: float = DIGITS_TIME_LIMIT_S,
) -> None:
    """Train with ``fn(seed=...)`` (its own epochs and settings), then measure the returned weights' test accuracy here: >= ``minimum`` within ``time_limit`` seconds."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    split = _digits_seed(cases, seed)
    name = describe_call("train_digits_cnn", seed=split, verbose=False)
    start = student_cpu_seconds(fn)  # CPU time: the same verdict on a busy machine
    result = call_student(fn, seed=split, verbose=False, exercise="train_digits_cnn")
    seconds = student_cpu_seconds(fn) - start
    params = _digits_parameters(result, "parameters", name)
    accuracy = _digits_accuracy(params, split)
    if not accuracy >= minimum:
        raise AssertionError(
            f"{name}: the returned weights classify {100 * accuracy:.1f} % of the test digits correctly "
            f"(measured by the grader on the test split of cu.data.digits_dataloaders(seed={split})); at "
            f"least {100 * minimum:.0f} % is needed. Train longer or with a larger learning rate, and "
            "return the weights after training (model.state_dict()), not the initial ones."
        )
    if seconds > time_limit:
        raise AssertionError(
            f"{name} took {seconds:.1f} s of CPU time; the limit is {time_limit:.0f} s. Use fewer epochs, or "
            "make conv2d_forward/conv2d_backward loop only over output positions (or kernel taps) "
            "with whole-batch numpy operations inside."
        )
    print(
        f"train_digits_cnn (seed {split}): test accuracy {100 * accuracy:.1f} % in {seconds:.1f} s of CPU time"
    )
    _report("train_digits_cnn accuracy", 1, cases)
