"""Shared utilities for the CNN course: one import for lectures, assignments and grading.

Every notebook starts with::

    import course_utils as cu
    device = cu.setup(seed=0)

Submodules load lazily (``cu.viz``, ``cu.reference``, ...), so importing the package is cheap and
a grading kernel that only touches ``cu.checks`` never imports matplotlib or ipywidgets. The
grading engine (``course_utils.grading``) and publishing (``course_utils.publish``) are the
instructor's tools: no notebook imports them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

SUBMODULES = (
    "arithmetic",
    "augment",
    "checks",
    "data",
    "device",
    "digits_nets",
    "explain",
    "filters",
    "measure",
    "models",
    "reference",
    "training",
    "viz",
    "widgets",
)

if TYPE_CHECKING:  # pragma: no cover
    from . import (  # noqa: F401
        arithmetic,
        augment,
        checks,
        data,
        device,
        digits_nets,
        explain,
        filters,
        measure,
        models,
        reference,
        training,
        viz,
        widgets,
    )
    from .device import setup  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "setup":
        from .device import setup

        return setup
    raise AttributeError(f"module 'course_utils' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *SUBMODULES, "setup"])
