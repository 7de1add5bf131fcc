"""Lecture 2 (convolution arithmetic and implementation): the deck's numbers, and the notebook's structure.

The numbers are recomputed with ``course_utils`` directly; executing the notebook is another
test's job. The structure checks make sure a reader holding the deck finds every page.
"""

from __future__ import annotations

import itertools
import math
import re

import lecture_structure as structure
import numpy as np
import pytest
import torch

from course_utils import arithmetic, reference
from course_utils.publish.notebooks import read_notebook

NOTEBOOK = "lectures/02_convolution_arithmetic_and_implementation.ipynb"
ANCHORS = [
    "last-week",
    "convolution-and-cross-correlation",
    "padding",
    "valid-padding",
    "same-padding",
    "why-padding",
    "stride",
    "output-length",
    "kernel-size",
    "tensorflow-valid",
    "tensorflow-same",
    "questions-padding",
    "implementation",
    "properties",
    "conv2d",
    "img2col",
    "convolution-as-matrix",
    "multiple-kernels",
    "multiple-channels",
    "other-convolutions",
    "depthwise-separable",
    "transposed-convolution",
    "output-padding",
    "dilated-convolution",
    "conv3d",
    "pooling",
    "references",
    "errata",
    "self-check",
]

# Every page of the source deck (Lecture 2's deck in /work/shared/slides), in order: 53 pages. A
# page's title must start a "slide" or "subslide" heading of the notebook, in this order (the five
# build-up pages of the 2D example and the second dilated-convolution figure are subslides), and
# that heading ends with "(deck p. N)". Pages 2-3 ("Questions", "Administrative") are about the
# deck's own class, not convolutions: the lecture has no slide for them and says nothing of them.
DECK_PAGES = [
    "Lecture 2",  # title page: "Convolutional Neural Networks", CS5242
    "Questions",
    "Administrative",
    "Roadmap",
    "Intended learning outcome",
    "Last week",  # MLP vs CNN, the MNIST table
    "Last week",  # the formal definition, cross-correlation
    "Padding",  # manual, p = 1
    "Padding",  # the number of outputs
    "Padding",  # valid
    "Padding",  # same
    "Why Padding",
    "Stride",
    "Stride",  # the output length
    "Stride",  # exact matching
    "Stride",  # not exact matching
    "Stride (for Tensorflow)",  # valid
    "Stride (for Tensorflow)",  # same
    "Question",  # qn1-qn4
    "Implementation",
    "Properties (Why Convolution?)",
    "2D Convolution",
    *["2D convolution"] * 5,  # the definition and the 4x4 example, built up in five pages
    "2D Convolution",  # the four animations
    "2D convolution",  # Img2Col, parameters, shape, cost
    "Convolution -> affine transformation",
    "Question",  # qn5, qn6
    "Question",  # the answers
    "2D convolution",  # the kernel on an image
    "2D Convolution",  # multiple kernels
    "2D convolution",  # two kernels
    "2D convolution",  # Img2Col and kernels to matrix
    "2D convolution",  # multiple kernels: parameters, shape, cost
    "2D Convolution",  # multiple input channels
    "2D convolution",  # multiple channels and multiple kernels
    "2D convolution",  # channels and kernels: parameters, shape, cost
    "Other convolution operations",
    "Depth-wise Separable Convolution",
    "Transposed Convolution",  # the two animations
    "Transposed Convolution",  # applications, implementation
    "Dilated Convolution",  # the animation
    "Dilated Convolution",  # Yu and Koltun's figure
    "Dilated convolution",  # why
    "3D convolution",
    "Pooling",
    "Pooling",  # output shape
    "Max Pooling",
    "Average Pooling",
    "References and additional readings",
]
NOTE_PAGES = {"Questions", "Administrative"}
PAGE = re.compile(r"\s*\(deck p\. (\d+)\)$")

X = np.array([1, 0, 2, 2, 3, 1], dtype=float)  # the deck's 1D input
W = np.array([3, 2, 2], dtype=float)  # the deck's 1D kernel
IMAGE = np.array([[1, 2, 3, 2], [2, 3, 2, 5], [1, 2, 2, 1], [0, 2, 1, 2]], dtype=float)
EDGE = np.array([[-1, 1], [-1, 1]], dtype=float)
RNG = np.random.default_rng(0)


def _conv1d(signal, kernel, **kwargs):
    return reference.conv1d(np.asarray(signal, float)[None, None], kernel[None, None], **kwargs)[
        0, 0
    ]


