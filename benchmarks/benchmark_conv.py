"""Time three ways to convolve, in one run on the course device: loops, im2col, torch.

    .venv/bin/python benchmarks/benchmark_conv.py            # the full table (under a minute)
    .venv/bin/python benchmarks/benchmark_conv.py --quick    # small sizes, a few seconds

For each size it times a naive loop in numpy (one dot product per output value), an im2col
version in numpy (the receptive fields copied into one matrix, then one matrix product, as in
deck 002's "row to column") and ``torch.nn.functional.conv1d``/``conv2d`` on the course device,
and prints the median times and the speed-up ratios measured in this run. A second table times
Assignment 2's ResNet-like layer (8 images, 64 -> 64 channels, 32x32, 3x3, padding 1): the loops
(on a corner, scaled), numpy im2col, torch ``unfold`` + one matrix product (the assignment's
``conv2d_torch``) and ``F.conv2d``.

The two numpy implementations below are the instructor's quick versions, local to this script:
they are not part of ``course_utils`` and students must not import them (the assignments ask for
their own). Each is checked against ``course_utils.reference`` before it is timed. They work in
float32 like torch; ``course_utils.checks.im2col_1d_reference`` builds the same 1-D columns in
float64 for grading, which is why it is not reused here.

Samples are taken in turns (loops, im2col, torch, loops, ...) so that all three see the same
background load, and torch's OpenMP workers wait passively between calls (``OMP_WAIT_POLICY``,
set before torch loads; export ``OMP_WAIT_POLICY=ACTIVE`` to override): on a small machine,
spinning workers fight OpenBLAS's threads for the cores and make torch look many times slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

from course_utils import reference
from course_utils.arithmetic import conv_multiplications, conv_output_size
from course_utils.device import environment_report, get_device, seed_everything

DTYPE = np.float32  # what networks train in; torch's default too


# ---------------------------------------------------------------------------------------------
# The implementations being timed (benchmark-local; stride only, no padding)
# ---------------------------------------------------------------------------------------------


def conv1d_loops(x: np.ndarray, w: np.ndarray, stride: int = 1) -> np.ndarray:
    """(N, C_in, L) * (C_out, C_in, K) -> (N, C_out, L_out), one output value per loop step."""
    n_batch, _, length = x.shape
    c_out, _, k = w.shape
    out = np.empty((n_batch, c_out, conv_output_size(length, k, stride)), dtype=x.dtype)
    for n in range(n_batch):
        for f in range(c_out):
            for t in range(out.shape[2]):
                out[n, f, t] = np.sum(x[n, :, t * stride : t * stride + k] * w[f])
    return out


def conv1d_im2col(x: np.ndarray, w: np.ndarray, stride: int = 1) -> np.ndarray:
    """The same result with one matrix product: (N*L_out, C_in*K) @ (C_in*K, C_out)."""
    n_batch, c_in, _ = x.shape
    c_out, _, k = w.shape
    windows = sliding_window_view(x, k, axis=2)[:, :, ::stride]  # (N, C_in, L_out, K), a view
    out_length = windows.shape[2]
    columns = windows.transpose(0, 2, 1, 3).reshape(n_batch * out_length, c_in * k)  # the copy
    out = columns @ w.reshape(c_out, c_in * k).T
    return out.reshape(n_batch, out_length, c_out).transpose(0, 2, 1)


def conv2d_loops(x: np.ndarray, w: np.ndarray, stride: int = 1) -> np.ndarray:
    """(N, C_in, H, W) * (C_out, C_in, kH, kW) -> (N, C_out, H_out, W_out), value by value."""
    n_batch, _, height, width = x.shape
    c_out, _, kh, kw = w.shape
    out_h, out_w = conv_output_size(height, kh, stride), conv_output_size(width, kw, stride)
    out = np.empty((n_batch, c_out, out_h, out_w), dtype=x.dtype)
    for n in range(n_batch):
        for f in range(c_out):
            for i in range(out_h):
                for j in range(out_w):
                    top, left = i * stride, j * stride
                    out[n, f, i, j] = np.sum(x[n, :, top : top + kh, left : left + kw] * w[f])
    return out


def conv2d_im2col(x: np.ndarray, w: np.ndarray, stride: int = 1) -> np.ndarray:
    """One matrix product: (N*H_out*W_out, C_in*kH*kW) @ (C_in*kH*kW, C_out)."""
    n_batch, c_in, _, _ = x.shape
    c_out, _, kh, kw = w.shape
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    _, _, out_h, out_w, _, _ = windows.shape  # (N, C_in, H_out, W_out, kH, kW), a view
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n_batch * out_h * out_w, c_in * kh * kw)
    out = columns @ w.reshape(c_out, -1).T
    return out.reshape(n_batch, out_h, out_w, c_out).transpose(0, 3, 1, 2)


def conv2d_unfold_torch(x: torch.Tensor, w: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """Assignment 2's ``conv2d_torch`` (stride 1): ``Tensor.unfold`` views, one copy, one product."""
    n_batch, c_in, _, _ = x.shape
    c_out, _, kh, kw = w.shape
    x = F.pad(x, (padding,) * 4) if padding else x
    windows = x.unfold(2, kh, 1).unfold(3, kw, 1)  # (N, C_in, H_out, W_out, kH, kW), a view
    out_h, out_w = windows.shape[2:4]
    columns = windows.permute(0, 1, 4, 5, 2, 3).reshape(n_batch, c_in * kh * kw, out_h * out_w)
    return (w.reshape(c_out, -1) @ columns).reshape(n_batch, c_out, out_h, out_w)


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (GPUs run asynchronously)."""
    if device.type == "cuda":
        return torch.cuda.synchronize
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


@dataclass(frozen=True)
class Timing:
    """How long to measure: a sample repeats a fast call until it lasts ``min_seconds``."""

    min_seconds: float
    loop_repeats: int  # samples of the naive loops (a second or two per call at full size)
    fast_repeats: int  # samples of im2col and torch


FULL_TIMING = Timing(min_seconds=0.2, loop_repeats=3, fast_repeats=5)
QUICK_TIMING = Timing(min_seconds=0.02, loop_repeats=1, fast_repeats=3)


def timed(call: Callable[[], object], number: int, sync: Callable[[], None]) -> float:
    """Seconds for ``number`` back-to-back calls, the device's queue drained at both ends."""
    sync()
    start = time.perf_counter()
    for _ in range(number):
        call()
    sync()
    return time.perf_counter() - start


