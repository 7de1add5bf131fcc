"""course_utils.checks.toolkit: teaching messages, the library-shortcut guard, random cases, gradients."""

from __future__ import annotations

import builtins
import subprocess
import sys
import warnings
from importlib.util import find_spec

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import arithmetic, reference
from course_utils.checks import toolkit as grading
from course_utils.checks.toolkit import (
    LibraryShortcutError,
    assert_array_close,
    no_library_shortcuts,
)

HAS_SCIPY = find_spec("scipy") is not None


# --------------------------------------------------------------------------------- messages


def test_close_arrays_pass_and_tolerances_are_float64():
    expected = np.array([1.0, 2.0, 3.0])
    assert_array_close(expected + 1e-12, expected)
    assert_array_close(np.float64(2.0), 2.0)
    assert_array_close(np.array([1, 2, 3]), expected)  # integer results are fine when exact
    with pytest.raises(AssertionError):
        assert_array_close(expected + 1e-5, expected)  # float32-level error is too large


def test_none_says_forgot_to_return():
    with pytest.raises(AssertionError, match="forget to `return`"):
        assert_array_close(None, np.zeros(3), name="conv1d(...)")


@pytest.mark.parametrize(
    ("value", "phrase"),
    [
        ([1.0, 2.0], "is a list"),
        ((1.0, 2.0), "is a tuple"),
        (torch.zeros(2), "torch tensor"),
        ("12", "is a str"),
    ],
)
def test_wrong_types_are_named(value, phrase):
    with pytest.raises(AssertionError, match=phrase):
        assert_array_close(value, np.zeros(2))


def test_complex_and_object_arrays_are_rejected():
    with pytest.raises(AssertionError, match="complex"):
        assert_array_close(np.zeros(2, dtype=complex), np.zeros(2))
    with pytest.raises(AssertionError, match="dtype object"):
        assert_array_close(np.array([None, 1]), np.zeros(2))


def test_shape_mismatch_names_both_shapes_and_the_hint():
    with pytest.raises(AssertionError) as info:
        assert_array_close(
            np.zeros((1, 2, 7)), np.zeros((1, 2, 8)), name="out", hint="look at the loop"
        )
    message = str(info.value)
    assert "out has shape (1, 2, 7) but should have shape (1, 2, 8)" in message
    assert "look at the loop" in message
    assert "off by one" in message


def test_callable_hint_gets_the_shapes():
    seen = []

    def hint(expected_shape, got_shape):
        seen.append((expected_shape, got_shape))
        return "custom hint"

    with pytest.raises(AssertionError, match="custom hint"):
        assert_array_close(np.zeros(4), np.zeros(6), hint=hint)
    assert seen == [((6,), (4,))]


@pytest.mark.parametrize(
    ("got", "expected", "phrase"),
    [
        ((2, 3, 9), (2, 3, 10), "off by one"),
        ((2, 3, 8), (2, 3, 10), "padding applied"),
        ((2, 3, 11), (2, 3, 10), "ceil instead of floor"),
        ((2, 3, 19), (2, 3, 10), "stride"),
        ((2, 4, 10), (2, 3, 10), "axis 1"),
        ((3, 10), (2, 3, 10), "dropped"),
        ((2, 10, 3), (2, 3, 10), "swapped"),
    ],
)
def test_generic_shape_hints(got, expected, phrase):
    assert phrase in grading.shape_hint(expected, got)
    with pytest.raises(AssertionError, match=phrase):
        assert_array_close(np.zeros(got), np.zeros(expected))


def test_nan_is_reported_with_its_index():
    got = np.zeros((2, 3))
    got[1, 2] = np.nan
    with pytest.raises(AssertionError, match=r"NaN at index \(1, 2\)"):
        assert_array_close(got, np.zeros((2, 3)))
    got[1, 2] = np.inf
    with pytest.raises(AssertionError, match=r"inf at index \(1, 2\)"):
        assert_array_close(got, np.zeros((2, 3)))


