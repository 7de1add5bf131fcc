"""Lecture 5 (modern convolutional architectures): the deck's numbers, and the notebook's structure.

The numbers are recomputed with ``course_utils`` and torch directly (networks built on the meta
device, counted with ``cu.measure``); executing the notebook is tests/test_notebooks.py's job.
The structure checks make sure a reader holding the deck finds every page, in order.
"""

from __future__ import annotations

import itertools
import re

import lecture_structure as structure
import nbformat
import numpy as np
import pytest
import torch
from scipy import signal
from torch import nn
from torch.nn import functional as F

from course_utils import arithmetic, measure, models, widgets
from course_utils.publish.notebooks import read_notebook

NOTEBOOK = "lectures/05_modern_convolutional_architectures.ipynb"
IMAGENET = (1, 3, 224, 224)

# The deck's 55 pages, in order: page n's title must start a slide or subslide heading that
# carries "(deck p. n)", and the headings must come in this order.
DECK_PAGES = [
    "Lecture 5",  # title page
    "Lesson Plan",
    "Classical neural networks",
    *["Convolutional neural networks"] * 3,  # Hubel and Wiesel, built up in three pages
    "Convolutional layers",
    "Convolutions in 1D",
    "Convolutions vs. Cross-Correlation",
    "Stride, Padding, and Dilation",
    "Size of the output",
    *["Convolutions in Higher Dimensions"] * 3,
    *["Number of Parameters"] * 2,
    "Depth-wise (channel-wise) Convolutions",
    "Point-wise (1×1) Convolutions",
    *["Depth-wise Separable Convolutions"] * 3,
    "Convolutional neural network",
    "LeNet",
    "General idea",
    "GoogLeNet",
    "Inception layer",
    "ResNet",
    "Residual unit",
    "Loss landscape with residual units",
    *["Densenet"] * 2,
    "Dense blocks and transition layers",
    "Densenet vs. Resnet",
    "Squeeze-and-Excitation Networks",
    "SE Block",
    "SE Performance",
    "Spatial attention",
    *["Other notable examples"] * 2,
    "Transformers (2017)",
    "Attention",
    "Learning convolution kernels",
    "MLPs",
    "A ConvNet for 2020",
    "Modernizing a ConvNet towards Swin",
    "Modernizing — change the stem",
    "Modernizing — ResNeXtify",
    "Inverted bottleneck",
    "Large kernel sizes",
    "Replacing ReLU with GELU",
    "Normalization techniques",
    "Is object detection solved?",
    "Afterward",
    "Practical matters",
    "Copyright and License",
]
RNG = np.random.default_rng(0)


def _meta(builder, *args, **kwargs):
    with torch.device("meta"):
        return builder(*args, **kwargs)


# ------------------------------------------------------------------ the deck's numbers


def test_parameters_per_hidden_unit_of_a_fully_connected_net():
    """p. 3: one hidden unit on an H x W x C image has H W C weights + 1 bias."""
    for h, w, c in [(8, 8, 1), (32, 32, 3), (224, 224, 3)]:
        assert measure.parameter_count(nn.Linear(h * w * c, 1)) == h * w * c + 1
    assert measure.parameter_count(nn.Linear(224 * 224 * 3, 1)) == 150_529


def test_centred_convolution_and_cross_correlation():
    """pp. 8-9: y_i = sum w_i' x_(i-i') is np.convolve 'same'; conv1d needs the flipped kernel."""
    x = np.array([1.0, 0.0, 2.0, 2.0, 3.0, 1.0, 4.0])
    w = np.array([3.0, 2.0, 1.0])  # w_-1, w_0, w_1
    padded = np.pad(x, 1)
    y = np.array([sum(w[d + 1] * padded[i + 1 - d] for d in (-1, 0, 1)) for i in range(len(x))])
    assert np.allclose(y, np.convolve(x, w, mode="same"))
    xt, wt = torch.tensor(x)[None, None], torch.tensor(w)[None, None]
    assert np.allclose(F.conv1d(xt, wt.flip(-1), padding=1)[0, 0].numpy(), y)
    assert not np.allclose(F.conv1d(xt, wt, padding=1)[0, 0].numpy(), y)


