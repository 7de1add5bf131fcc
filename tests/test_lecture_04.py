"""Lecture 4 (CNNs for computer vision): the deck's numbers, and the notebook's structure.

The numbers are recomputed with ``course_utils`` and torch directly; executing the notebook is
another test's job (tests/test_notebooks.py). The structure checks make sure a reader holding
the deck finds every page, in order, with its page number.
"""

from __future__ import annotations

import re

import lecture_structure as structure
import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from torch import nn
from torch.nn import functional as F

from course_utils import arithmetic, augment, filters, measure, models, reference
from course_utils.publish.notebooks import read_notebook

NOTEBOOK = "lectures/04_cnns_for_computer_vision.ipynb"

# Every page of the source deck (Jaewook Lee, SNU), in order: 123 pages. A page's title must
# start a "slide" or "subslide" heading of the notebook, in this order.
DECK_PAGES = [
    "Lecture 4",  # p. 1
    "Reference",  # p. 2
    "Convolutional Neural Networks",  # p. 3
    "Computer vision",  # p. 4
    "What makes images different?",  # p. 5
    "What makes images different?",  # p. 6
    "What makes images different?",  # p. 7
    "What makes images different?",  # p. 8
    "What makes images different",  # p. 9
    "Input dimensions are correlated",  # p. 10
    "Input dimensions are correlated",  # p. 11
    "Convolutional Neural Networks",  # p. 12
    "Filters vs Convolutional k-d filters",  # p. 13
    "Convolution",  # p. 14
    "Understanding Convolution",  # p. 15
    "Convolution: detector of a feature",  # p. 16
    "Why spatial?",  # p. 17
    "Example filter when k=1",  # p. 18
    "Sobel 2-D filter",  # p. 19
    "Sobel 2-D filter",  # p. 20
    "Learnable filters",  # p. 21
    "Shared 2-D filters → Convolutions",  # p. 22
    "Shared 2-D filters → Convolutions",  # p. 23
    "Shared 2-D filters → Convolutions",  # p. 24
    "Shared 2-D filters → Convolutions",  # p. 25
    "Convolution activations are “images”",  # p. 26
    "Convolution Operation",  # p. 27
    "Preserving Spatial structure",  # p. 28
    "2-D filters (parameters)",  # p. 29
    "k-D filters (parameters)",  # p. 30
    "What would a k-D filter look like?",  # p. 31
    "Think in space",  # p. 32
    "Think in space",  # p. 33
    "Local connectivity",  # p. 34
    "Again, think in space",  # p. 35
    "Local connectivity ≠ Convolutional filters",  # p. 36
    "Problem!",  # p. 37
    "Hypothesis",  # p. 38
    "Solution? Share!",  # p. 39
    "Output dimensions?",  # p. 40
    "Stride",  # p. 41
    "Stride",  # p. 42
    "Problem, again :S",  # p. 43
    "Solution? Zero-padding!",  # p. 44
    "Good practices",  # p. 45
    "The effect of zero-padding in a convolution",  # p. 46
    "Sometimes convolutional filters are not preferred",  # p. 47
    "Convolution Demo",  # p. 48
    "Pooling",  # p. 49
    "Pooling",  # p. 50
    "Max / Average pooling",  # p. 51
    "Pooling Layer",  # p. 52
    "Convnets for Object Recognition",  # p. 53
    "t-SNE embedding of a set of images based on their CNN codes",  # p. 54
    "ImageNet",  # p. 55
    "Performance of CNN",  # p. 56
    "Standard Neural Network vs Convnets",  # p. 57
    "Convnets in practice",  # p. 58
    "CNN Case Study 1: Alexnet",  # p. 59
    "Architectural details",  # p. 60
    "Removing layer 7",  # p. 61
    "Removing layer 6, 7",  # p. 62
    "Removing layer 3, 4",  # p. 63
    "Removing layer 3, 4, 6, 7",  # p. 64
    "The effect of the architecture",  # p. 65
    "Overfitting",  # p. 66
    "Translation invariance",  # p. 67
    "Scale invariance",  # p. 68
    "Rotation invariance",  # p. 69
    "Invariance by data set expansion",  # p. 70
    "Invariance by data set expansion",  # p. 71
    "Understanding convnets",  # p. 72
    "How large filters?",  # p. 73
    "How large filters?",  # p. 74
    "Several interesting questions",  # p. 75
    "Feature maps strength",  # p. 76
    "Starting from a convnet [Zeiler2014]",  # p. 77
    "Visualization with a Deconvnet [Zeiler2014]",  # p. 78
    "What excites feature maps?",  # p. 79
    "What excites feature maps?",  # p. 80
    "What excites feature maps?",  # p. 81
    "Feature evolution over training",  # p. 82
    "But does a Convnet really learn the object?",  # p. 83
    "Correspondence Analysis",  # p. 84
    "What is a “Convnet dog”, however? [Simonyan2014]",  # p. 85
    "Maximum-scoring class image",  # p. 86
    "Maximum-scoring class image",  # p. 87
    "Class-specific image saliency",  # p. 88
    "Examples: Class Saliency Extraction",  # p. 89
    "Examples",  # p. 90
    "Object localization using class saliency",  # p. 91
    "Knowledge transfer",  # p. 92
    "Transfer learning",  # p. 93
    "Solution I: Fine-tune using h_S as h_T initialization",  # p. 94
    "Initializing h_T with h_S",  # p. 95
    "Initializing h_T with h_S",  # p. 96
    "How to fine-tune?",  # p. 97
    "Solution II: Use h_S as a feature extractor for h_T",  # p. 98
    "Which layer?",  # p. 99
    "CNN Case Study 2: VGGNet",  # p. 100
    "Number of parameters (in millions)",  # p. 101
    "VGG16: Differences from Alexnet",  # p. 102
    "Characteristics",  # p. 103
    "Why 3×3 filters?",  # p. 104
    "Even smaller filters?",  # p. 105
    "CNN Case Study 3: Inception",  # p. 106
    "Basic idea",  # p. 107
    "Inception module",  # p. 108
    "Architecture",  # p. 109
    "Inceptions v2, v3, v4",  # p. 110
    "CNN Case Study 4: ResNets DenseNets HighwayNets",  # p. 111
    "Hypothesis",  # p. 112
    "Hypothesis",  # p. 113
    "Testing the hypothesis",  # p. 114
    "The “residual idea”, intuitively",  # p. 115
    "ResNet block",  # p. 116
    "No degradation anymore",  # p. 117
    "HighwayNet",  # p. 118
    "DenseNet",  # p. 119
    "Neural Architecture Search",  # p. 120
    "State-of-the-Art",  # p. 121
    "Summary",  # p. 122
    "Reading material & references",  # p. 123
]

