"""Tests for course_utils.reference: the slides' worked examples, naive loops, adjoints, gradients.

Every expected value here is either copied from a slide (and re-derived by hand in a comment) or
computed by the naive numpy loops below, which share no code with ``course_utils``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_utils import reference

# ---------------------------------------------------------------------------------------------
# Independent naive implementations (numpy loops; nothing from course_utils)
# ---------------------------------------------------------------------------------------------


def naive_pads(padding, n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """Zeros (before, after) for an int or a mode, found by search rather than by formula."""
    span = dilation * (k - 1) + 1
    if isinstance(padding, int):
        return padding, padding
    if padding == "valid":
        return 0, 0
    if padding == "full":
        return span - 1, span - 1
    assert padding == "same"
    wanted = math.ceil(n / stride)  # TensorFlow: "same" means ceil(n / stride) outputs
    total = 0
    while n + total < span or (n + total - span) // stride + 1 < wanted:
        total += 1
    return total // 2, total - total // 2  # the odd zero goes at the end


def naive_conv2d(x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """Cross-correlation by loops over output channels and output positions."""
    n_batch, channels, height, width = x.shape
    filters, group_channels, kh, kw = w.shape
    (top, bottom), (left, right) = pads
    padded = np.zeros((n_batch, channels, height + top + bottom, width + left + right))
    padded[:, :, top : top + height, left : left + width] = x
    sh, sw = stride
    dh, dw = dilation
    out_h = (padded.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (padded.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n_batch, filters, out_h, out_w))
    filters_per_group = filters // groups
    for f in range(filters):
        group = f // filters_per_group
        inputs = padded[:, group * group_channels : (group + 1) * group_channels]
        for i in range(out_h):
            for j in range(out_w):
                window = inputs[
                    :,
                    :,
                    i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                    j * sw : j * sw + dw * (kw - 1) + 1 : dw,
                ]
                out[:, f, i, j] = np.sum(window * w[f], axis=(1, 2, 3))
                if b is not None:
                    out[:, f, i, j] += b[f]
    return out


def naive_conv1d(x, w, b=None, stride=1, pads=(0, 0), dilation=1, groups=1):
    """1-D cross-correlation as a 2-D one over an image of height 1."""
    out = naive_conv2d(
        x[:, :, None, :], w[:, :, None, :], b, (1, stride), ((0, 0), pads), (1, dilation), groups
    )
    return out[:, :, 0, :]


def naive_pool2d(x, k, stride, padding, mode, ceil_mode=False, count_include_pad=True):
    """Max or average pooling by loops, with PyTorch's window and divisor rules."""
    n_batch, channels, height, width = x.shape
    sizes = []
    for n in (height, width):
        rounding = math.ceil if ceil_mode else math.floor
        size = rounding((n + 2 * padding - k) / stride) + 1
        if ceil_mode and (size - 1) * stride >= n + padding:
            size -= 1  # a window may not start in the right padding
        sizes.append(size)
    out = np.zeros((n_batch, channels, *sizes))
    for i in range(sizes[0]):
        for j in range(sizes[1]):
            top, left = i * stride - padding, j * stride - padding
            bottom, right = min(top + k, height + padding), min(left + k, width + padding)
            window_area = (bottom - top) * (right - left)  # counts padded cells inside the input
            rows = slice(max(top, 0), min(bottom, height))
            cols = slice(max(left, 0), min(right, width))
            window = x[:, :, rows, cols]
            if mode == "max":
                out[:, :, i, j] = window.max(axis=(2, 3))
            else:
                divisor = window_area if count_include_pad else window.shape[2] * window.shape[3]
                out[:, :, i, j] = window.sum(axis=(2, 3)) / divisor
    return out


def image(rows) -> np.ndarray:
    """A single-channel image as (1, 1, H, W) float64."""
    return np.asarray(rows, dtype=np.float64)[None, None]


def signal(values) -> np.ndarray:
    """A single-channel signal as (1, 1, L) float64."""
    return np.asarray(values, dtype=np.float64)[None, None]


# ---------------------------------------------------------------------------------------------
# Worked examples from the slides
# ---------------------------------------------------------------------------------------------

# Deck 001: the 5x5 image and the sharpen kernel (the centre pixel counts five times).
DECK001_IMAGE = [
    [-5, 3, 2, -5, 3],
    [4, 3, 2, 1, -3],
    [1, 0, 3, 3, 5],
    [-2, 0, 1, 4, 4],
    [5, 6, 7, 9, 1],
]
SHARPEN = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]