def test_output_length_formula_over_a_grid_and_the_floor_erratum():
    """p. 11: floor((L + 2p - (d(K-1)+1))/s) + 1 = conv1d; the printed |.| gives 4.5 for 10, 3, s=2."""
    for n, k, s, p, d in itertools.product(
        range(1, 13), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2)
    ):
        if n + 2 * p < d * (k - 1) + 1:
            continue
        out = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d)
        assert out.shape[-1] == (n + 2 * p - (d * (k - 1) + 1)) // s + 1
        assert out.shape[-1] == arithmetic.conv_output_size(n, k, s, p, d)
    assert abs((10 - 3) / 2) + 1 == 4.5
    assert F.conv1d(torch.zeros(1, 1, 10), torch.zeros(1, 1, 3), stride=2).shape[-1] == 4


def test_higher_dimensional_formula_channel_index_erratum():
    """pp. 12-14: sum over c' of w_c' * x_c' is conv2d; the printed x_(c-c') convolves channels too."""
    x, w = RNG.normal(size=(3, 6, 6)), RNG.normal(size=(3, 3, 3))
    corrected = sum(signal.convolve2d(x[c], w[c], mode="valid") for c in range(3))
    torch_out = F.conv2d(torch.tensor(x)[None], torch.tensor(w)[None].flip(-1, -2))[0, 0].numpy()
    assert np.allclose(corrected, torch_out)
    as_printed = signal.convolve(x, w, mode="valid")[0]
    assert not np.allclose(as_printed, corrected)
    layer = nn.Conv2d(3, 4, 3)
    assert layer.weight.shape == (4, 3, 3, 3)  # one kernel per output channel


def test_parameter_count_formula_and_separable_erratum():
    """p. 16: ((h w) C + 1) C'; p. 20: the separable layer with biases is (hw+1)C + (C+1)C'."""
    for h, w, c, c2 in [(3, 3, 3, 64), (5, 5, 6, 16), (1, 1, 256, 64), (7, 3, 8, 2)]:
        assert measure.parameter_count(nn.Conv2d(c, c2, (h, w))) == (h * w * c + 1) * c2
    separable = nn.Sequential(nn.Conv2d(32, 32, 3, groups=32), nn.Conv2d(32, 64, 1))
    assert measure.parameter_count(separable) == 2_432 == (9 + 1) * 32 + (32 + 1) * 64
    assert (9 + 1) * 32 + 32 * 64 == 2_368  # the deck's answer


def test_depthwise_pointwise_and_the_separable_saving():
    """pp. 17-21: groups=C is per channel; 1x1 is a dot product; 3x3 128->128 at 56x56: 1/C' + 1/9."""
    depthwise = nn.Conv2d(4, 4, 3, groups=4)
    x = torch.randn(1, 4, 6, 6)
    poked = x.clone()
    poked[:, [0, 1, 3]] += 1.0
    with torch.no_grad():
        assert torch.equal(depthwise(x)[:, 2], depthwise(poked)[:, 2])
    pointwise = nn.Conv2d(4, 6, 1, bias=False)
    with torch.no_grad():
        dots = torch.einsum("oc,nchw->nohw", pointwise.weight[:, :, 0, 0], x)
        assert torch.allclose(pointwise(x), dots, atol=1e-6)
    full = nn.Conv2d(128, 128, 3, padding=1)
    separable = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1, groups=128), nn.Conv2d(128, 128, 1))
    shape = (1, 128, 56, 56)
    ratio = measure.multiply_adds(separable, shape) / measure.multiply_adds(full, shape)
    assert np.isclose(ratio, 1 / 128 + 1 / 9)
    assert (measure.parameter_count(full), measure.parameter_count(separable)) == (147_584, 17_792)


def test_lenet5_parameters_live_in_the_fc_layers_and_computation_in_the_convolutions():
    """p. 23: LeNet-5 has 61,706 parameters; convolutions 2,572 / 357,600 MACs, FC 59,134 / 58,920."""
    net = models.lenet5()
    assert measure.parameter_count(net) == 61_706
    conv = [m for m in net if isinstance(m, nn.Conv2d)]
    assert sum(measure.parameter_count(m) for m in conv) == 2_572
    assert measure.multiply_adds(net, (1, 1, 32, 32)) == 357_600 + 58_920
    assert measure.parameter_count(models.lenet5(image_size=8, padding=2)) == 21_386