def test_first_differing_index_errors_and_values_are_reported():
    expected = np.arange(24.0).reshape(2, 3, 4)
    got = expected.copy()
    got[1, 0, 2] += 0.5
    got[1, 2, 3] -= 2.0
    with pytest.raises(AssertionError) as info:
        assert_array_close(got, expected, name="y")
    message = str(info.value)
    assert "2 of 24 entries" in message
    assert "First difference at index (1, 0, 2): got 14.5, expected 14" in message
    assert "Largest absolute error 2" in message


def test_small_arrays_are_printed_in_full_and_integer_truncation_is_explained():
    with pytest.raises(AssertionError) as info:
        assert_array_close(np.array([2, 3]), np.array([2.5, 3.0]))
    message = str(info.value)
    assert "expected: [2.5, 3. ]" in message
    assert "integer dtype" in message and "np.zeros_like" in message


def test_float32_results_are_told_to_use_float64():
    expected = np.array([1 / 3, 2 / 3])
    with pytest.raises(AssertionError, match="is float32: compute in float64"):
        assert_array_close(expected.astype(np.float32), expected, rtol=1e-9)


def test_assert_int_equal_messages():
    grading.assert_int_equal(5, 5)
    grading.assert_int_equal(np.int64(5), 5)
    with pytest.raises(AssertionError, match="is a float"):
        grading.assert_int_equal(5.0, 5)
    with pytest.raises(AssertionError, match="forget to `return`"):
        grading.assert_int_equal(None, 5)
    with pytest.raises(AssertionError, match="is a bool"):
        grading.assert_int_equal(True, 1)
    with pytest.raises(AssertionError, match="is 4 but should be 5.\nmy hint"):
        grading.assert_int_equal(4, 5, hint="my hint")


# --------------------------------------------------------------------------------- the guard

X1 = np.arange(6.0)
W1 = np.array([1.0, 2.0, -1.0])
XT = torch.arange(12.0).reshape(1, 2, 6)
WT = torch.ones(3, 2, 3)
IMAGE = torch.arange(32.0).reshape(1, 2, 4, 4)

TORCH_SHORTCUTS = {
    "F.conv1d": lambda: F.conv1d(XT, WT),
    "torch.conv1d": lambda: torch.conv1d(XT, WT),
    "F.conv2d": lambda: F.conv2d(IMAGE, torch.ones(1, 2, 2, 2)),
    "F.conv3d": lambda: F.conv3d(IMAGE[None], torch.ones(1, 1, 2, 2, 2)),
    "F.conv_transpose1d": lambda: F.conv_transpose1d(XT, torch.ones(2, 3, 3)),
    "F.conv_transpose2d": lambda: F.conv_transpose2d(IMAGE, torch.ones(2, 1, 2, 2)),
    "torch.convolution": lambda: torch.convolution(XT, WT, None, [1], [0], [1], False, [0], 1),
    "nn.Conv1d": lambda: torch.nn.Conv1d(2, 3, 3)(XT),
    "F.max_pool1d": lambda: F.max_pool1d(XT, 2),
    "F.max_pool2d": lambda: F.max_pool2d(IMAGE, 2),
    "F.max_pool2d indices": lambda: F.max_pool2d(IMAGE, 2, return_indices=True),
    "F.avg_pool1d": lambda: F.avg_pool1d(XT, 2),
    "F.avg_pool2d": lambda: F.avg_pool2d(IMAGE, 2),
    "F.adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(IMAGE, 1),
    "nn.MaxPool2d": lambda: torch.nn.MaxPool2d(2)(IMAGE),
    "F.unfold": lambda: F.unfold(IMAGE, 2),
    "F.fold": lambda: F.fold(torch.ones(1, 8, 9), (4, 4), 2),
}
PYTHON_SHORTCUTS = {
    "np.convolve": lambda: np.convolve(X1, W1),
    "np.correlate": lambda: np.correlate(X1, W1),
    "reference.conv1d": lambda: reference.conv1d(X1[None, None], W1[None, None]),
    "reference.conv2d": lambda: reference.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))),
    "reference.max_pool2d": lambda: reference.max_pool2d(np.ones((1, 1, 4, 4)), 2),
    "reference.conv_transpose1d": lambda: reference.conv_transpose1d(
        X1[None, None], W1[None, None]
    ),
    "arithmetic.conv_output_size": lambda: arithmetic.conv_output_size(7, 3),
    "arithmetic.same_padding": lambda: arithmetic.same_padding(7, 3),
    "arithmetic.conv_transpose_output_size": lambda: arithmetic.conv_transpose_output_size(3, 3),
    "arithmetic.resolve_padding": lambda: arithmetic.resolve_padding("same", 7, 3),
    "arithmetic.pool_output_size": lambda: arithmetic.pool_output_size(7, 2),
}
SCIPY_SHORTCUTS = {
    name: (module, name.split(".")[-1], args)
    for name, module, args in [
        ("scipy.signal.convolve", "scipy.signal", (X1, W1)),
        ("scipy.signal.correlate", "scipy.signal", (X1, W1)),
        ("scipy.signal.convolve2d", "scipy.signal", (np.ones((3, 3)), np.ones((2, 2)))),
        ("scipy.signal.correlate2d", "scipy.signal", (np.ones((3, 3)), np.ones((2, 2)))),
        ("scipy.signal.fftconvolve", "scipy.signal", (X1, W1)),
        ("scipy.signal.oaconvolve", "scipy.signal", (X1, W1)),
        ("scipy.ndimage.convolve", "scipy.ndimage", (X1, W1)),
        ("scipy.ndimage.correlate", "scipy.ndimage", (X1, W1)),
    ]
}


