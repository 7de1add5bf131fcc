"""What nbgrader test cells call: comparisons with teaching messages, random cases, a guard, gradients.

* :func:`assert_array_close` / :func:`assert_int_equal` explain *how* a result is wrong
  (type, shape with a hint, NaN, the first differing index).
* ``random_*_case`` draw valid, awkward test cases from a seeded ``numpy`` Generator.
* :func:`no_library_shortcuts` and :func:`call_student` run a student's function so that
  library convolutions, pooling and the course's own answer keys raise
  :class:`LibraryShortcutError`; any other exception becomes an ``AssertionError`` that names
  the call.
* :func:`numeric_gradient` and :func:`gradient_relative_error` check a backward pass the way
  CS231n teaches it.

This module imports neither matplotlib nor ipywidgets, so a grading kernel stays fast and headless.
Anything printed to stderr zeroes an nbgrader test cell, so the helpers silence warnings themselves.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import inspect
import math
import re
import sys
import traceback
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from course_utils import (
    arithmetic,  # noqa: F401  (loaded so that the guard can block its formulas)
    reference,
)
from course_utils.arithmetic import PADDING_MODES, effective_kernel_size
from course_utils.validation import check_int

TINY = 1e-300  # keeps relative errors finite when both values are 0
SMALL_ARRAY = 20  # arrays up to this many entries are printed in full in messages

# --------------------------------------------------------------------------------------------
# Quiet numerics
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Run torch on one CPU thread inside the block: the graders' tiny float64 ops only lose from threads.

    On a busy machine (several autograding kernels on few cores) a thread pool on operations of a
    few hundred numbers is many times slower than one thread.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Python warnings and numpy floating-point warnings (stderr zeroes an nbgrader cell)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------------------------
# Comparisons with teaching messages
# --------------------------------------------------------------------------------------------


def _is_tensor(value: object) -> bool:
    return isinstance(value, torch.Tensor)


def _format_values(array: np.ndarray) -> str:
    return np.array2string(np.asarray(array), precision=6, separator=", ", suppress_small=True)


def shape_hint(expected_shape: tuple[int, ...], got_shape: tuple[int, ...]) -> str | None:
    """Return a generic guess at why a result of ``got_shape`` should have had ``expected_shape``."""
    expected_shape, got_shape = tuple(expected_shape), tuple(got_shape)
    if len(expected_shape) != len(got_shape):
        if sorted(expected_shape) == sorted(got_shape):
            return "the same sizes in another order: are two axes swapped (transpose instead of reshape)?"
        if len(got_shape) < len(expected_shape):
            return (
                f"{len(got_shape)} axes instead of {len(expected_shape)}: was an axis dropped "
                "(the batch or channel axis, or a size-1 axis squeezed away)?"
            )
        return f"{len(got_shape)} axes instead of {len(expected_shape)}: is there an extra axis?"
    if sorted(expected_shape) == sorted(got_shape):
        return (
            "the same sizes in another order: are two axes swapped (transpose instead of reshape)?"
        )
    differing = [
        i for i, (e, g) in enumerate(zip(expected_shape, got_shape, strict=True)) if e != g
    ]
    last = len(expected_shape) - 1
    if differing != [last]:
        axes = ", ".join(str(i) for i in differing)
        return (
            f"axis {axes} differs: the leading axes (batch, channels) should pass through or come "
            "from the number of filters"
        )
    expected, got = expected_shape[last], got_shape[last]
    if got == expected - 1:
        return (
            "one output too few (off by one): there are floor((L + 2p - d(k-1) - 1) / s) + 1 "
            "positions; check the '+ 1' and the range() of your loop"
        )
    if got < expected:
        return (
            f"{expected - got} outputs too few: is the padding applied (on both sides), and is "
            "the kernel span d*(k-1) + 1 used rather than something larger?"
        )
    if got == expected + 1:
        return "one output too many: ceil instead of floor, or a loop that runs one step too far?"
    if expected > 0 and got >= 2 * expected - 1:
        return (
            "far too many outputs: is the stride applied (the window moves stride steps at a time)?"
        )
    return (
        f"{got - expected} outputs too many: is the kernel span d*(k-1) + 1 used (dilation), and "
        "is the padding right (per side, not total)?"
    )


def _hint_text(hint: str | Callable | None, expected_shape, got_shape) -> str | None:
    if hint is None:
        return None
    if callable(hint):
        try:
            return hint(tuple(expected_shape), tuple(got_shape))
        except Exception:  # a broken hint must not hide the real failure
            return None
    return str(hint)


def _fail(lines: Sequence[str | None]) -> None:
    raise AssertionError("\n".join(line for line in lines if line))


def assert_array_close(
    actual: Any,
    expected: Any,
    name: str = "result",
    rtol: float = 1e-7,
    atol: float = 1e-9,
    hint: str | Callable[[tuple[int, ...], tuple[int, ...]], str | None] | None = None,
) -> None:
    """Assert ``actual`` equals ``expected`` (any shape) in float64; the error explains the difference.

    ``hint`` adds context: a string (shown with any failure) or a callable
    ``hint(expected_shape, got_shape)`` consulted when the shapes differ.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if actual is None:
        _fail(
            [
                f"{name} is None: did you forget to `return` the result?",
                _hint_text(hint, expected.shape, ()),
            ]
        )
    if _is_tensor(actual):
        _fail(
            [
                f"{name} is a torch tensor; return a numpy array of shape {expected.shape} "
                "(this exercise is numpy only; tensor.numpy() converts)"
            ]
        )
    if isinstance(actual, (list, tuple)):
        _fail(
            [
                f"{name} is a {type(actual).__name__}; return a numpy array of shape "
                f"{expected.shape} (np.array(...) converts)"
            ]
        )
    if isinstance(actual, (bool, np.bool_)) or not isinstance(
        actual, (np.ndarray, np.number, int, float)
    ):
        _fail(
            [
                f"{name} is a {type(actual).__name__}; expected a numpy array of shape {expected.shape}"
            ]
        )
    got = np.asarray(actual)
    if got.dtype.kind == "c":
        _fail([f"{name} has complex dtype {got.dtype}; the result should be real (float64)"])
    if got.dtype.kind not in "biuf":
        _fail([f"{name} has dtype {got.dtype}; expected a numeric (float64) array"])
    if got.shape != expected.shape:
        _fail(
            [
                f"{name} has shape {got.shape} but should have shape {expected.shape}.",
                _hint_text(hint, expected.shape, got.shape),
                shape_hint(expected.shape, got.shape),
            ]
        )
    original_dtype = got.dtype
    got = got.astype(np.float64)
    truncated = None
    if original_dtype.kind in "biu" and not np.all(expected == np.round(expected)):
        truncated = (
            f"{name} has integer dtype {original_dtype}, so fractions were cut off: "
            "create the output with np.zeros(shape) (float64), not np.zeros_like(x) of an integer x."
        )
    bad = ~np.isfinite(got) & np.isfinite(expected)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(
            [
                f"{name} contains {'NaN' if np.isnan(got[index]) else 'inf'} at index {index} "
                f"(expected {expected[index]:.6g}); {int(bad.sum())} of {got.size} entries are not finite.",
                "Was the output created with np.empty and not filled everywhere, or is there a division by zero?",
                _hint_text(hint, expected.shape, got.shape),
            ]
        )
    with quiet():
        close = np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    with quiet():
        error = np.abs(got - expected)
        error = np.where(np.isfinite(error), error, 0.0)
        relative = error / np.maximum(np.abs(expected), TINY)
    index = tuple(int(i) for i in np.argwhere(~close)[0])
    at = f"index {index}" if index else "the value"
    lines = [
        f"{name} differs from the expected values in {int((~close).sum())} of {got.size} entries.",
        f"First difference at {at}: got {got[index]:.10g}, expected {expected[index]:.10g}.",
        f"Largest absolute error {error.max():.3g}, largest relative error {relative.max():.3g} "
        f"(allowed: rtol={rtol:g}, atol={atol:g}).",
    ]
    if expected.size <= SMALL_ARRAY:
        lines += [f"expected: {_format_values(expected)}", f"got:      {_format_values(got)}"]
    if original_dtype == np.float32 or original_dtype == np.float16:
        lines.append(
            f"{name} is {original_dtype}: compute in float64 (numpy's default) for this precision."
        )
    lines += [truncated, _hint_text(hint, expected.shape, got.shape)]
    _fail(lines)