def test_deck001_sharpen_kernel_on_5x5_image():
    """The slide's 3x3 output; e.g. top left = 5*3 - (3 + 2 + 0 + 4) = 6."""
    out = reference.conv2d(image(DECK001_IMAGE), image(SHARPEN))
    np.testing.assert_allclose(out[0, 0], [[6, 1, 8], [-7, 9, 2], [-5, -9, 3]])


def test_deck001_corner_pixel_does_not_matter():
    """One slide shows the bottom-right pixel as 1, another as -1: a 3x3 'valid' output ignores it."""
    other = [row[:] for row in DECK001_IMAGE]
    other[4][4] = -1
    np.testing.assert_array_equal(
        reference.conv2d(image(DECK001_IMAGE), image(SHARPEN)),
        reference.conv2d(image(other), image(SHARPEN)),
    )


BOX_SIGNAL = [4, 3, 2, -5, 3, 5, 2, 5, 5, 6]
BOX_KERNEL = [1 / 3, 1 / 3, 1 / 3]


def test_deck001_box_filter_shrinks():
    """Without padding ("shrink") the box filter gives 8 means; e.g. (4 + 3 + 2) / 3 = 3."""
    out = reference.conv1d(signal(BOX_SIGNAL), signal(BOX_KERNEL))
    np.testing.assert_allclose(out[0, 0], [3, 0, 0, 1, 10 / 3, 4, 4, 16 / 3], atol=1e-12)


def test_deck001_box_filter_zero_padded():
    """One zero on each side keeps 10 values: (0 + 4 + 3) / 3 = 7/3 and (5 + 6 + 0) / 3 = 11/3."""
    expected = [7 / 3, 3, 0, 0, 1, 10 / 3, 4, 4, 16 / 3, 11 / 3]
    for padding in (1, "same"):
        out = reference.conv1d(signal(BOX_SIGNAL), signal(BOX_KERNEL), padding=padding)
        np.testing.assert_allclose(out[0, 0], expected, atol=1e-12, err_msg=f"padding={padding!r}")


def test_deck002_2d_example():
    """Deck 002's 4x4 input with the [[-1, 1], [-1, 1]] kernel; top left = -1 + 2 - 2 + 3 = 2."""
    x = image([[1, 2, 3, 2], [2, 3, 2, 5], [1, 2, 2, 1], [0, 2, 1, 2]])
    out = reference.conv2d(x, image([[-1, 1], [-1, 1]]))
    np.testing.assert_allclose(out[0, 0], [[2, 0, 2], [2, -1, 2], [3, -1, 0]])


DECK002_X = [1, 0, 2, 2, 3, 1]
DECK002_W = [3, 2, 2]


@pytest.mark.parametrize(
    ("padding", "expected"),
    [
        # 3*1 + 2*0 + 2*2 = 7, 3*0 + 2*2 + 2*2 = 8, 3*2 + 2*2 + 2*3 = 16, 3*2 + 2*3 + 2*1 = 14
        ("valid", [7, 8, 16, 14]),
        # one zero each side: 3*0 + 2*1 + 2*0 = 2 first, 3*3 + 2*1 + 2*0 = 11 last
        ("same", [2, 7, 8, 16, 14, 11]),
        # two zeros each side: 2*1 = 2, 2*1 + 0 = 2, ..., 11, and 3*1 = 3 last
        ("full", [2, 2, 7, 8, 16, 14, 11, 3]),
    ],
)
def test_deck002_1d_padding_modes(padding, expected):
    """Deck 002's w = [3, 2, 2] on x = [1, 0, 2, 2, 3, 1] with valid, same and full padding."""
    out = reference.conv1d(signal(DECK002_X), signal(DECK002_W), padding=padding)
    np.testing.assert_allclose(out[0, 0], expected)


