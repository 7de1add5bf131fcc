"""Tests for course_utils.arithmetic: each formula against brute force and the slides' numbers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from course_utils import arithmetic, reference

# ---------------------------------------------------------------------------------------------
# Brute-force counterparts
# ---------------------------------------------------------------------------------------------


def count_windows(length: int, span: int, stride: int) -> int:
    """How many windows of ``span`` cells fit in ``length`` cells, starting every ``stride``."""
    return sum(1 for start in range(0, length, stride) if start + span <= length)


def dilated_kernel(k: int, dilation: int) -> np.ndarray:
    """A kernel of ones with ``dilation - 1`` zeros inserted between its taps."""
    kernel = np.zeros(dilation * (k - 1) + 1)
    kernel[::dilation] = 1
    return kernel


def brute_receptive_field(kernel_sizes, strides, dilations) -> int:
    """Follow one output back through the layers and measure the input positions it reads."""
    positions = {0}
    for k, s, d in reversed(list(zip(kernel_sizes, strides, dilations, strict=True))):
        positions = {p * s + tap * d for p in positions for tap in range(k)}
    return max(positions) - min(positions) + 1


def conv1d_length(n: int, k: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    """Length of reference.conv1d's output for a length-n signal."""
    return reference.conv1d(
        np.zeros((1, 1, n)), np.zeros((1, 1, k)), stride=stride, padding=padding, dilation=dilation
    ).shape[-1]


# ---------------------------------------------------------------------------------------------
# effective_kernel_size, conv_output_size
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "dilation"), list(itertools.product(range(1, 6), range(1, 5))))
def test_effective_kernel_size_is_the_dilated_kernel_length(k, dilation):
    """d(k-1)+1 is the length of a kernel with d-1 zeros between its taps."""
    assert arithmetic.effective_kernel_size(k, dilation) == len(dilated_kernel(k, dilation))


def test_conv_output_size_equals_reference_and_window_count():
    """Over a grid of n, k, s, p, d: the formula, a window count and reference.conv1d agree."""
    checked = 0
    for n, k, s, p, d in itertools.product(
        range(1, 11), range(1, 5), range(1, 4), range(3), (1, 2, 3)
    ):
        span = d * (k - 1) + 1
        if span > n + 2 * p:
            with pytest.raises(ValueError, match="larger than the padded input"):
                arithmetic.conv_output_size(n, k, s, p, d)
            continue
        expected = count_windows(n + 2 * p, span, s)
        assert arithmetic.conv_output_size(n, k, s, p, d) == expected, (n, k, s, p, d)
        if checked % 7 == 0:  # the reference on a sample keeps the test fast
            assert conv1d_length(n, k, s, p, d) == expected, (n, k, s, p, d)
        checked += 1
    assert checked > 500


@pytest.mark.parametrize(
    ("n", "k", "stride", "padding", "expected"),
    [
        (7, 3, 1, 0, 5),  # deck 001: 7x7 input, 3x3 filter, stride 1
        (7, 3, 2, 0, 3),  # deck 001: stride 2
        (7, 3, 3, 0, 2),  # deck 001: stride 3 "does not fit" (2.33); PyTorch floors to 2
        (7, 3, 1, 1, 7),  # deck 001: padding 1 keeps 7x7
        (32, 5, 1, 2, 32),  # deck 001: 32x32x3 with 5x5 filters, pad 2
        (32, 5, 1, 0, 28),  # deck 001: 28x28 locations without padding
        (5, 3, 2, 1, 3),  # deck 004 and deck 000's demo: 5x5, 3x3, stride 2, pad 1
        (6, 3, 2, 0, 2),  # deck 000: "(6-3)/2+1 = 2.5" does not click; the floor gives 2
        (30, 7, 1, 0, 24),  # deck 000: 24 filter positions per axis on a 30x30 image
    ],
)
def test_conv_output_size_slide_examples(n, k, stride, padding, expected):
    """Output sizes worked on the slides."""
    assert arithmetic.conv_output_size(n, k, stride, padding) == expected


def test_deck001_shrinking_sequence():
    """Deck 001: 5x5 filters without padding shrink 32 -> 28 -> 24 -> 20."""
    sizes = [32]
    for _ in range(3):
        sizes.append(arithmetic.conv_output_size(sizes[-1], 5))
    assert sizes == [32, 28, 24, 20]


