"""Interactive lecture widgets (ipywidgets 8): convolution arithmetic, filters, dense blocks.

Each widget is a small object: ``.widget`` is what Jupyter displays (the object also displays
itself), and its state (``output_size``, ``formula``, ``result``, ...) is plain Python, so the
callbacks run headless and tests drive them by setting slider values.
"""

from __future__ import annotations

from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython import get_ipython
from IPython.display import display
from matplotlib.figure import Figure

from . import measure, models, viz
from .arithmetic import conv_output_size, effective_kernel_size
from .filters import CLASSIC_KERNELS, GRADIENT_MAGNITUDE, apply_filter
from .validation import check_array, check_int

__all__ = [
    "CLASSIC_KERNELS",
    "ConvArithmeticExplorer",
    "DenseBlockCounts",
    "DenseBlockExplorer",
    "FilterPlayground",
    "apply_filter",
    "conv_arithmetic_explorer",
    "dense_block_counts",
    "dense_block_explorer",
    "filter_playground",
]

CUSTOM = "custom"
EXPLORER_FIGSIZE = (6.0, 2.3)  # inches: the explorer's diagram, sized for a slide
PLAYGROUND_FIGSIZE = (4.6, 2.3)  # inches: the photo before and after filtering

# slider name -> (label, smallest, largest by default)
EXPLORER_SLIDERS = {
    "input_size": ("input n", 1, 16),
    "kernel_size": ("kernel k", 1, 7),
    "stride": ("stride s", 1, 4),
    "padding": ("padding p", 0, 4),
    "dilation": ("dilation d", 1, 3),
}


def _show_in(output: widgets.Output, figure: Figure | None, text: str = "") -> None:
    """Replace what ``output`` shows; does nothing outside a Jupyter kernel (headless tests)."""
    if figure is not None:
        plt.close(figure)  # the Output shows it; pyplot must not show it a second time
    if get_ipython() is None:
        return
    output.clear_output(wait=True)
    with output:
        if figure is not None:
            display(figure)
        elif text:
            print(text)


