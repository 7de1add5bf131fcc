"""Lecture 1 (convolution from first principles): the deck's numbers, and the notebook's structure.

The numbers are recomputed with ``course_utils`` directly; executing the notebook is another
test's job. The structure checks make sure a reader holding the deck finds every slide.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction

import lecture_structure as structure
import numpy as np
import pytest
import torch

from course_utils import arithmetic, reference
from course_utils.publish.notebooks import read_notebook

NOTEBOOK = "lectures/01_convolution_from_first_principles.ipynb"

# Every page of the source deck (Lecture 1's deck in /work/shared/slides), in order: 88 pages.
DECK_PAGES = [
    "Lecture 1",  # the title page, "Convolutional Neural Networks": the lecture's own name
    "Fully Connected Neural Network",
    *["Problems using FC Layers on Images"] * 6,
    "Why not simply more FC Layers?",
    "Better Way than FC ?",
    "Using CNNs in Computer Vision",
    "Convolutions",
    *["What are Convolutions?"] * 13,
    *["Convolutions on Images"] * 9,
    "Image Filters",
    *["Convolutions on RGB Images"] * 3,
    *["Convolution Layer"] * 4,
    "Different Filters",
    "Dimensions of a Convolution Layer",
    *["Convolution Layers: Dimensions"] * 5,
    *["Convolution Layers: Stride"] * 7,
    *["Convolution Layers: Dimensions"] * 2,
    *["Convolution Layers: Padding"] * 4,
    *["Convolution Layers: Dimensions"] * 3,
    *["Example"] * 2,
    "Convolutional Neural Network (CNN)",
    "CNN Prototype",
    "CNN Learned Filters",
    "Pooling",
    "Pooling Layer",
    "Pooling Layer: Max Pooling",
    *["Pooling Layer"] * 3,
    "Pooling Layer: Average Pooling",
    "CNN Prototype",
    "Final Fully-Connected Layer",
    "Convolutions vs Fully-Connected",
    "Receptive field",
    *["Receptive Field"] * 6,
    "References",
]

F_SIGNAL = np.array([4, 3, 2, -5, 3, 5, 2, 5, 5, 6], dtype=float)
BOX = np.full(3, 1 / 3)
IMAGE_5X5 = np.array(
    [[-5, 3, 2, -5, 3], [4, 3, 2, 1, -3], [1, 0, 3, 3, 5], [-2, 0, 1, 4, 4], [5, 6, 7, 9, 1]],
    dtype=float,
)
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float)
POOL_INPUT = np.array([[3, 1, 3, 5], [6, 0, 7, 9], [3, 2, 1, 4], [0, 2, 4, 3]], dtype=float)


def _conv1d(signal, kernel, **kwargs):
    return reference.conv1d(signal[None, None], kernel[None, None], **kwargs)[0, 0]


def _conv2d(image, kernel, **kwargs):
    return reference.conv2d(image[None, None], kernel[None, None], **kwargs)[0, 0]


# ------------------------------------------------------------------ the deck's numbers


def test_fc_parameter_counts_for_tiny_and_normal_images():
    """A 32x32x3 image into 1000 neurons: ~3 million weights; a 1000x1000x3 one: 3 billion."""
    hidden = 1000
    assert sum(p.numel() for p in torch.nn.Linear(32 * 32 * 3, 1).parameters()) == 3073
    assert 32 * 32 * 3 * hidden + hidden == 3_073_000
    assert 1000 * 1000 * 3 * hidden + hidden == 3_000_001_000


def test_box_filter_steps_and_boundaries():
    """Valid: 3, 0, 0, 1, 10/3, 4, 4, 16/3; zero padding adds 7/3 and 11/3 at the ends."""
    valid = _conv1d(F_SIGNAL, BOX)
    assert np.allclose(valid, [3, 0, 0, 1, 10 / 3, 4, 4, 16 / 3])
    for step, value in enumerate(valid):
        assert np.isclose(F_SIGNAL[step : step + 3] @ BOX, value), (
            f"window {step} is not a dot product"
        )
    assert len(valid) == arithmetic.conv_output_size(10, 3) == 8
    padded = _conv1d(F_SIGNAL, BOX, padding=1)
    assert np.allclose(padded, [7 / 3, 3, 0, 0, 1, 10 / 3, 4, 4, 16 / 3, 11 / 3])


def test_box_filter_is_flip_invariant_but_a_ramp_is_not():
    """Cross-correlation equals true convolution for the symmetric box, not for [1, 0, -1]."""
    assert np.allclose(np.convolve(F_SIGNAL, BOX, mode="valid"), _conv1d(F_SIGNAL, BOX))
    ramp = np.array([1.0, 0.0, -1.0])
    assert np.allclose(np.convolve(F_SIGNAL, ramp, mode="valid"), -_conv1d(F_SIGNAL, ramp))


def test_continuous_convolutions():
    """Two unit boxes give a triangle; two Gaussians give one with the variances added."""
    dt = 0.01
    t = np.arange(-4, 4 + dt / 2, dt)
    box = (np.abs(t) <= 0.5).astype(float)
    assert np.allclose(
        np.convolve(box, box, mode="same") * dt, np.clip(1 - np.abs(t), 0, None), atol=2 * dt
    )

    def gaussian(sigma):
        return np.exp(-(t**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))

    result = np.convolve(gaussian(0.5), gaussian(1.0), mode="same") * dt
    assert np.allclose(result, gaussian(np.hypot(0.5, 1.0)), atol=1e-4)


@pytest.mark.parametrize("bottom_right", [1.0, -1.0])
def test_sharpen_example_whatever_the_bottom_right_pixel(bottom_right):
    """The 5x5 image gives 6 1 8 / -7 9 2 / -5 -9 3; the deck's 1 vs -1 pixel never matters."""
    image = IMAGE_5X5.copy()
    image[4, 4] = bottom_right
    assert np.array_equal(_conv2d(image, SHARPEN), [[6, 1, 8], [-7, 9, 2], [-5, -9, 3]])