def assert_int_equal(
    actual: Any, expected: int, name: str = "result", hint: str | None = None
) -> None:
    """Assert ``actual`` is an int (Python or numpy) equal to ``expected``; explain float/None results."""
    if actual is None:
        _fail([f"{name} is None: did you forget to `return` the result?", hint])
    if isinstance(actual, (bool, np.bool_)):
        _fail([f"{name} is a bool ({actual}); return an int", hint])
    if _is_tensor(actual) or isinstance(actual, np.ndarray):
        _fail([f"{name} is an array/tensor ({type(actual).__name__}); return a plain int", hint])
    if isinstance(actual, (float, np.floating)):
        _fail(
            [
                f"{name} is a float ({actual!r}); return an int: use // (floor division) or "
                "math.floor/math.ceil, which return ints",
                hint if float(actual) != expected else None,
            ]
        )
    if not isinstance(actual, (int, np.integer)):
        _fail([f"{name} is a {type(actual).__name__} ({actual!r}); return an int", hint])
    if int(actual) != int(expected):
        _fail([f"{name} is {int(actual)} but should be {int(expected)}.", hint])


# --------------------------------------------------------------------------------------------
# Random test cases
# --------------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``None`` -> a random default choice; a list -> a random entry; anything else as given."""
    options = choices if value is None else value
    if isinstance(options, list):
        if not options:
            raise ValueError(f"{name}: the list of choices is empty")
        return options[int(rng.integers(len(options)))]
    return value


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    return rng


def _draw_length(
    rng: np.random.Generator, name: str, value: Any, minimum: int, maximum: int
) -> int:
    if value is None:
        return int(rng.integers(minimum, max(minimum, maximum) + 1))
    length = check_int(name, value, 1)
    if length < minimum:
        raise ValueError(
            f"{name}={length} is too short for this kernel and padding (need >= {minimum})"
        )
    return length


def _minimum_length(span: int, padding: int | str) -> int:
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be an int or one of {PADDING_MODES}, got {padding!r}")
        return span if padding == "valid" else 1
    return max(1, span - 2 * check_int("padding", padding, 0))


def random_conv1d_case(
    rng: np.random.Generator,
    *,
    batch: Any = None,
    in_channels: Any = None,
    out_channels: Any = None,
    kernel_size: Any = None,
    length: Any = None,
    stride: Any = None,
    padding: Any = None,
    dilation: Any = None,
    bias: Any = None,
    max_length: int = 16,
) -> dict[str, Any]:
    """Return a valid conv1d case ``dict(x (N, C_in, L), w (C_out, C_in, K), b (C_out,) | None, stride, padding, dilation)``.

    Each parameter is ``None`` (random), a value, or a list of values to choose from. Lengths
    are drawn so that the output has at least one position.
    """
    rng = _check_rng(rng)
    n = check_int("batch", _pick(rng, "batch", batch, [1, 2, 3]), 1)
    c_in = check_int("in_channels", _pick(rng, "in_channels", in_channels, [1, 2, 3, 4]), 1)
    c_out = check_int("out_channels", _pick(rng, "out_channels", out_channels, [1, 2, 3, 4]), 1)
    k = check_int("kernel_size", _pick(rng, "kernel_size", kernel_size, [1, 2, 3, 4, 5]), 1)
    s = check_int("stride", _pick(rng, "stride", stride, [1, 1, 2, 3]), 1)
    d = check_int("dilation", _pick(rng, "dilation", dilation, [1, 1, 2, 3]), 1)
    p = _pick(rng, "padding", padding, [0, 0, 1, 2, 3, "valid", "same", "full"])
    use_bias = bool(_pick(rng, "bias", bias, [True, False]))
    minimum = _minimum_length(effective_kernel_size(k, d), p)
    size = _draw_length(rng, "length", length, minimum, max_length)
    return {
        "x": rng.standard_normal((n, c_in, size)),
        "w": rng.standard_normal((c_out, c_in, k)),
        "b": rng.standard_normal(c_out) if use_bias else None,
        "stride": s,
        "padding": p,
        "dilation": d,
    }


