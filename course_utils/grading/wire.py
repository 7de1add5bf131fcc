"""Plain data across the wall between the grader and a student's sandboxed worker.

Values travel as length-prefixed JSON: numbers, strings, None, lists, tuples, dicts with string
keys, numeric numpy arrays and scalars, and torch tensors (as CPU tensors). Nothing is
unpickled, so a message from the student's process can only ever become plain data. Any other
value (a student's ``cache`` object, say) stays in the worker and crosses as a :class:`Handle`,
which the grader can only pass back. The grader may pass a module-level ``course_utils``
function (the ``f`` of a gradient check) by name; the worker imports its own copy.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import json
import os
import select
import time
from typing import Any

import numpy as np

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 32
COURSE_PACKAGE = "course_utils."
_HEADER = 8
_ARRAY_KINDS = "biufc"  # bool, int, unsigned, float, complex


class WireError(RuntimeError):
    """A message that is malformed, too large, or did not arrive in time."""


class Handle:
    """A value that stayed in the worker (not plain data); it can only be passed back to it."""

    __slots__ = ("id",)

    def __init__(self, id: int) -> None:
        self.id = id

    def __repr__(self) -> str:
        return f"<object #{self.id} kept in the student's process>"


def _encode_array(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    return {
        "$array": base64.b64encode(array.tobytes()).decode("ascii"),
        "dtype": array.dtype.str,
        "shape": list(array.shape),
    }


def _decode_array(obj: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(obj["dtype"])
    if dtype.kind not in _ARRAY_KINDS:
        raise WireError(f"arrays of dtype {dtype} are not plain data")
    shape = tuple(int(n) for n in obj["shape"])
    data = base64.b64decode(obj["$array"], validate=True)
    if len(data) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise WireError("an array's bytes do not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def encode(value: Any, keep: Any = None, depth: int = 0) -> Any:
    """Return ``value`` as JSON-ready data; ``keep(value) -> int`` stores what is not plain (else WireError)."""

    def other() -> Any:
        if keep is None:
            raise WireError(f"{type(value).__name__} is not plain data")
        return {"$handle": keep(value)}

    if depth > MAX_DEPTH:
        return other()
    if isinstance(value, Handle):
        return {"$handle": value.id}
    if _is_course_function(value):  # a grader's test function (f in numeric_gradient(f, x))
        return {"$function": [value.__module__, value.__qualname__]}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else other()
    if isinstance(value, float):
        return value
    if isinstance(value, complex):
        return {"$complex": [value.real, value.imag]}
    if isinstance(value, np.ndarray):
        return _encode_array(value) if value.dtype.kind in _ARRAY_KINDS else other()
    if isinstance(value, np.generic):
        if np.dtype(value.dtype).kind not in _ARRAY_KINDS:
            return other()
        return {"$scalar": _encode_array(np.asarray(value))}
    if type(value).__module__ == "torch" and type(value).__name__ in ("Tensor", "Parameter"):
        return {"$tensor": _encode_array(value.detach().to("cpu").numpy())}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = [encode(v, keep, depth + 1) for v in value]
        return items if isinstance(value, list) else {"$tuple": items}
    if type(value) is dict and all(isinstance(k, str) for k in value):
        return {"$dict": [[k, encode(v, keep, depth + 1)] for k, v in value.items()]}
    return other()


def _is_course_function(value: Any) -> bool:
    return (
        inspect.isfunction(value)
        and str(getattr(value, "__module__", "")).startswith(COURSE_PACKAGE)
        and "<" not in value.__qualname__
    )


def _course_function(reference: Any) -> Any:
    """Import the module-level ``course_utils`` function ``[module, qualname]`` names."""
    if not (isinstance(reference, list) and len(reference) == 2):
        raise WireError("malformed function reference")
    module_name, qualname = map(str, reference)
    if not module_name.startswith(COURSE_PACKAGE) or any(
        part.startswith("_") for part in qualname.split(".")
    ):
        raise WireError(f"only course_utils functions travel, not {module_name}.{qualname}")
    value: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        value = getattr(value, part)
    if not _is_course_function(value):
        raise WireError(f"{module_name}.{qualname} is not a course_utils function")
    return value


def decode(obj: Any, resolve: Any = None, depth: int = 0, functions: bool = False) -> Any:
    """Return the value ``obj`` (from :func:`encode`) stands for.

    ``resolve(id)`` turns handles into values; ``functions=True`` (the worker's side only)
    accepts references to ``course_utils`` functions, which the grader may pass as arguments.
    """
    if depth > MAX_DEPTH + 1:
        raise WireError("a value nested too deeply")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [decode(v, resolve, depth + 1, functions) for v in obj]
    if not isinstance(obj, dict) or len(obj) not in (1, 3):
        raise WireError("malformed value")
    if "$array" in obj:
        return _decode_array(obj)
    (key, inner), *_ = obj.items()
    if key == "$tuple" and isinstance(inner, list):
        return tuple(decode(v, resolve, depth + 1, functions) for v in inner)
    if key == "$dict" and isinstance(inner, list):
        return {str(k): decode(v, resolve, depth + 1, functions) for k, v in inner}
    if key == "$complex" and isinstance(inner, list) and len(inner) == 2:
        return complex(float(inner[0]), float(inner[1]))
    if key == "$scalar" and isinstance(inner, dict):
        return _decode_array(inner)[()]
    if key == "$tensor" and isinstance(inner, dict):
        import torch

        return torch.from_numpy(_decode_array(inner))
    if key == "$function" and functions:
        return _course_function(inner)
    if key == "$handle" and isinstance(inner, int):
        return Handle(inner) if resolve is None else resolve(inner)
    raise WireError(f"unknown value marker {key!r}")


def send(fd: int, message: Any) -> None:
    """Write one message (JSON-ready data) to file descriptor ``fd``."""
    data = json.dumps(message, allow_nan=True).encode("utf-8")
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {len(data)} bytes is larger than {MAX_MESSAGE_BYTES}")
    payload = len(data).to_bytes(_HEADER, "big") + data
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no answer in time")
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, deadline: float | None = None) -> Any:
    """Read one message from ``fd``; ``deadline`` is a ``time.monotonic()`` value (TimeoutError after it)."""
    size = int.from_bytes(_read_exact(fd, _HEADER, deadline), "big")
    if size > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {size} bytes is larger than {MAX_MESSAGE_BYTES}")
    data = _read_exact(fd, size, deadline)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"a message that is not JSON: {exc}") from None
    except (RecursionError, ValueError, MemoryError) as exc:  # e.g. [[[[...]]]] 100,000 deep
        raise WireError(f"a message that cannot be read ({type(exc).__name__})") from None