def _conv2d(image, kernel, **kwargs):
    return reference.conv2d(image[None, None], kernel[None, None], **kwargs)[0, 0]


def _ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b)


# ------------------------------------------------------------------ the deck's numbers


def test_mlp_layer_has_five_million_weights():
    """One 2500 -> 2000 layer: 2500 x 2000 = 5,000,000 weights."""
    assert torch.nn.Linear(2500, 2000, bias=False).weight.numel() == 5_000_000


def test_convolution_equals_cross_correlation_with_the_flipped_kernel():
    """np.convolve (true convolution) == conv1d (cross-correlation) with w[::-1]; not with w."""
    assert np.allclose(np.convolve(X, W), [3, 2, 8, 10, 17, 13, 8, 2])
    assert np.allclose(np.convolve(X, W, mode="valid"), _conv1d(X, W[::-1]))
    assert not np.allclose(np.convolve(X, W, mode="valid"), _conv1d(X, W))
    torch_out = torch.nn.functional.conv1d(torch.tensor(X)[None, None], torch.tensor(W)[None, None])
    assert np.allclose(torch_out[0, 0].numpy(), _conv1d(X, W))


def test_manual_valid_and_same_padding_values():
    """Deck p = 1 (one zero, right end): 7 8 16 14 11; valid: 7 8 16 14; same: 2 7 8 16 14 11."""
    assert np.allclose(_conv1d(np.append(X, 0), W), [7, 8, 16, 14, 11])
    assert np.allclose(_conv1d(X, W, padding="valid"), [7, 8, 16, 14])
    assert np.allclose(_conv1d(X, W, padding="same"), [2, 7, 8, 16, 14, 11])
    assert np.allclose(_conv1d(X, W, padding=1), [2, 7, 8, 16, 14, 11]), "PyTorch: 1 zero per side"
    assert arithmetic.same_padding(6, 3) == (1, 1)


def test_the_slides_fourth_product_line_is_wrong():
    """The fourth window is (2, 3, 1): 3*2 + 2*3 + 2*1 = 14, not the slide's 3*2 + 2*2 + 2*1 (= 12)."""
    windows = np.lib.stride_tricks.sliding_window_view(np.append(X, 0), 3)
    assert np.array_equal(windows[3], [2, 3, 1]) and windows[3] @ W == 14
    assert 3 * 2 + 2 * 2 + 2 * 1 == 12


def test_output_length_depends_on_total_padding_only():
    """o = floor((l + p - k)/s) + 1 with p zeros in total, however they are split."""
    for n, k, s, before, after in itertools.product(
        range(3, 9), range(1, 5), range(1, 4), range(3), range(3)
    ):
        if n + before + after < k:
            continue
        got = _conv1d(np.pad(np.ones(n), (before, after)), np.ones(k), stride=s).shape[-1]
        assert got == (n + before + after - k) // s + 1


def test_stride_exact_and_not_exact_matching():
    """p = 1, s = 2: (6+1-3)/2+1 = 3 exactly; p = 2: 3.5 -> 3; both give 7 16 11."""
    assert (6 + 1 - 3) / 2 + 1 == 3 and (6 + 2 - 3) // 2 + 1 == 3
    assert np.allclose(_conv1d(np.append(X, 0), W, stride=2), [7, 16, 11])
    assert np.allclose(_conv1d(np.append(X, [0, 0]), W, stride=2), [7, 16, 11])
    assert np.allclose(_conv1d(np.append(X, 0), np.array([3.0, 2.0, 1.0]), stride=2), [5, 13, 11])


