"""What every assignment's checkers share: visible/hidden cases, the hidden-case seed, diagnosis.

A checker is ``check_*(fn, ..., cases="visible" | "hidden", seed=...)``. It raises an
``AssertionError`` whose message names the call, what differs and the likely mistake (found by
comparing the student's output with the outputs of typical bugs), and prints one line on success.

Hidden cases draw their inputs from :func:`hidden_rng`. In a student's notebook that is the seed
printed in the test cell; when the grader verifies a submission outside the student's process
(:mod:`course_utils.grading.verify`) a secret seed drawn per grading run is mixed in, so the hidden
inputs cannot be known in advance.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import diagnoses
from .toolkit import (
    assert_array_close,
    assert_int_equal,
    describe_call,
    expect_error,
    quiet,
    single_threaded_torch,
)

CASES = ("visible", "hidden")

# words one of which a "the kernel does not fit" ValueError must contain
_KERNEL_WORDS = ("kernel", "larger", "longer", "too long", "too large", "too big", "exceed", "span")

_RUN_SEED: list[int] = []  # the grading run's secret seed, set only in the grader's process


@contextlib.contextmanager
def secret_seed(run_seed: int) -> Iterator[None]:
    """Inside the block, every hidden case also depends on ``run_seed`` (the grader's secret)."""
    if isinstance(run_seed, bool) or not isinstance(run_seed, int) or run_seed < 0:
        raise ValueError(f"run_seed must be a non-negative int, got {run_seed!r}")
    _RUN_SEED.append(run_seed)
    try:
        yield
    finally:
        _RUN_SEED.pop()


def hidden_rng(seed: int) -> np.random.Generator:
    """Return the generator of a checker's hidden cases: ``seed`` alone, or with the grading run's secret."""
    return np.random.default_rng([seed, *_RUN_SEED[-1:]])


# A typical bug: (its family in the catalogue of mistakes, what the mistake is, a function giving
# that mistake's output). See :mod:`course_utils.checks.diagnoses`.
Bug = tuple[str, str, Callable[[], Any]]  # also accepted: (message, make), an unnamed bug


def _checker(check: Callable) -> Callable:
    """Run a public checker with torch on one thread (its reference calls are tiny).

    A failure leaves with its diagnosis ids (``<assignment>.<exercise>.<family>``, the exercise
    being the checker's name without ``check_``) and the cases that failed recorded on it.
    """
    assignment = diagnoses.assignment_key(check.__module__)
    exercise = check.__name__.removeprefix("check_")
    signature = inspect.signature(check)

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            with single_threaded_torch():
                return check(*args, **kwargs)
        except Exception as exc:
            try:
                cases = signature.bind(*args, **kwargs).arguments.get("cases", "visible")
            except TypeError:
                cases = None
            diagnoses.record(exc, assignment, exercise, cases)
            raise

    return run


def _check_cases(cases: str) -> str:
    if cases not in CASES:
        raise ValueError(f"cases must be one of {CASES}, got {cases!r}")
    return cases


def _report(what: str, count: int, cases: str) -> None:
    print(f"{what}: {count} {cases} cases passed")


# --------------------------------------------------------------------------------------------
# Argument checks: any ValueError earns the points; a message that names the problem is advice
# --------------------------------------------------------------------------------------------


def _expect_argument_error(
    fn: Callable,
    *args: Any,
    because: str,
    mentions: Sequence[str] = (),
    exercise: str,
    error: type[BaseException] = ValueError,
    **kwargs: Any,
) -> str | None:
    """Assert ``fn(*args, **kwargs)`` raises ``error``; return advice when its message does not name the problem.

    Any ``error`` earns the check (a plain ``ValueError("bad input")`` included): the points are for
    refusing the illegal call. A message that names the argument is what makes the error useful to
    the caller, so its absence is returned as advice (printed by the checker), not as a failure.
    """
    exc = expect_error(fn, *args, error=error, because=because, exercise=exercise, **kwargs)
    message = str(exc)
    if not mentions or any(word.lower() in message.lower() for word in mentions):
        return None
    wanted = " or ".join(repr(word) for word in mentions)
    call = describe_call(getattr(fn, "__name__", exercise), *args, **kwargs)
    return (
        f"{call} raised {type(exc).__name__}({message!r}): right, it is illegal ({because}). "
        f"A message that says what is wrong helps whoever calls it: mention {wanted}."
    )


def _print_advice(advice: Sequence[str | None]) -> None:
    """Print the advice collected by :func:`_expect_argument_error` (no points depend on it)."""
    tips = list(dict.fromkeys(a for a in advice if a))
    if tips:
        print("Advice (no points depend on it): error messages that name the argument")
        for tip in tips:
            print(f"  - {tip}")


# --------------------------------------------------------------------------------------------
# Diagnosis: which typical mistake produces the student's output?
# --------------------------------------------------------------------------------------------


def _as_float_array(value: Any) -> np.ndarray | None:
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        with quiet():
            array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array


def _same(actual: Any, candidate: Any) -> bool:
    a, c = _as_float_array(actual), _as_float_array(candidate)
    if a is None or c is None or a.shape != c.shape:
        return False
    with quiet():
        return bool(np.allclose(a, c, rtol=1e-7, atol=1e-9))


def _outputs(bugs: Sequence[Bug]) -> list[tuple[str | None, str, Any]]:
    """(family, message, output) of each typical bug that can happen for these arguments.

    A bug written as (message, make), without a family, is still diagnosed; its family is None
    (the report counts it as unnamed; tests/test_diagnoses.py wants every bug catalogued).
    """
    results = []
    for bug in bugs:
        family, message, make = (None, *bug) if len(bug) == 2 else bug
        try:
            with quiet():
                results.append((family, message, make()))
        except Exception:  # a mistake that cannot happen for these arguments
            continue
    return results


def _explained(
    matches: Sequence[tuple[str | None, str]], lead: str = "Likely mistake: "
) -> tuple[str | None, tuple[str, ...]]:
    """(the hint naming each (family, message) once, their families); (None, ()) for no match."""
    messages = list(dict.fromkeys(message for _, message in matches))
    if not messages:
        return None, ()
    families = tuple(dict.fromkeys(f for f, _ in matches if f is not None))
    return lead + "\n  or: ".join(messages), families


def _diagnose(
    actual: Any, bugs: Sequence[Bug], expected_shape: tuple[int, ...] | None = None
) -> tuple[str | None, tuple[str, ...]]:
    """Return the likely mistakes and their families: the bugs whose output equals ``actual``, else
    those whose shape does.

    The shape-only guess is made only when ``actual`` has the wrong shape.
    """
    candidates = _outputs(bugs)
    matches = [(f, m) for f, m, output in candidates if _same(actual, output)]
    if matches:
        return _explained(matches)
    got = _as_float_array(actual)
    if got is None or (expected_shape is not None and got.shape == tuple(expected_shape)):
        return None, ()
    shaped = [
        (f, m) for f, m, output in candidates if np.shape(output) and np.shape(output) == got.shape
    ]
    return _explained(shaped, "Your output has the shape this mistake gives: ")


def _assert_close(
    actual: Any,
    expected: np.ndarray,
    name: str,
    bugs: Sequence[Bug] = (),
    rtol: float = 1e-7,
    atol: float = 1e-9,
    shape_advice: str | None = None,
) -> None:
    """assert_array_close, adding the likely mistake when it fails.

    When the shape is wrong and a typical mistake explains it, the message gives that mistake
    only (the general advice on shapes speaks of padding, dilation and stride, which the
    exercise may not have); ``shape_advice`` replaces the general advice for such exercises.
    """
    try:
        assert_array_close(actual, expected, name=name, rtol=rtol, atol=atol)
    except AssertionError:
        hint, families = _diagnose(actual, bugs, np.shape(expected))
        wanted = tuple(np.shape(expected))
        if isinstance(actual, np.ndarray) and actual.shape != wanted and (hint or shape_advice):
            raise diagnoses.mark(
                AssertionError(
                    f"{name} has shape {actual.shape} but should have shape {wanted}.\n"
                    f"{hint or shape_advice}"
                ),
                families,
            ) from None
        try:
            assert_array_close(actual, expected, name=name, rtol=rtol, atol=atol, hint=hint)
        except AssertionError as exc:
            raise diagnoses.mark(exc, families) from None


def _assert_int(actual: Any, expected: int, name: str, bugs: Sequence[Bug] = ()) -> None:
    """assert_int_equal, adding the likely mistake when it fails."""
    try:
        assert_int_equal(actual, expected, name=name)
    except AssertionError:
        hint, families = None, ()
        if not isinstance(actual, (bool, np.bool_)) and isinstance(actual, (int, float, np.number)):
            for family, message, output in _outputs(bugs):
                if output == actual:
                    hint, families = f"Likely mistake: {message}", (family,) if family else ()
                    break
        try:
            assert_int_equal(actual, expected, name=name, hint=hint)
        except AssertionError as exc:
            raise diagnoses.mark(exc, families) from None


# --------------------------------------------------------------------------------------------
# Structure checks (only for functions that live in this process; skipped for a StudentProxy)
# --------------------------------------------------------------------------------------------


def _namespace(fn: Callable) -> dict[str, Any] | None:
    """The student's globals when ``fn`` is a plain function here, else None (a proxy: skip)."""
    namespace = getattr(fn, "__globals__", None)
    return namespace if isinstance(namespace, dict) else None


@contextlib.contextmanager
def _names_replaced(namespace: dict[str, Any], replacements: dict[str, Any]) -> Iterator[None]:
    """Inside the block, the names in ``replacements`` that ``namespace`` defines are replaced."""
    saved = {name: namespace[name] for name in replacements if name in namespace}
    try:
        namespace.update({name: replacements[name] for name in saved})
        yield
    finally:
        namespace.update(saved)


_LIBRARY_PATHS = tuple(
    str(path)
    for path in {
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(sys.exec_prefix),
        Path(__file__).resolve().parents[1],  # course_utils
    }
    if path.parent != path  # never the file system's root
)


def _is_student_code(filename: str) -> bool:
    return not (
        filename.startswith(_LIBRARY_PATHS)
        or "site-packages" in filename
        or filename.startswith("<frozen")
    )


def _student_lines_run(call: Callable[[], Any]) -> int:
    """Run ``call()`` and return how many lines of student code (code outside the libraries) ran.

    A Python loop over images, channels or positions runs more lines for a larger input; a
    vectorised function runs the same number whatever the sizes.
    """
    count = 0
    previous = sys.gettrace()

    def local(frame, event, arg):  # noqa: ARG001
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame, event, arg):  # noqa: ARG001
        return local if _is_student_code(frame.f_code.co_filename) else None

    sys.settrace(tracer)
    try:
        call()
    finally:
        sys.settrace(previous)
    return count