def test_classic_filter_identities():
    """Edge = 9 (identity - box mean); sharpen = identity - Laplacian; sums 0, 1, 1, 1."""
    identity = np.zeros((3, 3))
    identity[1, 1] = 1
    edge = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=float)
    box_mean = np.ones((3, 3)) / 9
    gaussian = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    laplacian = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
    assert np.allclose([edge.sum(), box_mean.sum(), SHARPEN.sum(), gaussian.sum()], [0, 1, 1, 1])
    assert np.allclose(edge, 9 * (identity - box_mean))
    assert np.allclose(SHARPEN, identity - laplacian)


def test_rgb_convolution_is_a_75_dim_dot_product_plus_bias():
    """32x32x3 with one 5x5x3 filter: a 28x28 activation map; each entry is w.x_i + b."""
    rng = np.random.default_rng(0)
    x, w, b = rng.random((1, 3, 32, 32)), rng.normal(size=(1, 3, 5, 5)), np.array([0.5])
    z = reference.conv2d(x, w, b)
    assert z.shape == (1, 1, 28, 28)
    chunk = x[0, :, 3:8, 11:16].reshape(-1)
    assert chunk.size == 75
    assert np.isclose(z[0, 0, 3, 11], w.reshape(-1) @ chunk + b[0])
    assert reference.conv2d(x, rng.normal(size=(5, 3, 5, 5))).shape == (1, 5, 28, 28)


def test_stride_sizes_and_the_illegal_stride():
    """7x7, F=3: S=1 -> 5, S=2 -> 3, S=3 -> (7-3)/3+1 = 7/3, floored to 2; last column unused."""
    assert [arithmetic.conv_output_size(7, 3, stride=s) for s in (1, 2, 3)] == [5, 3, 2]
    assert Fraction(7 - 3, 3) + 1 == Fraction(7, 3)
    ones_7x7, ones_3x3 = np.ones((1, 1, 7, 7)), np.ones((1, 1, 3, 3))
    out = reference.conv2d(ones_7x7, ones_3x3, stride=3)
    assert out.shape == (1, 1, 2, 2)
    visits = reference.conv2d_backward(np.ones_like(out), ones_7x7, ones_3x3, stride=3)[0][0, 0]
    assert not visits[6].any() and not visits[:, 6].any() and visits[:6, :6].all()


