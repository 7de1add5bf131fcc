"""Convolution arithmetic: output sizes, padding rules, receptive fields, parameter and FLOP counts.

Conventions follow PyTorch: ``padding`` counts zeros on *each* side, the output size uses the
floor, and ``dilation=1`` means no dilation. "same" padding follows TensorFlow's rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .validation import check_int

PADDING_MODES = ("valid", "same", "full")


def effective_kernel_size(k: int, dilation: int = 1) -> int:
    """Return the span of a dilated kernel, ``dilation * (k - 1) + 1``."""
    k = check_int("k", k, 1)
    dilation = check_int("dilation", dilation, 1)
    return dilation * (k - 1) + 1


def conv_output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Return the output length ``floor((n + 2p - d(k-1) - 1) / s) + 1`` of a convolution.

    ``padding`` is the number of zeros on each side. Raises ``ValueError`` when the dilated
    kernel is longer than the padded input.
    """
    n = check_int("n", n, 1)
    stride = check_int("stride", stride, 1)
    padding = check_int("padding", padding, 0)
    span = effective_kernel_size(k, dilation)
    if span > n + 2 * padding:
        raise ValueError(
            f"kernel (span {span} with dilation {dilation}) is larger than the padded input "
            f"({n} + 2*{padding} = {n + 2 * padding})"
        )
    return (n + 2 * padding - span) // stride + 1


def same_padding(n: int, k: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Return ``(before, after)`` zeros for TensorFlow's "same" rule: output ``ceil(n / stride)``.

    The total is ``max((ceil(n/s) - 1) * s + d(k-1) + 1 - n, 0)``; when it is odd the extra zero
    goes at the end.
    """
    n = check_int("n", n, 1)
    stride = check_int("stride", stride, 1)
    span = effective_kernel_size(k, dilation)
    total = max((math.ceil(n / stride) - 1) * stride + span - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: int | str, n: int, k: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """Return ``(before, after)`` zeros for an int or a mode ("valid", "same", "full")."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return same_padding(n, k, stride, dilation)
        if mode == "full":
            span = effective_kernel_size(k, dilation)
            return span - 1, span - 1
        raise ValueError(f"padding must be an int or one of {PADDING_MODES}, got {padding!r}")
    padding = check_int("padding", padding, 0)
    return padding, padding


def conv_transpose_output_size(
    n: int, k: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """Return ``(n-1)s - 2p + d(k-1) + output_padding + 1``, PyTorch's transposed-conv length.

    ``output_padding`` must be smaller than ``stride`` or ``dilation``.
    """
    n = check_int("n", n, 1)
    stride = check_int("stride", stride, 1)
    padding = check_int("padding", padding, 0)
    output_padding = check_int("output_padding", output_padding, 0)
    span = effective_kernel_size(k, dilation)
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"output_padding ({output_padding}) must be smaller than stride ({stride}) "
            f"or dilation ({dilation})"
        )
    size = (n - 1) * stride - 2 * padding + span - 1 + output_padding + 1
    if size < 1:
        raise ValueError(f"padding {padding} is too large: the output length would be {size}")
    return size


def pool_output_size(
    n: int, k: int, stride: int | None = None, padding: int = 0, ceil_mode: bool = False
) -> int:
    """Return the output length of a pooling window (stride defaults to the window size)."""
    n = check_int("n", n, 1)
    k = check_int("kernel_size", k, 1)
    stride = k if stride is None else check_int("stride", stride, 1)
    padding = check_int("padding", padding, 0)
    if 2 * padding > k:
        raise ValueError(f"padding ({padding}) must be at most half the window ({k})")
    if k > n + 2 * padding:
        raise ValueError(f"window {k} is larger than the padded input {n + 2 * padding}")
    rounding = math.ceil if ceil_mode else math.floor
    size = rounding((n + 2 * padding - k) / stride) + 1
    if ceil_mode and (size - 1) * stride >= n + padding:
        size -= 1  # PyTorch drops a last window that would start in the right padding
    return size


def receptive_field(
    kernel_sizes: Sequence[int],
    strides: Sequence[int] | None = None,
    dilations: Sequence[int] | None = None,
) -> int:
    """Return the receptive field (in input pixels, per axis) of one output of stacked layers.

    ``r = 1 + sum_l d_l (k_l - 1) * prod_{j<l} s_j``.
    """
    layers = len(kernel_sizes)
    if layers == 0:
        raise ValueError("kernel_sizes must name at least one layer")
    strides = [1] * layers if strides is None else list(strides)
    dilations = [1] * layers if dilations is None else list(dilations)
    if len(strides) != layers or len(dilations) != layers:
        raise ValueError(
            f"kernel_sizes, strides and dilations must have the same length, got "
            f"{layers}, {len(strides)}, {len(dilations)}"
        )
    field, jump = 1, 1
    for index, (k, s, d) in enumerate(zip(kernel_sizes, strides, dilations, strict=True)):
        k = check_int(f"kernel_sizes[{index}]", k, 1)
        s = check_int(f"strides[{index}]", s, 1)
        d = check_int(f"dilations[{index}]", d, 1)
        field += d * (k - 1) * jump
        jump *= s
    return field


def conv_parameter_count(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    bias: bool = True,
    groups: int = 1,
) -> int:
    """Return the number of weights (+ biases) of a convolution layer: ``C_out*(C_in/g)*prod(k) + C_out``.

    ``kernel_size`` lists one size per spatial axis: ``(5, 5)`` for a 2-D layer; a single int
    means a 1-D kernel (``conv_parameter_count(3, 10, 5) == 160``, not 760).
    """
    in_channels = check_int("in_channels", in_channels, 1)
    out_channels = check_int("out_channels", out_channels, 1)
    groups = check_int("groups", groups, 1)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"groups ({groups}) must divide in_channels ({in_channels}) and out_channels ({out_channels})"
        )
    sizes = tuple(kernel_size) if isinstance(kernel_size, Sequence) else (kernel_size,)
    kernel_volume = math.prod(check_int("kernel_size", k, 1) for k in sizes)
    return out_channels * (in_channels // groups) * kernel_volume + (out_channels if bias else 0)


def conv_multiplications(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    output_size: int | Sequence[int],
    groups: int = 1,
) -> int:
    """Return the multiplications of one convolution: ``C_out*(C_in/g)*prod(k)*prod(out)`` per image."""
    weights = conv_parameter_count(
        in_channels, out_channels, kernel_size, bias=False, groups=groups
    )
    sizes = tuple(output_size) if isinstance(output_size, Sequence) else (output_size,)
    return weights * math.prod(check_int("output_size", o, 1) for o in sizes)
