"""course_utils.grading.wire: values cross between grader and worker as plain data only."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from course_utils.grading import wire


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        -2.5,
        float("inf"),
        "text",
        1 + 2j,
        [1, [2, 3]],
        (1, (2.0, None)),
        {"a": 1, "b": (2, 3)},
        np.arange(6.0).reshape(2, 3),
        np.array([True, False]),
        np.arange(4, dtype=np.int32)[::2],
        np.float32(1.5),
        np.int64(7),
    ],
)
def test_plain_values_round_trip(value):
    back = wire.decode(wire.encode(value))
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and np.array_equal(back, value)
    elif isinstance(value, np.generic):
        assert back == value and back.dtype == value.dtype
    else:
        assert back == value and type(back) is type(value)


def test_tensors_arrive_as_cpu_tensors():
    back = wire.decode(wire.encode(torch.arange(3.0, requires_grad=True) * 2))
    assert isinstance(back, torch.Tensor) and back.tolist() == [0.0, 2.0, 4.0]


def test_other_objects_stay_behind_as_handles():
    kept = []

    def keep(value):
        kept.append(value)
        return len(kept)

    sent = wire.encode({"cache": object(), "x": np.zeros(2)}, keep)
    received = wire.decode(sent)
    assert isinstance(received["cache"], wire.Handle) and received["cache"].id == 1
    resolved = wire.decode(wire.encode(received), lambda i: kept[i - 1])
    assert resolved["cache"] is kept[0]
    with pytest.raises(wire.WireError, match="not plain data"):
        wire.encode(object())


@pytest.mark.parametrize(
    "message",
    [
        {"$pickle": "gASVAAAAAA=="},
        {"$array": "AAAA", "dtype": "|O", "shape": [1]},
        {"$array": "AAAA", "dtype": "<f8", "shape": [5]},
        {"a": 1, "b": 2},
    ],
)
def test_malformed_or_unsafe_messages_are_refused(message):
    with pytest.raises(wire.WireError):
        wire.decode(message)


def test_messages_cross_a_pipe_and_time_out():
    read, write = os.pipe()
    try:
        wire.send(write, {"ok": True, "value": wire.encode(np.eye(2))})
        got = wire.receive(read)
        assert np.array_equal(wire.decode(got["value"]), np.eye(2))
        with pytest.raises(TimeoutError):
            import time

            wire.receive(read, deadline=time.monotonic() + 0.2)
    finally:
        os.close(read)
        os.close(write)


def test_course_functions_travel_by_name_and_only_to_the_worker():
    from course_utils import arithmetic

    sent = wire.encode({"f": arithmetic.conv_output_size})
    assert wire.decode(sent, functions=True)["f"] is arithmetic.conv_output_size
    with pytest.raises(wire.WireError):
        wire.decode(sent)  # the grader never imports what the student's side names
    with pytest.raises(wire.WireError, match="only course_utils"):
        wire.decode({"$function": ["os", "system"]}, functions=True)
    with pytest.raises(wire.WireError):
        wire.encode(lambda x: x)