def test_deck002_1d_stride_two_with_one_trailing_zero():
    """Deck 002's "exact matching" stride example: one zero appended, stride 2 -> (6+1-3)/2+1 = 3."""
    x = signal(DECK002_X + [0])
    out = reference.conv1d(x, signal(DECK002_W), stride=2)
    # windows start at 0, 2, 4: 3*1 + 2*0 + 2*2, 3*2 + 2*2 + 2*3, 3*3 + 2*1 + 2*0
    np.testing.assert_allclose(out[0, 0], [7, 16, 11])
    # TensorFlow's "same" for stride 2 wants ceil(6/2) = 3 outputs: total padding 1, at the end
    np.testing.assert_allclose(
        reference.conv1d(signal(DECK002_X), signal(DECK002_W), stride=2, padding="same")[0, 0],
        [7, 16, 11],
    )


# Deck 004 (after conv_arithmetic): a 5x5 input with the kernel drawn in the pixel corners.
DECK004_IMAGE = [
    [3, 3, 2, 1, 0],
    [0, 0, 1, 3, 1],
    [3, 1, 2, 2, 3],
    [2, 0, 0, 2, 2],
    [2, 0, 0, 0, 1],
]
DECK004_KERNEL = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]


def test_deck004_2d_example():
    """Deck 004's 3x3 output; top left = 3*1 + 2*2 + 0*2 + 1*1 + 2*2 = 12 (zero taps omitted)."""
    out = reference.conv2d(image(DECK004_IMAGE), image(DECK004_KERNEL))
    expected = [[12, 12, 17], [10, 17, 19], [9, 6, 14]]
    np.testing.assert_allclose(out[0, 0], expected)
    np.testing.assert_allclose(
        naive_conv2d(image(DECK004_IMAGE), image(DECK004_KERNEL))[0, 0], expected
    )


def test_deck004_stride_two_padding_one():
    """Deck 004: 5x5 input, 3x3 kernel, stride 2, padding 1 -> 3x3; values worked by hand."""
    out = reference.conv2d(image(DECK004_IMAGE), image(DECK004_KERNEL), stride=2, padding=1)
    # top left sees padded rows/cols -1..1: [[0, 0, 0], [0, 3, 3], [0, 0, 0]] -> 2*0 + 2*3 + 0*3 = 6
    # centre sees rows/cols 1..3: [[0, 1, 3], [1, 2, 2], [0, 0, 2]] -> (1 + 6) + (2 + 4) + 4 = 17
    expected = [[6, 17, 3], [8, 17, 13], [6, 4, 4]]
    np.testing.assert_allclose(out[0, 0], expected)
    padded = np.pad(np.asarray(DECK004_IMAGE, dtype=float), 1)
    by_hand = [
        [float(np.sum(padded[i : i + 3, j : j + 3] * DECK004_KERNEL)) for j in (0, 2, 4)]
        for i in (0, 2, 4)
    ]
    np.testing.assert_allclose(by_hand, expected)


DECK001_POOL_INPUT = [[3, 1, 3, 5], [6, 0, 7, 9], [3, 2, 1, 4], [0, 2, 4, 3]]


def test_deck001_max_pool():
    """2x2 max pooling, stride 2: max(3, 1, 6, 0) = 6 and so on."""
    out = reference.max_pool2d(image(DECK001_POOL_INPUT), 2)
    np.testing.assert_allclose(out[0, 0], [[6, 9], [3, 4]])


def test_deck001_avg_pool():
    """2x2 average pooling, stride 2: (3 + 1 + 6 + 0) / 4 = 2.5 and so on."""
    out = reference.avg_pool2d(image(DECK001_POOL_INPUT), 2, stride=2)
    np.testing.assert_allclose(out[0, 0], [[2.5, 6], [1.75, 3]])


# Deck 000: 3x3 max pooling of a 6x6 map, then of the same map shifted one pixel to the right.
DECK000_POOL_INPUT = [
    [1, 3, 1, 7, 2, 3],
    [3, 8, 2, 2, 4, 3],
    [3, 2, 0, 1, 2, 1],
    [2, 0, 4, 2, 1, 3],
    [6, 3, 2, 3, 1, 2],
    [1, 2, 1, 2, 7, 2],
]
DECK000_POOL_SHIFTED = [
    [2, 1, 3, 1, 7, 2],
    [0, 3, 8, 2, 2, 4],
    [1, 3, 2, 0, 1, 2],
    [2, 2, 0, 4, 2, 1],
    [2, 6, 3, 2, 3, 1],
    [1, 1, 2, 1, 2, 7],
]


