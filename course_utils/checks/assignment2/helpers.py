"""Assignment 2's shared helpers: the course's ``as_pair``, ``padding_2d`` and ``output_size_2d``,
and grading the later parts against the student's own code when one of their helpers is wrong.

The helpers are written in Part B, with ``conv2d``, and every later part calls them
(``im2col_2d``, ``conv2d_im2col``, pooling, the counts, ``depthwise_separable_conv2d``,
``conv2d_torch``). So that one wrong line in a helper costs only Part B's points, a later
part's checker is wrapped in :func:`own_code_first`: it runs with the student's own code
first; only when that fails, and a helper the student defined gives another result than the
course's on the :data:`PROBES`, does it run once more with the course's version of each such
helper in place of theirs (in the student's namespace, restored afterwards, always). If that
passes, the test passes and says so; otherwise the first failure is raised, its message and
diagnosis ids as they were. A helper that agrees with the course's is never replaced.

The namespace is the student's function's ``__globals__`` in their kernel, and the worker's in
the grader's re-run, where the function is a :class:`~course_utils.checks.toolkit.StudentProxy`
(``use_course_helpers``; the worker takes the course's versions from :data:`COURSE_HELPERS`).
The verdict is always the checker's own comparison, made where the checker runs: the swap only
changes which helper the student's code calls, so it can never pass a check whose outputs are
wrong.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .._common import _names_replaced, _namespace
from ..toolkit import StudentProxy, call_student, describe_call

# --------------------------------------------------------------------------------------------
# The course's helpers. Plain Python on purpose: they run inside the guard against library
# shortcuts, which blocks course_utils.arithmetic's formulas.
# --------------------------------------------------------------------------------------------


def as_pair(value: Any, name: str = "value") -> tuple[int, int]:
    """Return an int or an (h, w) pair as a tuple of two ints (one per axis: height, width)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        return int(value[0]), int(value[1])
    return int(value), int(value)


