"""One training loop for every lecture: seeded, device-aware, with a progress bar.

Every network a lecture trains goes through :func:`train`, so the lectures agree on what an
"epoch", a "loss curve" and an "accuracy" are, and all of them use the GPU when one is present::

    train_loader, test_loader = cu.data.digits_dataloaders(batch_size=64)
    model = make_model()                      # built after cu.setup(seed=...) for repeatable weights
    history = cu.training.train(model, train_loader, test_loader=test_loader, epochs=5, lr=0.01)
    history.test_accuracy[-1]                 # fraction in [0, 1]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .device import get_device, seed_everything
from .validation import check_int

OPTIMIZERS = ("adam", "sgd")
LIVE_REFRESH_S = 1.0  # a bar someone watches (terminal, notebook) redraws at most once a second
LOG_REFRESH_S = 60.0  # a bar written to a file or pipe: once a minute, plus once per epoch


class _DisplayLine:
    """A write-only file for tqdm in a Jupyter kernel: the bar's latest state as ONE output.

    tqdm redraws its line after a carriage return; on stdout an executed notebook (nbclient)
    would store every redraw as an output of its own. Here the first redraw is displayed with a display id
    and the later ones update that output in place: JupyterLab shows it live and nbclient
    stores only its last state (plain text: no widget state, unlike ``tqdm.notebook``).
    """

    def __init__(self) -> None:
        self._handle: Any = None

    def write(self, text: str) -> int:
        line = text.split("\r")[-1].rstrip()
        if line.strip():
            from IPython.display import display

            data = {"text/plain": line}
            if self._handle is None:
                self._handle = display(data, raw=True, display_id=True)
            else:
                self._handle.update(data, raw=True)
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered."""


def _in_jupyter_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (JupyterLab, nbclient), without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def _progress_output() -> tuple[Any, float]:
    """Where the progress bar goes and its least interval between redraws, in seconds."""
    if _in_jupyter_kernel():
        return _DisplayLine(), LIVE_REFRESH_S
    interactive = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
    return sys.stdout, LIVE_REFRESH_S if interactive else LOG_REFRESH_S


@dataclass
class History:
    """What a training run recorded: one loss per step, one accuracy per epoch, the wall time."""

    losses: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        """The number of optimizer steps taken."""
        return len(self.losses)


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def make_optimizer(
    model: nn.Module,
    optimizer: str = "adam",
    lr: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """Return ``torch.optim.Adam`` or ``torch.optim.SGD`` over ``model``'s parameters."""
    _check_model(model)
    lr = _check_positive("lr", lr)
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
        )
    raise ValueError(
        f"optimizer must be one of {OPTIMIZERS} or a torch optimizer, got {optimizer!r}"
    )


def _batches(loader: Iterable, device: torch.device):
    for batch in loader:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError("each batch of the loader must be a pair (inputs, targets)")
        inputs, targets = batch
        yield inputs.to(device), targets.to(device)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable) -> float:
    """Return the accuracy in [0, 1] of ``model`` (logits (B, classes)) over ``loader``'s batches."""
    _check_model(model)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for inputs, targets in _batches(loader, device):
            dtype = next(model.parameters(), inputs).dtype
            logits = model(inputs.to(dtype) if inputs.is_floating_point() else inputs)
            correct += int((logits.argmax(dim=1) == targets).sum())
            total += int(targets.numel())
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("loader: it yielded no examples to evaluate on")
    return correct / total