def _assert_guard_lifted():
    assert not torch._C._is_torch_function_mode_enabled()
    assert np.convolve(X1, W1).shape == (8,)
    assert reference.conv1d(X1[None, None], W1[None, None]).shape == (1, 1, 4)
    assert arithmetic.conv_output_size(7, 3) == 5
    assert F.conv1d(XT, WT).shape == (1, 3, 4)


@pytest.mark.parametrize("name", sorted({**TORCH_SHORTCUTS, **PYTHON_SHORTCUTS}))
def test_guard_blocks_each_shortcut_and_lifts_afterwards(name):
    call = {**TORCH_SHORTCUTS, **PYTHON_SHORTCUTS}[name]
    call()  # works before
    with pytest.raises(LibraryShortcutError, match="not allowed"), no_library_shortcuts("conv1d"):
        call()
    call()  # and after
    _assert_guard_lifted()


@pytest.mark.skipif(not HAS_SCIPY, reason="scipy is not installed")
@pytest.mark.parametrize("name", sorted(SCIPY_SHORTCUTS))
def test_guard_blocks_scipy_also_through_captured_references(name):
    import importlib

    module_name, attribute, args = SCIPY_SHORTCUTS[name]
    captured = getattr(importlib.import_module(module_name), attribute)
    with no_library_shortcuts("conv1d"):
        with pytest.raises(LibraryShortcutError):
            getattr(importlib.import_module(module_name), attribute)(*args)
        with pytest.raises(LibraryShortcutError):
            captured(*args)
    captured(*args)


def test_message_says_what_and_why():
    with pytest.raises(LibraryShortcutError) as info, no_library_shortcuts("conv1d"):
        F.conv1d(XT, WT)
    message = str(info.value)
    assert "torch.nn.functional.conv1d is not allowed in the exercise 'conv1d'" in message
    assert "implement the convolution yourself" in message
    assert "would compute the answer for you" in message
    assert isinstance(info.value, AssertionError)


def test_captured_references_are_blocked_too():
    from numpy import convolve, correlate

    from course_utils.arithmetic import conv_output_size, same_padding
    from course_utils.reference import conv1d

    conv_captured = F.conv1d
    calls = {
        "torch": lambda: conv_captured(XT, WT),
        "np.convolve": lambda: convolve(X1, W1),
        "np.correlate": lambda: correlate(X1, W1),
        "reference": lambda: conv1d(X1[None, None], W1[None, None]),
        "conv_output_size": lambda: conv_output_size(7, 3),
        "same_padding": lambda: same_padding(7, 3),
    }
    for call in calls.values():
        with pytest.raises(LibraryShortcutError), no_library_shortcuts("conv1d"):
            call()
        call()  # still works afterwards
    _assert_guard_lifted()