def random_conv2d_case(
    rng: np.random.Generator,
    *,
    batch: Any = None,
    in_channels: Any = None,
    out_channels: Any = None,
    kernel_size: Any = None,
    stride: Any = None,
    padding: Any = None,
    dilation: Any = None,
    bias: Any = None,
    max_size: int = 11,
) -> dict[str, Any]:
    """Return a valid conv2d case ``dict(x (N, C_in, H, W), w (C_out, C_in, kH, kW), b, stride, padding, dilation)``.

    Kernels, strides and dilations may differ per axis (then they are tuples); ``H`` and ``W``
    are drawn separately, so most images are not square. Parameters work as in
    :func:`random_conv1d_case`.
    """
    rng = _check_rng(rng)
    n = check_int("batch", _pick(rng, "batch", batch, [1, 2]), 1)
    c_in = check_int("in_channels", _pick(rng, "in_channels", in_channels, [1, 2, 3]), 1)
    c_out = check_int("out_channels", _pick(rng, "out_channels", out_channels, [1, 2, 3]), 1)

    def per_axis(name: str, value: Any, choices: list[int]) -> tuple[int, int]:
        chosen = _pick(rng, name, value, [None])
        if chosen is None:
            return tuple(int(choices[int(rng.integers(len(choices)))]) for _ in range(2))
        if isinstance(chosen, tuple):
            if len(chosen) != 2:
                raise ValueError(f"{name} must be an int or 2 ints, got {chosen!r}")
            return tuple(check_int(name, v, 1) for v in chosen)
        return (check_int(name, chosen, 1),) * 2

    kernel = per_axis("kernel_size", kernel_size, [1, 2, 3, 4])
    strides = per_axis("stride", stride, [1, 1, 2, 3])
    dilations = per_axis("dilation", dilation, [1, 1, 2])
    p = _pick(rng, "padding", padding, [0, 1, 2, (0, 1), (2, 1), "valid", "same", "full"])
    pads = p if isinstance(p, (str, tuple)) else (p, p)
    if isinstance(pads, tuple) and len(pads) != 2:
        raise ValueError(f"padding must be an int, 2 ints or a mode, got {p!r}")
    sizes = []
    for axis in range(2):
        span = effective_kernel_size(kernel[axis], dilations[axis])
        axis_padding = pads if isinstance(pads, str) else pads[axis]
        minimum = _minimum_length(span, axis_padding)
        sizes.append(int(rng.integers(minimum, max(minimum, max_size) + 1)))
    use_bias = bool(_pick(rng, "bias", bias, [True, False]))

    def compact(pair: tuple[int, int]) -> int | tuple[int, int]:
        return pair[0] if pair[0] == pair[1] else pair

    return {
        "x": rng.standard_normal((n, c_in, *sizes)),
        "w": rng.standard_normal((c_out, c_in, *kernel)),
        "b": rng.standard_normal(c_out) if use_bias else None,
        "stride": compact(strides),
        "padding": p,
        "dilation": compact(dilations),
    }


def tie_free(
    rng: np.random.Generator, shape: int | Sequence[int], low: float = -1.0, high: float = 1.0
) -> np.ndarray:
    """Return a float64 array of ``shape`` with distinct values in ``[low, high)``: max-pooling has one winner."""
    rng = _check_rng(rng)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    size = math.prod(check_int("shape", s, 0) for s in shape)
    if not high > low:
        raise ValueError(f"high ({high}) must be larger than low ({low})")
    # a random order of size slots, each value jittered inside its own slot: gaps >= 0.2 slot
    slots = rng.permutation(size) + rng.uniform(0.1, 0.9, size)
    return (low + (high - low) * slots / max(size, 1)).reshape(shape)


def random_pool_case(
    rng: np.random.Generator,
    *,
    batch: Any = None,
    channels: Any = None,
    kernel_size: Any = None,
    stride: Any = None,
    padding: Any = None,
    max_size: int = 11,
) -> dict[str, Any]:
    """Return a valid 2-D pooling case ``dict(x (N, C, H, W) tie-free, kernel_size, stride, padding)``.

    ``stride`` may come out ``None`` (PyTorch's default: the window size). Padding is at most
    half the window, as PyTorch requires.
    """
    rng = _check_rng(rng)
    n = check_int("batch", _pick(rng, "batch", batch, [1, 2]), 1)
    c = check_int("channels", _pick(rng, "channels", channels, [1, 2, 3]), 1)
    k = _pick(rng, "kernel_size", kernel_size, [2, 2, 3, (2, 3), (3, 2)])
    kernel = (
        tuple(check_int("kernel_size", v, 1) for v in k)
        if isinstance(k, tuple)
        else (check_int("kernel_size", k, 1),) * 2
    )
    s = _pick(rng, "stride", stride, [None, None, 1, 2, 3])
    if s is not None:
        s = check_int("stride", s, 1)
    p = _pick(rng, "padding", padding, [0, 0, 0, 1])
    p = check_int("padding", p, 0)
    if any(2 * p > kk for kk in kernel):
        p = min(kernel) // 2  # PyTorch allows at most half the window
    sizes = [int(rng.integers(max(1, kk - 2 * p), max(kk - 2 * p, max_size) + 1)) for kk in kernel]
    return {
        "x": tie_free(rng, (n, c, *sizes)),
        "kernel_size": kernel[0] if kernel[0] == kernel[1] else kernel,
        "stride": s,
        "padding": p,
    }


# --------------------------------------------------------------------------------------------
# The guard against library shortcuts
# --------------------------------------------------------------------------------------------


class LibraryShortcutError(AssertionError):
    """Raised when a student's function calls a library routine that computes the answer for it."""


_WHY = {
    "conv": "this exercise asks you to implement the convolution yourself",
    "pool": "this exercise asks you to implement the pooling yourself",
    "window": "this exercise asks you to build the sliding windows (im2col) yourself",
    "arithmetic": "this exercise asks you to work out the sizes with the formula yourself",
    "reference": "the course's reference implementations are the grader's answer key",
}

