"""course_utils.widgets and course_utils.filters: widgets driven from Python, filters against torch."""

from __future__ import annotations

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import filters, measure, models, reference, widgets

RNG = np.random.default_rng(0)
IMAGE = RNG.random((20, 24))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --- filters ---------------------------------------------------------------------------------


def test_classic_kernels_are_the_textbook_ones():
    kernels = widgets.CLASSIC_KERNELS
    assert list(kernels) == [
        "identity",
        "box blur",
        "gaussian blur",
        "sharpen",
        "sobel x",
        "sobel y",
        "laplacian",
        "edge",
    ]
    assert all(k.shape == (3, 3) and k.dtype == np.float64 for k in kernels.values())
    assert np.allclose(kernels["box blur"], 1 / 9)
    assert kernels["gaussian blur"].sum() == pytest.approx(1.0)
    assert kernels["sharpen"][1, 1] == 5 and kernels["sharpen"].sum() == 1
    assert np.array_equal(kernels["sobel y"], kernels["sobel x"].T)
    for name in ("sobel x", "sobel y", "laplacian", "edge"):
        assert kernels[name].sum() == 0, f"{name} must ignore constant regions"
    with pytest.raises(ValueError, match="read-only"):
        kernels["identity"][0, 0] = 1.0


def test_apply_filter_sharpen_matches_reference_conv2d():
    kernel = filters.CLASSIC_KERNELS["sharpen"]
    expected = reference.conv2d(IMAGE[None, None], kernel[None, None], padding="same")[0, 0]
    result = widgets.apply_filter(IMAGE, "sharpen")
    assert result.shape == IMAGE.shape
    np.testing.assert_allclose(result, expected)


def test_apply_filter_names_arrays_and_rgb():
    np.testing.assert_allclose(widgets.apply_filter(IMAGE, "identity"), IMAGE)
    np.testing.assert_allclose(
        widgets.apply_filter(IMAGE, "Box_Blur"), widgets.apply_filter(IMAGE, np.ones((3, 3)) / 9)
    )
    rgb = RNG.random((8, 9, 3))
    result = widgets.apply_filter(rgb, "sobel x")
    assert result.shape == rgb.shape
    np.testing.assert_allclose(result[..., 1], widgets.apply_filter(rgb[..., 1], "sobel x"))
    ramp = np.tile(np.arange(6.0), (5, 1))  # brighter to the right
    assert np.all(widgets.apply_filter(ramp, "sobel x")[1:-1, 1:-1] == 8.0)


def test_gradient_magnitude_combines_both_sobels():
    gx = widgets.apply_filter(IMAGE, "sobel x")
    gy = widgets.apply_filter(IMAGE, "sobel y")
    np.testing.assert_allclose(widgets.apply_filter(IMAGE, "gradient magnitude"), np.hypot(gx, gy))


def test_apply_filter_and_get_kernel_reject_bad_input():
    with pytest.raises(ValueError, match="unknown filter 'blur'"):
        widgets.apply_filter(IMAGE, "blur")
    with pytest.raises(ValueError, match="kernel must have 2 dimensions"):
        widgets.apply_filter(IMAGE, np.ones(3))
    with pytest.raises(ValueError, match="image must have 2 or 3 dimensions"):
        widgets.apply_filter(np.ones(5), "sharpen")
    with pytest.raises(ValueError, match="not one kernel"):
        filters.get_kernel("gradient magnitude")
    kernel = filters.get_kernel("edge")
    kernel[1, 1] = 0.0  # a copy: the shared constant is untouched
    assert filters.CLASSIC_KERNELS["edge"][1, 1] == 8.0


# --- the convolution arithmetic explorer -----------------------------------------------------


def test_explorer_has_the_promised_parts():
    explorer = widgets.conv_arithmetic_explorer()
    assert isinstance(explorer, widgets.ConvArithmeticExplorer)
    assert isinstance(explorer.widget, ipywidgets.Box)
    assert set(explorer.sliders) == {
        "input_size",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "step",
    }
    assert all(isinstance(s, ipywidgets.IntSlider) for s in explorer.sliders.values())
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()
    assert explorer.output_size == 5 and explorer.message == ""
    assert explorer.formula == "floor((7 + 2*0 - 1*(3-1) - 1)/1) + 1 = 5"