def test_inception_3a_with_and_without_bottleneck():
    """p. 26: (3a) 163,696 parameters / 128 M MACs (paper: 159K = weights / 1024); naive 387,296 / 303 M."""
    module = models.Inception(192, 64, 96, 128, 16, 32, 32)
    naive = models.Inception(192, 64, 96, 128, 16, 32, 32, bottleneck=False)
    shape = (1, 192, 28, 28)
    assert (measure.parameter_count(module), measure.multiply_adds(module, shape)) == (
        163_696,
        128_049_152,
    )
    assert (measure.parameter_count(naive), measure.multiply_adds(naive, shape)) == (
        387_296,
        303_464_448,
    )
    weights = sum(p.numel() for n, p in module.named_parameters() if n.endswith("weight"))
    assert int(weights / 1024) == 159


def test_resnet_figure_vgg19_plain34_residual34():
    """p. 27: VGG-19 19.6 billion, plain and residual 34-layer 3.6 billion multiply-adds."""
    vgg19 = _meta(models.vgg, "vgg19")
    plain = _meta(models.resnet, 34, residual=False)
    residual = _meta(models.resnet, 34, shortcut="zeros")
    assert round(measure.multiply_adds(vgg19, IMAGENET) / 1e9, 1) == 19.6
    macs = measure.multiply_adds(plain, IMAGENET)
    assert macs == measure.multiply_adds(residual, IMAGENET) and int(macs / 1e8) == 36
    assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in plain.modules()) == 34


def test_plain_stack_gradient_grows_with_depth_residual_does_not():
    """p. 28: first-layer gradient from 10 to 30 units: x20+ in the plain stack, < x5 with shortcuts."""
    from course_utils.data import load_digits

    images, labels = load_digits(as_tensors=True)
    gradient = {}
    for residual, units in itertools.product((False, True), (10, 30)):
        torch.manual_seed(0)
        net = models.resnet(
            (units,), widths=(8,), residual=residual, stem="small", in_channels=1, num_classes=10
        )
        F.cross_entropy(net(images[:128]), labels[:128]).backward()
        gradient[residual, units] = net[0].weight.grad.norm().item()
    assert gradient[False, 30] / gradient[False, 10] > 20
    assert gradient[True, 30] / gradient[True, 10] < 5


def test_densenet_growth_transitions_and_sizes():
    """pp. 30-33: k0 + (l-1) k channels; DenseNet-121's channel trace; 8.0 / 20.0 vs 25.6 / 44.5 M."""
    block = models.dense_block(5, 8, 4, bottleneck=False)
    assert [layer.new_features[0].num_features for layer in block] == [8, 12, 16, 20, 24]
    assert measure.parameter_count(models.dense_block(6, 64, 32)) == 335_040
    net = _meta(models.densenet)
    x, trace = torch.zeros(IMAGENET, device="meta"), []
    for layer in net:
        x = layer(x)
        if isinstance(layer, nn.Sequential):
            trace.append(tuple(x.shape[1:3]))
    assert trace == [(256, 56), (128, 28), (512, 28), (256, 14), (1024, 14), (512, 7), (1024, 7)]
    sizes = [
        measure.parameter_count(_meta(models.densenet, (6, 12, 48, 32))),
        measure.parameter_count(_meta(models.resnet, 101)),
    ]
    assert [round(s / 1e6, 1) for s in sizes] == [20.0, 44.5]


def test_dense_block_explorer_numbers():
    """p. 32 explorer: DenseNet-121's first block; doubling k costs x3.7, doubling L x2.4."""
    counts = widgets.dense_block_counts(6, 64, 32)
    assert counts.parameters == measure.parameter_count(models.dense_block(6, 64, 32)) == 335_040
    assert (counts.out_channels, counts.transition_channels) == (256, 128)
    wider = measure.parameter_count(models.dense_block(6, 64, 64))
    deeper = measure.parameter_count(models.dense_block(12, 64, 32))
    assert (round(wider / 335_040, 1), round(deeper / 335_040, 1)) == (3.7, 2.4)
    assert widgets.dense_block_counts(12, 64, 32).parameters == deeper