IMAGE = np.array(
    [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], float
)
POOL_INPUT = np.array(
    [
        [1, 3, 1, 7, 2, 3],
        [3, 8, 2, 2, 4, 3],
        [3, 2, 0, 1, 2, 1],
        [2, 0, 4, 2, 1, 3],
        [6, 3, 2, 3, 1, 2],
        [1, 2, 1, 2, 7, 2],
    ],
    float,
)
RNG = np.random.default_rng(4)


def _weights(module: nn.Module) -> int:
    return sum(p.numel() for name, p in module.named_parameters() if name.endswith("weight"))


# ------------------------------------------------------------------ the deck's numbers


def test_dimensionality_200k_inputs_200m_weights():
    """256x256 RGB = 196,608 inputs (~200K); 1,000 neurons on it: ~200 million weights."""
    with torch.device("meta"):
        layer = nn.Linear(256 * 256 * 3, 1000)
    assert layer.in_features == 196_608 and round(layer.weight.numel(), -8) == 200_000_000


def test_sobel_separability_and_the_g_y_factor_erratum():
    """Sobel x = [1 2 1]^T [-1 0 1]; the deck's G_y factors (row diff after column smooth) give G_x."""
    smooth, diff = np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])
    assert np.array_equal(np.outer(smooth, diff), filters.get_kernel("sobel x"))
    assert np.array_equal(np.outer(diff, smooth), filters.get_kernel("sobel y"))
    assert not np.array_equal(np.outer(smooth, diff), filters.get_kernel("sobel y"))


def test_gradient_magnitude_shortcut_is_within_sqrt2():
    gx, gy = RNG.normal(size=1000), RNG.normal(size=1000)
    ratio = (np.abs(gx) + np.abs(gy)) / np.hypot(gx, gy)
    assert ratio.min() >= 1 - 1e-12 and ratio.max() <= np.sqrt(2) + 1e-12