def test_names_in_a_namespace_are_blocked_and_restored():
    namespace = {"my_convolve": np.convolve, "helper": len}
    original = namespace["my_convolve"]
    with no_library_shortcuts("conv1d", namespaces=[namespace]):
        with pytest.raises(LibraryShortcutError):
            namespace["my_convolve"](X1, W1)
        assert namespace["helper"] is len
    assert namespace["my_convolve"] is original


def test_allowed_tools_still_work_inside_the_guard():
    with no_library_shortcuts("conv1d"):
        assert np.pad(X1, 1).shape == (8,)
        assert np.einsum("i,i->", X1, X1) == 55
        assert np.lib.stride_tricks.sliding_window_view(X1, 3).shape == (4, 3)
        assert torch.arange(5.0).unfold(0, 2, 1).shape == (4, 2)  # a view, not F.unfold
        assert (XT @ torch.ones(6, 1)).shape == (1, 2, 1)
        assert F.pad(XT, (1, 1)).shape == (1, 2, 8)


def test_the_guard_reuses_its_plan_only_when_nothing_it_depends_on_changed(monkeypatch):
    """Each outermost entry reuses the last one's patches (a thousand calls per notebook) unless
    a shortcut's module or attribute is another object now: then it works them out again."""
    from course_utils.checks import toolkit

    made = []
    monkeypatch.setattr(
        toolkit._GUARD, "make_plan", lambda real=toolkit._GUARD.make_plan: made.append(1) or real()
    )
    toolkit._GUARD.plan = None
    for _ in range(3):
        with pytest.raises(LibraryShortcutError), no_library_shortcuts("conv1d"):
            np.convolve(X1, W1)
        _assert_guard_lifted()
    assert len(made) == 1, "the plan was not reused"

    def mine(*args, **kwargs):  # numpy.convolve rebound: the new object is what gets blocked
        return "mine"

    monkeypatch.setattr(np, "convolve", mine)
    with pytest.raises(LibraryShortcutError), no_library_shortcuts("conv1d"):
        np.convolve(X1, W1)
    assert len(made) == 2 and np.convolve(X1, W1) == "mine"
    monkeypatch.undo()

    # the same number of modules, but course_utils.reference is another module object now
    import types

    stand_in = types.ModuleType("course_utils.reference")
    stand_in.conv1d = lambda *args: "stand-in"
    monkeypatch.setitem(sys.modules, "course_utils.reference", stand_in)
    monkeypatch.setattr(
        toolkit._GUARD, "make_plan", lambda real=toolkit._GUARD.make_plan: made.append(1) or real()
    )
    with no_library_shortcuts("conv1d"), pytest.raises(LibraryShortcutError):
        np.convolve(X1, W1)
    assert len(made) == 3, "a module replaced in sys.modules must not reuse the plan"
    monkeypatch.undo()
    _assert_guard_lifted()