def autorange(call: Callable[[], object], min_seconds: float, sync: Callable[[], None]):
    """timeit's rule: grow ``number`` 1, 2, 5, 10, 20, ... until a sample lasts ``min_seconds``.

    Returns ``(number, seconds per call of that first long-enough sample)``.
    """
    number, growth, step = 1, (2, 2.5, 2), 0
    while (elapsed := timed(call, number, sync)) < min_seconds:
        number = int(number * growth[step % 3])
        step += 1
    return number, elapsed / number


def median_seconds(
    calls: dict[str, Callable[[], object]],
    repeats: dict[str, int],
    min_seconds: float,
    sync: Callable[[], None],
) -> dict[str, float]:
    """Median seconds per call of each of ``calls``, their samples taken in turns.

    Taking one sample of each in turn (rather than all of one, then all of the next) exposes
    every implementation to the same background load, so the ratios stay fair on a busy machine.
    The callers have run each call once already (the warm-up).
    """
    numbers, samples = {}, {}
    for name, call in calls.items():
        numbers[name], first = autorange(call, min_seconds, sync)
        samples[name] = [first]
    for round_ in range(1, max(repeats.values())):
        for name, call in calls.items():
            if round_ < repeats[name]:
                samples[name].append(timed(call, numbers[name], sync) / numbers[name])
    return {name: statistics.median(values) for name, values in samples.items()}


@dataclass(frozen=True)
class Case:
    """One problem size: batch, channels, spatial size(s), kernel size(s), stride."""

    name: str
    n_batch: int
    c_in: int
    c_out: int
    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: int = 1

    @property
    def label(self) -> str:
        return f"{self.name} N={self.n_batch} {self.c_in}->{self.c_out}"

    @property
    def multiplications(self) -> int:
        """Multiplications of the whole batch."""
        out = [
            conv_output_size(n, k, self.stride) for n, k in zip(self.size, self.kernel, strict=True)
        ]
        return self.n_batch * conv_multiplications(self.c_in, self.c_out, self.kernel, out)