def test_explorer_follows_the_sliders():
    explorer = widgets.conv_arithmetic_explorer(input_size=7, kernel_size=3, padding=1)
    assert explorer.output_size == 7
    explorer.sliders["stride"].value = 2
    assert explorer.output_size == 4
    assert explorer.formula == "floor((7 + 2*1 - 1*(3-1) - 1)/2) + 1 = 4"
    explorer.sliders["dilation"].value = 2
    assert explorer.output_size == 3
    assert explorer.formula == "floor((7 + 2*1 - 2*(3-1) - 1)/2) + 1 = 3"
    assert "output 3x3" in explorer.figure.axes[0].get_title()


def test_explorer_can_hide_dilation():
    """Lecture 1 has not taught dilation: no slider shown, no d in the formula or the notes."""
    explorer = widgets.conv_arithmetic_explorer(7, 3, stride=3, show_dilation=False)
    assert explorer.sliders["dilation"].layout.display == "none"
    assert explorer.formula == "floor((7 + 2*0 - 3)/3) + 1 = 2"
    assert "d(k-1)" not in explorer.message and "n + 2p - k = 4" in explorer.message
    assert "dilation" not in explorer.figure.axes[0].get_title()
    assert widgets.conv_arithmetic_explorer().sliders["dilation"].layout.display != "none"
    with pytest.raises(ValueError, match="dilation must be 1"):
        widgets.conv_arithmetic_explorer(dilation=2, show_dilation=False)
    with pytest.raises(TypeError, match="show_dilation must be a bool"):
        widgets.conv_arithmetic_explorer(show_dilation="no")


def test_explorer_step_slider_covers_the_outputs():
    explorer = widgets.conv_arithmetic_explorer(input_size=5, kernel_size=3)
    step = explorer.sliders["step"]
    assert step.max == 8, "3x3 outputs, numbered 0..8 row by row"
    step.value = 8
    assert "output (2, 2)" in explorer.figure.axes[0].get_title()
    explorer.sliders["stride"].value = 2  # 2x2 outputs now: the step is clamped
    assert step.max == 3 and step.value == 3
    explorer.dims_toggle.value = 1
    assert step.max == 1 and "output length 2" in explorer.figure.axes[0].get_title()


def test_explorer_explains_an_illegal_combination():
    explorer = widgets.conv_arithmetic_explorer(input_size=4, kernel_size=3)
    explorer.sliders["dilation"].value = 2
    assert explorer.output_size is None and explorer.figure is None
    assert "Illegal" in explorer.message and "spans d(k-1)+1 = 5" in explorer.message
    assert "n + 2p = 4" in explorer.message
    assert explorer.formula.endswith("no output")
    assert explorer.sliders["step"].disabled
    explorer.sliders["padding"].value = 1  # 4 + 2 = 6 >= 5: legal again
    assert explorer.output_size == 2 and explorer.message == ""


def test_explorer_notes_inputs_the_stride_never_visits():
    explorer = widgets.conv_arithmetic_explorer(input_size=8, kernel_size=3, stride=2)
    assert explorer.output_size == 3
    assert "does not divide" in explorer.message and "last 1 input" in explorer.message
    explorer.sliders["padding"].value = 1
    assert "no input is lost" in explorer.message
    explorer.sliders["input_size"].value = 9
    explorer.sliders["padding"].value = 0
    assert explorer.message == ""


def test_explorer_notes_outputs_that_see_only_padding():
    explorer = widgets.conv_arithmetic_explorer(input_size=5, kernel_size=2, padding=2)
    assert "only padding zeros" in explorer.message


def test_explorer_rejects_bad_start_values():
    with pytest.raises(ValueError, match="kernel_size must be >= 1"):
        widgets.conv_arithmetic_explorer(kernel_size=0)
    with pytest.raises(TypeError, match="stride must be an int"):
        widgets.conv_arithmetic_explorer(stride=1.5)
    big = widgets.conv_arithmetic_explorer(input_size=32)
    assert big.sliders["input_size"].max >= 32


# --- the filter playground -------------------------------------------------------------------


def test_playground_default_image_and_kernel():
    playground = widgets.filter_playground()
    assert isinstance(playground, widgets.FilterPlayground)
    assert isinstance(playground.widget, ipywidgets.Box)
    assert playground.image.shape == (256, 256)
    assert playground.kernel_choice.value == "sharpen"
    assert set(playground.kernel_choice.options) == {
        *filters.CLASSIC_KERNELS,
        "gradient magnitude",
        "custom",
    }
    assert len(playground.kernel_cells) == 9
    np.testing.assert_allclose(playground.kernel, filters.CLASSIC_KERNELS["sharpen"])
    np.testing.assert_allclose(playground.result, widgets.apply_filter(playground.image, "sharpen"))