class ConvArithmeticExplorer:
    """Sliders for n, k, s, p, d and the output position; shows the size formula and the diagram.

    ``output_size`` is None when the kernel does not fit; ``formula`` is the size formula with
    the numbers filled in and ``message`` explains an illegal or lossy combination ("" if none).
    """

    def __init__(
        self,
        input_size: int = 7,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        dims: int = 2,
        show_dilation: bool = True,
    ) -> None:
        if not isinstance(show_dilation, bool):
            raise TypeError(f"show_dilation must be a bool, got {type(show_dilation).__name__}")
        if not show_dilation and dilation != 1:
            raise ValueError(f"dilation must be 1 when show_dilation is False, got {dilation}")
        self.show_dilation = show_dilation
        start = {
            "input_size": check_int("input_size", input_size, 1),
            "kernel_size": check_int("kernel_size", kernel_size, 1),
            "stride": check_int("stride", stride, 1),
            "padding": check_int("padding", padding, 0),
            "dilation": check_int("dilation", dilation, 1),
        }
        if check_int("dims", dims, 1) not in (1, 2):
            raise ValueError(f"dims must be 1 or 2, got {dims}")
        self.sliders: dict[str, widgets.IntSlider] = {
            name: widgets.IntSlider(
                value=start[name],
                min=low,
                max=max(high, start[name]),
                description=label,
                continuous_update=False,
                style={"description_width": "80px"},
            )
            for name, (label, low, high) in EXPLORER_SLIDERS.items()
        }
        self.sliders["step"] = widgets.IntSlider(
            value=0,
            min=0,
            max=0,
            description="output #",
            continuous_update=False,
            style={"description_width": "80px"},
        )
        if not show_dilation:  # hidden, kept at 1 (for lectures that have not taught dilation)
            self.sliders["dilation"].layout.display = "none"
        self.dims_toggle = widgets.ToggleButtons(options=[("2-D", 2), ("1-D", 1)], value=dims)
        self.formula_label = widgets.HTMLMath()
        self.message_label = widgets.HTML()
        self.output = widgets.Output()
        names = [n for n in self.sliders if show_dilation or n != "dilation"]
        self.widget = widgets.VBox(
            [
                self.dims_toggle,
                widgets.HBox(
                    [
                        widgets.VBox([self.sliders[n] for n in names[:3]]),
                        widgets.VBox([self.sliders[n] for n in names[3:]]),
                    ]
                ),
                self.formula_label,
                self.message_label,
                self.output,
            ]
        )
        self.output_size: int | None = None
        self.formula = ""
        self.formula_latex = ""
        self.message = ""
        self.figure: Figure | None = None
        self._updating = False
        for slider in self.sliders.values():
            slider.observe(self._on_change, names="value")
        self.dims_toggle.observe(self._on_change, names="value")
        self.update()

    @property
    def dims(self) -> int:
        """1 or 2: which diagram is drawn (the sizes are the same per axis)."""
        return self.dims_toggle.value

    def _on_change(self, change) -> None:
        if not self._updating:
            self.update()

    def _values(self) -> tuple[int, int, int, int, int]:
        return tuple(self.sliders[name].value for name in EXPLORER_SLIDERS)

    def update(self) -> None:
        """Recompute output_size, formula and message from the sliders and redraw."""
        n, k, s, p, d = self._values()
        span = effective_kernel_size(k, d)
        numerator = n + 2 * p - span  # = n + 2p - d(k-1) - 1
        if self.show_dilation:
            self.formula = f"floor(({n} + 2*{p} - {d}*({k}-1) - 1)/{s}) + 1"
            self.formula_latex = (
                rf"$\left\lfloor \frac{{{n} + 2\cdot {p} - {d}\cdot({k}-1) - 1}}{{{s}}} "
                r"\right\rfloor + 1"
            )
        else:
            self.formula = f"floor(({n} + 2*{p} - {k})/{s}) + 1"
            self.formula_latex = (
                rf"$\left\lfloor \frac{{{n} + 2\cdot {p} - {k}}}{{{s}}} \right\rfloor + 1"
            )
        if numerator < 0:
            self.output_size = None
            self.formula += f" = floor({numerator}/{s}) + 1: no output"
            self.formula_latex += r"$: no output"
            spans = f"d(k-1)+1 = {span}" if self.show_dilation else f"k = {span}"
            shrink = "the kernel or the dilation" if self.show_dilation else "the kernel"
            self.message = (
                f"Illegal: the kernel spans {spans} cells but the padded input has "
                f"only n + 2p = {n + 2 * p}. Increase the padding or the input size, or shrink "
                f"{shrink}."
            )
        else:
            self.output_size = conv_output_size(n, k, s, p, d)
            self.formula += f" = {self.output_size}"
            self.formula_latex += rf" = {self.output_size}$"
            self.message = self._notes(n, s, p, span, numerator)
        self._sync_step_slider()
        self.formula_label.value = (
            f"output size {self.formula_latex}" if self.output_size else self.formula_latex
        )
        colour = "#b30000" if self.output_size is None else "#8a5a00"
        self.message_label.value = (
            f"<span style='color:{colour}'>{self.message}</span>" if self.message else ""
        )
        self._redraw()

    @property
    def _numerator_text(self) -> str:
        return "n + 2p - d(k-1) - 1" if self.show_dilation else "n + 2p - k"

    def _notes(self, n: int, s: int, p: int, span: int, numerator: int) -> str:
        """Explain a legal combination that loses input or computes outputs from padding only."""
        notes = []
        axes = "row(s) and column(s)" if self.dims == 2 else "cell(s)"
        remainder = numerator % s
        if remainder > p:
            notes.append(
                f"The stride {s} does not divide {self._numerator_text} = {numerator} evenly "
                f"(remainder {remainder}): the last {remainder - p} input {axes} "
                f"{'(plus the padding) ' if p else ''}are never visited by the kernel."
            )
        elif remainder:
            notes.append(
                f"The stride {s} does not divide {numerator} evenly (remainder {remainder}): the "
                f"last {remainder} padding {axes} are never visited (no input is lost)."
            )
        if p >= span:
            notes.append(
                f"The padding p = {p} is at least the kernel span {span}: the outermost outputs "
                "see only padding zeros."
            )
        return " ".join(notes)

    def _sync_step_slider(self) -> None:
        step = self.sliders["step"]
        count = 0 if self.output_size is None else self.output_size**self.dims
        self._updating = True
        try:
            step.max = max(count - 1, 0)
            step.value = min(step.value, step.max)
            step.disabled = count <= 1
        finally:
            self._updating = False

    def _redraw(self) -> None:
        if self.output_size is None:
            self.figure = None
            _show_in(self.output, None, self.message)
            return
        n, k, s, p, d = self._values()
        step = self.sliders["step"].value
        # a fixed, slide-sized figure: the widget's static view must fit a 1280x720 slide
        figure, ax = plt.subplots(figsize=EXPLORER_FIGSIZE, layout="constrained")
        if self.dims == 2:
            viz.draw_conv2d((n, n), k, s, p, d, step=step, ax=ax)
        else:
            viz.draw_conv1d(n, k, s, p, d, step=step, ax=ax)
        self.figure = figure
        _show_in(self.output, figure)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def conv_arithmetic_explorer(
    input_size: int = 7,
    kernel_size: int = 3,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    dims: int = 2,
    show_dilation: bool = True,
) -> ConvArithmeticExplorer:
    """Return a :class:`ConvArithmeticExplorer` (display it, or its ``.widget``) for an n x n input.

    ``show_dilation=False`` hides the dilation slider (kept at 1) and drops d from the formula.
    """
    return ConvArithmeticExplorer(
        input_size, kernel_size, stride, padding, dilation, dims, show_dilation
    )