# ---------------------------------------------------------------------------------------------
# same_padding and resolve_padding
# ---------------------------------------------------------------------------------------------


def test_same_padding_gives_ceil_n_over_s_with_the_least_padding():
    """TensorFlow's rule: ceil(n/s) outputs, the fewest zeros that do it, the odd one at the end."""
    for n, k, s, d in itertools.product(range(1, 13), range(1, 6), range(1, 5), (1, 2)):
        before, after = arithmetic.same_padding(n, k, s, d)
        span = d * (k - 1) + 1
        wanted = math.ceil(n / s)
        assert count_windows(n + before + after, span, s) == wanted, (n, k, s, d)
        assert after - before in (0, 1), (n, k, s, d)
        least = next(t for t in range(0, 3 * span) if count_windows(n + t, span, s) == wanted)
        assert before + after == least, (n, k, s, d)


@pytest.mark.parametrize(("n", "k", "s"), [(6, 3, 1), (6, 4, 1), (7, 4, 2), (224, 5, 2), (5, 1, 3)])
def test_same_padding_matches_reference_same_mode(n, k, s):
    """reference.conv1d(padding="same") equals a valid convolution of the explicitly padded input."""
    rng = np.random.default_rng(n + k + s)
    x, w = rng.normal(size=(1, 1, n)), rng.normal(size=(1, 1, k))
    before, after = arithmetic.same_padding(n, k, s)
    padded = np.pad(x, ((0, 0), (0, 0), (before, after)))
    np.testing.assert_allclose(
        reference.conv1d(x, w, stride=s, padding="same"), reference.conv1d(padded, w, stride=s)
    )