def test_imports_inside_the_guard_of_loaded_modules_keep_it_on(tmp_path, monkeypatch):
    """Library code imports inside functions on every call; those imports lift nothing, and a
    module loaded for the first time inside the guard still copies the originals."""
    from course_utils.checks import toolkit

    lifts = []
    monkeypatch.setattr(
        toolkit._GUARD, "lift", lambda real=toolkit._GUARD.lift: lifts.append(1) or real()
    )
    (tmp_path / "copies_convolve_at_load.py").write_text("from numpy import convolve\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with no_library_shortcuts("conv1d"):
        import numpy.lib.stride_tricks  # noqa: F401
        from numpy import convolve, pad

        assert not lifts
        with pytest.raises(LibraryShortcutError):
            convolve(X1, W1)
        assert pad(X1, 1).shape == (8,)
        import copies_convolve_at_load

        assert lifts
    assert copies_convolve_at_load.convolve(X1, W1).shape == (8,)  # the original, not a blocker
    assert toolkit._already_loaded("numpy", ("convolve",), 0)
    assert not toolkit._already_loaded("numpy", ("*",), 0)
    assert not toolkit._already_loaded("numpy", ("no_such_name",), 0)
    assert not toolkit._already_loaded("no_such_module_4242", (), 0)
    assert not toolkit._already_loaded("lib", (), 1)  # relative: resolved by the import system
    _assert_guard_lifted()


def test_guard_is_lifted_after_an_exception():
    original_import = builtins.__import__
    with pytest.raises(RuntimeError, match="boom"), no_library_shortcuts("conv1d"):
        raise RuntimeError("boom")
    assert builtins.__import__ is original_import
    _assert_guard_lifted()


def test_nested_guards_lift_only_at_the_outermost_exit():
    with no_library_shortcuts("outer"):
        with no_library_shortcuts("inner"), pytest.raises(LibraryShortcutError, match="'inner'"):
            np.convolve(X1, W1)
        with pytest.raises(LibraryShortcutError, match="'outer'"):
            np.convolve(X1, W1)
        with pytest.raises(LibraryShortcutError):
            F.conv1d(XT, WT)
    _assert_guard_lifted()


def test_guard_rejects_a_bad_exercise_name():
    with pytest.raises(TypeError, match="exercise"), no_library_shortcuts(""):
        pass
    _assert_guard_lifted()


# --------------------------------------------------------------------------------- call_student


def student_conv(x, w, stride=1):
    return x[: len(x) - len(w) + 1 : stride] * w[0]


def test_call_student_returns_the_result():
    assert grading.call_student(student_conv, X1, W1).shape == (4,)


def test_call_student_names_the_call_and_the_original_error():
    def broken(x, w, stride=1):
        return x[100]

    with pytest.raises(AssertionError) as info:
        grading.call_student(broken, np.zeros((2, 3, 5)), W1, stride=2)
    message = str(info.value)
    assert "broken(x=array of shape (2, 3, 5), w=[1, 2, -1], stride=2) raised IndexError" in message
    assert "index 100 is out of bounds" in message
    assert isinstance(info.value.__cause__, IndexError)


def test_call_student_explains_not_implemented():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="Replace `raise NotImplementedError\\(\\)`"):
        grading.call_student(stub, X1)


def test_call_student_blocks_shortcuts_and_library_functions_passed_directly():
    def cheat(x, w):
        return np.convolve(x, w[::-1], "valid")

    with pytest.raises(LibraryShortcutError, match=r"cheat\(x=.*numpy.convolve is not allowed"):
        grading.call_student(cheat, X1, W1, exercise="conv1d_single")
    with pytest.raises(LibraryShortcutError, match="library routine"):
        grading.call_student(np.correlate, X1, W1)
    with pytest.raises(LibraryShortcutError):
        grading.call_student(F.conv1d, XT, WT)
    assert grading.is_library_shortcut(arithmetic.same_padding)
    assert not grading.is_library_shortcut(np.pad)


def test_call_student_reports_in_place_changes():
    def pads_in_place(x, w):
        x[1] = -1.0
        return x

    mine = X1.copy()
    with pytest.raises(AssertionError, match="changed its input argument 1 in place"):
        grading.call_student(pads_in_place, mine, W1)
    np.testing.assert_array_equal(
        mine, X1
    )  # the student worked on a copy: the grader's array is intact


def test_single_threaded_torch_restores_the_thread_count():
    before = torch.get_num_threads()
    with grading.single_threaded_torch():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_call_student_silences_warnings():
    def noisy(x):
        warnings.warn("something", UserWarning, stacklevel=1)
        return np.log(x - x) / 0.0

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grading.call_student(noisy, X1)
    assert caught == []


def test_call_student_rejects_non_functions():
    with pytest.raises(AssertionError, match="expected a function"):
        grading.call_student(None, X1)


def test_expect_error_messages():
    def checks_stride(x, stride=1):
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        return x

    def vague(x, stride=1):
        raise ValueError("bad")

    def wrong_type(x, stride=1):
        raise TypeError("nope")

    error = grading.expect_error(checks_stride, X1, stride=0, mentions=("stride",))
    assert "stride" in str(error)
    with pytest.raises(
        AssertionError,
        match="should raise ValueError \\(stride must be >= 1\\), but it returned an array",
    ):
        grading.expect_error(lambda x, stride=1: x, X1, stride=0, because="stride must be >= 1")
    with pytest.raises(AssertionError, match="should name the problem"):
        grading.expect_error(vague, X1, stride=0, mentions=("stride",))
    with pytest.raises(
        AssertionError, match="raised TypeError\\(nope\\) but should raise ValueError"
    ):
        grading.expect_error(wrong_type, X1, stride=0)


