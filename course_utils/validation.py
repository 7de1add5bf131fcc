"""Argument checks shared by every module: each failure names the argument and the problem."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int``; raise ``TypeError``/``ValueError`` naming ``name`` if it is not one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_ints(
    name: str, value: object, length: int, minimum: int | None = None
) -> tuple[int, ...]:
    """Return an int, or a sequence of ``length`` ints, as a tuple of ``length`` checked ints."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != length:
            raise ValueError(f"{name} must be an int or {length} ints, got {len(value)}: {value!r}")
        return tuple(check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(value))
    return (check_int(name, value, minimum),) * length


def check_array(name: str, value: object, ndims: Sequence[int] | int | None = None) -> np.ndarray:
    """Return ``value`` as a float64 numpy array with one of ``ndims`` dimensions.

    Tensors are moved to the CPU first. Raises ``TypeError`` for non-numeric input and
    ``ValueError`` for a wrong number of dimensions or non-finite values.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be a numeric array, got {type(value).__name__}") from exc
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.iscomplexobj(array):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    if ndims is not None:
        allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
        if array.ndim not in allowed:
            wanted = " or ".join(str(n) for n in allowed)
            raise ValueError(
                f"{name} must have {wanted} dimensions, got {array.ndim} (shape {array.shape})"
            )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or inf")
    return array
