"""Where torch computes: the one place that picks the device, seeds, and reports the setup."""

from __future__ import annotations

import os
import platform
import random
import sys
from importlib import metadata

import numpy as np
import torch

DEVICE_ENV_VAR = "COURSE_DEVICE"
KNOWN_DEVICE_TYPES = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the torch device to compute on: CUDA if present, then Apple's MPS, else the CPU.

    ``prefer`` (an argument) wins over the ``COURSE_DEVICE`` environment variable, which wins
    over auto-detection. Either may be ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"cpu"``; asking
    for a device that is not present raises ``RuntimeError`` instead of silently using another.
    """
    choice = prefer if prefer is not None else os.environ.get(DEVICE_ENV_VAR, "").strip() or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(choice)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device: {choice!r} is not a device name; use one of {', '.join(KNOWN_DEVICE_TYPES)}"
        ) from exc
    if device.type not in KNOWN_DEVICE_TYPES:
        raise ValueError(
            f"device: {device.type!r} is not supported; use one of {', '.join(KNOWN_DEVICE_TYPES)}"
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device: {choice!r} was requested (argument or {DEVICE_ENV_VAR}) but torch sees no "
            "CUDA GPU; unset it or use 'cpu'"
        )
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise RuntimeError(
                f"device: {choice!r} was requested but torch sees only {count} CUDA GPU(s) "
                f"(cuda:0 to cuda:{count - 1})"
            )
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"device: {choice!r} was requested but MPS is not available here")
    return device


def float64_device(device: torch.device | None = None) -> torch.device:
    """Return ``device`` (default: :func:`get_device`), or the CPU where float64 is unsupported.

    Apple's MPS has no float64, and the reference operations compute in float64.
    """
    device = device if device is not None else get_device()
    return torch.device("cpu") if device.type == "mps" else device


def seed_everything(seed: int = 0) -> None:
    """Seed Python, numpy and torch (all GPUs too) and make cuDNN deterministic."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        raise ValueError(f"seed: expected an int in [0, 2**64), got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 (notebooks may use the legacy global RNG)
    torch.manual_seed(int(seed))
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(int(seed))
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


REPORTED_PACKAGES = (
    "numpy",
    "torch",
    "matplotlib",
    "ipywidgets",
    "jupyterlab",
    "nbgrader",
    "scikit-image",
    "scikit-learn",
)


def environment_report(device: torch.device | None = None) -> dict[str, str]:
    """Return versions, the chosen device and, with a GPU, its name and memory, as strings."""
    device = device if device is not None else get_device()
    report = {
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        **{name: _version(name) for name in REPORTED_PACKAGES},
        "device": str(device),
        "cuda available": str(torch.cuda.is_available()),
    }
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        report["gpu"] = props.name
        report["gpu memory"] = f"{props.total_memory / 2**30:.1f} GiB"
    return report


def format_environment_report(report: dict[str, str] | None = None) -> str:
    """Return :func:`environment_report` as aligned ``name: value`` lines."""
    report = report if report is not None else environment_report()
    width = max(len(key) for key in report)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in report.items())


def setup(seed: int = 0, device: str | torch.device | None = None, quiet: bool = False):
    """Seed everything, pick the device and print one line about it; return the device.

    The first code cell of every notebook calls this.
    """
    seed_everything(seed)
    chosen = get_device(device)
    if not quiet:
        extra = ""
        if chosen.type == "cuda":
            report = environment_report(chosen)
            extra = f" ({report['gpu']}, {report['gpu memory']})"
        print(f"course_utils: torch {torch.__version__} on {chosen}{extra}, seed {seed}")
    return chosen
