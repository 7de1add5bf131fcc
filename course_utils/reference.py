"""Reference operations: numpy in, numpy out, computed in float64 by torch on the course device.

Each follows ``torch.nn.functional`` exactly (NCHW, weights ``(C_out, C_in/groups, kH, kW)``,
cross-correlation, padding per side, floor in the size formula). Padding may also be "valid",
"same" (TensorFlow's rule for any stride: the extra zero goes at the end) or "full". The
``*_backward`` functions take the upstream gradient first, then the forward's arguments.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from .arithmetic import resolve_padding
from .device import float64_device
from .validation import check_array, check_int, check_ints

IntOrInts = int | tuple[int, ...]
Padding = IntOrInts | str


def _tensor(array: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    tensor = torch.as_tensor(array, dtype=torch.float64, device=float64_device())
    return tensor.requires_grad_(requires_grad)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _conv_inputs(x, w, b, spatial: int, groups: int, transposed: bool = False):
    x = check_array("x", x, (spatial + 1, spatial + 2))
    w = check_array("w", w, spatial + 2)
    groups = check_int("groups", groups, 1)
    channels = x.shape[-spatial - 1]
    if transposed:
        expected_in, out_channels = w.shape[0], w.shape[1] * groups
    else:
        expected_in, out_channels = w.shape[1] * groups, w.shape[0]
    if channels != expected_in:
        raise ValueError(
            f"channel mismatch: x has {channels} input channels but w expects {expected_in} "
            f"(w.shape={w.shape}, groups={groups})"
        )
    if channels % groups or out_channels % groups:
        raise ValueError(
            f"groups ({groups}) must divide the input ({channels}) and output ({out_channels}) channels"
        )
    if b is not None:
        b = check_array("b", b, 1)
        if b.shape[0] != out_channels:
            raise ValueError(
                f"b must have {out_channels} entries (one per output channel), got {b.shape[0]}"
            )
    return x, w, b, groups


def _explicit_padding(padding: Padding, sizes, kernel, stride, dilation) -> list[tuple[int, int]]:
    """Return ``(before, after)`` per spatial axis for an int, a tuple, or a padding mode."""
    if isinstance(padding, str):
        return [
            resolve_padding(padding, n, k, s, d)
            for n, k, s, d in zip(sizes, kernel, stride, dilation, strict=True)
        ]
    per_axis = check_ints("padding", padding, len(sizes), 0)
    return [(p, p) for p in per_axis]


def _padded(x: torch.Tensor, pads: list[tuple[int, int]]) -> torch.Tensor:
    # F.pad lists the last axis first.
    flat = [amount for before_after in reversed(pads) for amount in before_after]
    return F.pad(x, flat) if any(flat) else x


def _conv(spatial: int, x, w, b, stride, padding, dilation, groups, requires_grad=False):
    x, w, b, groups = _conv_inputs(x, w, b, spatial, groups)
    stride = check_ints("stride", stride, spatial, 1)
    dilation = check_ints("dilation", dilation, spatial, 1)
    kernel = w.shape[-spatial:]
    pads = _explicit_padding(padding, x.shape[-spatial:], kernel, stride, dilation)
    for axis, (n, k, d, (before, after)) in enumerate(
        zip(x.shape[-spatial:], kernel, dilation, pads, strict=True)
    ):
        span = d * (k - 1) + 1
        if span > n + before + after:
            raise ValueError(
                f"kernel (span {span} along spatial axis {axis}) is larger than the padded input "
                f"({n} + {before} + {after})"
            )
    xt, wt = _tensor(x, requires_grad), _tensor(w, requires_grad)
    bt = None if b is None else _tensor(b, requires_grad)
    conv = F.conv1d if spatial == 1 else F.conv2d
    out = conv(_padded(xt, pads), wt, bt, stride=stride, dilation=dilation, groups=groups)
    return out, xt, wt, bt


def conv1d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: IntOrInts = 1,
    padding: Padding = 0,
    dilation: IntOrInts = 1,
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlate ``x`` (N, C_in, L) with ``w`` (C_out, C_in/groups, K) -> (N, C_out, L_out)."""
    return _numpy(_conv(1, x, w, b, stride, padding, dilation, groups)[0])