def test_same_padding_deck001_and_deck002():
    """Deck 001: P = (F-1)/2 for odd F; deck 002: p = k-1 = 2 split as floor/ceil for k = 3."""
    for k in (1, 3, 5, 7):
        assert arithmetic.same_padding(32, k) == ((k - 1) // 2, (k - 1) // 2)
    assert arithmetic.same_padding(6, 3) == (1, 1)
    assert arithmetic.same_padding(6, 4) == (1, 2)  # the extra zero at the end


@pytest.mark.parametrize(
    ("padding", "expected"),
    [("valid", (0, 0)), ("VALID", (0, 0)), ("same", (1, 1)), ("full", (2, 2)), (3, (3, 3))],
)
def test_resolve_padding(padding, expected):
    """Modes and ints become (before, after) zeros for n=6, k=3."""
    assert arithmetic.resolve_padding(padding, 6, 3) == expected


def test_full_padding_output_length():
    """ "Full" padding gives n + span - 1 outputs: every partial overlap counts."""
    for n, k, d in itertools.product(range(1, 8), range(1, 5), (1, 2)):
        before, after = arithmetic.resolve_padding("full", n, k, 1, d)
        span = d * (k - 1) + 1
        assert count_windows(n + before + after, span, 1) == n + span - 1


# ---------------------------------------------------------------------------------------------
# Deck 002's questions qn1-qn6 (l = 224, k = 5, s = 2)
# ---------------------------------------------------------------------------------------------


def test_deck002_qn1_qn2_valid():
    """Valid: p = 0 and o = floor((224 - 5) / 2) + 1 = 110."""
    assert arithmetic.resolve_padding("valid", 224, 5, 2) == (0, 0)
    assert arithmetic.conv_output_size(224, 5, 2) == 110
    assert conv1d_length(224, 5, 2, "valid") == 110


def test_deck002_qn3_qn4_same():
    """Same: p = max(s(o-1) + k - l, 0) = 2*111 + 5 - 224 = 3 (1 before, 2 after) and o = 112."""
    assert arithmetic.same_padding(224, 5, 2) == (1, 2)
    assert sum(arithmetic.resolve_padding("same", 224, 5, 2)) == 3
    assert conv1d_length(224, 5, 2, "same") == 112


def test_deck002_qn5_qn6_2d_shapes():
    """224x224 input, padding (1, 1), stride (2, 2): 5x5 kernel -> 111x111, 5x1 kernel -> 111x113."""
    x = np.zeros((1, 1, 224, 224))
    for kernel, expected in [((5, 5), (111, 111)), ((5, 1), (111, 113))]:
        sizes = tuple(arithmetic.conv_output_size(224, k, 2, 1) for k in kernel)
        assert sizes == expected
        out = reference.conv2d(x, np.zeros((1, 1, *kernel)), stride=2, padding=1)
        assert out.shape[-2:] == expected


# ---------------------------------------------------------------------------------------------
# conv_transpose_output_size
# ---------------------------------------------------------------------------------------------


def test_conv_transpose_output_size_equals_reference_length():
    """Over a grid of n, k, s, p, output_padding, d: the formula equals conv_transpose1d's length."""
    checked = 0
    for n, k, s, p, op, d in itertools.product(
        range(1, 6), range(1, 4), range(1, 4), range(3), range(3), (1, 2)
    ):
        x, w = np.zeros((1, 1, n)), np.zeros((1, 1, k))
        if op >= max(s, d):
            with pytest.raises(ValueError, match="output_padding"):
                arithmetic.conv_transpose_output_size(n, k, s, p, op, d)
            continue
        if (n - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:
            with pytest.raises(ValueError, match="padding"):
                arithmetic.conv_transpose_output_size(n, k, s, p, op, d)
            continue
        length = reference.conv_transpose1d(
            x, w, stride=s, padding=p, output_padding=op, dilation=d
        )
        assert arithmetic.conv_transpose_output_size(n, k, s, p, op, d) == length.shape[-1]
        checked += 1
    assert checked > 200


def test_conv_transpose_output_size_undoes_conv_output_size():
    """With output_padding = the rows a strided conv skipped, the transpose restores the length."""
    for n, k, s, p in itertools.product(range(3, 12), range(1, 4), range(1, 4), range(2)):
        out = arithmetic.conv_output_size(n, k, s, p)
        skipped = (n + 2 * p - k) % s
        assert arithmetic.conv_transpose_output_size(out, k, s, p, skipped) == n


def test_deck004_transposed_convolution_2x2_to_4x4():
    """Deck 004: a 2x2 input and a 3x3 kernel give a 4x4 output."""
    assert arithmetic.conv_transpose_output_size(2, 3) == 4


# ---------------------------------------------------------------------------------------------
# pool_output_size
# ---------------------------------------------------------------------------------------------


def test_pool_output_size_equals_reference_max_pool2d():
    """Over a grid of n, k, s, p and ceil_mode: the formula equals reference.max_pool2d's size."""
    checked = 0
    for n, k, s, ceil_mode in itertools.product(
        range(1, 9), range(1, 5), range(1, 4), (False, True)
    ):
        for p in range(k // 2 + 1):
            if k > n + 2 * p:
                with pytest.raises(ValueError, match="larger than the padded input"):
                    arithmetic.pool_output_size(n, k, s, p, ceil_mode)
                continue
            out = reference.max_pool2d(np.zeros((1, 1, n, n)), k, s, p, ceil_mode=ceil_mode)
            context = (n, k, s, p, ceil_mode)
            assert arithmetic.pool_output_size(n, k, s, p, ceil_mode) == out.shape[-1], context
            checked += 1
    assert checked > 200


def test_pool_output_size_defaults_and_slides():
    """Stride defaults to the window; deck 001's 4x4 -> 2x2, deck 000's 6x6 with 3x3 -> 2x2."""
    assert arithmetic.pool_output_size(4, 2) == 2
    assert arithmetic.pool_output_size(6, 3) == 2
    assert arithmetic.pool_output_size(5, 2) == 2
    assert arithmetic.pool_output_size(5, 2, ceil_mode=True) == 3
    assert arithmetic.pool_output_size(224, 3, 2) == 111  # the common F = 3, S = 2


def test_pool_output_size_ceil_mode_drops_a_window_in_the_padding():
    """n=3, k=2, s=2, p=1: ceil gives 3 windows, but the third would start in the right padding."""
    assert arithmetic.pool_output_size(3, 2, 2, 1, ceil_mode=True) == 2
    assert arithmetic.pool_output_size(4, 2, 2, 1, ceil_mode=True) == 3  # starts at x[3]: kept
    for n, expected in [(3, 2), (4, 3)]:
        out = reference.max_pool2d(np.zeros((1, 1, n, n)), 2, 2, 1, ceil_mode=True)
        assert out.shape[-1] == expected


# ---------------------------------------------------------------------------------------------
# receptive_field
# ---------------------------------------------------------------------------------------------


def test_receptive_field_slides():
    """Deck 001: two stacked 3x3 convolutions see 5x5; deck 002: dilations 1, 2, 4 -> 3, 7, 15."""
    assert arithmetic.receptive_field([3]) == 3
    assert arithmetic.receptive_field([3, 3]) == 5
    assert arithmetic.receptive_field([3, 3, 3]) == 7
    assert arithmetic.receptive_field([3], dilations=[1]) == 3
    assert arithmetic.receptive_field([3, 3], dilations=[1, 2]) == 7
    assert arithmetic.receptive_field([3, 3, 3], dilations=[1, 2, 4]) == 15


def test_receptive_field_matches_brute_force():
    """Random stacks with strides and dilations against following the indices back by hand."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        layers = int(rng.integers(1, 5))
        kernels = [int(v) for v in rng.integers(1, 6, size=layers)]
        strides = [int(v) for v in rng.integers(1, 4, size=layers)]
        dilations = [int(v) for v in rng.integers(1, 4, size=layers)]
        expected = brute_receptive_field(kernels, strides, dilations)
        assert arithmetic.receptive_field(kernels, strides, dilations) == expected


def test_receptive_field_matches_gradient_support():
    """The input pixels with a non-zero gradient for one output are exactly the receptive field."""
    kernels, strides, dilations = [3, 2, 3], [1, 2, 1], [1, 1, 2]
    x = torch.ones(1, 1, 40, dtype=torch.float64, requires_grad=True)
    h = x
    for k, s, d in zip(kernels, strides, dilations, strict=True):
        h = torch.nn.functional.conv1d(
            h, torch.ones(1, 1, k, dtype=torch.float64), stride=s, dilation=d
        )
    h[0, 0, 0].backward()
    support = torch.nonzero(x.grad[0, 0]).flatten()
    field = int(support.max() - support.min() + 1)
    assert arithmetic.receptive_field(kernels, strides, dilations) == field


# ---------------------------------------------------------------------------------------------
# conv_parameter_count and conv_multiplications
# ---------------------------------------------------------------------------------------------


def test_conv_parameter_count_slides():
    """Deck 001: ten 5x5 filters on 32x32x3 -> 10 * (5*5*3 + 1) = 760; deck 000: 5 * 7*7*3 = 735."""
    assert arithmetic.conv_parameter_count(3, 10, (5, 5)) == 760
    assert arithmetic.conv_parameter_count(3, 5, (7, 7), bias=False) == 735
    # deck 000 without sharing: one filter bank per position, 24 x 24 positions -> 423K
    assert 24 * 24 * arithmetic.conv_parameter_count(3, 5, (7, 7), bias=False) == 423_360


def test_deck002_depthwise_separable_parameters():
    """Depthwise: c*kh*kw (groups = c); pointwise: a 1x1 convolution."""
    assert arithmetic.conv_parameter_count(8, 8, (3, 3), bias=False, groups=8) == 8 * 9
    assert arithmetic.conv_parameter_count(8, 16, (1, 1), bias=False) == 8 * 16


@pytest.mark.parametrize(
    ("c_in", "c_out", "kernel", "bias", "groups"),
    [
        (3, 10, (5, 5), True, 1),
        (4, 6, 3, False, 2),
        (6, 6, (3, 1), True, 6),
        (2, 4, (2, 3, 4), True, 1),
    ],
)
def test_conv_parameter_count_equals_torch_modules(c_in, c_out, kernel, bias, groups):
    """The count equals the number of parameters of the matching torch.nn.ConvNd module."""
    dims = 1 if isinstance(kernel, int) else len(kernel)
    module = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[dims]
    layer = module(c_in, c_out, kernel, bias=bias, groups=groups)
    expected = sum(p.numel() for p in layer.parameters())
    assert arithmetic.conv_parameter_count(c_in, c_out, kernel, bias, groups) == expected


def test_conv_parameter_count_accepts_numpy_ints():
    """Sizes that come out of numpy (shapes, arange) count like Python ints."""
    assert arithmetic.conv_parameter_count(np.int64(3), 10, (np.int64(5), 5)) == 760
    assert arithmetic.conv_parameter_count(3, 10, np.int64(5)) == 10 * (3 * 5 + 1)
    assert arithmetic.conv_multiplications(3, 10, 5, np.int64(28)) == 10 * 3 * 5 * 28


def count_multiplications(c_in, c_out, kernel, out_shape, groups):
    """Count the multiplications a naive loop would do, one by one."""
    count = 0
    for _f, _pos in itertools.product(range(c_out), itertools.product(*map(range, out_shape))):
        for _c in range(c_in // groups):
            for _tap in itertools.product(*map(range, kernel)):
                count += 1
    return count


@pytest.mark.parametrize(
    ("c_in", "c_out", "kernel", "out_shape", "groups"),
    [(3, 4, (3, 3), (5, 5), 1), (4, 4, (3, 3), (4, 6), 4), (2, 6, (5,), (7,), 2)],
)
def test_conv_multiplications_equals_a_count(c_in, c_out, kernel, out_shape, groups):
    """Deck 002's O(f * c * kh * kw * oh * ow), counted by loops."""
    expected = count_multiplications(c_in, c_out, kernel, out_shape, groups)
    assert arithmetic.conv_multiplications(c_in, c_out, kernel, out_shape, groups) == expected


# ---------------------------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: arithmetic.conv_output_size(0, 3), ValueError, "n must be >= 1"),
        (lambda: arithmetic.conv_output_size(5, 0), ValueError, "k must be >= 1"),
        (lambda: arithmetic.conv_output_size(5, 3, stride=0), ValueError, "stride must be >= 1"),
        (lambda: arithmetic.conv_output_size(5, 3, padding=-1), ValueError, "padding must be >= 0"),
        (
            lambda: arithmetic.conv_output_size(5, 3, dilation=0),
            ValueError,
            "dilation must be >= 1",
        ),
        (lambda: arithmetic.conv_output_size(5.0, 3), TypeError, "n must be an int"),
        (lambda: arithmetic.conv_output_size(5, True), TypeError, "k must be an int"),
        (lambda: arithmetic.conv_output_size(3, 5), ValueError, r"kernel \(span 5"),
        (lambda: arithmetic.conv_output_size(5, 3, dilation=3), ValueError, "dilation 3"),
        (lambda: arithmetic.same_padding(5, 3, stride=0), ValueError, "stride must be >= 1"),
        (
            lambda: arithmetic.resolve_padding("sane", 5, 3),
            ValueError,
            "padding must be an int or one of",
        ),
        (lambda: arithmetic.resolve_padding(None, 5, 3), TypeError, "padding must be an int"),
        (
            lambda: arithmetic.conv_transpose_output_size(3, 3, 2, output_padding=2),
            ValueError,
            "output_padding",
        ),
        (
            lambda: arithmetic.conv_transpose_output_size(1, 1, padding=1),
            ValueError,
            "padding 1 is too large",
        ),
        (lambda: arithmetic.pool_output_size(5, 2, padding=2), ValueError, "padding"),
        (lambda: arithmetic.pool_output_size(2, 3), ValueError, "window 3 is larger"),
        (lambda: arithmetic.pool_output_size(5, 0), ValueError, "kernel_size must be >= 1"),
        (lambda: arithmetic.receptive_field([]), ValueError, "kernel_sizes"),
        (lambda: arithmetic.receptive_field([3, 3], strides=[1]), ValueError, "same length"),
        (lambda: arithmetic.receptive_field([3, 0]), ValueError, r"kernel_sizes\[1\]"),
        (lambda: arithmetic.receptive_field([3], dilations=[0]), ValueError, r"dilations\[0\]"),
        (lambda: arithmetic.conv_parameter_count(3, 10, 5, groups=2), ValueError, "groups"),
        (lambda: arithmetic.conv_parameter_count(0, 10, 5), ValueError, "in_channels"),
        (lambda: arithmetic.conv_parameter_count(3, 10, (5, 0)), ValueError, "kernel_size"),
        (lambda: arithmetic.conv_multiplications(3, 10, 5, 0), ValueError, "output_size"),
    ],
)
def test_errors_name_the_argument(call, error, match):
    """Each bad argument raises with a message that names it."""
    with pytest.raises(error, match=match):
        call()