FULL_CASES = [
    Case("1-D L=256 K=5", 8, 16, 32, (256,), (5,)),
    Case("1-D L=1024 K=5", 8, 16, 32, (1024,), (5,)),
    Case("1-D L=1024 K=9 s=2", 8, 16, 32, (1024,), (9,), stride=2),
    Case("2-D 32x32 K=3", 8, 16, 32, (32, 32), (3, 3)),
    Case("2-D 32x32 K=5 s=2", 8, 16, 32, (32, 32), (5, 5), stride=2),
]
QUICK_CASES = [
    Case("1-D L=128 K=5", 2, 8, 16, (128,), (5,)),
    Case("2-D 16x16 K=3", 2, 8, 16, (16, 16), (3, 3)),
]


def time_case(
    case: Case, device: torch.device, timing: Timing, rng: np.random.Generator
) -> dict[str, float]:
    """Check the three implementations against the reference, then time them; seconds per call."""
    x = rng.standard_normal((case.n_batch, case.c_in, *case.size)).astype(DTYPE)
    w = rng.standard_normal((case.c_out, case.c_in, *case.kernel)).astype(DTYPE)
    two_d = len(case.size) == 2
    loops, im2col = (conv2d_loops, conv2d_im2col) if two_d else (conv1d_loops, conv1d_im2col)
    torch_conv = F.conv2d if two_d else F.conv1d
    xt, wt = torch.from_numpy(x).to(device), torch.from_numpy(w).to(device)
    sync = synchronizer(device)

    calls = {
        "loops": lambda: loops(x, w, case.stride),
        "im2col": lambda: im2col(x, w, case.stride),
        "torch": lambda: torch_conv(xt, wt, stride=case.stride),
    }
    expected = (reference.conv2d if two_d else reference.conv1d)(x, w, stride=case.stride)
    for name, call in calls.items():  # the check doubles as the warm-up
        result = call()
        result = result.cpu().numpy() if isinstance(result, torch.Tensor) else result
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-3, err_msg=name)
    sync()
    repeats = {
        "loops": timing.loop_repeats,
        "im2col": timing.fast_repeats,
        "torch": timing.fast_repeats,
    }
    return median_seconds(calls, repeats, timing.min_seconds, sync)


def format_seconds(seconds: float) -> str:
    """Milliseconds, three significant digits."""
    ms = seconds * 1e3
    return f"{ms:.3g} ms" if ms < 1000 else f"{ms:,.0f} ms"


COLUMNS = (
    f"{'case (N=batch, C_in->C_out)':<34}{'M mult':>7}{'loops':>11}{'im2col':>11}{'torch':>11}"
    f"{'im2col/loops':>14}{'torch/loops':>13}{'torch/im2col':>14}"
)


def table_row(case: Case, seconds: dict[str, float]) -> str:
    """Median times, then speed-ups (how many times faster), all from this run."""
    loops, im2col, torch_ = seconds["loops"], seconds["im2col"], seconds["torch"]
    return (
        f"{case.label:<34}{case.multiplications / 1e6:>7.1f}"
        f"{format_seconds(loops):>11}{format_seconds(im2col):>11}{format_seconds(torch_):>11}"
        f"{loops / im2col:>13.0f}x{loops / torch_:>12.0f}x{im2col / torch_:>13.1f}x"
    )


@dataclass(frozen=True)
class Layer:
    """Assignment 2's layer: N images, C -> C channels, size x size, 3x3 kernels, padding 1."""

    n_batch: int
    channels: int
    size: int
    corner: int  # the loop version runs on a corner x corner patch of outputs, then is scaled

    @property
    def label(self) -> str:
        c, s = self.channels, self.size
        return f"N={self.n_batch} {c}->{c} {s}x{s} K=3 p=1"


FULL_LAYER = Layer(8, 64, 32, corner=4)
QUICK_LAYER = Layer(2, 16, 16, corner=4)
LAYER_COLUMNS = (
    f"{'layer (float32)':<28}{'loops*':>11}{'im2col':>11}{'unfold':>11}{'F.conv2d':>11}"
    f"{'im2col/conv':>13}{'unfold/conv':>13}{'loops/conv':>12}"
)