# --------------------------------------------------------------------------------- random cases


def test_random_conv1d_cases_are_valid_and_varied():
    rng = np.random.default_rng(0)
    seen = {
        "padding": set(),
        "stride": set(),
        "dilation": set(),
        "odd length": False,
        "bias": set(),
    }
    for _ in range(300):
        case = grading.random_conv1d_case(rng)
        x, w, b = case["x"], case["w"], case["b"]
        assert x.ndim == 3 and w.ndim == 3 and x.shape[1] == w.shape[1]
        assert b is None or b.shape == (w.shape[0],)
        out = reference.conv1d(
            x, w, b, stride=case["stride"], padding=case["padding"], dilation=case["dilation"]
        )
        assert out.shape[:2] == (x.shape[0], w.shape[0]) and out.shape[-1] >= 1
        seen["padding"].add(case["padding"])
        seen["stride"].add(case["stride"])
        seen["dilation"].add(case["dilation"])
        seen["odd length"] |= x.shape[-1] % 2 == 1
        seen["bias"].add(b is None)
    assert {0, 1, "valid", "same", "full"} <= seen["padding"]
    assert {1, 2, 3} <= seen["stride"] and {1, 2, 3} <= seen["dilation"]
    assert seen["odd length"] and seen["bias"] == {True, False}
    # lengths where the stride does not divide evenly occur
    assert any(
        (c["x"].shape[-1] - c["w"].shape[-1]) % c["stride"]
        for c in (
            grading.random_conv1d_case(rng, stride=3, padding=0, dilation=1) for _ in range(30)
        )
    )


def test_random_conv1d_case_respects_fixed_values_and_choices():
    rng = np.random.default_rng(1)
    for _ in range(50):
        case = grading.random_conv1d_case(
            rng,
            batch=2,
            in_channels=3,
            out_channels=[4, 5],
            kernel_size=2,
            stride=[2],
            padding="same",
            bias=False,
        )
        assert (
            case["x"].shape[:2] == (2, 3)
            and case["w"].shape[0] in (4, 5)
            and case["w"].shape[2] == 2
        )
        assert case["stride"] == 2 and case["padding"] == "same" and case["b"] is None
    with pytest.raises(ValueError, match="too short"):
        grading.random_conv1d_case(rng, kernel_size=5, length=3, padding=0, dilation=1)
    with pytest.raises(TypeError, match="Generator"):
        grading.random_conv1d_case(np.random.RandomState(0))
    with pytest.raises(ValueError, match="padding"):
        grading.random_conv1d_case(rng, padding="middle")


def test_random_conv2d_cases_are_valid():
    rng = np.random.default_rng(2)
    non_square = 0
    for _ in range(150):
        case = grading.random_conv2d_case(rng)
        out = reference.conv2d(
            case["x"],
            case["w"],
            case["b"],
            stride=case["stride"],
            padding=case["padding"],
            dilation=case["dilation"],
        )
        assert min(out.shape[-2:]) >= 1
        non_square += case["x"].shape[-2] != case["x"].shape[-1]
    assert non_square > 50


def test_random_pool_cases_are_valid_and_tie_free():
    rng = np.random.default_rng(3)
    for _ in range(150):
        case = grading.random_pool_case(rng)
        out = reference.max_pool2d(case["x"], case["kernel_size"], case["stride"], case["padding"])
        assert min(out.shape[-2:]) >= 1
        assert np.unique(case["x"]).size == case["x"].size


def test_tie_free_values_are_distinct_and_in_range():
    rng = np.random.default_rng(4)
    values = grading.tie_free(rng, (3, 4, 5), low=-2.0, high=3.0)
    assert values.shape == (3, 4, 5) and values.dtype == np.float64
    assert np.unique(values).size == values.size
    assert values.min() >= -2.0 and values.max() < 3.0
    gaps = np.diff(np.sort(values.ravel()))
    assert gaps.min() > 0.1 * 5.0 / values.size  # well separated: max-pooling has one winner
    assert grading.tie_free(rng, 0).shape == (0,)
    with pytest.raises(ValueError, match="larger"):
        grading.tie_free(rng, 3, low=1.0, high=1.0)