def test_padding_formulas():
    """7x7, P=1, F=3, S=1 -> 7; P = (F-1)/2 keeps the size for odd F; 32 -> 28 -> 24 -> 20."""
    assert arithmetic.conv_output_size(7, 3, stride=1, padding=1) == 7
    for kernel in (3, 5, 7):
        assert arithmetic.conv_output_size(32, kernel, padding=(kernel - 1) // 2) == 32
    assert arithmetic.same_padding(32, 4) == (1, 2)
    sizes = [32]
    for _ in range(3):
        sizes.append(arithmetic.conv_output_size(sizes[-1], 5))
    assert sizes == [32, 28, 24, 20]
    visits = reference.conv2d_backward(
        np.ones((1, 1, 5, 5)), np.ones((1, 1, 7, 7)), np.ones((1, 1, 3, 3))
    )[0][0, 0]
    assert visits[0, 0] == 1 and visits[3, 3] == 9  # the corner pixel is used only once


def test_layer_example_760_parameters():
    """32x32x3, ten 5x5 filters, stride 1, pad 2 -> 32x32x10 with 76 * 10 = 760 parameters."""
    assert arithmetic.conv_output_size(32, 5, stride=1, padding=2) == 32
    layer = torch.nn.Conv2d(3, 10, 5, stride=1, padding=2)
    assert layer(torch.zeros(1, 3, 32, 32)).shape == (1, 10, 32, 32)
    assert (
        arithmetic.conv_parameter_count(3, 10, (5, 5))
        == sum(p.numel() for p in layer.parameters())
        == 760
    )


def test_weight_tensor_quiz():
    """4 filters, kernel 5, RGB: PyTorch (4, 3, 5, 5); A1's (3, 4, 5, 5) is ConvTranspose2d's layout."""
    assert tuple(torch.nn.Conv2d(3, 4, 5).weight.shape) == (4, 3, 5, 5)
    assert tuple(torch.nn.ConvTranspose2d(3, 4, 5).weight.shape) == (3, 4, 5, 5)


def test_pooling_examples_and_sizes():
    """Max -> [[6, 9], [3, 4]]; average -> [[2.5, 6], [1.75, 3]]; sizes use the floor."""
    x = POOL_INPUT[None, None]
    assert np.array_equal(reference.max_pool2d(x, 2, stride=2)[0, 0], [[6, 9], [3, 4]])
    assert np.allclose(reference.avg_pool2d(x, 2, stride=2)[0, 0], [[2.5, 6], [1.75, 3]])
    assert POOL_INPUT[2:, :2].mean() == 1.75
    assert arithmetic.pool_output_size(4, 3, stride=2) == 1
    assert arithmetic.pool_output_size(224, 2, stride=2) == 112
    assert arithmetic.pool_output_size(55, 3, stride=2) == 27
    assert sum(p.numel() for p in torch.nn.MaxPool2d(2).parameters()) == 0


def test_five_filters_on_32x32_give_28x28x5():
    """p. 41: a 32x32x3 image and five 5x5x3 filters give a 28x28x5 volume."""
    maps = reference.conv2d(np.ones((1, 3, 32, 32)), np.ones((5, 3, 5, 5)))
    assert maps.shape == (1, 5, 28, 28)


def test_average_pooling_spreads_the_gradient_evenly():
    """Average pooling selects nothing: each entry of a 2x2 window gets 1/4 of the gradient."""
    dx = reference.avg_pool2d_backward(np.ones((1, 1, 2, 2)), POOL_INPUT[None, None], kernel_size=2)
    assert np.allclose(dx, 1 / 4)
    dmax = reference.max_pool2d_backward(
        np.ones((1, 1, 2, 2)), POOL_INPUT[None, None], kernel_size=2
    )
    assert np.array_equal(POOL_INPUT[dmax[0, 0] == 1], [6, 9, 3, 4])


def test_receptive_fields():
    """3x3 on 5x5: 9 inputs per output; two 3x3 layers on 7x7: a 5x5 field (25 inputs)."""
    assert arithmetic.receptive_field([3]) == 3 and arithmetic.receptive_field([3, 3]) == 5
    ones_3x3 = np.ones((1, 1, 3, 3))
    one_hot = np.zeros((1, 1, 3, 3))
    one_hot[0, 0, 1, 1] = 1
    layer1 = reference.conv2d_backward(one_hot, np.ones((1, 1, 5, 5)), ones_3x3)[0]
    assert np.count_nonzero(layer1) == 9
    on_input = reference.conv2d_backward(layer1, np.ones((1, 1, 7, 7)), ones_3x3)[0]
    assert np.count_nonzero(on_input) == 25


# ------------------------------------------------------------------ the notebook's structure


@pytest.fixture(scope="module")
def notebook(repo_root):
    return read_notebook(repo_root / NOTEBOOK)


PAGE = re.compile(r"\s*\(deck p\. (\d+)\)$")


def _headings(notebook, with_pages=False):
    """(title, slide_type) of every markdown cell that opens with a level-1 or level-2 heading.

    With ``with_pages`` each entry also carries the heading's ``(deck p. N)`` number (or None).
    """
    found = []
    for cell in notebook.cells:
        match = re.match(r"#{1,2} (.+)", cell.source) if cell.cell_type == "markdown" else None
        if match:
            page = PAGE.search(match.group(1))
            title = PAGE.sub("", match.group(1)).split(" — ")[0].strip()
            entry = (title, cell.metadata.slideshow.slide_type)
            found.append((*entry, int(page.group(1)) if page else None) if with_pages else entry)
    return found


def test_deck_page_count_is_right():
    """The list above has one entry per page of the deck."""
    assert len(DECK_PAGES) == 88


def test_every_deck_page_has_a_heading(notebook):
    """Each deck title appears at least as often as the deck has pages with that title."""
    titles = Counter(
        title for title, slide_type in _headings(notebook) if slide_type in structure.SLIDE_STARTS
    )
    missing = {t: n for t, n in Counter(DECK_PAGES).items() if titles[t] < n}
    assert not missing, f"pages without a (sub)slide heading: {missing}"


def test_headings_follow_the_deck_order(notebook):
    """The headings walk through the deck's pages in order (self-check sections may follow)."""
    titles = [
        title for title, slide_type in _headings(notebook) if slide_type in structure.SLIDE_STARTS
    ]
    assert titles[: len(DECK_PAGES)] == DECK_PAGES


def test_slide_sections(notebook, repo_root):
    """Every cell has slideshow metadata; new topics are slides, build steps sub-slides."""
    structure.check_slide_metadata_and_unique_ids(notebook, repo_root / NOTEBOOK)
    slides = [title for title, slide_type in _headings(notebook) if slide_type == "slide"]
    assert len(slides) >= len(dict.fromkeys(DECK_PAGES))  # at least one per distinct slide title


def test_credits_the_deck(notebook):
    """The first cell names the deck and its references (Goodfellow, CS231n); the deck names no
    course or institution, so the lecture names none and says nothing about it."""
    first = notebook.cells[0].source
    assert first.startswith("# Lecture 1 — Convolution from first principles (deck p. 1)")
    assert '*"Convolutional Neural Networks"*' in first and "deep-learning course" in first
    assert "Goodfellow" in first and "CS231n" in first and "redrawn" in first
    assert "Introduction to Deep Learning" not in first and "names no" not in first


def test_no_notes_about_how_the_material_was_made(notebook):
    """No deck file names, no 'lost in extraction', no 'cannot download' in the text."""
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for phrase in ("001_", ".txt", "in extraction", "extracted deck", " lost", "cannot download"):
        assert phrase not in text, f"student-facing text mentions {phrase!r}"


def test_every_mirrored_heading_carries_its_deck_page(notebook):
    """The i-th mirrored heading ends with (deck p. i), so the deck can be followed alongside."""
    headings = [h for h in _headings(notebook, with_pages=True) if h[1] in structure.SLIDE_STARTS]
    assert [page for _, _, page in headings[: len(DECK_PAGES)]] == list(
        range(1, len(DECK_PAGES) + 1)
    )


ANCHORS = [
    "fully-connected",
    "convolutions",
    "boundaries",
    "convolutions-on-images",
    "image-filters",
    "rgb-images",
    "convolution-layer",
    "dimensions",
    "stride",
    "output-size-formula",
    "padding",
    "weight-shape-quiz",
    "cnn",
    "pooling",
    "receptive-field",
    "references",
    "self-check",
    "errata",
]


def test_section_anchors(notebook):
    """Assignments may link to lectures/01_...ipynb#anchor: these anchors must stay."""
    text = "\n".join(cell.source for cell in notebook.cells)
    for anchor in ANCHORS:
        assert f'<a id="{anchor}"></a>' in text, anchor


def test_references_restore_the_decks_list(notebook):
    """The deck cites Goodfellow et al. chapter 9 and the CS231n notes."""
    cell = next(c for c in notebook.cells if c.source.startswith("## References"))
    assert "Goodfellow" in cell.source and "cs231n.github.io/convolutional-networks" in cell.source


def _code_after(notebook, heading_start: str, count: int = 3) -> str:
    start = next(i for i, c in enumerate(notebook.cells) if c.source.startswith(heading_start))
    return "\n".join(c.source for c in notebook.cells[start + 1 : start + 1 + count])


def test_stride_3_question_slides_do_not_draw_the_answer(notebook):
    """pp. 54-56 ask for the output size: the figures leave the output out, the answer follows."""
    for start in (
        "## Convolution Layers: Stride — stride 3, position",
        "## Convolution Layers: Stride — stride 3 does",
    ):
        code = _code_after(notebook, start, 2)
        assert "show_output=False" in code
    assert "mark_unvisited=True" in _code_after(
        notebook, "## Convolution Layers: Stride — stride 3 does", 1
    )


def test_lecture_1_explorer_hides_dilation_and_widgets_say_they_need_a_kernel(notebook):
    text = "\n".join(cell.source for cell in notebook.cells)
    assert "show_dilation=False" in text
    widget_cells = [
        i
        for i, c in enumerate(notebook.cells)
        if c.source.rstrip().endswith(("explorer", "playground"))
    ]
    assert len(widget_cells) == 2
    for index in widget_cells:
        assert "running notebook" in notebook.cells[index - 1].source


def test_errata_named_by_the_review(notebook):
    """Sharpen pixel (1 on p. 28, -1 on p. 31), Caffe/TF ceil, average pooling selects nothing."""
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "on p. 28 its" in text and "on p. 31 it is $-1$" in text
    assert "Caffe" in text and '"SAME"' in text
    assert "average pooling selects nothing" in text.lower()
    assert "none of the options lists" in text


def test_no_opaque_idioms(notebook):
    """No conv2d_backward(...)[0][0, 0] chains and no -(-n // s) ceilings in the code."""
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert ")[0][0, 0]" not in code and "-(-" not in code


def test_setup_cell_is_the_first_code_cell(notebook):
    """The course's set-up lines open the first code cell, skipped in the slides."""
    structure.check_setup_cell_first(notebook)


def test_code_cells_are_slide_sized(notebook):
    structure.check_code_cells_slide_sized(notebook)


def test_self_check_with_hidden_answers(notebook):
    """4-6 questions, each answer folded on its own sub-slide and checked by hidden code."""
    assert "Self-check" in [title for title, _ in _headings(notebook)]
    structure.check_self_check(notebook)


def test_errata_are_marked(notebook):
    """The deck's errors are Errata; its conventions (the "illegal stride", P = (F-1)/2, the
    missing floor of p. 75) are Notes; both are listed at the end, on two sub-slides."""
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert text.count("> **Erratum") == 5 and text.count("> **Note") >= 4
    for note in (
        "Note (what frameworks do)",
        "Note (when $P = (F-1)/2$ works)",
        "Note (the floor, as on p. 57)",
        "Erratum (no option is the `Conv2d` shape, pp. 66–67)",
    ):
        assert note in text
    closing = [c.source for c in notebook.cells if c.source.startswith(("### Errata", "### Notes"))]
    assert len(closing) == 2 and closing[0].count("\n1. ") == 1 and "5. " in closing[0]


def _cells_after(notebook, heading_start: str, count: int) -> list:
    start = next(i for i, c in enumerate(notebook.cells) if c.source.startswith(heading_start))
    return notebook.cells[start + 1 : start + 1 + count]


def test_learned_filters_are_probed_with_oriented_pictures(notebook):
    """p. 70: each kernel titled with its best picture over a colour bar; the claim "in one
    direction" checked against the reversed picture and against the kernels before training."""
    probe = _cells_after(notebook, "### CNN Learned Filters — what each kernel answers", 1)[0]
    assert "cu.viz.probe_filters" in probe.source and "cu.viz.draw_filter_probes" in probe.source
    table, check = _cells_after(notebook, "### CNN Learned Filters — most kernels prefer", 2)
    assert "reversed_stimulus" in table.source and "initial_layer" in table.source
    assert "assert directional > len(best) // 2" in check.source
    assert "assert spread.min() > spread_before.max()" in check.source
    maps = _cells_after(notebook, "### CNN Learned Filters — the maps on a digit", 1)[0]
    assert "best[i]" in maps.source  # each map labelled by its filter and best picture


def test_receptive_field_back_projection_is_drawn(notebook):
    """p. 86: the nine 3x3 patches of the layer-1 block on the 7x7 input, and their union."""
    (drawing,) = _cells_after(notebook, "## Receptive Field — 7×7 input, back to the input", 1)
    assert "cu.viz.draw_backprojection(input_size=7, kernel_size=3)" in drawing.source


def test_the_pixel_erratum_shows_both_outputs(notebook):
    (table,) = _cells_after(notebook, "### Erratum: the bottom-right pixel", 1)
    assert "markdown_table" in table.source and "other" in table.source


def test_five_maps_are_labelled_by_filter(notebook):
    (cell,) = [c for c in notebook.cells if c.source.startswith('bank = ["box blur"')]
    assert "titles=bank" in cell.source


def test_notebook_is_clean(notebook):
    """Committed without outputs, execution counts or volatile metadata (ids: test_slide_sections)."""
    structure.check_committed_clean(notebook)