def test_se_resnet50_overhead_and_the_small_digit_net():
    """pp. 34-35: SE-ResNet-50 28.1 M (+2.53 M), MACs +0.07 %; the digit net 5,130 -> 5,830."""
    plain, se = _meta(models.resnet, 50), _meta(models.resnet, 50, se_reduction=16)
    p0, p1 = measure.parameter_count(plain), measure.parameter_count(se)
    assert (round(p0 / 1e6, 1), round(p1 / 1e6, 1), round((p1 - p0) / 1e6, 2)) == (25.6, 28.1, 2.53)
    m0, m1 = measure.multiply_adds(plain, IMAGENET), measure.multiply_adds(se, IMAGENET)
    assert 0 < (m1 - m0) / m0 < 0.001
    assert (
        measure.parameter_count(models.SqueezeExcitation(16, 4))
        + measure.parameter_count(models.SqueezeExcitation(32, 4))
        == 700
    )


def test_se_tables_show_a_gain_in_every_row():
    """p. 36: the quoted errors of Hu et al. (Tables 4-7): SE better in every row."""
    cifar = [(6.37, 5.21), (5.46, 4.39), (4.27, 3.88), (2.56, 2.12)]
    cifar100 = [(26.88, 23.85), (24.33, 21.31), (20.43, 19.14), (15.85, 15.41)]
    assert all(se < original for original, se in cifar + cifar100)
    places = {"Places-365-CNN": (41.07, 11.48), "ResNet-152": (41.15, 11.61), "SE": (40.37, 11.01)}
    assert all(
        places["SE"][i] < min(places["Places-365-CNN"][i], places["ResNet-152"][i]) for i in (0, 1)
    )
    coco = {50: ((57.9, 38.0), (61.0, 40.4)), 101: ((60.1, 39.9), (62.7, 41.9))}
    assert all(np.all(np.subtract(se, original) > 0) for original, se in coco.values())


def test_other_notable_examples_numbers():
    """pp. 38-39: FractalNet 40 layers; SqueezeNet 49x; MobileNet 8.8x; ResNeXt ~ ResNet; Xception 8.9x."""
    assert 5 * 2 ** (4 - 1) == 40
    alexnet, squeezenet = _meta(models.alexnet), _meta(models.squeezenet)
    assert round(measure.parameter_count(alexnet) / measure.parameter_count(squeezenet)) == 49
    assert np.isclose(1 / (1 / 512 + 1 / 9), 8.8, atol=0.05)
    resnet = [nn.Conv2d(256, 64, 1), nn.Conv2d(64, 64, 3), nn.Conv2d(64, 256, 1)]
    resnext = [nn.Conv2d(256, 128, 1), nn.Conv2d(128, 128, 3, groups=32), nn.Conv2d(128, 256, 1)]
    assert [sum(c.weight.numel() for c in convs) for convs in (resnet, resnext)] == [69_632, 70_144]
    assert round(9 * 728 * 728 / (9 * 728 + 728 * 728), 1) == 8.9


def test_gpt3_has_about_175_billion_parameters():
    """p. 40: 96 layers of width 12,288, vocabulary 50,257, context 2,048."""
    d = 12_288
    layer = _meta(nn.TransformerEncoderLayer, d, 96, 4 * d)
    per_layer = measure.parameter_count(layer)
    assert per_layer == 12 * d * d + 13 * d
    assert round((96 * per_layer + (50_257 + 2_048) * d + 2 * d) / 1e9) == 175


