"""A picker over precomputed results (Lecture 3): initialisation std, learning rate.

The expensive part (simulating a deep stack, training a small net) runs once per value
before the widget is built; choosing another value only redraws. The control is a row of toggle
buttons (a few values, in order), which the static export shows as the chosen value. ``draw(value)`` returns a matplotlib
figure; the widget shows it in an ``Output`` (so an exported page shows the first state) and keeps
``value`` and ``figure`` as plain Python, so tests drive it headless by setting ``buttons.value``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython import get_ipython
from IPython.display import display
from matplotlib.figure import Figure

__all__ = ["PrecomputedPicker", "precomputed_picker"]


class PrecomputedPicker:
    """Toggle buttons over ``values`` that redraw ``draw(value)`` when another is chosen."""

    def __init__(
        self,
        values: Sequence[Any],
        draw: Callable[[Any], Figure],
        description: str,
        value: Any = None,
        labels: Sequence[str] | None = None,
    ) -> None:
        values = list(values)
        if not values:
            raise ValueError("values must not be empty")
        if not callable(draw):
            raise TypeError("draw must be callable")
        labels = [str(v) for v in values] if labels is None else [str(label) for label in labels]
        if len(labels) != len(values):
            raise ValueError(f"{len(labels)} labels for {len(values)} values")
        start = values[0] if value is None else value
        if start not in values:
            raise ValueError(f"value {start!r} is not one of {values!r}")
        self.draw = draw
        self.buttons = widgets.ToggleButtons(
            options=list(zip(labels, values, strict=True)),
            value=start,
            description=description,
            style={"description_width": "initial", "button_width": "auto"},
        )
        self.output = widgets.Output()
        self.widget = widgets.VBox([self.buttons, self.output])
        self.figure: Figure | None = None
        self.buttons.observe(lambda _change: self.update(), names="value")
        self.update()

    @property
    def value(self) -> Any:
        """The chosen value."""
        return self.buttons.value

    @property
    def values(self) -> list[Any]:
        """Every value that can be chosen, in order."""
        return [v for _, v in self.buttons.options]

    def update(self) -> None:
        """Redraw for the chosen value (outside a kernel only ``figure`` changes)."""
        self.figure = self.draw(self.buttons.value)
        plt.close(self.figure)  # the Output shows it; pyplot must not show it a second time
        if get_ipython() is None:
            return
        self.output.clear_output(wait=True)
        with self.output:
            display(self.figure)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def precomputed_picker(
    values: Sequence[Any],
    draw: Callable[[Any], Figure],
    description: str,
    value: Any = None,
    labels: Sequence[str] | None = None,
) -> PrecomputedPicker:
    """Build a :class:`PrecomputedPicker` (see there)."""
    return PrecomputedPicker(values, draw, description, value=value, labels=labels)