def test_tensorflow_valid_and_same_rules():
    """Valid: o = floor((l-k)/s)+1 = ceil((l-k+1)/s); same: o = ceil(l/s), p = max(s(o-1)+k-l, 0)."""
    assert np.allclose(_conv1d(X, W, stride=2, padding="valid"), [7, 16])
    for n, k, s in itertools.product(range(1, 25), range(1, 6), range(1, 4)):
        if n >= k:
            assert (n - k) // s + 1 == _ceil_div(n - k + 1, s)
        o = _ceil_div(n, s)
        p = max(s * (o - 1) + k - n, 0)
        assert arithmetic.same_padding(n, k, s) == (p // 2, p - p // 2)
        assert (n + p - k) // s + 1 == o
        assert _conv1d(np.ones(n), np.ones(k), stride=s, padding="same").shape[-1] == o


def test_the_ceiling_in_the_same_padding_derivation_is_wrong():
    """With ceil((l+p-k)/s)+1 = o the example l=6, k=3, s=2 would accept p = 0, which gives 2 outputs."""
    n, k, s, o = 6, 3, 2, 3
    p_ceil = min(p for p in range(10) if _ceil_div(n + p - k, s) + 1 == o)
    p_floor = min(p for p in range(10) if (n + p - k) // s + 1 == o)
    assert (p_ceil, p_floor) == (0, 1) and (n - k) // s + 1 == 2


def test_questions_1_to_4():
    """l = 224, k = 5, s = 2: valid p = 0, o = 110; same p = 3 (1 + 2), o = 112."""
    assert arithmetic.conv_output_size(224, 5, 2) == 110
    assert arithmetic.same_padding(224, 5, 2) == (1, 2)
    assert _conv1d(np.ones(224), np.ones(5), stride=2, padding="same").shape[-1] == 112


def test_corrected_loop_and_im2col():
    """With w[i] * x[t+i] the loop gives 7 8 16 14 11; a[i, t] = x[t+i] builds the 3 x 5 im2col matrix."""
    x_in = np.append(X, 0)
    o = len(x_in) - 3 + 1
    y = np.zeros(o)
    a = np.zeros((3, o))
    for t in range(o):
        for i in range(3):
            y[t] += W[i] * x_in[t + i]
            a[i, t] = x_in[t + i]
    assert np.allclose(y, [7, 8, 16, 14, 11]) and np.allclose(W @ a, y)
    assert np.array_equal(a, [[1, 0, 2, 2, 3], [0, 2, 2, 3, 1], [2, 2, 3, 1, 0]])
    with pytest.raises(IndexError):
        W[3]  # the slide's w[k] with k = 3


def test_convolution_matrix_is_sparse_and_shares_weights_and_is_shift_equivariant():
    """The valid conv is a 4 x 6 banded matrix with 12 non-zeros; shifting the input shifts the output."""
    matrix = reference.conv1d(np.eye(6)[:, None, :], W[None, None])[:, 0, :].T
    assert matrix.shape == (4, 6) and np.count_nonzero(matrix) == 12
    assert all(np.array_equal(matrix[t, t : t + 3], W) for t in range(4))
    signal = np.zeros(20)
    signal[3:6] = [1, 0, 2]
    response, shifted = _conv1d(signal, W), _conv1d(np.roll(signal, 7), W)
    assert np.allclose(shifted[7:], response[:-7])


def test_2d_example_step_by_step_and_as_img2col_and_as_matrix():
    """The 4x4 example with [[-1, 1], [-1, 1]] gives [[2, 0, 2], [2, -1, 2], [3, -1, 0]]."""
    y = _conv2d(IMAGE, EDGE)
    assert np.array_equal(y, [[2, 0, 2], [2, -1, 2], [3, -1, 0]])
    columns = np.lib.stride_tricks.sliding_window_view(IMAGE, (2, 2)).reshape(-1, 4).T
    unfold = torch.nn.functional.unfold(torch.tensor(IMAGE)[None, None], kernel_size=2)[0].numpy()
    assert np.array_equal(columns, unfold)
    assert np.array_equal((EDGE.ravel() @ columns).reshape(3, 3), y)
    matrix = reference.conv2d(np.eye(16).reshape(16, 1, 4, 4), EDGE[None, None]).reshape(16, 9).T
    assert matrix.shape == (9, 16) and np.count_nonzero(matrix) == 36
    assert np.array_equal(matrix @ IMAGE.ravel(), y.ravel())
    assert arithmetic.conv_multiplications(1, 1, (2, 2), (3, 3)) == 36


def test_the_four_animations():
    """k = 3; deck total padding 0, 2, 4, 2 (s = 2) = per side 0, 1, 2, 1 -> 2x2, 5x5, 7x7, 3x3."""
    cases = [(4, 0, 1, 2), (5, 1, 1, 5), (5, 2, 1, 7), (5, 1, 2, 3)]  # (l, per side, s, o)
    for n, per_side, s, o in cases:
        assert (
            arithmetic.conv_output_size(n, 3, s, per_side) == (n + 2 * per_side - 3) // s + 1 == o
        )
    assert arithmetic.resolve_padding("full", 5, 3) == (2, 2)


def test_questions_5_and_6_agree_in_both_padding_readings():
    """224x224, stride 2, padding (1, 1): 5x5 -> 111x111, 5x1 -> 111x113, total or per side."""
    for zeros in (1, 2):  # the deck's total, PyTorch's per side
        assert ((224 + zeros - 5) // 2 + 1, (224 + zeros - 1) // 2 + 1) == (111, 113)
    image = RNG.normal(size=(1, 1, 224, 224))
    assert reference.conv2d(image, np.ones((1, 1, 5, 5)), stride=2, padding=1).shape[-2:] == (
        111,
        111,
    )
    assert reference.conv2d(image, np.ones((1, 1, 5, 1)), stride=2, padding=1).shape[-2:] == (
        111,
        113,
    )
    assert (225 + 1 - 5) // 2 + 1 != (225 + 2 - 5) // 2 + 1  # with l = 225 the readings differ


def test_two_kernels_and_kernels_to_matrix():
    """[[-1, 1], [-1, 1]] and [[1, 1], [1, 1]] give (2, 3, 3); one kernel per row of a 2 x 4 matrix."""
    kernels = np.stack([EDGE, np.ones((2, 2))])[:, None]
    maps = reference.conv2d(IMAGE[None, None], kernels)[0]
    assert np.array_equal(maps[1], [[8, 10, 12], [8, 9, 10], [5, 7, 6]])
    columns = torch.nn.functional.unfold(torch.tensor(IMAGE)[None, None], kernel_size=2)[0].numpy()
    assert np.array_equal((kernels.reshape(2, 4) @ columns).reshape(2, 3, 3), maps)
    assert arithmetic.conv_multiplications(1, 2, (2, 2), (3, 3)) == 72


def test_channels_and_kernels_parameter_size_output_shape_and_cost():
    """f x c x kh x kw weights; (f, oh, ow) output; f c kh kw oh ow multiplications (VGG's first layer)."""
    layer = torch.nn.Conv2d(3, 64, 3, padding=1)
    assert layer.weight.numel() == 1728 and arithmetic.conv_parameter_count(3, 64, (3, 3)) == 1792
    with torch.no_grad():
        assert layer(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 32, 32)
    assert arithmetic.conv_multiplications(3, 64, (3, 3), (224, 224)) == 86_704_128
    x, w = RNG.normal(size=(1, 3, 6, 6)), RNG.normal(size=(4, 3, 3, 3))
    columns = torch.nn.functional.unfold(torch.tensor(x), kernel_size=3)[0].numpy()
    assert np.allclose((w.reshape(4, -1) @ columns).reshape(1, 4, 4, 4), reference.conv2d(x, w))


def test_depthwise_separable_convolution():
    """groups=c conv = per-channel conv; c=32 -> f=64, 3x3, 56x56: 18,432 vs 2,336 weights."""
    x, w = RNG.normal(size=(1, 3, 6, 6)), RNG.normal(size=(3, 1, 3, 3))
    depthwise = reference.conv2d(x, w, groups=3)
    per_channel = np.concatenate([reference.conv2d(x[:, [c]], w[[c]]) for c in range(3)], axis=1)
    assert np.allclose(depthwise, per_channel)
    assert np.allclose(reference.conv2d(x, w.transpose(1, 0, 2, 3))[0, 0], depthwise[0].sum(axis=0))
    c, f = 32, 64
    assert torch.nn.Conv2d(c, f, 3, bias=False).weight.numel() == 18_432
    depthwise_layer = torch.nn.Conv2d(c, c, 3, groups=c, bias=False)
    assert (
        depthwise_layer.weight.numel() + torch.nn.Conv2d(c, f, 1, bias=False).weight.numel()
        == 2_336
    )
    normal = arithmetic.conv_multiplications(c, f, (3, 3), (56, 56))
    separable = arithmetic.conv_multiplications(c, c, (3, 3), (56, 56), groups=c)
    separable += arithmetic.conv_multiplications(c, f, (1, 1), (56, 56))
    assert (normal, separable) == (57_802_752, 7_325_696)
    assert math.isclose(separable / normal, 1 / f + 1 / 9)


def test_mnist_table_the_cnn_is_not_best_and_the_first_mlp_is_not_the_deepest():
    first = [784, 2500, 2000, 1500, 1000, 500, 10]
    deeper = [784, *[1000] * 8, 10]  # "1000x8", also in the table
    assert len(deeper) > len(first)
    assert sum(a * b + b for a, b in itertools.pairwise(first)) == 11_972_510
    assert 0.35 > 0.31  # the CNN row against the MLP committee


def test_solving_for_the_kernel_size():
    """o = l + p - k + 1 gives k = 3 for l = 6, o = 4; l = 224, p = 3, s = 2, o = 112: k in {4, 5}."""
    assert arithmetic.conv_output_size(6, 6 - 4 + 1) == 4
    fitting = [k for k in range(1, 20) if (224 + 3 - k) // 2 + 1 == 112]
    assert fitting == [4, 5] and 224 + 3 - 2 * 111 == 5


def test_speed_demo_implementations_agree():
    signal = RNG.normal(size=200)
    loop = np.array([sum(W[i] * signal[t + i] for i in range(3)) for t in range(198)])
    im2col = W @ np.lib.stride_tricks.sliding_window_view(signal, 3).T
    torch_out = torch.nn.functional.conv1d(
        torch.tensor(signal)[None, None], torch.tensor(W)[None, None]
    )
    assert np.allclose(loop, im2col) and np.allclose(im2col, torch_out[0, 0].numpy())


def test_2d_formula_with_stride_and_padding():
    padded = np.pad(IMAGE, 1)
    y = _conv2d(IMAGE, EDGE, stride=2, padding=1)
    by_formula = [
        [
            sum(padded[2 * i + a, 2 * j + b] * EDGE[a, b] for a in range(2) for b in range(2))
            for j in range(3)
        ]
        for i in range(3)
    ]
    assert np.array_equal(by_formula, y)


def test_transposed_2x2_to_4x4_and_output_padding():
    """2x2 -> 4x4 with a 3x3 kernel; stride 2 gives 5x5, output_padding=1 gives 6x6 (a zero row)."""
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    ones = np.ones((1, 1, 3, 3))
    up = reference.conv_transpose2d(x, ones)
    assert up.shape == (1, 1, 4, 4)
    assert np.array_equal(up[0, 0], [[1, 3, 3, 2], [4, 10, 10, 6], [4, 10, 10, 6], [3, 7, 7, 4]])
    t = torch.nn.functional.conv_transpose2d(
        torch.tensor(x), torch.tensor(ones), stride=2, output_padding=1
    )
    ours = reference.conv_transpose2d(x, ones, stride=2, output_padding=1)
    assert t.shape[-2:] == (6, 6) and np.allclose(ours, t.numpy()) and not ours[0, 0, 5].any()
    assert (
        arithmetic.conv_output_size(5, 3, stride=2)
        == arithmetic.conv_output_size(6, 3, stride=2)
        == 2
    )
    for n in (2, 7, 16):
        assert (
            arithmetic.conv_transpose_output_size(n, 3, stride=2, padding=1, output_padding=1)
            == 2 * n
        )


def test_transposed_kernel_is_not_the_transposed_convolution():
    """The deck's Y = W^T * X: transposing the kernel gives another result than C^T."""
    kernel = RNG.normal(size=(3, 3))
    small = RNG.normal(size=(1, 1, 2, 2))
    assert not np.allclose(
        reference.conv_transpose2d(small, kernel.T[None, None]),
        reference.conv_transpose2d(small, kernel[None, None]),
    )


def test_self_check_1_drops_the_last_input_value():
    x = np.arange(1.0, 11.0)[None, None]
    out = reference.conv1d(x, np.ones((1, 1, 4)), stride=3, padding=1)
    dx, _, _ = reference.conv1d_backward(
        np.ones_like(out), x, np.ones((1, 1, 4)), stride=3, padding=1
    )
    assert out.shape[-1] == 3 and dx[0, 0, 9] == 0 and dx[0, 0, :9].all()


def test_transposed_convolution_is_the_transposed_matrix():
    """conv_transpose2d(y) = C^T y for the 4x4 -> 2x2 conv matrix C; sizes 2 -> 4 (s=1), 2 -> 5 (s=2)."""
    kernel = RNG.normal(size=(3, 3))
    C = reference.conv2d(np.eye(16).reshape(16, 1, 4, 4), kernel[None, None]).reshape(16, 4).T
    y = RNG.normal(size=(1, 1, 2, 2))
    assert np.allclose(reference.conv_transpose2d(y, kernel[None, None]).ravel(), C.T @ y.ravel())
    assert arithmetic.conv_transpose_output_size(2, 3) == 4
    assert arithmetic.conv_transpose_output_size(2, 3, stride=2) == 5
    C2 = (
        reference.conv2d(np.eye(25).reshape(25, 1, 5, 5), kernel[None, None], stride=2)
        .reshape(25, 4)
        .T
    )
    assert np.allclose(
        reference.conv_transpose2d(y, kernel[None, None], stride=2).ravel(), C2.T @ y.ravel()
    )


def test_dilated_receptive_fields_3_7_15_with_constant_parameters():
    """Dilations 1, 2, 4 on 3x3 kernels: receptive fields 3, 7, 15; 9 weights per layer."""
    fields = [arithmetic.receptive_field([3] * n, dilations=[1, 2, 4][:n]) for n in (1, 2, 3)]
    assert fields == [3, 7, 15]
    impulse = np.zeros((1, 1, 31, 31))
    impulse[0, 0, 15, 15] = 1
    for d in (1, 2, 4):
        impulse = reference.conv2d(impulse, np.ones((1, 1, 3, 3)), dilation=d, padding=d)
    rows, _ = np.nonzero(impulse[0, 0])
    assert rows.max() - rows.min() + 1 == 15
    assert arithmetic.conv_output_size(7, 3, dilation=2) == 3
    assert arithmetic.receptive_field([3] * 7) == 15


def test_conv3d_shape():
    """(N, C, D, H, W) = (1, 3, 8, 32, 32) with 4 kernels of 3x3x3 -> (1, 4, 6, 30, 30)."""
    out = torch.nn.functional.conv3d(torch.zeros(1, 3, 8, 32, 32), torch.zeros(4, 3, 3, 3, 3))
    assert out.shape == (1, 4, 6, 30, 30)
    assert arithmetic.conv_parameter_count(3, 4, (3, 3, 3), bias=False) == 324


def test_pooling_and_average_pooling_as_convolution():
    """2x2 max pool: [[3, 5], [2, 2]]; average: [[2, 3], [1.25, 1.5]] = conv with 1/4 kernels, groups=c."""
    assert np.array_equal(reference.max_pool2d(IMAGE[None, None], 2)[0, 0], [[3, 5], [2, 2]])
    assert np.allclose(reference.avg_pool2d(IMAGE[None, None], 2)[0, 0], [[2, 3], [1.25, 1.5]])
    maps = RNG.normal(size=(1, 3, 8, 8))
    as_conv = reference.conv2d(maps, np.full((3, 1, 2, 2), 0.25), stride=2, groups=3)
    assert np.allclose(reference.avg_pool2d(maps, 2), as_conv)
    assert arithmetic.pool_output_size(224, 2) == 112


# ------------------------------------------------------------------ the notebook's structure


@pytest.fixture(scope="module")
def notebook(repo_root):
    return read_notebook(repo_root / NOTEBOOK)


def test_notebook_credits_the_deck(notebook):
    first = notebook.cells[0].source
    for name in ("CS5242", "National University of Singapore", "Lee Hwee Kuan", "Wang Wei"):
        assert name in first, f"the first cell must credit the deck: {name!r} is missing"


def test_every_cell_has_slideshow_metadata_and_a_unique_id(notebook, repo_root):
    structure.check_slide_metadata_and_unique_ids(notebook, repo_root / NOTEBOOK)


def test_every_deck_page_has_a_section_in_order(notebook):
    headings = structure.slide_headings(notebook)
    position = 0
    for page in [p for p in DECK_PAGES if p not in NOTE_PAGES]:
        while position < len(headings) and not headings[position].lower().startswith(page.lower()):
            position += 1
        assert position < len(headings), f"no section for the deck page {page!r} (in deck order)"
        position += 1


def test_headings_carry_their_deck_pages(notebook):
    """Each page's first heading ends with (deck p. N) and starts with that page's title."""
    first_heading = {}
    order = []
    for heading in structure.slide_headings(notebook):
        match = PAGE.search(heading)
        if match:
            page = int(match.group(1))
            order.append(page)
            first_heading.setdefault(page, PAGE.sub("", heading))
    assert order == sorted(order), "deck pages out of order"
    expected = [n for n, title in enumerate(DECK_PAGES, 1) if title not in NOTE_PAGES]
    assert sorted(first_heading) == expected
    for page, heading in first_heading.items():
        assert heading.lower().startswith(DECK_PAGES[page - 1].lower()), (page, heading)


def test_deck_noise_is_neither_a_slide_nor_a_note(notebook):
    headings = [PAGE.sub("", h) for h in structure.slide_headings(notebook)]
    assert not any(h.startswith(("Questions", "Administrative")) for h in headings)
    roadmap = next(c.source for c in notebook.cells if c.source.startswith("## Roadmap"))
    assert "pp. 2–3" not in roadmap and "nothing to teach" not in roadmap


def test_no_notes_about_how_the_material_was_made(notebook):
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    for phrase in ("002_", ".txt", "in extraction", "extracted", " lost ", "cannot download"):
        assert phrase not in text, f"student-facing text mentions {phrase!r}"


def test_section_anchors_for_the_assignments(notebook):
    """Assignments link to lectures/02_...ipynb#anchor: these anchors must stay."""
    text = "\n".join(cell.source for cell in notebook.cells)
    for anchor in ANCHORS:
        assert f'<a id="{anchor}"></a>' in text, anchor


def test_review_fixes_are_in_place(notebook):
    """Issue 11: the table's spread, the CNN row, kernel size, speed, transposed conv, notes."""
    text = "\n".join(cell.source for cell in notebook.cells)
    assert "deepest MLP" not in text and "± std" in text
    assert "is **not** better" in text
    assert "kernel size" in text.lower() and "fitting == [4, 5]" in text
    assert "timings" in text and "perf_counter" in text
    assert "draw_transposed_conv2d" in text and "output_padding=1" in text
    assert "not the kernel $W$" in text
    assert "\\Rightarrow" in text and "-(-" not in text
    assert "**last\ninput value**" in text or "**last input value**" in text
    errata, notes = text.split("**Notes**")[0].split("**Errata**")[-1], text.split("**Notes**")[-1]
    assert "location invariant" in notes.lower() and "location invariant" not in errata.lower()


def test_widgets_say_they_need_a_kernel(notebook):
    cells = notebook.cells
    index = next(i for i, c in enumerate(cells) if c.source.rstrip().endswith("explorer"))
    assert "running notebook" in cells[index - 1].source


def test_setup_cell_is_the_first_code_cell(notebook):
    structure.check_setup_cell_first(notebook)


def test_code_cells_are_slide_sized(notebook):
    """The deck's MNIST results table (23 lines of data) is the one longer cell."""
    structure.check_code_cells_slide_sized(notebook, exempt=("MNIST_ERRORS = [",))


def test_self_check_has_hidden_answers_each_checked_by_code(notebook):
    """4-6 questions, each answer folded on its own sub-slide and checked by hidden code."""
    structure.check_self_check(notebook)


def test_errata_and_widget_are_present(notebook):
    text = "\n".join(cell.source for cell in notebook.cells)
    assert text.count("**Erratum") >= 5
    assert "conv_arithmetic_explorer" in text


def _cell_after(notebook, heading_start: str):
    start = next(i for i, c in enumerate(notebook.cells) if c.source.startswith(heading_start))
    return notebook.cells[start + 1]


def test_issue_25_items(notebook):
    """The explorer hides dilation until it is taught; the MNIST table is a table; the dilated
    growth is drawn as taps 1, 2, 4 apart; M has a colour legend; the speed demo says what its
    im2col copies, and the times are ratios measured in one run."""
    cells = notebook.cells
    explorer = next(c for c in cells if c.source.rstrip().endswith("explorer"))
    assert "show_dilation=False" in explorer.source
    table = next(c for c in cells if c.source.startswith("MNIST_ERRORS = ["))
    assert "display(Markdown(cu.viz.markdown_table(" in table.source
    assert "hide-input" in table.metadata.get("tags", [])
    growth = _cell_after(notebook, "### Dilated Convolution — the taps, layer by layer")
    assert "cu.viz.draw_dilated_growth(kernel_size=3, dilations=(1, 2, 4))" in growth.source
    matrix = _cell_after(notebook, "### Convolution -> affine transformation — $M$")
    assert "fig.colorbar(" in matrix.source
    speed = next(c.source for c in cells if c.source.startswith("### How fast is each"))
    assert "sliding_window_view" in speed and "copies\nnothing" in speed
    timings = _cell_after(notebook, "### How fast — the loop against one matrix product")
    assert "relative to im2col" in timings.source and "time (ms" not in timings.source


def test_notebook_is_committed_clean(notebook):
    structure.check_committed_clean(notebook)