# torch functions caught by the TorchFunctionMode, whatever name or reference they are called by
_TORCH_SHORTCUTS = {
    **{f"conv{d}d": "conv" for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": "conv" for d in (1, 2, 3)},
    "convolution": "conv",
    "_convolution": "conv",
    "conv_tbc": "conv",
    **{f"{kind}_pool{d}d": "pool" for kind in ("max", "avg", "lp") for d in (1, 2, 3)},
    **{f"max_pool{d}d_with_indices": "pool" for d in (1, 2, 3)},
    **{f"adaptive_{kind}_pool{d}d": "pool" for kind in ("max", "avg") for d in (1, 2, 3)},
    **{f"fractional_max_pool{d}d": "pool" for d in (2, 3)},
    "unfold": "window",
    "fold": "window",
    "im2col": "window",
    "col2im": "window",
}
_TORCH_NAMESPACES = (
    "torch",
    "torch.nn.functional",
    "torch._C._nn",
    "torch._C._VariableFunctions",
    "torch.functional",
)

_NUMPY_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"
_SCIPY_SIGNAL = ("convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "oaconvolve")
_SCIPY_NDIMAGE = ("convolve", "correlate", "convolve1d", "correlate1d")

# (module, attribute, the name a student would recognise, why it is blocked)
_PYTHON_SHORTCUTS: tuple[tuple[str, str, str, str], ...] = (
    ("numpy", "convolve", "numpy.convolve", "conv"),
    ("numpy", "correlate", "numpy.correlate", "conv"),
    (f"{_NUMPY_CORE}.numeric", "convolve", "numpy.convolve", "conv"),
    (f"{_NUMPY_CORE}.numeric", "correlate", "numpy.correlate", "conv"),
    # np.convolve/np.correlate look these up at call time: references captured earlier fail too
    (f"{_NUMPY_CORE}.multiarray", "correlate", "numpy.convolve", "conv"),
    (f"{_NUMPY_CORE}.multiarray", "correlate2", "numpy.correlate", "conv"),
    *(("scipy.signal", name, f"scipy.signal.{name}", "conv") for name in _SCIPY_SIGNAL),
    *(
        ("scipy.signal._signaltools", name, f"scipy.signal.{name}", "conv")
        for name in _SCIPY_SIGNAL
    ),
    ("scipy.signal._signaltools", "_freq_domain_conv", "scipy.signal.fftconvolve", "conv"),
    ("scipy.signal._sigtools", "_convolve2d", "scipy.signal.convolve2d", "conv"),
    ("scipy.signal._sigtools", "_correlateND", "scipy.signal.correlate", "conv"),
    *(("scipy.ndimage", name, f"scipy.ndimage.{name}", "conv") for name in _SCIPY_NDIMAGE),
    *(("scipy.ndimage._filters", name, f"scipy.ndimage.{name}", "conv") for name in _SCIPY_NDIMAGE),
    ("scipy.ndimage._nd_image", "correlate", "scipy.ndimage.correlate", "conv"),
    ("scipy.ndimage._nd_image", "correlate1d", "scipy.ndimage.correlate1d", "conv"),
    *(
        ("course_utils.arithmetic", name, f"course_utils.arithmetic.{name}", "arithmetic")
        for name in (
            "conv_output_size",
            "same_padding",
            "conv_transpose_output_size",
            "pool_output_size",
            "effective_kernel_size",
            "resolve_padding",
            "receptive_field",
            "conv_parameter_count",
            "conv_multiplications",
        )
    ),
)


def _reference_shortcuts() -> list[tuple[str, str, str, str]]:
    """The answer keys: every public function of course_utils.reference and the checkers'
    ``*_reference`` helpers (found at call time, so new ones count; cached per set of checkers).

    Every checked call asks, so the cache is checked cheaply: the number of loaded modules and
    the identity of each checker module found last time (a module loaded since changes the
    number; a checker replaced in ``sys.modules`` fails the identity check). Scanning all of
    ``sys.modules`` on every call cost about half of a graded notebook's CPU.
    """
    seen = _REFERENCE_KEYS[0]
    if (
        isinstance(seen, tuple)
        and seen[0] == len(sys.modules)
        and all(sys.modules.get(name) is module for name, module in seen[1])
    ):
        return _REFERENCE_KEYS[1]
    # the checkers import this module, so they are found among the loaded modules, not imported
    checkers = tuple(
        (name, module)
        for name, module in list(sys.modules.items())
        if module is not None
        and (name == "course_utils.checks" or name.startswith("course_utils.checks."))
    )
    keys = (
        _REFERENCE_KEYS[1]
        if isinstance(seen, tuple) and seen[1] == checkers
        else _find_reference_shortcuts(checkers)
    )
    _REFERENCE_KEYS[:] = [(len(sys.modules), checkers), keys]
    return keys


# [(number of loaded modules, the checker modules) when found, the keys]
_REFERENCE_KEYS: list[Any] = [None, []]


def _find_reference_shortcuts(checkers) -> list[tuple[str, str, str, str]]:
    keys = [
        ("course_utils.reference", name, f"course_utils.reference.{name}", "reference")
        for name, value in vars(reference).items()
        if not name.startswith("_")
        and inspect.isfunction(value)
        and value.__module__ == reference.__name__
    ]
    for module_name, module in checkers:
        keys += [
            (module_name, name, f"course_utils.checks.{name}", "reference")
            for name, value in vars(module).items()
            if name.endswith("_reference") and inspect.isfunction(value)
        ]
    return keys


def _shortcut_message(what: str, why: str, exercise: str) -> str:
    return (
        f"{what} is not allowed in the exercise '{exercise}': {_WHY[why]}; calling {what} would "
        "compute the answer for you. Use numpy indexing, loops and products "
        "(np.sum, np.dot, @, np.einsum) instead."
    )


class _BlockTorchShortcuts(TorchFunctionMode):
    """Raise LibraryShortcutError for torch convolution/pooling/unfold, however they are reached."""

    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        qualname = getattr(func, "__qualname__", "") or ""
        is_method = qualname.startswith(("TensorBase.", "Tensor."))  # Tensor.unfold is a view
        if (
            name in _TORCH_SHORTCUTS
            and not is_method
            and getattr(func, "__module__", None) in _TORCH_NAMESPACES
        ):
            what = f"torch.nn.functional.{name.lstrip('_')}"
            raise LibraryShortcutError(
                _shortcut_message(what, _TORCH_SHORTCUTS[name], self.guard.exercise)
            )
        return func(*args, **(kwargs or {}))


# torch's native convolution, pooling and sliding-window kernels (aten::convolution,
# aten::max_pool2d_with_indices, aten::im2col, cudnn_/mkldnn_/slow_ variants, their backward
# passes): however a student's code reaches one (torch.ops.aten, a private name such as
# torch._convolution_mode, a reference captured earlier), it passes torch's dispatcher, where
# _BlockNativeKernels sees it. "convert" is not a convolution (aten::_convert_indices_...).
_NATIVE_KERNELS = re.compile(r"conv(?!ert)|pool|im2col|col2im")


def native_kernel_kind(name: str) -> str | None:
    """Return "conv", "pool" or "window" for a native kernel's name (``aten::max_pool2d``), else None."""
    base = name.rsplit("::", 1)[-1]
    if not _NATIVE_KERNELS.search(base):
        return None
    if "pool" in base:
        return "pool"
    return "conv" if "conv" in base else "window"


class _BlockNativeKernels(TorchDispatchMode):
    """Raise LibraryShortcutError when a native convolution/pooling/im2col kernel is dispatched."""

    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        schema = getattr(func, "_schema", None)
        name = schema.name if schema is not None else str(func)
        kind = native_kernel_kind(name)
        if kind is not None:
            raise LibraryShortcutError(
                _shortcut_message(f"torch's native kernel {name}", kind, self.guard.exercise)
            )
        return func(*args, **(kwargs or {}))


class _Guard:
    """Process-wide state of :func:`no_library_shortcuts`; patches once for nested guards.

    A patch is ``(owner, name, original, blocker, owner_is_dict)``. Imports run while the guard
    is on see the originals (the patches are lifted for the import and put back after it, with
    any newly loaded module patched too), so no module copies a blocker into its namespace.
    """

    def __init__(self) -> None:
        self.exercises: list[str] = []
        self.patches: list[tuple[Any, str, Any, Callable, bool]] = []
        self.patched: set[tuple[int, str]] = set()  # (id(owner), name) of every entry in patches
        self.blocked: dict[int, tuple[Any, str, str]] = {}  # id(original) -> (original, what, why)
        self.torch_mode: TorchFunctionMode | None = None
        self.kernel_mode: TorchDispatchMode | None = None
        self.original_import: Callable | None = None
        self.importing = False
        self.shortcuts: tuple[tuple[str, str, str, str], ...] = ()
        self.blockers: dict[
            tuple[int, str], Callable
        ] = {}  # reused: they read the exercise at call time
        # What add_loaded_modules found at the last outermost entry: (shortcuts, per shortcut
        # (module, original) or None, the patches, their keys). See reuse_plan.
        self.plan: tuple[Any, ...] | None = None

    @property
    def exercise(self) -> str:
        return self.exercises[-1] if self.exercises else "this exercise"

    def _blocker(self, original: Any, what: str, why: str) -> Callable:
        guard = self

        @functools.wraps(original)
        def blocked(*args: Any, **kwargs: Any) -> Any:
            raise LibraryShortcutError(_shortcut_message(what, why, guard.exercise))

        blocked.__library_shortcut__ = original  # type: ignore[attr-defined]
        return blocked

    def _add(self, owner: Any, name: str, what: str, why: str, owner_is_dict: bool = False) -> None:
        """Block ``owner.name`` (or ``owner[name]``) now and remember how to undo it."""
        if (id(owner), name) in self.patched:
            return
        original = owner[name] if owner_is_dict else getattr(owner, name)
        original = getattr(original, "__library_shortcut__", original)
        self.blocked.setdefault(id(original), (original, what, why))
        blocker = self.blockers.get((id(original), what))
        if blocker is None or blocker.__library_shortcut__ is not original:  # type: ignore[attr-defined]
            blocker = self.blockers[(id(original), what)] = self._blocker(original, what, why)
        self.patches.append((owner, name, original, blocker, owner_is_dict))
        self.patched.add((id(owner), name))
        self._set(owner, name, blocker, owner_is_dict)

    @staticmethod
    def _set(owner: Any, name: str, value: Any, owner_is_dict: bool) -> None:
        if owner_is_dict:
            owner[name] = value
        else:
            setattr(owner, name, value)

    def add_loaded_modules(self) -> None:
        """Block every listed shortcut whose module is imported."""
        for module_name, name, what, why in self.shortcuts:
            module = sys.modules.get(module_name)
            if module is not None and name in vars(module):
                self._add(module, name, what, why)

    def reuse_plan(self) -> bool:
        """Block the loaded shortcuts as the last outermost entry did, if nothing they depend on
        changed; False (nothing done) otherwise.

        A checker calls the student's function about a thousand times per notebook, and working
        the patches out anew each time (``add_loaded_modules``) was most of the guard's cost. The
        plan is reused only if every shortcut's module is the same object as then (or still not
        loaded) and its attribute still holds the same original: then ``add_loaded_modules``
        would make exactly these patches. The grader's worker drops the plan before every request
        (student code shares that process).
        """
        plan = self.plan
        if plan is None or plan[0] != self.shortcuts:
            return False
        modules = sys.modules
        for (module_name, name, _, _), seen in zip(self.shortcuts, plan[1], strict=True):
            module = modules.get(module_name)
            if seen is None:
                if module is not None and name in vars(module):
                    return False
            elif module is not seen[0] or vars(module).get(name) is not seen[1]:
                return False
        for owner, name, _, blocker, _ in plan[2]:
            setattr(owner, name, blocker)
        self.patches = list(plan[2])
        self.patched = set(plan[3])
        return True

    def make_plan(self) -> None:
        """Block every loaded shortcut (``add_loaded_modules``) and keep how, for ``reuse_plan``."""
        self.add_loaded_modules()
        seen = []
        for module_name, name, _, _ in self.shortcuts:
            module = sys.modules.get(module_name)
            found = None if module is None else vars(module).get(name, _MISSING)
            if found is _MISSING or module is None:
                seen.append(None)
            else:
                seen.append((module, getattr(found, "__library_shortcut__", found)))
        self.plan = (self.shortcuts, tuple(seen), tuple(self.patches), frozenset(self.patched))

    def add_namespace(self, namespace: dict[str, Any]) -> None:
        """Block references to shortcuts captured in a namespace (``from numpy import convolve``)."""
        blocked = self.blocked
        for name, value in list(namespace.items()):
            original = value
            if type(value) is types.FunctionType:  # a blocker is a function holding its original
                original = value.__dict__.get("__library_shortcut__", value)
            # any other value is blocked only if it is an original itself: no attribute lookup
            # (a notebook's namespace holds modules whose __getattr__ is slow, and many strings)
            entry = blocked.get(id(original))
            if entry is not None and entry[0] is original:
                self._add(namespace, name, entry[1], entry[2], owner_is_dict=True)

    def lift(self) -> None:
        for owner, name, original, _, owner_is_dict in reversed(self.patches):
            self._set(owner, name, original, owner_is_dict)

    def reapply(self) -> None:
        for owner, name, _, blocker, owner_is_dict in self.patches:
            self._set(owner, name, blocker, owner_is_dict)

    def guarded_import(
        self, name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Any:
        args = (name, globals, locals, fromlist, level)
        if self.importing or self.original_import is None:  # an import inside an import
            return (self.original_import or builtins.__import__)(*args)
        if _already_loaded(name, fromlist, level):  # no module's code runs: nothing to lift
            return self.original_import(*args)
        self.importing = True
        self.lift()
        try:
            return self.original_import(*args)
        finally:
            self.importing = False
            self.reapply()
            self.add_loaded_modules()

    def enter(self, exercise: str, namespaces: Sequence[dict[str, Any]]) -> None:
        self.exercises.append(exercise)
        if len(self.exercises) == 1:
            self.shortcuts = (*_PYTHON_SHORTCUTS, *_reference_shortcuts())
            if not self.reuse_plan():
                self.make_plan()
            self.original_import = builtins.__import__
            builtins.__import__ = self.guarded_import
            self.torch_mode = _BlockTorchShortcuts(self)
            self.torch_mode.__enter__()
            self.kernel_mode = _BlockNativeKernels(self)
            self.kernel_mode.__enter__()
        for namespace in namespaces:
            self.add_namespace(namespace)

    def exit(self, depth: int) -> None:
        """Leave guard level ``depth``; the outermost level restores everything."""
        if depth == 1:
            try:
                if self.kernel_mode is not None:
                    self.kernel_mode.__exit__(None, None, None)
                if self.torch_mode is not None:
                    self.torch_mode.__exit__(None, None, None)
            finally:
                self.kernel_mode = None
                self.torch_mode = None
                if self.original_import is not None:
                    builtins.__import__ = self.original_import
                    self.original_import = None
                self.lift()
                self.patches = []
                self.patched = set()
        self.exercises.pop()


_GUARD = _Guard()
_MISSING = object()


def _already_loaded(name: Any, fromlist: Any, level: Any) -> bool:
    """Whether ``__import__(name, fromlist=fromlist, level=level)`` only looks up loaded modules.

    Library code imports inside functions on every call (torch does, thousands of times in a
    training run); such an import runs no module's code, so the guard's patches can stay on.
    Looked up without triggering a module's ``__getattr__`` (which may load something).
    """
    if level != 0 or not isinstance(name, str) or not name:
        return False
    parts = name.split(".")
    modules = [sys.modules.get(".".join(parts[: i + 1])) for i in range(len(parts))]
    if any(module is None for module in modules):
        return False
    try:
        loaded = vars(modules[-1])
    except TypeError:
        return False
    return all(isinstance(item, str) and item != "*" and item in loaded for item in fromlist or ())


@contextlib.contextmanager
def no_library_shortcuts(
    exercise: str = "conv1d", namespaces: Sequence[dict[str, Any]] = ()
) -> Iterator[None]:
    """Inside the block, library convolutions/pooling and the course's answer keys raise LibraryShortcutError.

    Blocked: torch convolution, transposed convolution, pooling and (un)fold by any name or
    captured reference (a ``TorchFunctionMode``), and their native kernels however they are
    reached, ``torch.ops.aten`` included (a ``TorchDispatchMode``); ``numpy.convolve``/``numpy.correlate`` (also
    references captured earlier); scipy's signal/ndimage convolutions when scipy is loaded;
    every function of :mod:`course_utils.reference`; the size formulas of
    :mod:`course_utils.arithmetic`. References to these in ``namespaces`` (e.g. a notebook's
    globals) are blocked too. Everything is restored on exit, also after an exception; nesting
    is safe. Not thread-safe: grading runs one student's code at a time.
    """
    if not isinstance(exercise, str) or not exercise:
        raise TypeError(f"exercise must be a non-empty str, got {exercise!r}")
    depth = len(_GUARD.exercises) + 1
    try:
        _GUARD.enter(exercise, namespaces)
        yield
    finally:
        if len(_GUARD.exercises) >= depth:
            _GUARD.exit(depth)


def is_library_shortcut(fn: object) -> bool:
    """Return True if ``fn`` is one of the blocked library routines (or a guard's stand-in for one)."""
    if isinstance(fn, StudentProxy):
        return (
            False  # a function in the student's worker: guarded there, read by the integrity report
        )
    if hasattr(fn, "__library_shortcut__"):
        return True
    for module_name, name, *_ in (*_PYTHON_SHORTCUTS, *_reference_shortcuts()):
        module = sys.modules.get(module_name)
        if module is not None and vars(module).get(name) is fn:
            return True
    name = getattr(fn, "__name__", "")
    return name in _TORCH_SHORTCUTS and getattr(fn, "__module__", None) in _TORCH_NAMESPACES


# --------------------------------------------------------------------------------------------
# Calling a student's function
# --------------------------------------------------------------------------------------------


def describe_value(value: Any) -> str:
    """Return a short description: small 1-D arrays by value, other arrays by shape, dicts by keys, scalars by repr."""
    if _is_tensor(value):
        return f"tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and value.size <= 10:
            return "[" + ", ".join(f"{v:.6g}" for v in value.tolist()) + "]"
        return f"array of shape {value.shape}"
    if isinstance(value, (list, tuple)) and len(value) > 10:
        return f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, dict):  # e.g. a cache: its keys say what it is
        return "{" + ", ".join(f"{k!r}: ..." for k in list(value)[:8]) + "}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, np.ndarray) for v in value):
        inner = ", ".join(describe_value(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return repr(value)


def describe_call(name: str, *args: Any, **kwargs: Any) -> str:
    """Return ``name(arg=..., ...)`` with arrays described by shape, for messages."""
    parts = [describe_value(a) for a in args] + [
        f"{k}={describe_value(v)}" for k, v in kwargs.items()
    ]
    return f"{name}({', '.join(parts)})"


def _describe_student_call(fn: Callable, args: tuple, kwargs: dict) -> str:
    name = getattr(fn, "__name__", "your function")
    if isinstance(fn, StudentProxy):  # its signature lives in the student's process
        return describe_call(name, *args, **kwargs)
    try:
        bound = inspect.signature(fn).bind_partial(*args, **kwargs)
        parts = [f"{key}={describe_value(value)}" for key, value in bound.arguments.items()]
        return f"{name}({', '.join(parts)})"
    except (TypeError, ValueError):
        return describe_call(name, *args, **kwargs)


def _student_line(exc: BaseException) -> str | None:
    """Return 'line N: source' of the innermost frame outside numpy/torch/course_utils, if any."""
    here = str(Path(__file__).resolve().parent)
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        filename = frame.filename or ""
        if "site-packages" in filename or filename.startswith(here) or "<frozen" in filename:
            continue
        text = (frame.line or "").strip()
        return f"line {frame.lineno}: {text}" if text else f"line {frame.lineno}"
    return None


def _private_copies(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Copy array arguments, so a student's in-place change cannot reach the grader's arrays."""

    def copy(value: Any) -> Any:
        return value.copy() if isinstance(value, np.ndarray) else value

    return tuple(copy(a) for a in args), {k: copy(v) for k, v in kwargs.items()}


class StudentProxy:
    """A student's function that lives in another process (the grader's sandboxed worker).

    :func:`call_student`, :func:`expect_error` and :func:`call_student_torch` hand the call to
    :meth:`call` / :meth:`call_torch` instead of running student code here; the worker applies
    the guard against library shortcuts and sends back plain values, or the exception raised.
    """

    __name__ = "student_function"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(self.__name__, args, kwargs)

    def call(self, exercise: str, args: tuple, kwargs: dict) -> Any:  # pragma: no cover
        raise NotImplementedError

    def call_torch(
        self, exercise: str, arrays: tuple, options: dict, dout: Any, device: str
    ) -> TorchCall:  # pragma: no cover
        raise NotImplementedError

    def sibling(self, name: str) -> StudentProxy:  # pragma: no cover
        """The student's function ``name`` from the same namespace (e.g. a helper it calls)."""
        raise NotImplementedError

    def use_course_helpers(self, names: list[str]) -> list[str]:  # pragma: no cover
        """Put the course's versions of the shared helpers ``names`` in place of the student's
        in their namespace, after putting back any replaced before (``[]``: only put back);
        return the shared helpers that namespace defines.
        (:mod:`course_utils.checks.assignment2.helpers`)"""
        raise NotImplementedError


def student_cpu_seconds(fn: Callable) -> float:
    """CPU seconds used so far by the process where ``fn`` runs: the grader's measure of the
    student's worker for a :class:`StudentProxy`, else this process and its reaped children.

    A time limit in CPU seconds gives the same verdict on an idle and on a busy machine."""
    measure = getattr(type(fn), "cpu_seconds", None) if isinstance(fn, StudentProxy) else None
    if measure is not None:
        return float(measure(fn))
    import os

    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _invoke(fn: Callable, exercise: str, args: tuple, kwargs: dict) -> Any:
    """Run the student's ``fn`` under the guard: here, or in its worker for a :class:`StudentProxy`."""
    if isinstance(fn, StudentProxy):
        return fn.call(exercise, args, kwargs)
    namespaces = [fn.__globals__] if isinstance(getattr(fn, "__globals__", None), dict) else []
    with quiet(), no_library_shortcuts(exercise, namespaces):
        return fn(*args, **kwargs)


def _lazy_description(fn: Callable, args: tuple, kwargs: dict) -> Callable[[], str]:
    """The call's description for a message, made only if a message needs it (most calls pass).

    Made at once when an argument is a container the student's function could change in place
    (arrays are passed as copies), so that the message names the inputs as the checker gave them.
    """
    if any(isinstance(v, (list, dict, set, bytearray)) for v in (*args, *kwargs.values())):
        text = _describe_student_call(fn, args, kwargs)
        return lambda: text
    return functools.partial(_describe_student_call, fn, args, kwargs)


def call_student(fn: Callable, *args: Any, exercise: str | None = None, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` under :func:`no_library_shortcuts`; any exception becomes an AssertionError naming the call.

    Warnings are silenced, and changing an input array in place is reported as a mistake.
    """
    if not callable(fn):
        raise AssertionError(
            f"expected a function, got {type(fn).__name__} {fn!r}: did you overwrite the name?"
        )
    exercise = exercise or getattr(fn, "__name__", "exercise")
    call = _lazy_description(fn, args, kwargs)
    if is_library_shortcut(fn):
        raise LibraryShortcutError(
            f"{call()}: your function is a library routine; {_WHY['conv']}, so write it out yourself."
        )
    given_args, given_kwargs = _private_copies(args, kwargs)
    try:
        result = _invoke(fn, exercise, given_args, given_kwargs)
    except LibraryShortcutError as exc:
        raise LibraryShortcutError(f"{call()}: {exc}") from None
    except InPlaceChange:
        raise
    except Exception as exc:
        where = _student_line(exc)
        raise AssertionError(
            f"{call()} raised {type(exc).__name__}"
            + (f": {exc}" if str(exc) else "")
            + (f"\n  (in your code, {where})" if where else "")
            + (
                "\nReplace `raise NotImplementedError()` with your solution."
                if isinstance(exc, NotImplementedError)
                else ""
            )
        ) from exc
    check_inputs_unchanged(call, args, kwargs, given_args, given_kwargs)
    return result


class InPlaceChange(AssertionError):
    """A student's function changed one of its input arrays."""


def check_inputs_unchanged(
    call: str | Callable[[], str], args: tuple, kwargs: dict, given_args: tuple, given_kwargs: dict
) -> None:
    """Raise :class:`InPlaceChange` if a student's function changed an input array it was given.

    ``call`` describes the call for the message (or makes that description when called)."""
    names = [f"argument {i + 1}" for i in range(len(args))] + list(kwargs)
    given = [*given_args, *given_kwargs.values()]
    for name, original, seen in zip(names, [*args, *kwargs.values()], given, strict=True):
        if isinstance(original, np.ndarray) and not np.array_equal(seen, original, equal_nan=True):
            raise InPlaceChange(
                f"{call() if callable(call) else call} changed its input {name} in place; work on a copy "
                "(np.pad and arithmetic like x * 2 return new arrays)"
            )


def expect_error(
    fn: Callable,
    *args: Any,
    error: type[BaseException] = ValueError,
    because: str = "",
    mentions: Sequence[str] = (),
    exercise: str | None = None,
    **kwargs: Any,
) -> BaseException:
    """Assert ``fn(*args, **kwargs)`` raises ``error`` whose message contains one of ``mentions`` (case-insensitive); return it."""
    exercise = exercise or getattr(fn, "__name__", "exercise")
    call = _describe_student_call(fn, args, kwargs)
    reason = f" ({because})" if because else ""
    given_args, given_kwargs = _private_copies(args, kwargs)
    try:
        result = _invoke(fn, exercise, given_args, given_kwargs)
    except LibraryShortcutError as exc:
        raise LibraryShortcutError(f"{call}: {exc}") from None
    except InPlaceChange:
        raise
    except error as exc:
        message = str(exc)
        if mentions and not any(word.lower() in message.lower() for word in mentions):
            wanted = " or ".join(repr(word) for word in mentions)
            raise AssertionError(
                f"{call} raised {type(exc).__name__}({message!r}); good, but the message should name "
                f"the problem{reason}: mention {wanted}"
            ) from None
        return exc
    except Exception as exc:
        extra = (
            "; replace `raise NotImplementedError()` with your solution"
            if isinstance(exc, NotImplementedError)
            else ""
        )
        raise AssertionError(
            f"{call} raised {type(exc).__name__}({exc}) but should raise {error.__name__}{reason}{extra}"
        ) from exc
    got = f"an array of shape {result.shape}" if isinstance(result, np.ndarray) else repr(result)
    raise AssertionError(
        f"{call} should raise {error.__name__}{reason}, but it returned {got}. "
        f'Check the argument and `raise {error.__name__}("...")` naming it.'
    )


@dataclass(frozen=True)
class TorchCall:
    """What a student's torch function gave, as plain values: its output, and gradients when asked.

    ``output`` is the result moved to the CPU as float64; ``device`` and ``dtype`` describe the
    result as returned (``"cuda"``, ``"torch.float64"``); ``grads[i]`` is d(sum(output * dout))
    / d(array i) by autograd (``None`` for an argument passed as ``None`` or without ``dout``).
    """

    output: np.ndarray
    device: str
    dtype: str
    grads: tuple[np.ndarray | None, ...] = ()


def run_torch_call(
    fn: Callable, arrays: Sequence[Any], options: dict[str, Any], dout: Any, device: str
) -> TorchCall:
    """Call ``fn(*tensors, **options)`` with ``arrays`` as float64 tensors on ``device``; raise what fn raises.

    Student code runs here: it is the in-process half of :func:`call_student_torch` and what the
    grader's worker runs for it.
    """
    want_grads = dout is not None
    tensors = [
        None
        if a is None
        else torch.tensor(np.asarray(a, dtype=np.float64), device=device, requires_grad=want_grads)
        for a in arrays
    ]
    result = fn(*tensors, **options)
    if not isinstance(result, torch.Tensor):
        raise TypeError(
            f"returned {type(result).__name__}, expected a torch.Tensor: keep the computation in "
            "torch (no .numpy()) so that it runs on the GPU and autograd can follow it"
        )
    grads: tuple[np.ndarray | None, ...] = ()
    if want_grads:
        if not result.requires_grad:
            raise TypeError(
                "the result is not connected to its inputs in autograd's graph (requires_grad is "
                "False): build it from the input tensors with torch operations, without .detach() "
                "or a round trip through numpy"
            )
        inputs = [t for t in tensors if t is not None]
        weights = torch.tensor(np.asarray(dout, dtype=np.float64), device=result.device)
        if weights.shape != result.shape:
            raise TypeError(
                f"returned shape {tuple(result.shape)}, expected {tuple(weights.shape)}"
            )
        found = torch.autograd.grad(
            result, inputs, grad_outputs=weights.to(result.dtype), allow_unused=True
        )
        it = iter(found)
        grads = tuple(None if t is None else _to_numpy(next(it), like=t) for t in tensors)
    output = result.detach().to("cpu", torch.float64).numpy()
    return TorchCall(output, result.device.type, str(result.dtype), grads)


def _to_numpy(grad: torch.Tensor | None, like: torch.Tensor) -> np.ndarray:
    if grad is None:  # the input does not reach the output: its gradient is zero
        return np.zeros(tuple(like.shape))
    return grad.detach().to("cpu", torch.float64).numpy()


def call_student_torch(
    fn: Callable,
    *arrays: Any,
    exercise: str | None = None,
    dout: Any = None,
    device: str | torch.device | None = None,
    **options: Any,
) -> TorchCall:
    """Call a student's torch function on ``arrays`` (numpy, made float64 tensors on ``device``) under the guard.

    ``options`` (ints, tuples, strings) are passed as keywords. With ``dout`` (shaped like the
    output) the gradients of sum(output * dout) with respect to each array come back too. Any
    exception becomes an ``AssertionError`` naming the call, as in :func:`call_student`.
    """
    if not callable(fn):
        raise AssertionError(
            f"expected a function, got {type(fn).__name__} {fn!r}: did you overwrite the name?"
        )
    from course_utils.device import float64_device

    exercise = exercise or getattr(fn, "__name__", "exercise")
    where = str(device) if device is not None else str(float64_device())
    call = describe_call(getattr(fn, "__name__", exercise), *arrays, **options)
    try:
        if isinstance(fn, StudentProxy):
            return fn.call_torch(exercise, tuple(arrays), dict(options), dout, where)
        namespaces = [fn.__globals__] if isinstance(getattr(fn, "__globals__", None), dict) else []
        with quiet(), no_library_shortcuts(exercise, namespaces):
            return run_torch_call(fn, arrays, options, dout, where)
    except LibraryShortcutError as exc:
        raise LibraryShortcutError(f"{call}: {exc}") from None
    except Exception as exc:
        raise AssertionError(
            f"{call} (tensors on {where}) raised {type(exc).__name__}"
            + (f": {exc}" if str(exc) else "")
            + (
                "\nReplace `raise NotImplementedError()` with your solution."
                if isinstance(exc, NotImplementedError)
                else ""
            )
        ) from exc


# --------------------------------------------------------------------------------------------
# Gradient checks (CS231n style)
# --------------------------------------------------------------------------------------------


def numeric_gradient(
    f: Callable[[np.ndarray], Any], x: Any, dout: Any = None, h: float = 1e-6
) -> np.ndarray:
    """Return the central-difference gradient of ``f`` at ``x`` (same shape as x) for upstream ``dout``.

    ``f`` maps an array to a scalar, or to an array when ``dout`` (shaped like ``f(x)``) weights
    its entries: the result is d(sum(f(x) * dout))/dx. ``x`` itself is left unchanged.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not (isinstance(h, (int, float)) and h > 0):
        raise ValueError(f"h must be a positive number, got {h!r}")
    point = np.array(x, dtype=np.float64)  # a copy: f sees a perturbed copy, never the caller's x
    weights = None if dout is None else np.asarray(dout, dtype=np.float64)
    grad = np.zeros_like(point)

    def value() -> float:
        out = np.asarray(f(point), dtype=np.float64)
        if weights is None:
            if out.size != 1:
                raise ValueError(
                    f"f returned shape {out.shape}; pass dout (the upstream gradient) for a vector-valued f"
                )
            return float(out.reshape(()))
        if out.shape != weights.shape:
            raise ValueError(f"dout has shape {weights.shape} but f(x) has shape {out.shape}")
        return float(np.sum(out * weights))

    with quiet():
        for index in np.ndindex(point.shape):
            saved = point[index]
            point[index] = saved + h
            plus = value()
            point[index] = saved - h
            minus = value()
            point[index] = saved
            grad[index] = (plus - minus) / (2 * h)
    return grad


def gradient_relative_error(analytic: Any, numeric: Any) -> float:
    """Return ``max|a - n| / max(|a| + |n|)`` (0 when both are 0) for gradients of the same shape."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic has shape {a.shape} but numeric has shape {n.shape}")
    if a.size == 0:
        return 0.0
    scale = float(np.max(np.abs(a) + np.abs(n)))
    return float(np.max(np.abs(a - n)) / max(scale, TINY))


GRADIENT_OK = 1e-7
GRADIENT_WRONG = 1e-4


def describe_gradient_error(err: float) -> str:
    """Explain a relative gradient error: < 1e-7 correct, up to 1e-4 suspicious, above probably wrong."""
    if not isinstance(err, (int, float, np.floating)) or math.isnan(err):
        raise ValueError(f"err must be a number, got {err!r}")
    if err < GRADIENT_OK:
        return f"relative error {err:.2e} < {GRADIENT_OK:.0e}: the gradient is correct."
    if err < GRADIENT_WRONG:
        return (
            f"relative error {err:.2e} is between {GRADIENT_OK:.0e} and {GRADIENT_WRONG:.0e}: "
            "suspicious. Fine near kinks (ReLU, max) or with float32; otherwise look for a small mistake."
        )
    return (
        f"relative error {err:.2e} > {GRADIENT_WRONG:.0e}: the gradient is probably wrong "
        "(a missing term, a wrong index or a wrong sign)."
    )


def check_gradient(
    analytic: Any, numeric: Any, name: str = "gradient", tolerance: float = GRADIENT_OK
) -> float:
    """Assert the relative error of ``analytic`` vs ``numeric`` is below ``tolerance``; return it."""
    a = np.asarray(analytic, dtype=np.float64) if analytic is not None else None
    n = np.asarray(numeric, dtype=np.float64)
    if a is None:
        raise AssertionError(f"{name} is None: did you forget to `return` it?")
    if a.shape != n.shape:
        raise AssertionError(
            f"{name} has shape {a.shape} but should have the input's shape {n.shape}"
        )
    err = gradient_relative_error(a, n)
    if not err < tolerance:
        raise AssertionError(f"{name}: {describe_gradient_error(err)}")
    return err


__all__ = [
    "GRADIENT_OK",
    "GRADIENT_WRONG",
    "LibraryShortcutError",
    "assert_array_close",
    "assert_int_equal",
    "call_student",
    "check_gradient",
    "describe_call",
    "describe_gradient_error",
    "describe_value",
    "expect_error",
    "gradient_relative_error",
    "is_library_shortcut",
    "no_library_shortcuts",
    "numeric_gradient",
    "quiet",
    "random_conv1d_case",
    "random_conv2d_case",
    "random_pool_case",
    "shape_hint",
    "single_threaded_torch",
    "tie_free",
]