def test_deck000_max_pool_is_robust_to_a_small_shift():
    """Deck 000: 3x3 windows, stride 3 -> [[8, 7], [6, 7]] for the map and for its shifted copy."""
    for rows in (DECK000_POOL_INPUT, DECK000_POOL_SHIFTED):
        out = reference.max_pool2d(image(rows), 3)
        np.testing.assert_allclose(out[0, 0], [[8, 7], [6, 7]])


def test_deck000_parameter_sharing_example_shape():
    """Deck 000: a 5x5x3 input, two 3x3 filters, stride 2, padding 1 -> a 3x3x2 volume."""
    rng = np.random.default_rng(0)
    out = reference.conv2d(
        rng.normal(size=(1, 3, 5, 5)), rng.normal(size=(2, 3, 3, 3)), rng.normal(size=2), 2, 1
    )
    assert out.shape == (1, 2, 3, 3)


def test_multichannel_sums_over_channels_and_adds_bias():
    """A (C_out, C_in, k, k) filter bank sums its per-channel correlations, then adds the bias."""
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    per_channel = sum(reference.conv2d(x[:, c : c + 1], w[:, c : c + 1]) for c in range(x.shape[1]))
    np.testing.assert_allclose(
        reference.conv2d(x, w, b), per_channel + b[None, :, None, None], atol=1e-12
    )


# ---------------------------------------------------------------------------------------------
# Against the naive loops, over random shapes
# ---------------------------------------------------------------------------------------------

PADDINGS = (0, 1, 2, "valid", "same", "full")


def random_conv_case(rng, spatial: int):
    """A random (x, w, b, stride, padding, dilation, groups) that gives a non-empty output."""
    groups = int(rng.choice([1, 1, 2, 3]))
    in_channels = groups * int(rng.integers(1, 3))
    out_channels = groups * int(rng.integers(1, 3))
    stride = int(rng.integers(1, 4))
    dilation = int(rng.integers(1, 3))
    padding = PADDINGS[int(rng.integers(len(PADDINGS)))]
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=spatial))
    sizes = []
    for k in kernel:
        span = dilation * (k - 1) + 1
        sizes.append(int(rng.integers(span, span + 8)))  # at least as long as the kernel
    x = rng.normal(size=(int(rng.integers(1, 3)), in_channels, *sizes))
    w = rng.normal(size=(out_channels, in_channels // groups, *kernel))
    b = rng.normal(size=out_channels) if rng.random() < 0.5 else None
    return x, w, b, stride, padding, dilation, groups


@pytest.mark.parametrize("seed", range(40))
def test_conv1d_matches_naive_loops(seed):
    """Random shapes, strides, dilations, groups, bias and every padding mode."""
    rng = np.random.default_rng(seed)
    x, w, b, stride, padding, dilation, groups = random_conv_case(rng, 1)
    pads = naive_pads(padding, x.shape[-1], w.shape[-1], stride, dilation)
    expected = naive_conv1d(x, w, b, stride, pads, dilation, groups)
    out = reference.conv1d(x, w, b, stride, padding, dilation, groups)
    context = f"stride={stride} padding={padding!r} dilation={dilation} groups={groups}"
    assert out.shape == expected.shape, context
    np.testing.assert_allclose(out, expected, atol=1e-10, err_msg=context)


@pytest.mark.parametrize("seed", range(25))
def test_conv2d_matches_naive_loops(seed):
    """Random shapes (non-square kernels too), strides, dilations, groups, bias and padding modes."""
    rng = np.random.default_rng(1000 + seed)
    x, w, b, stride, padding, dilation, groups = random_conv_case(rng, 2)
    pads = tuple(
        naive_pads(padding, n, k, stride, dilation)
        for n, k in zip(x.shape[-2:], w.shape[-2:], strict=True)
    )
    expected = naive_conv2d(x, w, b, (stride, stride), pads, (dilation, dilation), groups)
    out = reference.conv2d(x, w, b, stride, padding, dilation, groups)
    context = f"stride={stride} padding={padding!r} dilation={dilation} groups={groups}"
    assert out.shape == expected.shape, context
    np.testing.assert_allclose(out, expected, atol=1e-10, err_msg=context)


def test_conv2d_per_axis_stride_padding_dilation():
    """Tuples give each spatial axis its own stride, padding and dilation."""
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(2, 2, 9, 11)), rng.normal(size=(3, 2, 3, 2))
    out = reference.conv2d(x, w, stride=(2, 3), padding=(1, 0), dilation=(2, 1))
    expected = naive_conv2d(x, w, None, (2, 3), ((1, 1), (0, 0)), (2, 1))
    np.testing.assert_allclose(out, expected, atol=1e-10)


@pytest.mark.parametrize(("n", "stride"), [(7, 1), (7, 2), (7, 3), (8, 3), (10, 4), (5, 6)])
def test_same_padding_puts_the_extra_zero_at_the_end(n, stride):
    """TensorFlow's "same": ceil(n / stride) outputs, and an odd total pads one more at the end."""
    rng = np.random.default_rng(n * 10 + stride)
    x, w = rng.normal(size=(1, 1, n)), rng.normal(size=(1, 1, 4))
    out = reference.conv1d(x, w, stride=stride, padding="same")
    assert out.shape[-1] == math.ceil(n / stride)
    before, after = naive_pads("same", n, 4, stride, 1)
    assert after - before in (0, 1)
    np.testing.assert_allclose(
        out, reference.conv1d(np.pad(x, ((0, 0), (0, 0), (before, after))), w, stride=stride)
    )


def test_unbatched_input_is_accepted():
    """Like torch, (C, L) and (C, H, W) inputs work and give unbatched outputs."""
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 7)), rng.normal(size=(3, 2, 3))
    np.testing.assert_allclose(reference.conv1d(x, w), reference.conv1d(x[None], w)[0])
    x2, w2 = rng.normal(size=(2, 5, 6)), rng.normal(size=(3, 2, 3, 3))
    np.testing.assert_allclose(reference.conv2d(x2, w2), reference.conv2d(x2[None], w2)[0])