def test_worked_5x5_example_gives_4_3_4_2_4_3_2_3_4():
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float)
    expected = [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    assert np.array_equal(reference.conv2d(IMAGE[None, None], kernel[None, None])[0, 0], expected)
    assert np.array_equal(convolve2d(IMAGE, kernel, mode="valid"), expected)  # symmetric: flip-free


def test_weight_gradient_is_one_window_not_a_sum():
    """d a_rc / d W_ij = x_{r+i, c+j}; the deck's double sum is the gradient of sum(a)."""
    x = torch.tensor(RNG.normal(size=(1, 1, 6, 6)))
    w = torch.tensor(RNG.normal(size=(1, 1, 3, 3)), requires_grad=True)
    (grad_one,) = torch.autograd.grad(F.conv2d(x, w)[0, 0, 2, 1], w)
    assert torch.allclose(grad_one[0, 0], x[0, 0, 2:5, 1:4])
    (grad_sum,) = torch.autograd.grad(F.conv2d(x, w).sum(), w)
    windows = sum(x[0, 0, r : r + 3, c : c + 3] for r in range(4) for c in range(4))
    assert torch.allclose(grad_sum[0, 0], windows)


def test_parameter_counts_147_735_423k_46m_and_not_85k():
    assert measure.parameter_count(nn.Conv2d(3, 1, 7, bias=False)) == 147
    assert measure.parameter_count(nn.Conv2d(3, 5, 7, bias=False)) == 735
    positions = arithmetic.conv_output_size(30, 7) ** 2
    assert positions == 24 * 24 and positions * 735 == 423_360 != 85_000
    assert round(arithmetic.conv_output_size(256, 7) ** 2 * 735 / 1e6) == 46


def test_stride_and_the_2_5_outputs():
    assert (
        arithmetic.conv_output_size(7, 3) == 5 and arithmetic.conv_output_size(7, 3, stride=2) == 3
    )
    assert (6 - 3) / 2 + 1 == 2.5 and arithmetic.conv_output_size(6, 3, stride=2) == 2


def test_zero_padding_example_is_wrong_on_the_slide():
    kernel = np.array([[0, 0, 1], [0, 1, 1], [1, 1, 1]], float)
    stated = np.array(
        [[1, 1, 2, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 2, 1], [1, 0, 2, 1, 0], [0, 1, 1, 3, 0]]
    )
    cross = reference.conv2d(IMAGE[None, None], kernel[None, None], padding=1)[0, 0]
    true = convolve2d(np.pad(IMAGE, 1), kernel, mode="valid")
    assert cross.shape == (5, 5) and cross[2, 2] == 5
    assert not np.array_equal(cross, stated) and not np.array_equal(true, stated)
    # no input at all maps to the stated result (the 25 x 25 system is inconsistent)
    system = np.stack(
        [
            reference.conv2d(
                np.eye(25)[i].reshape(1, 1, 5, 5), kernel[None, None], padding=1
            ).ravel()
            for i in range(25)
        ],
        axis=1,
    )
    solution = np.linalg.lstsq(system, stated.ravel(), rcond=None)[0]
    assert not np.allclose(system @ solution, stated.ravel())


def test_cs231n_slices_on_a_padded_volume_match_torch():
    """W=H=5, D=3, F=3, S=2, P=1 -> 3x3; V[x,0,0] = sum(X[2x:2x+3, :3, :] * W0) + b0."""
    volume = RNG.random((5, 5, 3))
    padded = np.pad(volume, ((1, 1), (1, 1), (0, 0)))
    w0, b0 = RNG.normal(size=(3, 3, 3)), 1.0
    slices = [np.sum(padded[2 * i : 2 * i + 3, :3, :] * w0) + b0 for i in range(3)]
    out = reference.conv2d(
        volume.transpose(2, 0, 1)[None],
        w0.transpose(2, 0, 1)[None],
        np.array([b0]),
        stride=2,
        padding=1,
    )
    assert out.shape == (1, 1, 3, 3) and np.allclose(slices, out[0, 0, :, 0])


def test_pooling_example_and_its_shifted_copy():
    pooled = reference.max_pool2d(POOL_INPUT[None, None], 3)[0, 0]
    assert np.array_equal(pooled, [[8, 7], [6, 7]])
    moved = np.array(
        [
            [2, 1, 3, 1, 7, 2],
            [0, 3, 8, 2, 2, 4],
            [1, 3, 2, 0, 1, 2],
            [2, 2, 0, 4, 2, 1],
            [2, 6, 3, 2, 3, 1],
            [1, 1, 2, 1, 2, 7],
        ],
        float,
    )
    assert np.array_equal(reference.max_pool2d(moved[None, None], 3)[0, 0], pooled)


def test_average_pool_gradient_is_one_over_the_window_size():
    x = torch.tensor(RNG.normal(size=(1, 1, 4, 5)), requires_grad=True)
    F.avg_pool2d(x, (2, 3), stride=1)[0, 0, 0, 0].backward()
    assert torch.allclose(x.grad[0, 0, :2, :3], torch.full((2, 3), 1 / 6, dtype=torch.float64))
    x.grad = None
    F.max_pool2d(x, 2)[0, 0, 1, 1].backward()
    assert x.grad.sum() == 1 and x.grad.count_nonzero() == 1


def test_alexnet_caption_neurons_and_ablation_parameters():
    with torch.device("meta"):
        net = models.alexnet_2012(groups=2)
        x = torch.zeros(1, 3, 227, 227)
        counts = []
        for layer in net:
            x = layer(x)
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                counts.append(x[0].numel())
        assert counts == [290_400, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
        assert round(measure.parameter_count(net) / 1e6) == 61
        full = measure.parameter_count(models.alexnet_2012())
        saved = {
            r: full - measure.parameter_count(models.alexnet_2012(remove=r))
            for r in [(7,), (6, 7), (3, 4)]
        }
    assert 224 * 224 * 3 == 150_528 and arithmetic.conv_output_size(227, 11, stride=4) == 55
    assert round(saved[(7,)] / 1e6) == 17 and round(saved[(6, 7)] / 1e6) == 49
    assert round(saved[(3, 4)] / 1e6, 1) == 2.5  # the deck says 1 million


ZF_TABLE3 = {  # validation top-1, top-5 error (%), Zeiler & Fergus 2014, Table 3
    "replication": (40.5, 18.1),
    "removed layers 3,4": (45.4, 22.1),
    "removed layer 7": (40.0, 18.4),
    "removed layers 6,7": (44.8, 22.4),
    "removed layers 3,4,6,7": (71.3, 50.1),
}


def test_ablation_changes_are_table_3s_not_the_decks():
    base1, base5 = ZF_TABLE3["replication"]
    changes = [
        (round(v1 - base1, 1), round(v5 - base5, 1))
        for name, (v1, v5) in ZF_TABLE3.items()
        if name != "replication"
    ]
    assert changes == [(4.9, 4.0), (-0.5, 0.3), (4.3, 4.3), (30.8, 32.0)]
    assert [c[0] for c in changes] != [3.0, 1.1, 5.7, 33.5]


def test_85k_is_the_depth_1_count_and_30_blocks_are_62_layers():
    assert arithmetic.conv_output_size(30, 7) ** 2 * 7 * 7 * 3 == 84_672
    from course_utils.digits_nets import deep_mlp

    net = deep_mlp(64, 32, blocks=30, residual=False)
    assert sum(isinstance(m, nn.Linear) for m in net.modules()) == 62


def test_zeiler_fergus_sizes_round_up():
    def ceil_size(n, k, s):
        return -(-(n - k) // s) + 1

    assert [
        ceil_size(224, 7, 2),
        ceil_size(110, 3, 2),
        ceil_size(55, 5, 2),
        ceil_size(26, 3, 2),
    ] == [110, 55, 26, 13]
    assert arithmetic.conv_output_size(224, 7, stride=2, padding=1) == 110
    assert arithmetic.pool_output_size(13, 3, stride=2) == 6 and 6 * 6 * 256 == 9216


def test_deconvnet_filter_is_flipped_not_transposed():
    f = np.array([[1.0, 5.0], [6.0, 3.0]])
    assert np.array_equal(f[::-1, ::-1], [[3, 6], [5, 1]]) and not np.array_equal(
        f.T, [[3, 6], [5, 1]]
    )
    y = torch.tensor(RNG.normal(size=(1, 1, 3, 3)))
    w = torch.tensor(f)[None, None]
    assert torch.allclose(
        F.conv_transpose2d(y, w), F.conv2d(F.pad(y, (1, 1, 1, 1)), w.flip(-1, -2))
    )


VGG_STAGES = {
    "A": [1, 1, 2, 2, 2],
    "B": [2, 2, 2, 2, 2],
    "D": [2, 2, 3, 3, 3],
    "E": [2, 2, 4, 4, 4],
}


def test_vgg_configurations_133_133_134_138_144_million():
    widths = [64, 128, 256, 512, 512]
    with torch.device("meta"):
        totals = {}
        for name, counts in VGG_STAGES.items():
            config = [item for w, c in zip(widths, counts, strict=True) for item in [w] * c + ["M"]]
            totals[name] = measure.parameter_count(models.vgg(config))
        totals["C"] = totals["B"] + sum(
            measure.parameter_count(nn.Conv2d(w, w, 1)) for w in (256, 512, 512)
        )
    assert {n: round(t / 1e6) for n, t in totals.items()} == {
        "A": 133,
        "B": 133,
        "C": 134,
        "D": 138,
        "E": 144,
    }


def test_three_3x3_against_one_7x7():
    c = 32
    assert arithmetic.receptive_field([3, 3, 3]) == 7
    assert (
        measure.parameter_count(nn.Sequential(*[nn.Conv2d(c, c, 3, bias=False) for _ in range(3)]))
        == 27 * c * c
    )
    assert measure.parameter_count(nn.Conv2d(c, c, 7, bias=False)) == 49 * c * c


GOOGLENET = {
    "3a": (192, 28, 64, 96, 128, 16, 32, 32, 159, 128),
    "3b": (256, 28, 128, 128, 192, 32, 96, 64, 380, 304),
    "4a": (480, 14, 192, 96, 208, 16, 48, 64, 364, 73),
    "4b": (512, 14, 160, 112, 224, 24, 64, 64, 437, 88),
    "4c": (512, 14, 128, 128, 256, 24, 64, 64, 463, 100),
    "4d": (512, 14, 112, 144, 288, 32, 64, 64, 580, 119),
    "4e": (528, 14, 256, 160, 320, 32, 128, 128, 840, 170),
    "5a": (832, 7, 256, 160, 320, 32, 128, 128, 1072, 54),
    "5b": (832, 7, 384, 192, 384, 48, 128, 128, 1388, 71),
}


def test_googlenet_table_rows_and_its_errata():
    """Ops recompute for every row but 5a; params (K = 1024) within 2 % except 4c and 5a; conv1 is off."""
    ops_off, params_off = [], []
    for name, (c_in, size, *widths, params_k, ops_m) in GOOGLENET.items():
        module = models.Inception(c_in, *widths)
        if abs(measure.multiply_adds(module, (1, c_in, size, size)) / 1e6 - ops_m) > 1:
            ops_off.append(name)
        if abs(_weights(module) / 1024 - params_k) / params_k > 0.02:
            params_off.append(name)
    assert ops_off == ["5a"] and params_off == ["4c", "5a"]
    stem = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    assert (
        _weights(stem) == 9408 and round(measure.multiply_adds(stem, (1, 3, 224, 224)) / 1e6) == 118
    )
    assert sum([1, 2] + [2] * 9 + [1]) == 22


def test_inception_reductions_save_weights_and_operations():
    naive = models.Inception(192, 64, 96, 128, 16, 32, 32, bottleneck=False)
    reduced = models.Inception(192, 64, 96, 128, 16, 32, 32)
    assert _weights(naive) == 387_072 and _weights(reduced) == 163_328
    assert measure.multiply_adds(naive, (1, 192, 28, 28)) > 2.3 * measure.multiply_adds(
        reduced, (1, 192, 28, 28)
    )


def test_identity_layers_residual_zero_and_highway_gate():
    extra = nn.Conv2d(4, 4, 3, padding=1, bias=False)
    nn.init.dirac_(extra.weight)
    x = torch.rand(2, 4, 6, 6)
    assert torch.allclose(extra(x), x)
    unit = models.ResidualUnit(8, 8)
    assert unit(torch.zeros(1, 8, 4, 4)).shape == (1, 8, 4, 4)
    h, carry = torch.rand(5), torch.rand(5)
    for t, expected in [(0.0, carry), (1.0, h)]:  # y = H T + x (1 - T)
        assert torch.equal(h * t + carry * (1 - t), expected)


def test_densenet_growth_rate_arithmetic():
    block = models.dense_block(4, 16, growth_rate=12, bottleneck=False)
    assert [layer.new_features[-1].in_channels for layer in block] == [16, 28, 40, 52]
    assert block(torch.zeros(1, 16, 4, 4)).shape[1] == 64


def test_augmentations_used_for_the_invariance_pages():
    dot = torch.zeros(1, 1, 8, 8)
    dot[0, 0, 2, 3] = 1
    assert augment.affine(dot, shift=(0, 1))[0, 0].nonzero().tolist() == [[2, 4]]
    assert torch.allclose(
        augment.affine(dot, degrees=90), torch.rot90(dot, 1, dims=(2, 3)), atol=1e-5
    )


# ------------------------------------------------------------------ the notebook's structure


@pytest.fixture(scope="module")
def notebook(repo_root):
    return read_notebook(repo_root / NOTEBOOK)


def test_notebook_credits_the_deck(notebook):
    first = " ".join(notebook.cells[0].source.split())
    for name in (
        "Jaewook Lee",
        "Seoul National University",
        "Convolutional Neural Networks for Computer Vision",
    ):
        assert name in first, f"the first cell must credit the deck: {name!r} is missing"


def test_every_cell_has_slideshow_metadata_and_a_unique_id(notebook, repo_root):
    structure.check_slide_metadata_and_unique_ids(notebook, repo_root / NOTEBOOK)


def test_every_deck_page_has_a_section_in_order(notebook):
    headings = structure.slide_headings(notebook)
    position = 0
    for number, page in enumerate(DECK_PAGES, start=1):
        while position < len(headings) and not headings[position].lower().startswith(page.lower()):
            position += 1
        assert position < len(headings), (
            f"no section for deck page {number} {page!r} (in deck order)"
        )
        assert f"(deck p. {number})" in headings[position], f"{headings[position]!r} lacks its page"
        position += 1


def test_deck_page_numbers_increase(notebook):
    numbers = [
        int(m)
        for h in structure.slide_headings(notebook)
        for m in re.findall(r"\(deck p\. (\d+)\)", h)
    ]
    assert numbers == sorted(numbers) and numbers[0] == 1 and numbers[-1] == len(DECK_PAGES)


def test_setup_cell_is_the_first_code_cell(notebook):
    structure.check_setup_cell_first(notebook)


def test_code_cells_are_slide_sized(notebook):
    """Allowance: a few worked examples run to 20 lines."""
    structure.check_code_cells_slide_sized(notebook, max_lines=20)


def test_no_notes_about_how_the_material_was_made(notebook):
    text = "\n".join(cell.source for cell in notebook.cells).lower()
    for phrase in (
        "000_553a4c72af2ccffd",
        ".txt",
        "lost in extraction",
        "cannot download",
        "we cannot",
    ):
        assert phrase not in text, f"student-facing text mentions {phrase!r}"


def test_self_check_has_hidden_answers_each_checked_by_code(notebook):
    """4-6 questions, each answer folded on its own sub-slide and checked by hidden code."""
    structure.check_self_check(notebook)


def test_errata_are_boxed_and_listed_with_pages(notebook):
    text = "\n".join(cell.source for cell in notebook.cells)
    assert text.count("**Erratum") >= 13
    closing = "\n".join(c.source for c in notebook.cells if c.source.startswith("## Errata"))
    assert len(re.findall(r"^\d+\. \*\*.+\(pp?\. \d+", closing, flags=re.MULTILINE)) >= 13
    for item in ("84,672", "Table 7", "stages 3–5", "−0.5 / +4.3 / +4.9 / +30.8"):
        assert item in closing, f"the errata list lacks {item!r}"
    assert "Runtime" not in closing and "font-size" not in closing


def test_no_assert_and_no_headless_slide(notebook):
    """Slide style: asserts run hidden (hide-input); every slide and sub-slide opens with a heading."""
    for index, cell in enumerate(notebook.cells):
        kind = cell.metadata.get("slideshow", {}).get("slide_type")
        if cell.cell_type == "code" and "assert" in cell.source:
            assert "hide-input" in cell.metadata.get("tags", []), f"cell {index} shows an assert"
        if kind in ("slide", "subslide"):
            assert cell.cell_type == "markdown" and re.match(r"#{1,4} ", cell.source), (
                f"cell {index} starts a slide without a heading"
            )
    shown = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and "hide-input" not in c.metadata.get("tags", [])
    ]
    assert len(shown) <= 8, f"{len(shown)} code cells on the slides"


def test_no_progress_bars_or_making_of_notes(notebook):
    text = "\n".join(cell.source for cell in notebook.cells)
    for phrase in ("the deck shows", "smallmatrix", "load average", "wall-clock"):
        assert phrase not in text.lower(), phrase
    assert "progress=False" in text


def test_notebook_is_committed_clean(notebook):
    structure.check_committed_clean(notebook)