def train(
    model: nn.Module,
    train_loader: Iterable,
    *,
    epochs: int = 1,
    lr: float = 0.01,
    optimizer: str | torch.optim.Optimizer = "adam",
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    test_loader: Iterable | None = None,
    scheduler: Any = None,
    max_steps: int | None = None,
    seed: int | None = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    description: str = "training",
) -> History:
    """Train ``model`` on ``train_loader``'s (inputs, targets) batches; return its :class:`History`.

    The model moves to ``device`` (default: :func:`course_utils.device.get_device`, the GPU when
    present) and every batch follows it, in the model's dtype. ``optimizer`` is ``"adam"``,
    ``"sgd"`` (built with ``lr``) or a ready optimizer; ``loss_fn(logits, targets)`` defaults to
    the mean cross-entropy; ``scheduler`` (optional) steps once per epoch. ``seed`` seeds torch
    before the first step (dropout, shuffling without a generator); ``max_steps`` stops early.
    The accuracy is recorded per epoch: on ``test_loader`` when given, else on the training
    batches. ``progress`` shows one tqdm bar (steps, rate, time left, and per epoch the loss and
    the accuracy). In a Jupyter kernel it is one output updated in place, so an executed notebook
    stores one line per run; on a terminal it redraws once a second; written to a file or pipe
    once a minute and at the end of every epoch.
    """
    _check_model(model)
    epochs = check_int("epochs", epochs, 1)
    if max_steps is not None:
        max_steps = check_int("max_steps", max_steps, 1)
    if seed is not None:
        seed_everything(seed)
    target = get_device(device)
    model.to(target)
    dtype = next(model.parameters()).dtype
    if isinstance(optimizer, str):
        optimizer = make_optimizer(model, optimizer, lr)
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be 'adam', 'sgd' or a torch.optim.Optimizer, got "
            f"{type(optimizer).__name__}"
        )
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    try:
        steps_per_epoch = len(train_loader)  # type: ignore[arg-type]
    except TypeError:
        steps_per_epoch = None
    total = None if steps_per_epoch is None else epochs * steps_per_epoch
    if total is not None and max_steps is not None:
        total = min(total, max_steps)

    from tqdm import tqdm

    history = History()
    start = time.perf_counter()
    output, refresh_s = _progress_output() if progress else (sys.stdout, LIVE_REFRESH_S)
    bar = tqdm(
        total=total,
        desc=description,
        unit="step",
        file=output,
        disable=not progress,
        mininterval=refresh_s,
        maxinterval=max(refresh_s, 10.0),  # tqdm's monitor would otherwise redraw every 10 s
        ascii=True,
        dynamic_ncols=False,
        ncols=100,
    )
    with bar:
        for _ in range(epochs):
            model.train()
            epoch_loss, epoch_steps = 0.0, 0
            for inputs, targets in _batches(train_loader, target):
                if max_steps is not None and history.steps >= max_steps:
                    break
                if inputs.is_floating_point():
                    inputs = inputs.to(dtype)
                loss = loss_fn(model(inputs), targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                value = float(loss.detach())
                history.losses.append(value)
                epoch_loss += value
                epoch_steps += 1
                bar.update(1)
            if epoch_steps == 0:
                break
            history.epoch_losses.append(epoch_loss / epoch_steps)
            if scheduler is not None:
                scheduler.step()
            postfix = {"loss": f"{history.epoch_losses[-1]:.3f}"}
            if test_loader is not None:
                history.test_accuracy.append(evaluate(model, test_loader))
                postfix["test acc"] = f"{history.test_accuracy[-1]:.1%}"
            else:
                history.train_accuracy.append(evaluate(model, train_loader))
                postfix["train acc"] = f"{history.train_accuracy[-1]:.1%}"
            bar.set_postfix(postfix, refresh=True)
    history.seconds = time.perf_counter() - start
    return history


def filter_normalized_direction(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random direction in ``model``'s weight space, scaled filter by filter (Li et al. 2018).

    Each weight of two or more dimensions gets Gaussian noise of its shape, every filter (slice
    along the first axis) rescaled to the norm of the same filter in the model; biases and
    normalization parameters (one dimension) get zeros. Returns ``{name: tensor}``.
    """
    _check_model(model)
    generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
    direction = {}
    for name, weight in model.named_parameters():
        weight = weight.detach()
        if weight.dim() < 2:
            direction[name] = torch.zeros_like(weight)
            continue
        noise = torch.randn(weight.shape, generator=generator, dtype=weight.dtype).to(weight.device)
        axes = tuple(range(1, weight.dim()))
        norm = torch.linalg.vector_norm
        scale = norm(weight, dim=axes, keepdim=True) / norm(noise, dim=axes, keepdim=True)
        direction[name] = noise * scale
    return direction


def loss_slice(
    model: nn.Module,
    direction: dict[str, torch.Tensor],
    steps: Iterable[float],
    inputs: torch.Tensor,
    targets: torch.Tensor,
) -> list[float]:
    """Mean cross-entropy on (inputs, targets) at the weights ``w + step * direction``, per step.

    The model is evaluated in eval mode and its weights are restored afterwards.
    """
    _check_model(model)
    params = dict(model.named_parameters())
    if set(direction) != set(params):
        raise ValueError("direction must have one tensor per named parameter of the model")
    saved = {name: p.detach().clone() for name, p in params.items()}
    was_training, losses = model.training, []
    model.eval()
    try:
        with torch.no_grad():
            for step in steps:
                for name, p in params.items():
                    p.copy_(saved[name] + float(step) * direction[name])
                losses.append(nn.functional.cross_entropy(model(inputs), targets).item())
    finally:
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(saved[name])
        model.train(was_training)
    return losses