def conv2d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: IntOrInts = 1,
    padding: Padding = 0,
    dilation: IntOrInts = 1,
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlate ``x`` (N, C_in, H, W) with ``w`` (C_out, C_in/groups, kH, kW) -> (N, C_out, H_out, W_out)."""
    return _numpy(_conv(2, x, w, b, stride, padding, dilation, groups)[0])


def _conv_backward(spatial: int, dout, x, w, b, stride, padding, dilation, groups):
    out, xt, wt, bt = _conv(spatial, x, w, b, stride, padding, dilation, groups, requires_grad=True)
    dout = check_array("dout", dout, out.dim())
    if dout.shape != tuple(out.shape):
        raise ValueError(
            f"dout must have the forward output's shape {tuple(out.shape)}, got {dout.shape}"
        )
    out.backward(_tensor(dout))
    db = (
        _numpy(bt.grad)
        if bt is not None
        else dout.sum(axis=tuple(i for i in range(dout.ndim) if i != dout.ndim - spatial - 1))
    )
    return _numpy(xt.grad), _numpy(wt.grad), db


def conv1d_backward(
    dout: ArrayLike,
    x: ArrayLike,
    w: ArrayLike,
    stride: IntOrInts = 1,
    padding: Padding = 0,
    dilation: IntOrInts = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dw, db)`` of :func:`conv1d` for upstream ``dout`` (N, C_out, L_out); db is (C_out,)."""
    return _conv_backward(1, dout, x, w, None, stride, padding, dilation, groups)