class FilterPlayground:
    """A menu of classic kernels, nine editable weights, and the photo before and after filtering.

    Choosing a named kernel fills the weights; editing a weight switches the menu to "custom".
    ``result`` holds the last filtered image (H, W) or (H, W, 3) as float64.
    """

    def __init__(self, image: object = None, kernel: str = "sharpen") -> None:
        if image is None:
            from .data import load_image

            image = load_image("camera", size=256)
        self.image = check_array("image", image, (2, 3))
        if self.image.ndim == 3 and self.image.shape[-1] != 3:
            raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {self.image.shape}")
        options = [*CLASSIC_KERNELS, GRADIENT_MAGNITUDE, CUSTOM]
        if kernel not in options:
            raise ValueError(f"kernel must be one of {options}, got {kernel!r}")
        self.kernel_choice = widgets.Dropdown(options=options, value=kernel, description="kernel")
        self.kernel_cells = [
            widgets.FloatText(value=0.0, step=0.1, layout=widgets.Layout(width="70px"))
            for _ in range(9)
        ]
        grid = widgets.GridBox(
            self.kernel_cells, layout=widgets.Layout(grid_template_columns="repeat(3, 75px)")
        )
        self.note = widgets.HTML()
        self.output = widgets.Output()
        self.widget = widgets.VBox(
            [widgets.HBox([widgets.VBox([self.kernel_choice, self.note]), grid]), self.output]
        )
        self.result: np.ndarray | None = None
        self.figure: Figure | None = None
        self._filling = False
        self.kernel_choice.observe(self._on_choice, names="value")
        for cell in self.kernel_cells:
            cell.observe(self._on_cell, names="value")
        self._fill_cells(kernel)
        self.update()

    @property
    def kernel(self) -> np.ndarray:
        """The 3x3 weights in the editors (for "gradient magnitude": sobel x)."""
        return np.array([cell.value for cell in self.kernel_cells], dtype=float).reshape(3, 3)

    def _fill_cells(self, name: str) -> None:
        if name == CUSTOM:
            return
        weights = CLASSIC_KERNELS["sobel x" if name == GRADIENT_MAGNITUDE else name]
        self._filling = True
        try:
            for cell, value in zip(self.kernel_cells, weights.ravel(), strict=True):
                cell.value = float(value)
        finally:
            self._filling = False

    def _on_choice(self, change) -> None:
        if self._filling:
            return
        self._fill_cells(change["new"])
        self.update()

    def _on_cell(self, change) -> None:
        if self._filling:
            return
        if self.kernel_choice.value != CUSTOM:
            self._filling = True
            try:
                self.kernel_choice.value = CUSTOM
            finally:
                self._filling = False
        self.update()

    def update(self) -> None:
        """Filter the image with the chosen kernel, store ``result`` and redraw."""
        name = self.kernel_choice.value
        spec = self.kernel if name == CUSTOM else name
        self.result = apply_filter(self.image, spec)
        self.note.value = (
            "sqrt(sobel_x² + sobel_y²); the weights show sobel x"
            if name == GRADIENT_MAGNITUDE
            else ""
        )
        self.figure = viz.plot_filter_bank(self.image, {name: spec}, ncols=2)
        self.figure.set_size_inches(*PLAYGROUND_FIGSIZE)  # fits a slide below the controls
        _show_in(self.output, self.figure)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def filter_playground(image: object = None, *, kernel: str = "sharpen") -> FilterPlayground:
    """Return a :class:`FilterPlayground` on ``image`` (H, W) or (H, W, 3); default: the camera man."""
    return FilterPlayground(image, kernel)


# ------------------------------------------------------------------ DenseNet explorer

DENSE_FIGSIZE = (6.0, 2.2)  # inches: the parameters-per-layer bars, sized for a slide
# slider name -> (label, smallest, largest, step)
DENSE_SLIDERS = {
    "num_layers": ("layers L", 1, 24, 1),
    "growth_rate": ("growth k", 4, 48, 4),
    "in_channels": ("input k0", 16, 256, 16),
}


class DenseBlockCounts(NamedTuple):
    """What a dense block and the transition layer after it hold, counted on built modules."""

    channels_seen: list[int]  # input channels of layer 1..L: k0 + (l - 1) k
    out_channels: int  # k0 + L k
    layer_parameters: list[int]
    parameters: int  # the whole block
    transition_channels: int  # floor(compression * out_channels)
    transition_parameters: int