def test_outputs_are_float64_numpy_and_inputs_untouched():
    """Lists and float32 arrays go in; float64 numpy arrays come out; inputs are not modified."""
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 6)
    w = [[[1, 0, -1], [0, 1, 0]]]
    before = x.copy()
    out = reference.conv1d(x, w)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(reference.conv1d(torch.from_numpy(x), w), out)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_matches_naive_loops(seed, mode):
    """Random window, stride, padding, ceil_mode and count_include_pad against the naive loops."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 5))
    stride = int(rng.integers(1, 4))
    padding = int(rng.integers(0, k // 2 + 1))
    ceil_mode = bool(rng.integers(2))
    include = bool(rng.integers(2))
    x = rng.normal(size=(2, 3, int(rng.integers(k, k + 7)), int(rng.integers(k, k + 7))))
    expected = naive_pool2d(x, k, stride, padding, mode, ceil_mode, include)
    if mode == "max":
        out = reference.max_pool2d(x, k, stride, padding, ceil_mode=ceil_mode)
    else:
        out = reference.avg_pool2d(x, k, stride, padding, ceil_mode, count_include_pad=include)
    context = f"k={k} stride={stride} padding={padding} ceil_mode={ceil_mode} include={include}"
    assert out.shape == expected.shape, context
    np.testing.assert_allclose(out, expected, atol=1e-12, err_msg=context)


def test_avg_pool_count_include_pad():
    """A 2x2 map of ones, 3x3 windows, padding 1: each window holds 4 ones among 9 cells."""
    ones = np.ones((1, 1, 2, 2))
    with_pad = reference.avg_pool2d(ones, 3, stride=1, padding=1)
    without_pad = reference.avg_pool2d(ones, 3, stride=1, padding=1, count_include_pad=False)
    np.testing.assert_allclose(with_pad, np.full((1, 1, 2, 2), 4 / 9))
    np.testing.assert_allclose(without_pad, np.ones((1, 1, 2, 2)))


def test_max_pool_pads_with_minus_infinity():
    """Max pooling never picks a padded zero: an all-negative map keeps its negative maxima."""
    x = -np.arange(1, 10, dtype=float).reshape(1, 1, 3, 3)
    out = reference.max_pool2d(x, 2, stride=1, padding=1)
    assert np.all(out < 0)
    assert out[0, 0, 0, 0] == -1


def test_max_pool_dilation():
    """A dilated 2x2 window reads every other pixel: on a 4x4 ramp its maxima are x[2:, 2:]."""
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    out = reference.max_pool2d(x, 2, stride=1, dilation=2)
    np.testing.assert_allclose(out[0, 0], x[0, 0, 2:, 2:])


def test_avg_pool_equals_convolution_with_constant_kernel():
    """Deck 002: average pooling is a convolution with kernel values 1 / kernel size."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 1, 6, 6))
    np.testing.assert_allclose(
        reference.avg_pool2d(x, 3, stride=3),
        reference.conv2d(x, np.full((1, 1, 3, 3), 1 / 9), stride=3),
        atol=1e-12,
    )