# --------------------------------------------------------------------------------- gradients


def test_numeric_gradient_of_simple_functions():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4))
    before = x.copy()
    grad = grading.numeric_gradient(lambda v: np.sum(v**2), x)
    assert grading.gradient_relative_error(2 * x, grad) < 1e-8
    np.testing.assert_array_equal(x, before)  # x is left unchanged
    dout = rng.standard_normal((3, 4))
    grad = grading.numeric_gradient(np.sin, x, dout)
    assert grading.gradient_relative_error(np.cos(x) * dout, grad) < 1e-8
    with pytest.raises(ValueError, match="dout"):
        grading.numeric_gradient(np.sin, x)
    with pytest.raises(ValueError, match="shape"):
        grading.numeric_gradient(np.sin, x, np.ones(3))


def test_numeric_gradient_matches_reference_conv1d_backward():
    rng = np.random.default_rng(6)
    case = grading.random_conv1d_case(
        rng, bias=False, padding="same", stride=2, dilation=2, in_channels=2
    )
    x, w = case["x"], case["w"]
    options = {"stride": 2, "padding": "same", "dilation": 2}
    dout = rng.standard_normal(reference.conv1d(x, w, **options).shape)
    dx, dw, _ = reference.conv1d_backward(dout, x, w, **options)
    numeric_dx = grading.numeric_gradient(lambda v: reference.conv1d(v, w, **options), x, dout)
    numeric_dw = grading.numeric_gradient(lambda v: reference.conv1d(x, v, **options), w, dout)
    assert grading.check_gradient(dx, numeric_dx, "dx") < 1e-7
    assert grading.check_gradient(dw, numeric_dw, "dw") < 1e-7
    with pytest.raises(AssertionError, match="probably wrong"):
        grading.check_gradient(2 * dx, numeric_dx, "dx")


def test_gradient_relative_error_and_its_description():
    assert grading.gradient_relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert grading.gradient_relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert grading.gradient_relative_error([1.0], [3.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shape"):
        grading.gradient_relative_error(np.zeros(2), np.zeros(3))
    assert "correct" in grading.describe_gradient_error(1e-9)
    assert "suspicious" in grading.describe_gradient_error(1e-6)
    assert "probably wrong" in grading.describe_gradient_error(1e-2)
    with pytest.raises(AssertionError, match="forget to `return`"):
        grading.check_gradient(None, np.zeros(2))


def test_fresh_process_no_plotting_imports_and_scipy_imported_inside_the_guard_is_blocked():
    """One subprocess: grading stays headless; a module first imported inside the guard is blocked, then restored."""
    code = (
        "import sys, numpy as np\n"
        "from course_utils import checks\n"
        "from course_utils.checks import toolkit as grading\n"
        "print(any(m.split('.')[0] in ('matplotlib', 'ipywidgets', 'scipy') for m in sys.modules))\n"
        "try:\n"
        "    import scipy\n"
        "except ImportError:\n"
        "    print('blocked [1.0, 2.0, 2.0, 2.0, 1.0]')\n"
        "    raise SystemExit\n"
        "with grading.no_library_shortcuts('conv1d'):\n"
        "    import scipy.signal\n"
        "    try:\n"
        "        scipy.signal.convolve(np.ones(4), np.ones(2))\n"
        "    except grading.LibraryShortcutError:\n"
        "        print('blocked')\n"
        "print(scipy.signal.convolve(np.ones(4), np.ones(2)).tolist())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "blocked", "[1.0,", "2.0,", "2.0,", "2.0,", "1.0]"]


def test_the_checkers_answer_keys_are_blocked_too():
    import course_utils as cu

    x = np.arange(12.0).reshape(1, 2, 6)
    with pytest.raises(LibraryShortcutError, match="answer key"), no_library_shortcuts("im2col_1d"):
        cu.checks.im2col_1d_reference(x, 3)
    assert cu.checks.im2col_1d_reference(x, 3).shape == (1, 6, 4)  # restored afterwards
    _assert_guard_lifted()