def test_playground_kernel_choice_changes_the_result():
    playground = widgets.filter_playground(IMAGE)
    before = playground.result.copy()
    playground.kernel_choice.value = "box blur"
    assert not np.allclose(playground.result, before)
    np.testing.assert_allclose(playground.result, widgets.apply_filter(IMAGE, "box blur"))
    np.testing.assert_allclose(playground.kernel, np.ones((3, 3)) / 9)
    assert playground.kernel_choice.value == "box blur", (
        "filling the cells must not switch to custom"
    )
    playground.kernel_choice.value = "gradient magnitude"
    assert playground.result.min() >= 0.0
    titles = [ax.get_title() for ax in playground.figure.axes if ax.images]
    assert titles == ["original", "gradient magnitude"]


def test_editing_a_weight_switches_to_custom():
    playground = widgets.filter_playground(IMAGE)
    playground.kernel_choice.value = "identity"
    playground.kernel_cells[4].value = 2.0  # the centre weight: identity * 2
    assert playground.kernel_choice.value == "custom"
    np.testing.assert_allclose(playground.result, 2 * IMAGE)
    playground.kernel_cells[0].value = 1.0
    assert playground.kernel[0, 0] == 1.0 and playground.kernel_choice.value == "custom"
    playground.kernel_choice.value = "laplacian"
    np.testing.assert_allclose(playground.kernel, filters.CLASSIC_KERNELS["laplacian"])


def test_playground_accepts_rgb_and_rejects_bad_images():
    playground = widgets.FilterPlayground(RNG.random((10, 12, 3)), kernel="edge")
    assert playground.result.shape == (10, 12, 3)
    with pytest.raises(ValueError, match=r"image must be \(H, W\) or \(H, W, 3\)"):
        widgets.FilterPlayground(RNG.random((10, 12, 4)))
    with pytest.raises(ValueError, match="kernel must be one of"):
        widgets.FilterPlayground(IMAGE, kernel="blur")


# --- dense block explorer ----------------------------------------------------------------------


def test_dense_block_counts_match_the_built_modules():
    counts = widgets.dense_block_counts(6, 64, 32)  # DenseNet-121's first block
    assert counts.channels_seen == [64, 96, 128, 160, 192, 224] and counts.out_channels == 256
    assert counts.parameters == measure.parameter_count(models.dense_block(6, 64, 32)) == 335_040
    assert counts.layer_parameters[0] == 2 * 64 + 64 * 128 + 2 * 128 + 128 * 32 * 9
    assert counts.transition_channels == 128
    assert counts.transition_parameters == measure.parameter_count(models.transition(256))
    plain = widgets.dense_block_counts(5, 8, 4, bottleneck=False)  # BN + 3x3 conv per layer
    assert plain.layer_parameters == [2 * c + 9 * c * 4 for c in (8, 12, 16, 20, 24)]
    with pytest.raises(ValueError, match="num_layers"):
        widgets.dense_block_counts(0, 8, 4)
    with pytest.raises(TypeError, match="growth_rate"):
        widgets.dense_block_counts(2, 8, 4.5)


def test_dense_block_explorer_recounts_when_a_slider_moves():
    explorer = widgets.dense_block_explorer()
    assert explorer.counts.parameters == 335_040 and "256" in explorer.summary
    explorer.sliders["num_layers"].value = 16
    explorer.sliders["growth_rate"].value = 12
    explorer.sliders["in_channels"].value = 32
    assert explorer.counts.out_channels == 32 + 16 * 12 == 224
    assert explorer.counts.transition_channels == 112
    built = measure.parameter_count(models.dense_block(16, 32, 12))
    assert explorer.counts.parameters == built and f"{built:,}" in explorer.summary
    explorer.bottleneck_box.value = False
    assert explorer.counts.parameters == measure.parameter_count(
        models.dense_block(16, 32, 12, bottleneck=False)
    )
    assert len(explorer.figure.axes[0].patches) == 16  # one bar per layer
    with pytest.raises(ValueError, match="growth_rate"):
        widgets.dense_block_explorer(growth_rate=2)
    with pytest.raises(TypeError, match="bottleneck"):
        widgets.dense_block_explorer(bottleneck=1)