# ---------------------------------------------------------------------------------------------
# Transposed convolution
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_conv_transpose1d_is_the_adjoint_of_conv1d(seed):
    """<conv(x), y> == <x, conv_transpose(y)> with the same weights, stride, padding, dilation."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2]))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    k, stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
    padding = int(rng.integers(0, dilation * (k - 1) + 1))
    length = int(rng.integers(dilation * (k - 1) + 1, 15))
    x = rng.normal(size=(2, c_in, length))
    w = rng.normal(size=(c_out, c_in // groups, k))
    out = reference.conv1d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = rng.normal(size=out.shape)
    # the rows the forward skipped at the end come back as output_padding
    extra = (length + 2 * padding - dilation * (k - 1) - 1) % stride
    back = reference.conv_transpose1d(
        y, w, stride=stride, padding=padding, output_padding=extra, groups=groups, dilation=dilation
    )
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(out * y), np.sum(x * back), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(10))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(seed):
    """The same identity in 2-D, with different strides per axis."""
    rng = np.random.default_rng(100 + seed)
    kh, kw = (int(k) for k in rng.integers(1, 4, size=2))
    sh, sw = (int(s) for s in rng.integers(1, 3, size=2))
    ph, pw = int(rng.integers(0, kh)), int(rng.integers(0, kw))
    h, w_ = int(rng.integers(kh, kh + 6)), int(rng.integers(kw, kw + 6))
    x = rng.normal(size=(1, 2, h, w_))
    w = rng.normal(size=(3, 2, kh, kw))
    out = reference.conv2d(x, w, stride=(sh, sw), padding=(ph, pw))
    y = rng.normal(size=out.shape)
    extra = ((h + 2 * ph - kh) % sh, (w_ + 2 * pw - kw) % sw)
    back = reference.conv_transpose2d(y, w, stride=(sh, sw), padding=(ph, pw), output_padding=extra)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(out * y), np.sum(x * back), rtol=1e-10, atol=1e-10)


def test_conv_transpose1d_scatters_kernel_copies():
    """Deck 004's picture in 1-D: each input value stamps a scaled kernel, stride apart."""
    x, w = signal([1, 2]), signal([1, 10, 100])
    np.testing.assert_allclose(reference.conv_transpose1d(x, w)[0, 0], [1, 12, 120, 200])
    np.testing.assert_allclose(
        reference.conv_transpose1d(x, w, stride=2)[0, 0], [1, 10, 102, 20, 200]
    )


def test_conv_transpose2d_2x2_to_4x4_with_bias():
    """Deck 004: a 2x2 input and a 3x3 kernel give a 4x4 output; bias is added everywhere."""
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(1, 1, 2, 2)), rng.normal(size=(1, 1, 3, 3))
    out = reference.conv_transpose2d(x, w, b=[0.5])
    expected = np.full((4, 4), 0.5)
    for i in range(2):
        for j in range(2):
            expected[i : i + 3, j : j + 3] += x[0, 0, i, j] * w[0, 0]
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Backward functions against central differences
# ---------------------------------------------------------------------------------------------

EPS = 1e-6