def time_layer(layer: Layer, device: torch.device, timing: Timing, rng: np.random.Generator):
    """Seconds per call of Assignment 2's four versions; the loops' time is scaled from a corner."""
    shape = (layer.n_batch, layer.channels, layer.size, layer.size)
    x = rng.standard_normal(shape).astype(DTYPE)
    w = rng.standard_normal((layer.channels, layer.channels, 3, 3)).astype(DTYPE)
    x_pad = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    corner = np.ascontiguousarray(x_pad[:, :, : layer.corner + 2, : layer.corner + 2])
    xt, wt = torch.from_numpy(x).to(device), torch.from_numpy(w).to(device)
    sync = synchronizer(device)
    calls = {
        "loops": lambda: conv2d_loops(corner, w),
        "im2col": lambda: conv2d_im2col(x_pad, w),
        "unfold": lambda: conv2d_unfold_torch(xt, wt, padding=1),
        "F.conv2d": lambda: F.conv2d(xt, wt, padding=1),
    }
    expected = reference.conv2d(x, w, padding=1)
    for name, call in calls.items():  # the check doubles as the warm-up
        result = call()
        result = result.cpu().numpy() if isinstance(result, torch.Tensor) else result
        want = expected[:, :, : layer.corner, : layer.corner] if name == "loops" else expected
        np.testing.assert_allclose(result, want, rtol=1e-4, atol=1e-3, err_msg=name)
    sync()
    repeats = {name: timing.fast_repeats for name in calls}
    seconds = median_seconds(calls, repeats, timing.min_seconds, sync)
    seconds["loops"] *= (layer.size / layer.corner) ** 2  # every output position costs the same
    columns_mb = x.itemsize * layer.n_batch * layer.channels * 9 * layer.size**2 / 1e6
    return seconds, columns_mb, x.nbytes / 1e6


def layer_row(layer: Layer, seconds: dict[str, float]) -> str:
    conv = seconds["F.conv2d"]
    return (
        f"{layer.label:<28}"
        + "".join(
            f"{format_seconds(seconds[k]):>11}" for k in ("loops", "im2col", "unfold", "F.conv2d")
        )
        + f"{seconds['im2col'] / conv:>12.1f}x{seconds['unfold'] / conv:>12.1f}x"
        + f"{seconds['loops'] / conv:>11.0f}x"
    )


def limit_threads(threads: int) -> None:
    """Give numpy's BLAS and torch the same number of CPU threads."""
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    threadpool_limits(limits=threads, user_api="blas")
    torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, short samples")
    parser.add_argument("--device", help="cpu, cuda or mps (default: COURSE_DEVICE, else auto)")
    parser.add_argument(
        "--threads", type=int, help="CPU threads for BLAS and torch (default: their own choice)"
    )
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")

    seed_everything(0)
    device = get_device(args.device)
    if args.threads is not None:
        limit_threads(args.threads)
    timing = QUICK_TIMING if args.quick else FULL_TIMING
    report = environment_report(device)
    gpu = f" ({report['gpu']}, {report['gpu memory']})" if "gpu" in report else ""
    threads = f"{args.threads} (--threads)" if args.threads else "default"
    print(f"device {device}{gpu}; {os.cpu_count()} CPU cores; threads {threads}")
    print(
        f"python {report['python']}, numpy {report['numpy']}, torch {report['torch']}; "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
    )
    print(
        f"float32; median of {timing.loop_repeats} (loops) or {timing.fast_repeats} samples "
        f"of at least {timing.min_seconds} s; ratios = how many times faster\n"
    )
    print(COLUMNS)
    print("-" * len(COLUMNS))
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for case in QUICK_CASES if args.quick else FULL_CASES:
        print(table_row(case, time_case(case, device, timing, rng)), flush=True)

    layer = QUICK_LAYER if args.quick else FULL_LAYER
    print(
        "\nAssignment 2's layer: loops (scaled from a corner*), numpy im2col, torch unfold + matmul,"
    )
    print(f"F.conv2d; ratios = how many times slower than F.conv2d on {device}\n")
    print(LAYER_COLUMNS)
    print("-" * len(LAYER_COLUMNS))
    seconds, columns_mb, input_mb = time_layer(layer, device, timing, rng)
    print(layer_row(layer, seconds))
    corner = layer.corner
    print(
        f"* loops timed on {corner}x{corner} of the {layer.size}x{layer.size} output positions, "
        f"scaled by {(layer.size // corner) ** 2}; im2col columns {columns_mb:.1f} MB for an "
        f"input of {input_mb:.1f} MB"
    )
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