def padding_2d(
    size: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Return ((top, bottom), (left, right)): the zeros ``padding`` adds to an image of ``size`` (H, W)."""
    kernel, strides = as_pair(kernel_size, "kernel_size"), as_pair(stride, "stride")
    dilations = as_pair(dilation, "dilation")
    if min(strides) < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if min(dilations) < 1:
        raise ValueError(f"dilation must be >= 1, got {dilation}")
    if isinstance(padding, str) and padding not in ("valid", "same", "full"):
        raise ValueError(f"unknown padding mode {padding!r}: use 'valid', 'same' or 'full'")
    amounts = None if isinstance(padding, str) else as_pair(padding, "padding")
    if amounts is not None and min(amounts) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    pads = []
    axes = zip(as_pair(size, "size"), kernel, strides, dilations, strict=True)
    for axis, (n, k, s, d) in enumerate(axes):
        span = d * (k - 1) + 1
        if amounts is not None:
            pads.append((amounts[axis], amounts[axis]))
        elif padding == "valid":
            pads.append((0, 0))
        elif padding == "same":  # ceil(n / s) outputs, the odd zero at the bottom / right
            total = max((-(-n // s) - 1) * s + span - n, 0)
            pads.append((total // 2, total - total // 2))
        else:  # "full"
            pads.append((span - 1, span - 1))
    return pads[0], pads[1]


def output_size_2d(
    size: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> tuple[int, int]:
    """Return (H_out, W_out) of a convolution of an image of ``size`` (H, W); ValueError if the kernel does not fit."""
    pads = padding_2d(size, kernel_size, stride, padding, dilation)
    kernel, strides = as_pair(kernel_size, "kernel_size"), as_pair(stride, "stride")
    dilations = as_pair(dilation, "dilation")
    result = []
    for n, k, s, d, (before, after) in zip(
        as_pair(size, "size"), kernel, strides, dilations, pads, strict=True
    ):
        span = d * (k - 1) + 1
        if span > n + before + after:
            raise ValueError(
                f"kernel (span {span}) is larger than the padded input ({n} + {before} + {after})"
            )
        result.append((n + before + after - span) // s + 1)
    return result[0], result[1]


# The helpers of a student's namespace that may be replaced, by name: the allow-list of the
# worker's "helpers" request.
COURSE_HELPERS: dict[str, Callable] = {
    "as_pair": as_pair,
    "padding_2d": padding_2d,
    "output_size_2d": output_size_2d,
}

_SIZE_CALLS: tuple[tuple[Any, ...], ...] = (
    ((5, 6), (3, 2), 1, 0, 1),
    ((5, 6), 3, 1, 2, 1),
    ((9, 7), (3, 2), (2, 3), (2, 1), (2, 1)),
    ((5, 6), (2, 3), 1, "valid", 1),
    ((4, 5), (2, 2), 1, "same", 1),
    ((4, 5), (2, 3), 1, "same", 1),
    ((7, 8), (3, 2), (2, 3), "same", (1, 2)),
    ((6, 5), (2, 3), 2, "same", 2),
    ((5, 6), (3, 2), 1, "full", (2, 1)),
)

# Legal calls on which a student's helper must give what the course's gives (ints and pairs,
# every padding form, strides and dilations per axis, odd "same" totals).
PROBES: dict[str, tuple[tuple[Any, ...], ...]] = {
    "as_pair": ((3, "stride"), ((2, 5), "kernel_size"), ([4, 1], "padding")),
    "padding_2d": _SIZE_CALLS,
    "output_size_2d": _SIZE_CALLS,
}


# --------------------------------------------------------------------------------------------
# Grading a later part against the student's own code
# --------------------------------------------------------------------------------------------


def _agrees(value: Any, expected: Any) -> bool:
    """Whether ``value`` is ``expected`` (ints, nested pairs of ints); lists and arrays count as pairs."""
    if isinstance(expected, tuple):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return (
            isinstance(value, (tuple, list))
            and len(value) == len(expected)
            and all(_agrees(v, e) for v, e in zip(value, expected, strict=True))
        )
    return (
        isinstance(value, (int, np.integer))
        and not isinstance(value, (bool, np.bool_))
        and int(value) == expected
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class _Namespace:
    """The student's helpers in this process: the globals of their function."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def defined(self) -> list[str]:
        return [name for name in COURSE_HELPERS if name in self.namespace]

    def helper(self, name: str) -> Any:
        return self.namespace[name]

    @contextlib.contextmanager
    def course_versions(self, names: Sequence[str]) -> Iterator[None]:
        with _names_replaced(self.namespace, {name: COURSE_HELPERS[name] for name in names}):
            yield


class _Worker:
    """The student's helpers in the grader's sandboxed worker, where ``fn`` (a proxy) lives."""

    def __init__(self, fn: StudentProxy) -> None:
        self.fn = fn

    def _use(self, names: Sequence[str]) -> list[str]:
        defined = self.fn.use_course_helpers(list(names))
        if not isinstance(defined, list):
            raise TypeError("the worker's answer is not a list of names")
        return [name for name in COURSE_HELPERS if name in defined]

    def defined(self) -> list[str]:
        return self._use([])

    def helper(self, name: str) -> Any:
        return self.fn.sibling(name)

    @contextlib.contextmanager
    def course_versions(self, names: Sequence[str]) -> Iterator[None]:
        try:
            self._use(names)
            yield
        finally:
            self._use([])


def _helpers_of(fn: Any) -> _Namespace | _Worker | None:
    if isinstance(fn, StudentProxy):
        return _Worker(fn)
    namespace = _namespace(fn)
    return None if namespace is None else _Namespace(namespace)


def wrong_helpers(place: _Namespace | _Worker) -> dict[str, str]:
    """Name -> what differs, for each helper the student defined that disagrees with the course's on a probe."""
    wrong = {}
    for name in place.defined():
        helper = place.helper(name)
        for args in PROBES[name]:
            expected = COURSE_HELPERS[name](*args)
            call = describe_call(name, *args)
            try:
                value = call_student(helper, *args, exercise="conv2d")
            except AssertionError as exc:  # it raised: call_student named the call
                got = f"an error ({str(exc).splitlines()[0][:160]})"
            else:
                if _agrees(value, expected):
                    continue
                got = _shown(value)
            wrong[name] = f"your {name} gives {got} for {call}, the course's {_shown(expected)}"
            break
    return wrong


def _note(what: str, wrong: dict[str, str]) -> str:
    names = " and ".join(wrong)
    plural = "s" if len(wrong) > 1 else ""
    return (
        f"Note: {what} passed with the course's {names} in place of yours: "
        + "; ".join(wrong.values())
        + f". The mistake{plural} cost{'' if plural else 's'} points only in the conv2d tests "
        "(Part B): fix it there, as every later part calls it."
    )


def _passes_with_course_helpers(
    check: Callable, fn: Any, args: tuple, kwargs: dict, what: str
) -> tuple[Any, str] | None:
    """(what the check returned, what it printed and a note) when it passes with the course's
    versions of the student's wrong helpers; None when no helper of theirs is wrong, or it still
    fails."""
    try:
        place = _helpers_of(fn)
        wrong = wrong_helpers(place) if place is not None else {}
        if not wrong:
            return None
        with contextlib.redirect_stdout(io.StringIO()) as printed, place.course_versions(wrong):
            result = check(fn, *args, **kwargs)
    except Exception:  # it still fails (or the worker is gone): the first failure stands
        return None
    return result, printed.getvalue() + _note(what, wrong)


def own_code_first(check: Callable, what: str | None = None) -> Callable:
    """Wrap a later part's ``check(fn, ...)``: see the module's docstring."""
    what = what or check.__name__.removeprefix("check_")

    @functools.wraps(check)
    def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(fn, *args, **kwargs)
        except AssertionError:
            rescued = _passes_with_course_helpers(check, fn, args, kwargs, what)
            if rescued is None:
                raise
        result, printed = rescued
        print(printed)
        return result

    return run