def numeric_gradient(f, array: np.ndarray, dout: np.ndarray) -> np.ndarray:
    """d sum(f(array) * dout) / d array by central differences (float64)."""
    grad = np.zeros_like(array)
    flat, grad_flat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + EPS
        plus = np.sum(f(array) * dout)
        flat[i] = saved - EPS
        minus = np.sum(f(array) * dout)
        flat[i] = saved
        grad_flat[i] = (plus - minus) / (2 * EPS)
    return grad


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"),
    [(1, 0, 1, 1), (2, 1, 1, 1), (1, "same", 2, 2), (3, "full", 1, 1), (2, "same", 1, 2)],
)
def test_conv1d_backward_matches_numeric_gradient(stride, padding, dilation, groups):
    """dx, dw and db of conv1d_backward against central differences."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 2, 7))
    w = rng.normal(size=(2, 2 // groups, 3))
    b = rng.normal(size=2)

    def forward(x_, w_, b_):
        return reference.conv1d(x_, w_, b_, stride, padding, dilation, groups)

    dout = rng.normal(size=forward(x, w, b).shape)
    dx, dw, db = reference.conv1d_backward(dout, x, w, stride, padding, dilation, groups)
    np.testing.assert_allclose(dx, numeric_gradient(lambda a: forward(a, w, b), x, dout), atol=1e-7)
    np.testing.assert_allclose(dw, numeric_gradient(lambda a: forward(x, a, b), w, dout), atol=1e-7)
    np.testing.assert_allclose(db, numeric_gradient(lambda a: forward(x, w, a), b, dout), atol=1e-7)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"),
    [(1, 0, 1, 1), (2, 1, 1, 1), ((1, 2), "same", (2, 1), 1), (1, "valid", 1, 2)],
)
def test_conv2d_backward_matches_numeric_gradient(stride, padding, dilation, groups):
    """dx, dw and db of conv2d_backward against central differences."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=(1, 2, 5, 5))
    w = rng.normal(size=(2, 2 // groups, 3, 2))
    b = rng.normal(size=2)

    def forward(x_, w_, b_):
        return reference.conv2d(x_, w_, b_, stride, padding, dilation, groups)

    dout = rng.normal(size=forward(x, w, b).shape)
    dx, dw, db = reference.conv2d_backward(dout, x, w, stride, padding, dilation, groups)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    np.testing.assert_allclose(dx, numeric_gradient(lambda a: forward(a, w, b), x, dout), atol=1e-7)
    np.testing.assert_allclose(dw, numeric_gradient(lambda a: forward(x, a, b), w, dout), atol=1e-7)
    np.testing.assert_allclose(db, numeric_gradient(lambda a: forward(x, w, a), b, dout), atol=1e-7)


def distinct_values(rng, shape) -> np.ndarray:
    """Values at least 0.1 apart, so a max never ties and a small nudge never flips it."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + 0.05


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "dilation", "ceil_mode"),
    [(2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 0, 2, False)],
)
def test_max_pool2d_backward_matches_numeric_gradient(kernel, stride, padding, dilation, ceil_mode):
    """The gradient goes to each window's maximum (deck 000), checked numerically."""
    rng = np.random.default_rng(13)
    x = distinct_values(rng, (1, 2, 5, 6))

    def forward(a):
        return reference.max_pool2d(a, kernel, stride, padding, dilation, ceil_mode)

    dout = rng.normal(size=forward(x).shape)
    dx = reference.max_pool2d_backward(dout, x, kernel, stride, padding, dilation, ceil_mode)
    np.testing.assert_allclose(dx, numeric_gradient(forward, x, dout), atol=1e-7)


def test_max_pool2d_backward_routes_to_the_maximum():
    """Deck 001's map: each window's gradient lands on its maximum, zeros elsewhere."""
    dx = reference.max_pool2d_backward(np.ones((1, 1, 2, 2)), image(DECK001_POOL_INPUT), 2)[0, 0]
    expected = np.zeros((4, 4))
    for i, j in [(1, 0), (1, 3), (2, 0)]:  # where 6, 9 and 3 sit
        expected[i, j] = 1
    # the bottom-right window [[1, 4], [4, 3]] ties: one of its two 4s gets the whole gradient
    assert sorted([dx[2, 3], dx[3, 2]]) == [0, 1]
    dx[2, 3] = dx[3, 2] = 0
    np.testing.assert_allclose(dx, expected)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "ceil_mode", "include"),
    [
        (2, None, 0, False, True),
        (3, 2, 1, False, True),
        (3, 2, 1, True, False),
        (2, 1, 1, True, False),
    ],
)
def test_avg_pool2d_backward_matches_numeric_gradient(kernel, stride, padding, ceil_mode, include):
    """Each input gets dout / divisor from every window that holds it (deck 000's 1 / rc)."""
    rng = np.random.default_rng(14)
    x = rng.normal(size=(1, 2, 5, 6))

    def forward(a):
        return reference.avg_pool2d(a, kernel, stride, padding, ceil_mode, include)

    dout = rng.normal(size=forward(x).shape)
    dx = reference.avg_pool2d_backward(dout, x, kernel, stride, padding, ceil_mode, include)
    np.testing.assert_allclose(dx, numeric_gradient(forward, x, dout), atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Input validation: each error names the argument
# ---------------------------------------------------------------------------------------------

X1 = np.zeros((1, 3, 8))
W1 = np.zeros((4, 3, 3))
X2 = np.zeros((1, 1, 4, 4))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: reference.conv1d(X1, np.zeros((4, 2, 3))), ValueError, "channel mismatch"),
        (lambda: reference.conv1d(X1, W1, padding="sam"), ValueError, "padding must be"),
        (lambda: reference.conv1d(X1, W1, padding=-1), ValueError, "padding must be >= 0"),
        (lambda: reference.conv1d(X1, W1, padding=1.5), TypeError, "padding must be an int"),
        (lambda: reference.conv1d(X1, np.zeros((4, 3, 9))), ValueError, "kernel .* larger"),
        (lambda: reference.conv1d(X1, W1, dilation=4), ValueError, "kernel .* larger"),
        (lambda: reference.conv1d(np.zeros(8), W1), ValueError, "x must have 2 or 3 dimensions"),
        (lambda: reference.conv1d(X1, np.zeros((4, 3))), ValueError, "w must have 3 dimensions"),
        (lambda: reference.conv2d(X1, W1), ValueError, "w must have 4 dimensions"),
        (lambda: reference.conv1d(X1 + np.nan, W1), ValueError, "x contains NaN"),
        (lambda: reference.conv1d(X1, W1 + np.inf), ValueError, "w contains NaN or inf"),
        (lambda: reference.conv1d("x", W1), TypeError, "x must be a numeric array"),
        (lambda: reference.conv1d(X1, W1, b=np.zeros(3)), ValueError, "b must have 4 entries"),
        (lambda: reference.conv1d(X1, W1, stride=0), ValueError, "stride must be >= 1"),
        (
            lambda: reference.conv2d(X2, np.zeros((1, 1, 2, 2)), stride=(1, 2, 3)),
            ValueError,
            "stride must be",
        ),
        (lambda: reference.conv1d(X1, W1, groups=2), ValueError, "channel mismatch"),
        (
            lambda: reference.conv1d(np.zeros((1, 4, 8)), np.zeros((3, 2, 3)), groups=2),
            ValueError,
            "groups",
        ),
        (
            lambda: reference.conv_transpose1d(X1, np.zeros((2, 1, 3))),
            ValueError,
            "channel mismatch",
        ),
        (
            lambda: reference.conv_transpose1d(X1, np.zeros((3, 1, 3)), stride=2, output_padding=2),
            ValueError,
            "output_padding",
        ),
        (
            lambda: reference.conv_transpose1d(X1, np.zeros((3, 1, 3)), padding=9),
            ValueError,
            "padding 9 is too large",
        ),
        (lambda: reference.max_pool2d(X2, 2, padding=2), ValueError, "padding"),
        (lambda: reference.max_pool2d(X2, 5), ValueError, "pooling window"),
        (lambda: reference.max_pool2d(X2, 3, dilation=2), ValueError, "pooling window"),
        (
            lambda: reference.avg_pool2d(np.zeros((4, 4)), 2),
            ValueError,
            "x must have 3 or 4 dimensions",
        ),
        (lambda: reference.max_pool2d(X2, 0), ValueError, "kernel_size must be >= 1"),
    ],
)
def test_invalid_arguments_are_named(call, error, match):
    """Bad arguments raise ValueError/TypeError whose message names the argument."""
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("backward", "wrong_shape"),
    [
        (lambda dout: reference.conv1d_backward(dout, X1, W1), (1, 6, 4)),
        (lambda dout: reference.conv2d_backward(dout, X2, np.zeros((1, 1, 2, 2))), (1, 1, 4, 4)),
        (lambda dout: reference.max_pool2d_backward(dout, X2, 2), (1, 1, 3, 3)),
        (lambda dout: reference.avg_pool2d_backward(dout, X2, 2), (1, 2, 2, 2)),
    ],
)
def test_backward_rejects_dout_of_the_wrong_shape(backward, wrong_shape):
    """dout must have the forward output's shape: a wrong rank or a wrong shape is refused."""
    with pytest.raises(ValueError, match="dout must have 3 or|dout must have [34] dimensions"):
        backward(np.zeros((1, 1, 5, 5, 5)))
    with pytest.raises(ValueError, match="dout must have the forward output's shape"):
        backward(np.zeros(wrong_shape))