def dense_block_counts(
    num_layers: int,
    in_channels: int,
    growth_rate: int,
    bottleneck: bool = True,
    compression: float = 0.5,
) -> DenseBlockCounts:
    """Channels and parameters of a dense block (N, k0, H, W) -> (N, k0 + L k, H, W) + transition.

    The block and the transition layer are built (on the meta device: shapes only) with
    :mod:`course_utils.models` and counted with :func:`course_utils.measure.parameter_count`.
    """
    check_int("num_layers", num_layers, 1)
    check_int("in_channels", in_channels, 1)
    check_int("growth_rate", growth_rate, 1)
    with torch.device("meta"):
        block = models.dense_block(num_layers, in_channels, growth_rate, bottleneck)
        out_channels = in_channels + num_layers * growth_rate
        after = models.transition(out_channels, compression)
    layer_parameters = [measure.parameter_count(layer) for layer in block]
    convs = [m for m in after.modules() if isinstance(m, torch.nn.Conv2d)]
    return DenseBlockCounts(
        channels_seen=[layer.new_features[0].num_features for layer in block],
        out_channels=out_channels,
        layer_parameters=layer_parameters,
        parameters=measure.parameter_count(block),
        transition_channels=convs[0].out_channels,
        transition_parameters=measure.parameter_count(after),
    )


class DenseBlockExplorer:
    """Sliders for a dense block's layers L, growth rate k and input channels k0, a bottleneck box.

    Shows the channels each layer sees, the block's and the transition layer's output channels,
    the parameter counts, and a bar per layer. ``counts`` (:class:`DenseBlockCounts`) and
    ``summary`` (the text shown) are plain Python, so tests drive the explorer by its sliders.
    """

    def __init__(
        self,
        num_layers: int = 6,
        growth_rate: int = 32,
        in_channels: int = 64,
        bottleneck: bool = True,
    ) -> None:
        start = {"num_layers": num_layers, "growth_rate": growth_rate, "in_channels": in_channels}
        self.sliders: dict[str, widgets.IntSlider] = {}
        for name, (label, low, high, step) in DENSE_SLIDERS.items():
            value = check_int(name, start[name], low)
            self.sliders[name] = widgets.IntSlider(
                value=value,
                min=low,
                max=max(high, value),
                step=step,
                description=label,
                continuous_update=False,
                style={"description_width": "80px"},
            )
        if not isinstance(bottleneck, bool):
            raise TypeError(f"bottleneck must be a bool, got {type(bottleneck).__name__}")
        self.bottleneck_box = widgets.Checkbox(value=bottleneck, description="1x1 bottleneck (4k)")
        self.summary_label = widgets.HTML()
        self.output = widgets.Output()
        self.widget = widgets.VBox(
            [
                widgets.HBox([*self.sliders.values(), self.bottleneck_box]),
                self.summary_label,
                self.output,
            ]
        )
        self.counts: DenseBlockCounts | None = None
        self.summary = ""
        self.figure: Figure | None = None
        for control in [*self.sliders.values(), self.bottleneck_box]:
            control.observe(lambda change: self.update(), names="value")
        self.update()

    def update(self) -> None:
        """Rebuild the block from the controls, recount and redraw."""
        L, k, k0 = (self.sliders[name].value for name in DENSE_SLIDERS)
        counts = dense_block_counts(L, k0, k, self.bottleneck_box.value)
        self.counts = counts
        seen = counts.channels_seen
        listed = ", ".join(map(str, seen)) if L <= 8 else f"{seen[0]}, {seen[1]}, ..., {seen[-1]}"
        self.summary = (
            f"layer l sees k0 + (l-1)k channels: {listed}; the block outputs {counts.out_channels}, "
            f"the transition layer {counts.transition_channels}. Parameters: block "
            f"{counts.parameters:,}, transition {counts.transition_parameters:,}."
        )
        self.summary_label.value = self.summary
        figure, ax = plt.subplots(figsize=DENSE_FIGSIZE, layout="constrained")
        ax.bar(
            range(1, L + 1),
            counts.layer_parameters,
            color=viz.KERNEL_COLOR,
            edgecolor=viz.EDGE_COLOR,
        )
        ax.set_xlabel("layer l")
        ax.set_ylabel("parameters")
        ax.set_title(f"Parameters per layer (L = {L}, k = {k}, k0 = {k0})", fontsize=10)
        self.figure = figure
        _show_in(self.output, figure)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def dense_block_explorer(
    num_layers: int = 6, growth_rate: int = 32, in_channels: int = 64, *, bottleneck: bool = True
) -> DenseBlockExplorer:
    """Return a :class:`DenseBlockExplorer`; the defaults are DenseNet-121's first block."""
    return DenseBlockExplorer(num_layers, growth_rate, in_channels, bottleneck)
