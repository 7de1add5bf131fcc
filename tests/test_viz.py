"""course_utils.viz: every picture draws headless, returns its Figure, and shows the right numbers."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils import reference, viz

RNG = np.random.default_rng(0)
SMALL_IMAGE = RNG.random((24, 32))


@pytest.fixture(autouse=True)
def _close_figures(monkeypatch):
    """Fail on any plt.show() and close every figure a test made."""

    def forbidden(*args, **kwargs):
        raise AssertionError("course_utils.viz must never call plt.show()")

    monkeypatch.setattr(plt, "show", forbidden)
    yield
    plt.close("all")


def texts(target, prefix: str) -> dict[str, str]:
    """Texts of a figure or axes whose gid starts with ``prefix``, keyed by gid."""
    axes = target.axes if isinstance(target, Figure) else [target]
    return {
        t.get_gid(): t.get_text()
        for ax in axes
        for t in ax.texts
        if t.get_gid() and t.get_gid().startswith(prefix)
    }


def all_text(fig: Figure) -> str:
    parts = [t.get_text() for ax in fig.axes for t in ax.texts]
    parts += [ax.get_title() for ax in fig.axes]
    if fig._suptitle is not None:
        parts.append(fig._suptitle.get_text())
    return "\n".join(parts)


EVERY_FUNCTION = {
    "show_image": lambda: viz.show_image(SMALL_IMAGE, title="x"),
    "show_grid": lambda: viz.show_grid(RNG.random((5, 6, 6))),
    "show_kernels": lambda: viz.show_kernels(RNG.standard_normal((2, 2, 3, 3))),
    "show_feature_maps": lambda: viz.show_feature_maps(RNG.random((4, 6, 6))),
    "draw_conv1d": lambda: viz.draw_conv1d([1, 2, 3, 4], [1, -1]),
    "draw_conv2d": lambda: viz.draw_conv2d(RNG.random((4, 4)), np.ones((2, 2))),
    "draw_pooling": lambda: viz.draw_pooling(RNG.random((4, 4))),
    "draw_receptive_field": lambda: viz.draw_receptive_field(),
    "draw_receptive_field_2d": lambda: viz.draw_receptive_field_2d(),
    "draw_transposed_conv": lambda: viz.draw_transposed_conv(),
    "draw_dilated_conv": lambda: viz.draw_dilated_conv(),
    "plot_continuous_convolution": lambda: viz.plot_continuous_convolution(),
    "draw_conv_volume": lambda: viz.draw_conv_volume(),
    "plot_filter_bank": lambda: viz.plot_filter_bank(SMALL_IMAGE, ["box blur", "sobel x"]),
}


@pytest.mark.parametrize("name", list(EVERY_FUNCTION))
def test_every_function_returns_a_figure(name):
    fig = EVERY_FUNCTION[name]()
    assert isinstance(fig, Figure), f"{name} must return the Figure it drew"
    fig.canvas.draw()  # renders headless without warnings (e.g. no missing glyphs)


AXES_FUNCTIONS = {
    "show_image": lambda ax: viz.show_image(SMALL_IMAGE, ax=ax),
    "draw_conv1d": lambda ax: viz.draw_conv1d(5, 3, ax=ax),
    "draw_conv2d": lambda ax: viz.draw_conv2d((5, 5), 3, ax=ax),
    "draw_pooling": lambda ax: viz.draw_pooling(RNG.random((4, 4)), ax=ax),
    "draw_receptive_field": lambda ax: viz.draw_receptive_field(ax=ax),
    "draw_receptive_field_2d": lambda ax: viz.draw_receptive_field_2d(ax=ax),
    "draw_transposed_conv": lambda ax: viz.draw_transposed_conv(ax=ax),
    "draw_dilated_conv": lambda ax: viz.draw_dilated_conv(ax=ax),
    "plot_continuous_convolution": lambda ax: viz.plot_continuous_convolution(ax=ax),
    "draw_conv_volume": lambda ax: viz.draw_conv_volume(ax=ax),
}


@pytest.mark.parametrize("name", list(AXES_FUNCTIONS))
def test_given_axes_are_drawn_on_and_returned(name):
    fig, ax = plt.subplots()
    assert AXES_FUNCTIONS[name](ax) is ax
    assert len(fig.axes) == 1


def test_ax_must_be_an_axes():
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        viz.draw_conv1d(5, 3, ax="left")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, "3"),
        (3.333333, "3.33"),
        (0.5, "0.5"),
        (-0.0, "0"),
        (-1.25, "-1.25"),
        (1e-12, "0"),
        (1 / 3, "1/3"),
        (10 / 3, "10/3"),
        (-7 / 6, "-7/6"),
        (0.25, "0.25"),
    ],
)
def test_cell_values_are_written_briefly(value, expected):
    assert viz._common._format_value(value) == expected


# --- draw_conv1d ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "w", "stride", "padding", "dilation"),
    [
        (np.arange(1.0, 6.0), [1.0, 0.0, -1.0], 1, 0, 1),
        (np.arange(6.0) / 3, [1.0, 2.0], 1, "same", 1),  # asymmetric: (0, 1)
        (np.arange(9.0), [1.0, 2.0, 1.0], 1, 1, 2),  # dilated
        (np.arange(8.0), [1.0, 1.0, 1.0], 2, 0, 1),  # stride does not divide evenly
        (np.arange(4.0), [2.5], 1, 0, 1),  # 1x1 kernel
        (np.arange(5.0), [1.0, -2.0, 1.0], 2, "full", 1),
    ],
)
def test_conv1d_output_row_matches_reference(x, w, stride, padding, dilation):
    expected = reference.conv1d(
        np.asarray(x)[None, None],
        np.asarray(w)[None, None],
        stride=stride,
        padding=padding,
        dilation=dilation,
    )[0, 0]
    fig = viz.draw_conv1d(x, w, stride, padding, dilation, step=len(expected) - 1)
    written = texts(fig, "output-")
    assert written == {
        f"output-0-{j}": viz._common._format_value(v) for j, v in enumerate(expected)
    }
    assert f"output length {len(expected)}" in fig.axes[0].get_title()


def test_conv1d_same_padding_is_asymmetric_and_drawn():
    fig = viz.draw_conv1d(np.arange(1.0, 7.0), [1.0, 1.0], padding="same")
    title = fig.axes[0].get_title()
    assert "'same' (0, 1)" in title and "output length 6" in title
    row = texts(fig, "input-")
    assert len(row) == 7 and row["input-0-6"] == "0" and row["input-0-0"] == "1"


def test_conv1d_shows_outputs_up_to_step_only():
    fig = viz.draw_conv1d(np.arange(5.0), [1.0, 1.0, 1.0], step=1)
    assert sorted(texts(fig, "output-")) == ["output-0-0", "output-0-1"]
    fig = viz.draw_conv1d(np.arange(5.0), [1.0, 1.0, 1.0], step=1, show_all_outputs=True)
    assert len(texts(fig, "output-")) == 3


def test_conv1d_dilated_taps_are_spaced_by_the_dilation():
    fig = viz.draw_conv1d(np.arange(9.0), [1.0, 2.0, 3.0], dilation=2, step=1)
    ax = fig.axes[0]
    tap_x = sorted(
        t.get_position()[0] for t in ax.texts if (t.get_gid() or "").startswith("kernel")
    )
    assert np.allclose(np.diff(tap_x), 2.0)
    assert tap_x[0] == pytest.approx(1.5), "output 1 with stride 1 starts at input cell 1"


def test_conv1d_from_lengths_draws_without_values():
    fig = viz.draw_conv1d(7, 3, stride=2, padding="same", step=3)
    assert not texts(fig, "output-") and not texts(fig, "input-")
    assert "output length 4" in fig.axes[0].get_title()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.ones((2, 2))}, ValueError, "x must have 1 dimensions"),
        ({"x": "abc"}, TypeError, "x must be a numeric array"),
        ({"w": np.ones(7)}, ValueError, "kernel spans"),
        ({"stride": 0}, ValueError, "stride must be >= 1"),
        ({"dilation": 1.5}, TypeError, "dilation must be an int"),
        ({"padding": "wide"}, ValueError, "padding must be an int or one of"),
        ({"step": 3}, ValueError, "step must be smaller than the output length 3"),
        ({"x": []}, ValueError, "x must not be empty"),
    ],
)
def test_conv1d_rejects_bad_input(kwargs, error, match):
    arguments = {"x": np.arange(5.0), "w": np.ones(3), **kwargs}
    with pytest.raises(error, match=match):
        viz.draw_conv1d(**arguments)


# --- draw_conv2d ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "dilation"),
    [
        ((5, 5), (3, 3), 1, 1, 1),
        ((6, 5), (2, 2), 2, "same", 1),  # asymmetric "same" padding
        ((7, 7), (3, 3), 1, 0, 2),  # dilated
        ((7, 6), (3, 2), 2, 0, 1),  # stride 2 leaves a column unvisited
        ((4, 4), (1, 1), 1, 0, 1),  # 1x1 kernel
        ((5, 6), (3, 3), (1, 2), (1, 0), (1, 1)),  # per-axis settings
    ],
)
def test_conv2d_output_grid_matches_reference(shape, kernel, stride, padding, dilation):
    x, w = RNG.integers(-3, 4, shape).astype(float), RNG.integers(-2, 3, kernel).astype(float)
    expected = reference.conv2d(
        x[None, None], w[None, None], stride=stride, padding=padding, dilation=dilation
    )[0, 0]
    fig = viz.draw_conv2d(x, w, stride, padding, dilation, step=expected.size - 1)
    written = texts(fig, "output-")
    assert written == {
        f"output-{r}-{c}": viz._common._format_value(expected[r, c])
        for r, c in np.ndindex(expected.shape)
    }
    assert f"output {expected.shape[0]}x{expected.shape[1]}" in fig.axes[0].get_title()


def test_conv2d_padding_ring_and_step_as_pair_or_flat_index():
    x = np.arange(16.0).reshape(4, 4)
    fig = viz.draw_conv2d(x, np.ones((3, 3)), padding=1, step=(1, 2))
    cells = texts(fig, "input-")
    assert len(cells) == 36 and cells["input-0-0"] == "0" and cells["input-1-1"] == "0"
    assert cells["input-1-2"] == "1"
    assert "output (1, 2)" in fig.axes[0].get_title()
    assert len(texts(fig, "output-")) == 7, "outputs (0, 0) .. (1, 2) row by row"
    flat = viz.draw_conv2d(x, np.ones((3, 3)), padding=1, step=6)
    assert "output (1, 2)" in flat.axes[0].get_title()


def test_conv2d_same_padding_title_lists_the_four_sides():
    fig = viz.draw_conv2d(np.ones((6, 6)), np.ones((2, 2)), padding="same")
    assert "'same' (0, 1, 0, 1)" in fig.axes[0].get_title()


def test_conv2d_from_shapes_is_an_arithmetic_diagram():
    fig = viz.draw_conv2d((7, 7), 3, stride=2, padding=1, dilation=2, step=(1, 1))
    assert not texts(fig, "input-") and not texts(fig, "output-")
    assert "output 3x3" in fig.axes[0].get_title()
    fig = viz.draw_conv2d(5, (3, 1))
    assert "output 3x5" in fig.axes[0].get_title()


def test_conv2d_large_grids_are_drawn_without_numbers():
    fig = viz.draw_conv2d(RNG.random((16, 16)), np.ones((3, 3)), step=5)
    assert not texts(fig, "input-") and not texts(fig, "output-")
    assert "y[0, 5] = sum(window ⊙ kernel)" in all_text(fig)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.ones((2, 2, 2))}, ValueError, "x must have 2 dimensions"),
        ({"w": np.ones((6, 6))}, ValueError, r"kernel \(rows\) spans"),
        ({"stride": (1, 0)}, ValueError, r"stride\[1\] must be >= 1"),
        ({"padding": -1}, ValueError, "padding must be >= 0"),
        ({"step": (3, 0)}, ValueError, "step must lie inside the 3x3 output"),
        ({"step": 9}, ValueError, "step must be smaller than the 9 outputs"),
        ({"x": (5, 0)}, ValueError, r"x\[1\] must be >= 1"),
        ({"w": 2.5}, ValueError, "w must have 2 dimensions"),
    ],
)
def test_conv2d_rejects_bad_input(kwargs, error, match):
    arguments = {"x": np.ones((5, 5)), "w": np.ones((3, 3)), **kwargs}
    with pytest.raises(error, match=match):
        viz.draw_conv2d(**arguments)


# --- pooling, receptive fields, transposed and dilated convolutions ------------------------


@pytest.mark.parametrize(
    ("shape", "kernel_size", "stride", "mode"),
    [
        ((4, 4), 2, None, "max"),
        ((5, 5), 3, 2, "avg"),
        ((5, 4), 2, None, "max"),
        ((6, 6), (3, 2), 1, "max"),
    ],
)
def test_pooling_output_matches_reference(shape, kernel_size, stride, mode):
    x = RNG.integers(0, 9, shape).astype(float)
    pool = reference.max_pool2d if mode == "max" else reference.avg_pool2d
    expected = pool(x[None, None], kernel_size, stride)[0, 0]
    fig = viz.draw_pooling(x, kernel_size, stride, mode)
    assert texts(fig, "output-") == {
        f"output-{r}-{c}": viz._common._format_value(expected[r, c])
        for r, c in np.ndindex(expected.shape)
    }


def test_max_pooling_marks_one_winner_per_window():
    x = np.array([[1.0, 4, 2, 7], [1, 6, 8, 2], [2, 6, 5, 5], [7, 0, 2, 3]])
    fig = viz.draw_pooling(x)
    bold = [t.get_text() for t in fig.axes[0].texts if t.get_fontweight() == "bold"]
    assert sorted(bold) == ["5", "6", "7", "8"]
    assert "ignored" in viz.draw_pooling(np.ones((5, 5))).axes[0].get_title()


def test_pooling_rejects_bad_input():
    with pytest.raises(ValueError, match="mode must be one of"):
        viz.draw_pooling(np.ones((4, 4)), mode="min")
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        viz.draw_pooling(np.ones((1, 4, 4)))
    with pytest.raises(ValueError, match="larger than the padded input"):
        viz.draw_pooling(np.ones((2, 2)), kernel_size=3)


@pytest.mark.parametrize(
    ("kernel_sizes", "strides", "dilations", "field"),
    [
        ((3, 3), None, None, 5),
        ((3, 3, 3), None, None, 7),
        ((3, 3), (2, 1), None, 7),
        ((3, 3), None, (1, 2), 7),
        ((1,), None, None, 1),
    ],
)
def test_receptive_field_title_states_the_size(kernel_sizes, strides, dilations, field):
    fig = viz.draw_receptive_field(kernel_sizes, strides, dilations)
    assert f"{field}x{field} receptive field" in fig.axes[0].get_title()
    assert f"{field} inputs" in all_text(fig)


def test_receptive_field_reports_dilation_holes():
    fig = viz.draw_receptive_field((2,), dilations=(2,))
    assert "2 used, 1 skipped by dilation" in all_text(fig)


def test_receptive_field_rejects_bad_layers():
    with pytest.raises(TypeError, match="kernel_sizes must be a sequence"):
        viz.draw_receptive_field(3)
    with pytest.raises(ValueError, match="same length"):
        viz.draw_receptive_field((3, 3), strides=(1,))
    with pytest.raises(ValueError, match="too wide to draw"):
        viz.draw_receptive_field((3,) * 8, strides=(2,) * 8)


def test_receptive_field_2d_shades_a_5x5_patch():
    fig = viz.draw_receptive_field_2d((3, 3), input_size=7)
    assert "5x5 patch" in fig.axes[0].get_title()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["layer 1: 3x3", "layer 2: 5x5"]
    with pytest.raises(ValueError, match="input_size 4 is too small"):
        viz.draw_receptive_field_2d((3, 3), input_size=4)


def test_transposed_conv_output_length_and_overlaps():
    fig = viz.draw_transposed_conv(n=3, k=3, stride=2, padding=1)
    assert "output 5" in fig.axes[0].get_title()
    counts = texts(fig, "output-")
    assert [counts[f"output-0-{c}"] for c in range(7)] == ["1", "1", "2", "1", "2", "1", "1"]
    with pytest.raises(ValueError, match="padding 3 is too large"):
        viz.draw_transposed_conv(n=2, k=2, stride=1, padding=3)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        viz.draw_transposed_conv(stride=0)


def test_dilated_conv_title_gives_the_effective_size():
    fig = viz.draw_dilated_conv(n=7, k=3, dilation=2)
    assert "effective size 5x5" in fig.axes[0].get_title()
    assert "effective size 3x3" in viz.draw_dilated_conv(5, 3, 1).axes[0].get_title()
    with pytest.raises(ValueError, match=r"n \(4\) must be at least"):
        viz.draw_dilated_conv(n=4, k=3, dilation=2)


# --- continuous convolution and volumes ----------------------------------------------------


def test_continuous_convolution_of_boxes_is_a_triangle():
    t = np.linspace(-3, 3, 601)
    dx = t[1] - t[0]
    box = (np.abs(t) < 0.5) + 0.5 * np.isclose(np.abs(t), 0.5)
    result = viz.continuous_convolution(box, box, dx)
    assert np.allclose(result, np.clip(1 - np.abs(t), 0, None), atol=0.02)


def test_plotted_gaussian_convolution_has_the_summed_variance():
    fig = viz.plot_continuous_convolution("gaussian")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert [line.get_color() for line in list(lines.values())[:3]] == [
        "tab:red",
        "tab:blue",
        "tab:green",
    ]
    green = next(line for label, line in lines.items() if label.startswith("f * g"))
    t, y = green.get_xdata(), green.get_ydata()
    dx = t[1] - t[0]
    assert np.sum(y) * dx == pytest.approx(1.0, abs=1e-3)
    assert np.sum(t**2 * y) * dx == pytest.approx(1.25, abs=1e-2)


def test_continuous_convolution_rejects_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        viz.plot_continuous_convolution("triangle")
    with pytest.raises(ValueError, match="same length"):
        viz.continuous_convolution(np.ones(5), np.ones(7), 0.1)
    with pytest.raises(ValueError, match="odd number"):
        viz.continuous_convolution(np.ones(4), np.ones(4), 0.1)
    with pytest.raises(ValueError, match="dx must be a positive number"):
        viz.continuous_convolution(np.ones(5), np.ones(5), 0)


@pytest.mark.parametrize(
    ("kwargs", "label"),
    [
        ({}, "28x28x1 activation map"),
        ({"num_filters": 10, "padding": 2}, "32x32x10 activation maps"),
        ({"num_filters": 6, "padding": "same"}, "32x32x6"),
        (
            {
                "input_shape": (64, 56, 56),
                "kernel_size": 3,
                "num_filters": 128,
                "stride": 2,
                "padding": 1,
            },
            "28x28x128",
        ),
    ],
)
def test_conv_volume_labels_the_shapes(kwargs, label):
    fig = viz.draw_conv_volume(**kwargs)
    assert label in all_text(fig)


def test_conv_volume_rejects_bad_shapes():
    with pytest.raises(TypeError, match="input_shape must be"):
        viz.draw_conv_volume(input_shape=32)
    with pytest.raises(ValueError, match="input_shape must be an int or 3 ints"):
        viz.draw_conv_volume(input_shape=(32, 32))
    with pytest.raises(ValueError, match="num_filters must be >= 1"):
        viz.draw_conv_volume(num_filters=0)


# --- images, grids, kernels, feature maps, filter banks ------------------------------------


def test_show_image_detects_channels_first():
    fig = viz.show_image(RNG.random((3, 10, 12)))
    assert fig.axes[0].images[0].get_array().shape == (10, 12, 3)
    fig = viz.show_image(RNG.random((1, 10, 12)))
    assert fig.axes[0].images[0].get_array().shape == (10, 12)
    with pytest.raises(ValueError, match=r"img must be \(H, W\)"):
        viz.show_image(RNG.random((5, 10, 12)))


def test_show_image_accepts_tensors():
    torch = pytest.importorskip("torch")
    fig = viz.show_image(torch.rand(3, 8, 8), title="tensor")
    assert fig.axes[0].get_title() == "tensor"


def test_show_grid_panels_and_symmetric_colours():
    fig = viz.show_grid(
        RNG.standard_normal((5, 4, 4)), titles=list("abcde"), ncols=3, symmetric=True
    )
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5 and [ax.get_title() for ax in shown] == list("abcde")
    low, high = shown[0].images[0].get_clim()
    assert low == pytest.approx(-high) and shown[0].images[0].get_cmap().name == "RdBu_r"
    assert len(viz.show_grid(RNG.random((2, 3, 5, 5))).axes) == 2


def test_show_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="titles must have one entry per panel"):
        viz.show_grid(np.ones((3, 4, 4)), titles=["a"])
    with pytest.raises(ValueError, match="use show_feature_maps or show_kernels"):
        viz.show_grid(np.ones((2, 5, 4, 4)))
    with pytest.raises(ValueError, match="ncols must be >= 1"):
        viz.show_grid(np.ones((2, 4, 4)), ncols=0)


def test_show_kernels_writes_small_kernel_values():
    w = np.arange(18.0).reshape(2, 1, 3, 3) - 9
    fig = viz.show_kernels(w, title="conv1")
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].texts][:3] == ["-9", "-8", "-7"]
    assert not viz.show_kernels(RNG.standard_normal((2, 1, 7, 7))).axes[0].texts


def test_show_kernels_rgb_filters_and_panel_limit():
    fig = viz.show_kernels(RNG.standard_normal((4, 3, 5, 5)))
    assert len(fig.axes) == 4 and fig.axes[0].images[0].get_array().shape == (5, 5, 3)
    fig = viz.show_kernels(RNG.standard_normal((10, 10, 3, 3)), max_panels=16)
    assert "first 16 of 100 kernels" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="w must have 2 or 3 or 4 dimensions"):
        viz.show_kernels(np.ones(3))


def test_show_feature_maps_accepts_a_batch_of_one():
    fig = viz.show_feature_maps(RNG.random((1, 6, 5, 5)), ncols=4, title="conv1")
    assert len([ax for ax in fig.axes if ax.images]) == 6
    with pytest.raises(ValueError, match="pass maps\\[0\\]"):
        viz.show_feature_maps(RNG.random((2, 6, 5, 5)))


def test_plot_filter_bank_panels():
    kernels = {"sharpen": "sharpen", "my blur": np.ones((5, 5)) / 25, "edges": "gradient magnitude"}
    fig = viz.plot_filter_bank(SMALL_IMAGE, kernels)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["original", "sharpen", "my blur", "edges"]
    spelled = viz.plot_filter_bank(SMALL_IMAGE, ["Gradient_Magnitude", "Sobel-X"])
    assert spelled.axes[1].images[0].get_clim()[0] == 0.0, "a magnitude is shown from 0"
    rgb = viz.plot_filter_bank(RNG.random((16, 16, 3)), ["sobel x"])
    assert rgb.axes[1].images[0].get_array().shape == (16, 16, 3)
    with pytest.raises(TypeError, match="kernels must be a dict"):
        viz.plot_filter_bank(SMALL_IMAGE, 3)
    with pytest.raises(ValueError, match="unknown filter 'blurry'"):
        viz.plot_filter_bank(SMALL_IMAGE, ["blurry"])


# --- readable titles, hidden answers, transposed convolution in 2-D ------------------------


def test_conv1d_one_sided_padding_and_titles_without_dilation():
    """A (before, after) pair pads one side only; d is left out of the title when it is 1."""
    x, w = np.array([1.0, 0, 2, 2, 3, 1]), np.array([3.0, 2, 2])
    fig = viz.draw_conv1d(x, w, padding=(0, 1), step=4, show_all_outputs=True)
    title = fig.axes[0].get_title()
    assert "n=6" in title and "padding 0 left and 1 right" in title and "output length 5" in title
    assert "d=" not in title
    written = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    assert [written[f"output-0-{j}"] for j in range(5)] == ["7", "8", "16", "14", "11"]
    assert "y[4] = 3·3 + 2·1 + 2·0 = 11" in all_text(fig)  # products written w·x
    assert "d=2" in viz.draw_conv1d(9, 3, dilation=2).axes[0].get_title()


def test_conv1d_box_filter_written_as_thirds():
    fig = viz.draw_conv1d(np.arange(5.0), np.full(3, 1 / 3), step=0)
    written = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    assert written["kernel-0-0-0"] == "1/3"


def test_conv2d_can_hide_the_output_and_mark_unvisited_cells():
    """A question slide: no output grid, no output size in the title; the leftover column greyed."""
    fig = viz.draw_conv2d((7, 7), 3, stride=3, step=(0, 1), show_output=False, mark_unvisited=True)
    title = fig.axes[0].get_title()
    assert "output" not in title and "2x2" not in title and "dilation" not in title
    assert "grey: never inside a window" in title
    assert not any((t.get_gid() or "").startswith("output") for t in fig.axes[0].texts)
    assert "output 5x5" in viz.draw_conv2d((7, 7), 3).axes[0].get_title()
    assert "dilation 2" in viz.draw_conv2d((7, 7), 3, dilation=2).axes[0].get_title()
    assert "hatched zeros" in viz.draw_conv2d((5, 5), 3, padding=1).axes[0].get_title()


def test_receptive_field_titles_are_words_not_tuples():
    title = viz.draw_receptive_field_2d(kernel_sizes=(3,), input_size=5).axes[0].get_title()
    assert "one 3x3 layer" in title and "(3,)" not in title
    title = viz.draw_receptive_field_2d((3, 3, 3), 15, dilations=(1, 2, 4)).axes[0].get_title()
    assert "three stacked 3x3 layers, dilations 1, 2, 4" in title
    assert "(3, 3)" not in viz.draw_receptive_field((3, 3)).axes[0].get_title()


def test_transposed_conv2d_matches_the_reference_and_shows_output_padding():
    x, w = np.array([[1.0, 2.0], [3.0, 4.0]]), np.arange(9.0).reshape(3, 3)
    fig = viz.draw_transposed_conv2d(x, w, highlight=(0, 1))
    expected = reference.conv_transpose2d(x[None, None], w[None, None])[0, 0]
    written = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    assert expected.shape == (4, 4)
    assert all(
        written[f"output-{r}-{c}"] == viz._common._format_value(expected[r, c])
        for r, c in np.ndindex(4, 4)
    )
    assert "output 4x4" in fig.axes[0].get_title()
    padded = viz.draw_transposed_conv2d(x, np.ones((3, 3)), stride=2, output_padding=1)
    assert "output 6x6" in padded.axes[0].get_title() and "hatched" in padded.axes[0].get_title()
    with pytest.raises(ValueError, match="output_padding"):
        viz.draw_transposed_conv2d(x, w, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="highlight"):
        viz.draw_transposed_conv2d(x, w, highlight=(2, 0))
