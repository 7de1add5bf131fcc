"""Tests for course_utils.validation: what each check accepts, returns and how it complains."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.validation import check_array, check_int, check_ints

# ---------------------------------------------------------------------------------------------
# check_int
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 7, -3, np.int64(5), np.uint8(2), np.int32(-1)])
def test_check_int_accepts_python_and_numpy_ints(value):
    """Python and numpy integers come back as a plain int."""
    result = check_int("n", value)
    assert result == int(value)
    assert type(result) is int


@pytest.mark.parametrize("value", [1.0, 2.5, "3", None, True, False, np.float64(3), [3]])
def test_check_int_rejects_non_ints_naming_the_argument(value):
    """Floats (even whole ones), strings, None, bools and lists are a TypeError naming the argument."""
    with pytest.raises(TypeError, match=r"^stride must be an int, got "):
        check_int("stride", value)


def test_check_int_minimum():
    """A value below the minimum is a ValueError that names the argument, bound and value."""
    assert check_int("k", 1, minimum=1) == 1
    with pytest.raises(ValueError, match=r"^k must be >= 1, got 0$"):
        check_int("k", 0, minimum=1)
    with pytest.raises(ValueError, match=r"^padding must be >= 0, got -2$"):
        check_int("padding", -2, minimum=0)


# ---------------------------------------------------------------------------------------------
# check_ints
# ---------------------------------------------------------------------------------------------


def test_check_ints_broadcasts_a_scalar():
    """One int stands for every axis."""
    assert check_ints("stride", 2, 3) == (2, 2, 2)
    assert check_ints("stride", np.int64(2), 2) == (2, 2)


@pytest.mark.parametrize("value", [(1, 2), [1, 2], (np.int64(1), 2)])
def test_check_ints_accepts_sequences(value):
    """Tuples and lists of the right length come back as a tuple of ints."""
    assert check_ints("stride", value, 2) == (1, 2)


def test_check_ints_wrong_length():
    """A sequence of the wrong length says how many ints were expected and what was given."""
    with pytest.raises(ValueError, match=r"^stride must be an int or 2 ints, got 3: \(1, 2, 3\)$"):
        check_ints("stride", (1, 2, 3), 2)


def test_check_ints_names_the_bad_element():
    """A bad element is reported with its index."""
    with pytest.raises(ValueError, match=r"^dilation\[1\] must be >= 1, got 0$"):
        check_ints("dilation", (1, 0), 2, minimum=1)
    with pytest.raises(TypeError, match=r"^padding\[0\] must be an int"):
        check_ints("padding", (1.5, 1), 2)


def test_check_ints_a_string_is_not_a_sequence_of_ints():
    """A string is rejected as a whole (not split into characters)."""
    with pytest.raises(TypeError, match=r"^padding must be an int, got str 'ab'"):
        check_ints("padding", "ab", 2)


# ---------------------------------------------------------------------------------------------
# check_array
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        [[1, 2], [3, 4]],
        np.array([[1, 2], [3, 4]], dtype=np.int32),
        np.array([[1, 2], [3, 4]], dtype=np.float32),
        torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
        torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True),
    ],
)
def test_check_array_returns_float64_numpy(value):
    """Lists, integer and float32 arrays and (grad-tracking) tensors become float64 numpy arrays."""
    result = check_array("x", value)
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, [[1, 2], [3, 4]])


def test_check_array_bools_become_zeros_and_ones():
    """A boolean mask is numeric: True and False become 1.0 and 0.0."""
    np.testing.assert_array_equal(check_array("mask", [True, False]), [1.0, 0.0])


def test_check_array_returns_a_copy():
    """The result never shares memory with the input, so callers may modify it freely."""
    original = np.zeros((2, 3))
    result = check_array("x", original)
    result[0, 0] = 5
    assert original[0, 0] == 0
    tensor = torch.zeros(3, dtype=torch.float64)
    check_array("x", tensor)[0] = 5
    assert tensor[0] == 0


def test_check_array_dimensions():
    """ndims may be one int or several; the message lists them and gives the shape."""
    assert check_array("x", np.zeros((2, 3)), 2).shape == (2, 3)
    assert check_array("x", np.zeros((2, 3, 4)), (3, 4)).ndim == 3
    with pytest.raises(
        ValueError, match=r"^w must have 4 dimensions, got 3 \(shape \(1, 2, 3\)\)$"
    ):
        check_array("w", np.zeros((1, 2, 3)), 4)
    with pytest.raises(ValueError, match=r"^x must have 3 or 4 dimensions, got 1"):
        check_array("x", np.zeros(5), (3, 4))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_array_rejects_non_finite_values(bad):
    """NaN and infinities are a ValueError naming the argument."""
    with pytest.raises(ValueError, match=r"^dout contains NaN or inf$"):
        check_array("dout", [1.0, bad])


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("abc", "x must be a numeric array, got dtype <U3"),
        (["a", 1], "x must be a numeric array"),
        ([[1, 2], [3]], "x must be a numeric array, got list"),
        ({"a": 1}, "x must be a numeric array, got dtype object"),
        (None, "x must be a numeric array, got dtype object"),
        (np.array([1 + 2j]), "x must be real, got dtype complex128"),
    ],
)
def test_check_array_rejects_non_numeric_input(value, match):
    """Strings, ragged lists, objects and complex numbers are a TypeError naming the argument."""
    with pytest.raises(TypeError, match=match):
        check_array("x", value)


def test_check_array_scalars_and_empty_arrays():
    """A number is a 0-d array; an empty array passes the finiteness check."""
    assert check_array("x", 3).shape == ()
    assert check_array("x", np.zeros((0, 3)), 2).shape == (0, 3)