def test_attention_versus_convolution_costs():
    """p. 41: 196 ViT tokens; attention 4 HW C^2 + 2 (HW)^2 C multiply-adds, 4C^2 + 4C parameters."""
    assert (224 // 16) ** 2 == 196
    for side, c in [(14, 768), (28, 128)]:
        layer = models.SelfAttention2d(c).to("meta")
        hw = side * side
        assert measure.multiply_adds(layer, (1, c, side, side)) == 4 * hw * c * c + 2 * hw * hw * c
        assert measure.parameter_count(layer) == 4 * c * c + 4 * c


def test_mixer_block_costs():
    """p. 43: Mixer-B/16's block: token MLP 196 <-> 384, channel MLP 768 <-> 3072."""
    block = _meta(models.MixerBlock, 196, 768, 384, 3072)
    assert measure.multiply_adds(block, (1, 196, 768)) == 2 * 768 * 196 * 384 + 2 * 196 * 768 * 3072


def test_convnext_steps_at_the_papers_widths_stem_and_gelu():
    """pp. 45-50: Figure 3's widths (384 -> 96 -> 384, inverted 96 -> 384 -> 96); the inverted
    bottleneck costs 4.5 % more than the ResNeXt block, not more than twice; stems; GELU."""
    blocks = {
        name: models.ModernizedBlock(96 if options.get("inverted") else 384, **options)
        for name, options in models.CONVNEXT_STEPS
    }

    def widths(name):
        return [
            (c.in_channels, c.out_channels)
            for c in blocks[name].modules()
            if isinstance(c, nn.Conv2d)
        ]

    assert widths("depthwise conv (ResNeXtify)") == [(384, 96), (96, 96), (96, 384)]
    assert widths("inverted bottleneck") == [(96, 384), (384, 384), (384, 96)]
    cost = {
        name: (
            measure.parameter_count(b),
            measure.multiply_adds(b, (1, widths(name)[0][0], 56, 56)),
        )
        for name, b in blocks.items()
    }
    assert cost["ResNet bottleneck"][0] == 158_400
    assert cost["depthwise conv (ResNeXtify)"] == (76_320, 233_920_512)
    assert cost["inverted bottleneck"] == (79_776, 242_049_024)
    assert (
        round(cost["inverted bottleneck"][0] / cost["depthwise conv (ResNeXtify)"][0], 3) == 1.045
    )
    assert cost["BN -> LN"][0] == 79_200
    assert cost["kernel 7x7"][1] - cost["depthwise conv moved up"][1] == 56 * 56 * 96 * 40
    # the downsampling shortcut between stages 1 and 2 on the wide and on the narrow stream
    assert (28 * 28 * 384 * 768, 28 * 28 * 96 * 192) == (231_211_008, 14_450_688)
    resnet_stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3), nn.MaxPool2d(3, 2, 1))
    with torch.no_grad():
        assert resnet_stem(torch.zeros(IMAGENET)).shape[-1] == 56
        assert models.patchify(3, 96, 4)(torch.zeros(IMAGENET)).shape[-1] == 56
    t = torch.linspace(-4, 4, 41, dtype=torch.float64)
    assert torch.allclose(F.gelu(t), t * 0.5 * (1 + torch.erf(t / 2**0.5)))


def test_normalization_family_by_hand():
    """p. 51: batch (N,H,W), layer (C,H,W), instance (H,W), group (C/G,H,W) statistics = torch."""
    x = torch.tensor(RNG.normal(size=(4, 6, 3, 3)))

    def normalize(t, dims):
        mean, var = t.mean(dims, keepdim=True), t.var(dims, unbiased=False, keepdim=True)
        return (t - mean) / torch.sqrt(var + 1e-5)

    assert torch.allclose(normalize(x, (0, 2, 3)), F.batch_norm(x, None, None, training=True))
    assert torch.allclose(normalize(x, (1, 2, 3)), F.layer_norm(x, x.shape[1:]))
    assert torch.allclose(normalize(x, (2, 3)), F.instance_norm(x))
    grouped = normalize(x.reshape(4, 2, 3, 3, 3), (2, 3, 4)).reshape(x.shape)
    assert torch.allclose(grouped, F.group_norm(x, 2))


# ------------------------------------------------------------------ the notebook's structure


@pytest.fixture(scope="module")
def notebook(repo_root):
    return read_notebook(repo_root / NOTEBOOK)


def test_deck_page_count():
    assert len(DECK_PAGES) == 55


def test_every_deck_page_has_a_heading_with_its_page_in_order(notebook):
    headings = structure.slide_headings(notebook)
    position = 0
    for page, title in enumerate(DECK_PAGES, start=1):
        while position < len(headings) and not (
            headings[position].startswith(title) and f"(deck p. {page})" in headings[position]
        ):
            position += 1
        assert position < len(headings), f"no heading '{title} ... (deck p. {page})' in order"
        position += 1