def conv2d_backward(
    dout: ArrayLike,
    x: ArrayLike,
    w: ArrayLike,
    stride: IntOrInts = 1,
    padding: Padding = 0,
    dilation: IntOrInts = 1,
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dx, dw, db)`` of :func:`conv2d` for upstream ``dout`` (N, C_out, H_out, W_out)."""
    return _conv_backward(2, dout, x, w, None, stride, padding, dilation, groups)


def _conv_transpose(spatial, x, w, b, stride, padding, output_padding, groups, dilation):
    x, w, b, groups = _conv_inputs(x, w, b, spatial, groups, transposed=True)
    stride = check_ints("stride", stride, spatial, 1)
    padding = check_ints("padding", padding, spatial, 0)
    output_padding = check_ints("output_padding", output_padding, spatial, 0)
    dilation = check_ints("dilation", dilation, spatial, 1)
    for op, s, d in zip(output_padding, stride, dilation, strict=True):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding ({op}) must be smaller than stride ({s}) or dilation ({d})"
            )
    for n, k, s, p, op, d in zip(
        x.shape[-spatial:],
        w.shape[-spatial:],
        stride,
        padding,
        output_padding,
        dilation,
        strict=True,
    ):
        if (n - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:
            raise ValueError(f"padding {p} is too large: the output would be empty")
    op = F.conv_transpose1d if spatial == 1 else F.conv_transpose2d
    bt = None if b is None else _tensor(b)
    out = op(
        _tensor(x),
        _tensor(w),
        bt,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        groups=groups,
        dilation=dilation,
    )
    return _numpy(out)


def conv_transpose1d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: IntOrInts = 1,
    padding: IntOrInts = 0,
    output_padding: IntOrInts = 0,
    groups: int = 1,
    dilation: IntOrInts = 1,
) -> np.ndarray:
    """Transposed convolution of ``x`` (N, C_in, L) with ``w`` (C_in, C_out/groups, K) -> (N, C_out, L_out)."""
    return _conv_transpose(1, x, w, b, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: IntOrInts = 1,
    padding: IntOrInts = 0,
    output_padding: IntOrInts = 0,
    groups: int = 1,
    dilation: IntOrInts = 1,
) -> np.ndarray:
    """Transposed convolution of ``x`` (N, C_in, H, W) with ``w`` (C_in, C_out/groups, kH, kW) -> (N, C_out, H_out, W_out)."""
    return _conv_transpose(2, x, w, b, stride, padding, output_padding, groups, dilation)


def _pool_arguments(x, kernel_size, stride, padding, dilation=(1, 1)):
    x = check_array("x", x, (3, 4))
    kernel = check_ints("kernel_size", kernel_size, 2, 1)
    stride = kernel if stride is None else check_ints("stride", stride, 2, 1)
    padding = check_ints("padding", padding, 2, 0)
    for k, p, n, d in zip(kernel, padding, x.shape[-2:], dilation, strict=True):
        if 2 * p > k:
            raise ValueError(f"padding ({p}) must be at most half the pooling window ({k})")
        span = d * (k - 1) + 1  # the window's extent once dilated
        if span > n + 2 * p:
            raise ValueError(
                f"pooling window {k} (span {span} with dilation {d}) is larger than the padded "
                f"input ({n} + 2*{p})"
            )
    return x, kernel, stride, padding


def _pool(pool_fn: Callable, dout, x, kernel_size, stride, padding, **options):
    dilation = options.get("dilation", (1, 1))
    x, kernel, stride, padding = _pool_arguments(x, kernel_size, stride, padding, dilation)
    xt = _tensor(x, requires_grad=dout is not None)
    out = pool_fn(xt, kernel, stride, padding, **options)
    if dout is None:
        return _numpy(out)
    dout = check_array("dout", dout, out.dim())
    if dout.shape != tuple(out.shape):
        raise ValueError(
            f"dout must have the forward output's shape {tuple(out.shape)}, got {dout.shape}"
        )
    out.backward(_tensor(dout))
    return _numpy(xt.grad)


def _max_pool(dout, x, kernel_size, stride, padding, dilation, ceil_mode) -> np.ndarray:
    dilation = check_ints("dilation", dilation, 2, 1)
    return _pool(
        F.max_pool2d,
        dout,
        x,
        kernel_size,
        stride,
        padding,
        dilation=dilation,
        ceil_mode=bool(ceil_mode),
    )


def _avg_pool(dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad) -> np.ndarray:
    options = {"ceil_mode": bool(ceil_mode), "count_include_pad": bool(count_include_pad)}
    return _pool(F.avg_pool2d, dout, x, kernel_size, stride, padding, **options)


def max_pool2d(
    x: ArrayLike,
    kernel_size: IntOrInts,
    stride: IntOrInts | None = None,
    padding: IntOrInts = 0,
    dilation: IntOrInts = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Max-pool ``x`` (N, C, H, W) -> (N, C, H_out, W_out); stride defaults to kernel_size."""
    return _max_pool(None, x, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool2d(
    x: ArrayLike,
    kernel_size: IntOrInts,
    stride: IntOrInts | None = None,
    padding: IntOrInts = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Average-pool ``x`` (N, C, H, W) -> (N, C, H_out, W_out); padded zeros count unless ``count_include_pad=False``."""
    return _avg_pool(None, x, kernel_size, stride, padding, ceil_mode, count_include_pad)


def max_pool2d_backward(
    dout: ArrayLike,
    x: ArrayLike,
    kernel_size: IntOrInts,
    stride: IntOrInts | None = None,
    padding: IntOrInts = 0,
    dilation: IntOrInts = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Return dx (N, C, H, W) of :func:`max_pool2d` for upstream ``dout`` (N, C, H_out, W_out)."""
    return _max_pool(dout, x, kernel_size, stride, padding, dilation, ceil_mode)


def avg_pool2d_backward(
    dout: ArrayLike,
    x: ArrayLike,
    kernel_size: IntOrInts,
    stride: IntOrInts | None = None,
    padding: IntOrInts = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> np.ndarray:
    """Return dx (N, C, H, W) of :func:`avg_pool2d` for upstream ``dout`` (N, C, H_out, W_out)."""
    return _avg_pool(dout, x, kernel_size, stride, padding, ceil_mode, count_include_pad)