def test_credits_the_deck_and_names_no_files(notebook):
    first = notebook.cells[0].source
    for name in ("CSCI 5520G", "Ontario Tech University", "Faisal Z. Qureshi", "Computer Vision"):
        assert name in first, f"the first cell must credit the deck: {name!r} is missing"
    text = "\n".join(cell.source for cell in notebook.cells)
    for forbidden in ("003_33c0a7b2bec2c7fd", ".txt", "extraction", "extracted"):
        assert forbidden not in text


def test_every_cell_has_slideshow_metadata_and_a_unique_id(notebook, repo_root):
    structure.check_slide_metadata_and_unique_ids(notebook, repo_root / NOTEBOOK)


def test_setup_cell_is_the_first_code_cell(notebook):
    structure.check_setup_cell_first(notebook)


def test_code_cells_are_slide_sized(notebook):
    """Code shown on a slide fits it (18 lines); support code with its input folded
    (tag hide-input) may run to 32 lines (a quoted table, a block of asserts)."""
    shown = nbformat.from_dict(notebook)
    shown.cells = [c for c in notebook.cells if "hide-input" not in c.metadata.get("tags", [])]
    structure.check_code_cells_slide_sized(shown)
    structure.check_code_cells_slide_sized(notebook, max_lines=32)


def test_self_check_has_hidden_answers_each_checked_by_code(notebook):
    """4-6 questions, each answer folded on its own sub-slide and checked by hidden code."""
    structure.check_self_check(notebook)


def test_errata_boxes_and_the_closing_list(notebook):
    text = "\n".join(cell.source for cell in notebook.cells)
    assert text.count("**Erratum") >= 4
    closing = next(c.source for c in notebook.cells if c.source.startswith("## Errata"))
    for page in ("pp. 12–14", "p. 20", "p. 23", "pp. 44–45"):
        assert page in closing
    # readings, not errors: the floor brackets of p. 11 and ObjectNet's own "detectors" (p. 52)
    assert "**Erratum (deck p. 11)" not in text and "**Erratum (deck p. 52)" not in text
    assert "percentage points" in text and "40–45 %" not in text


def test_slides_show_results_not_code(notebook):
    """Issue 25's style: every (sub)slide opens with a heading; no assert and no print of a
    runtime on a slide; figures-only and support cells fold their input (tag hide-input)."""
    for index, cell in enumerate(notebook.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        if kind in ("slide", "subslide"):
            assert cell.cell_type == "markdown", f"cell {index}: a slide must open with markdown"
            assert re.match(r"#{1,3} ", cell.source), f"cell {index}: no heading"
        hidden = "hide-input" in cell.metadata.get("tags", []) or kind == "skip"
        if cell.cell_type == "code" and not hidden:
            assert not re.search(r"^\s*assert ", cell.source, flags=re.MULTILINE), (
                f"cell {index}: an assert on a slide"
            )
    text = "\n".join(cell.source for cell in notebook.cells)
    for forbidden in ("Runtime", "headless", "the deck shows", "live only"):
        assert forbidden not in text


def test_notebook_is_committed_clean(notebook):
    structure.check_committed_clean(notebook)


# Each redrawn figure of the deck, the page whose section draws it (the call's nearest slide
# heading above it names that page).
FIGURE_PAGES = {
    "cu.viz.draw_inception_modules(": 26,
    'cu.viz.draw_residual_blocks({"residual unit"': 28,
    "cu.viz.draw_dense_block(": 30,
    "cu.widgets.dense_block_explorer(": 32,
    "cu.viz.draw_se_block(": 35,
    "cu.viz.draw_residual_blocks(rows": 48,
    "cu.viz.draw_residual_blocks(pair": 50,
    "cu.viz.draw_normalization_cubes(": 51,
}


def test_redrawn_figures_sit_on_their_deck_pages(notebook):
    heading, pages = "", {}
    for cell in notebook.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        if cell.cell_type == "markdown" and kind in ("slide", "subslide"):
            match = re.search(r"\(deck pp?\. (\d+)", cell.source)
            heading = match.group(1) if match else heading
        for call in FIGURE_PAGES:
            if cell.cell_type == "code" and call in cell.source:
                pages[call] = int(heading)
    assert pages == FIGURE_PAGES
