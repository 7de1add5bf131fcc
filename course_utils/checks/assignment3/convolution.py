"""Assignment 3, Parts C and D: conv1d_backward, conv2d_forward and conv2d_backward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import reference
from ...validation import check_int
from .. import diagnoses
from .._common import (
    Bug,
    _assert_close,
    _check_cases,
    _checker,
    _report,
    hidden_rng,
)
from ..toolkit import (
    call_student,
    describe_call,
    describe_value,
    random_conv1d_case,
    random_conv2d_case,
)
from ._shared import (
    CONV2D_BACKWARD_FEATURES,
    DECK2_W,
    DECK2_X,
    HIDDEN_RANDOM_CASES_3,
    SMALL_IMAGE,
    SMALL_KERNEL,
    Pair,
    _border_hint,
    _conv_dw,
    _conv_scatter,
    _crop,
    _pad,
    _pair,
    _unpack,
)


def _conv_gradient_bugs(
    dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: Pair, pads: Pair, dilation: Pair
) -> dict[str, list[Bug]]:
    """The typical mistakes' (dx, dw, db) for one 2-D case (1-D cases come as height 1)."""
    n, c_in = x.shape[:2]
    c_out = w.shape[0]
    x_pad = _pad(x, pads)
    kernel = (w.shape[2], w.shape[3])
    (ph, pw) = pads

    def dx_scatter(**options: Any) -> np.ndarray:
        s = options.pop("stride", stride)
        d = options.pop("dilation", dilation)
        g = options.pop("dout", dout)
        kernel_w = options.pop("w", w)
        return _conv_scatter(g, kernel_w, x_pad.shape, s, d, **options)

    dx: list[Bug] = [
        (
            "padding-backward",
            "the padding is not cropped: dx must have x's shape; return dx_pad[:, :, ph:ph + H, pw:pw + W].",
            lambda: dx_scatter(),
        ),
        (
            "padding-backward",
            "dx_pad[:, :, p:-p] with p = 0 is empty (-0 is 0): crop with dx_pad[:, :, ph:ph + H, pw:pw + W].",
            lambda: dx_scatter()[:, :, ph:-ph, pw:-pw],
        ),
        (
            "overwrite-not-accumulate",
            "overwrite instead of accumulate: where windows overlap, an input gets gradient from every "
            "window that contains it; add (+=) into dx, do not assign (=).",
            lambda: _crop(dx_scatter(overwrite=True), pads),
        ),
        (
            "backward-flip",
            "the kernel is flipped in dx: with the window loop, scatter dout * w itself (a flip appears "
            "only when dx is written as a full convolution with the flipped kernel).",
            lambda: _crop(dx_scatter(w=w[:, :, ::-1, ::-1]), pads),
        ),
    ]
    if ph or pw:
        dx += [
            (
                "padding-one-side",
                "the padding was cropped from one side only (dx_pad[:, :, :H, :W]): crop ph rows and pw "
                "columns from both sides, dx_pad[:, :, ph:ph + H, pw:pw + W].",
                lambda: dx_scatter()[:, :, : x.shape[2], : x.shape[3]],
            ),
        ]
    if stride != (1, 1):
        dx.append(
            (
                "stride-ignored",
                "the stride is ignored in the scatter: output (i, j) came from the window starting at "
                "(i * stride, j * stride), so its gradient goes back there (right for stride 1 only).",
                lambda: _crop(dx_scatter(stride=(1, 1)), pads),
            )
        )
    if dilation != (1, 1):
        dx.append(
            (
                "dilation-ignored",
                "the dilation is ignored in the scatter: the taps are `dilation` apart, "
                "rows i*sh : i*sh + dh*(kh-1) + 1 : dh.",
                lambda: _crop(dx_scatter(dilation=(1, 1)), pads),
            )
        )
    if c_out > 1:
        dx.append(
            (
                "channels-not-summed",
                "only the first filter's gradient reaches dx: sum over every output channel o, "
                "dx += dout[n, o] * w[o].",
                lambda: _crop(dx_scatter(dout=dout[:, :1], w=w[:1]), pads),
            )
        )
    if c_in == c_out and c_in > 1:
        dx.append(
            (
                "weight-layout",
                "w is indexed as w[c, o]; its shape is (C_out, C_in, kH, kW).",
                lambda: _crop(dx_scatter(w=w.transpose(1, 0, 2, 3)), pads),
            )
        )

    def dw_from(**options: Any) -> np.ndarray:
        g = options.pop("dout", dout)
        xp = options.pop("x_pad", x_pad)
        return _conv_dw(
            g,
            xp,
            kernel,
            options.pop("stride", stride),
            options.pop("dilation", dilation),
            **options,
        )

    dw: list[Bug] = [
        (
            "overwrite-not-accumulate",
            "overwrite instead of accumulate: dw gets a contribution from every output position; add "
            "(+=) them up.",
            lambda: dw_from(overwrite=True),
        ),
        (
            "backward-flip",
            "dw is flipped: dw[o, c, u, v] = sum dout[n, o, i, j] * x_pad[n, c, i*s + u*d, j*s + v*d].",
            lambda: dw_from()[:, :, ::-1, ::-1],
        ),
    ]
    if n > 1:
        dw += [
            (
                "parameter-gradient-sum",
                "dw is not summed over the batch: it is right for one image only. The weights are shared "
                "by every image, so add the contributions of all N images.",
                lambda: dw_from(dout=dout[:1], x_pad=x_pad[:1]),
            ),
            (
                "parameter-gradient-sum",
                "dw is not summed over the batch: it is right for the last image only (each image "
                "overwrote the previous one). Add the contributions of all N images.",
                lambda: dw_from(dout=dout[-1:], x_pad=x_pad[-1:]),
            ),
            (
                "parameter-gradient-sum",
                "dw is averaged over the batch: sum over the images, do not divide by N.",
                lambda: dw_from() / n,
            ),
        ]
    if stride != (1, 1):
        dw.append(
            (
                "stride-ignored",
                "the stride is ignored when dw reads the windows: output (i, j) saw the window at "
                "(i * stride, j * stride).",
                lambda: dw_from(stride=(1, 1)),
            )
        )
    if ph or pw:
        dw.append(
            (
                "padding-backward",
                "dw reads the windows from the unpadded x: read them from x_pad, the input the forward "
                "pass convolved.",
                lambda: _conv_dw(
                    dout,
                    np.pad(x, [(0, 0), (0, 0), (0, 2 * ph), (0, 2 * pw)]),
                    kernel,
                    stride,
                    dilation,
                ),
            )
        )
    if dilation != (1, 1):
        dw.append(
            (
                "dilation-ignored",
                "the dilation is ignored when dw reads the windows.",
                lambda: dw_from(dilation=(1, 1)),
            )
        )
    db: list[Bug] = [
        (
            "parameter-gradient-sum",
            "db is summed over the batch axis only: db[o] = sum over n, i, j of dout[n, o, i, j].",
            lambda: dout.sum(axis=0),
        ),
        (
            "parameter-gradient-sum",
            "db is summed over the positions only: also sum over the batch (axis 0).",
            lambda: dout.sum(axis=(2, 3)),
        ),
        (
            "parameter-gradient-sum",
            "db is summed over everything: keep one entry per output channel, dout.sum(axis=(0, 2, 3)).",
            lambda: dout.sum(),
        ),
        (
            "parameter-gradient-sum",
            "db is the mean of dout: the bias is added to every output, so db is the sum.",
            lambda: dout.mean(axis=(0, 2, 3)),
        ),
        (
            "parameter-gradient-sum",
            "db is summed over the channel axis: db[o] sums over n, i, j.",
            lambda: dout.sum(axis=(1, 2, 3)),
        ),
    ]
    if n > 1:
        db.append(
            (
                "parameter-gradient-sum",
                "db is right for one image only: sum over the batch too.",
                lambda: dout[0].sum(axis=(1, 2)),
            )
        )
    return {"dx": dx, "dw": dw, "db": db}


def _squeeze_bugs(bugs: list[Bug]) -> list[Bug]:
    """The 2-D bugs of a height-1 case as 1-D results: (N, C, 1, L) -> (N, C, L)."""

    def one_d(make: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            value = np.asarray(make())
            if value.ndim == 4:
                if value.shape[2] != 1:
                    raise ValueError("not a 1-D mistake")
                return value[:, :, 0]
            return value

        return run

    return [
        (family, message.replace("[:, :, ph:ph + H, pw:pw + W]", "[:, :, p:p + L]"), one_d(make))
        for family, message, make in bugs
        if "p:-p" not in message
    ]


def _check_gradients(
    got: tuple,
    expected: tuple[np.ndarray, np.ndarray, np.ndarray],
    name: str,
    bugs: dict[str, list[Bug]],
    margin: Pair,
) -> None:
    dx, dw, db = got
    try:
        _assert_close(dx, expected[0], f"dx of {name}", bugs["dx"])
    except AssertionError as exc:
        hint = _border_hint(dx, expected[0], margin) if expected[0].ndim == 4 else None
        if hint and not diagnoses.families_of(exc):
            raise diagnoses.mark(AssertionError(f"{exc}\n{hint}"), ["padding-backward"]) from None
        raise
    _assert_close(dw, expected[1], f"dw of {name}", bugs["dw"])
    _assert_close(db, expected[2], f"db of {name}", bugs["db"])


def _check_conv1d_backward_case(
    fn: Callable, case: dict[str, Any], dout: np.ndarray | None = None, label: str = ""
) -> None:
    x, w, s, p, d = case["x"], case["w"], case["stride"], case["padding"], case["dilation"]
    out = reference.conv1d(x, w, stride=s, padding=p, dilation=d)
    dout = np.ones(out.shape) if dout is None else dout
    expected = reference.conv1d_backward(dout, x, w, stride=s, padding=p, dilation=d)
    name = describe_call("conv1d_backward", dout, x, w, stride=s, padding=p, dilation=d) + label
    got = _unpack(
        call_student(fn, dout, x, w, stride=s, padding=p, dilation=d, exercise="conv1d_backward"),
        3,
        name,
        "(dx, dw, db)",
    )
    bugs2 = _conv_gradient_bugs(
        dout[:, :, None], x[:, :, None], w[:, :, None], (1, s), (0, p), (1, d)
    )
    bugs = {key: _squeeze_bugs(value) for key, value in bugs2.items()}
    uncropped = _squeeze_bugs(bugs2["dx"][:1])[0][2]
    bugs["dx"].append(
        (
            "padding-backward",
            "dx_pad[:, :, p:-p] with p = 0 is empty (-0 is 0): crop with dx_pad[:, :, p:p + L].",
            lambda: uncropped()[:, :, p:-p],
        )
    )
    bugs["db"] = [
        (
            "parameter-gradient-sum",
            "db is summed over the batch axis only: db[o] = sum over n and t of dout[n, o, t].",
            lambda: dout.sum(axis=0),
        ),
        (
            "parameter-gradient-sum",
            "db is summed over the positions only: also sum over the batch.",
            lambda: dout.sum(axis=2),
        ),
        (
            "parameter-gradient-sum",
            "db is summed over everything: one entry per output channel, dout.sum(axis=(0, 2)).",
            lambda: dout.sum(),
        ),
    ]
    _check_gradients(got, expected, name, bugs, (0, p))


@_checker
def check_conv1d_backward(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(dout, x, w, stride, padding, dilation) -> (dx, dw, db)`` against autograd: Lecture 2's example, then random cases."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)

    def deck(**options: Any) -> dict[str, Any]:
        base = {
            "x": DECK2_X[None, None],
            "w": DECK2_W[None, None],
            "b": None,
            "stride": 1,
            "padding": 0,
            "dilation": 1,
        }
        return {**base, **options}

    if cases == "visible":
        rng = np.random.default_rng(3)
        selected = [
            (
                deck(),
                None,
                " (Lecture 2's example, dout = ones: expect dx [3, 5, 7, 7, 4, 2], dw [5, 7, 8], db [4])",
            ),
            (deck(stride=2), None, " (stride 2, dout = ones: expect dx [3, 2, 5, 2, 2, 0])"),
            (deck(padding=1), None, " (padding 1: dx is cropped back to 6 entries)"),
            (deck(dilation=2), None, " (dilation 2)"),
        ]
        for _ in range(3):
            selected.append(
                (random_conv1d_case(rng, padding=[0, 1, 2], max_length=10), "random", "")
            )
    else:
        rng = hidden_rng(seed)
        selected = [
            (random_conv1d_case(rng, padding=[0, 1, 2, 3]), "random", "")
            for _ in range(2 * HIDDEN_RANDOM_CASES_3)
        ]
    for case, dout, label in selected:
        if isinstance(dout, str):
            out = reference.conv1d(
                case["x"],
                case["w"],
                stride=case["stride"],
                padding=case["padding"],
                dilation=case["dilation"],
            )
            dout = rng.standard_normal(out.shape)
        _check_conv1d_backward_case(fn, case, dout, label)
    _report("conv1d_backward", len(selected), cases)


def _conv2d_options(case: dict[str, Any]) -> dict[str, Any]:
    return {"stride": case["stride"], "padding": case["padding"], "dilation": case["dilation"]}


def _conv2d_case(x, w, b=None, stride=1, padding=0, dilation=1) -> dict[str, Any]:
    as_array = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return {
        "x": as_array(x),
        "w": as_array(w),
        "b": as_array(b),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
    }


_FEATURE_CASES: dict[str, dict[str, Any]] = {
    "basic": dict(stride=1, padding=0, dilation=1, batch=[1, 2, 3]),
    "stride_padding": dict(
        stride=[1, 2, 3, (2, 1), (1, 3)], padding=[0, 1, 2, (1, 0), (0, 2), (2, 1)], dilation=1
    ),
    "dilation": dict(dilation=[2, (2, 1), (1, 3)], stride=[1, 2, (1, 2)], padding=[0, 1, (1, 2)]),
}


def _random_conv2d(rng: np.random.Generator, feature: str) -> dict[str, Any]:
    return random_conv2d_case(rng, max_size=9, **_FEATURE_CASES[feature])


def _visible_conv2d_cases(feature: str) -> list[tuple[dict[str, Any], str]]:
    rng = np.random.default_rng(33)
    small = SMALL_IMAGE[None, None]
    kernel = SMALL_KERNEL[None, None]
    randoms = [(_random_conv2d(rng, feature), "") for _ in range(3)]
    if feature == "basic":
        return [
            (
                _conv2d_case(small, kernel, [0.5]),
                " (the worked example, dout = ones: expect dx [[1, 1, 0], [1, 0, -1], [0, -1, -1]], dw [[12, 16], [24, 28]], db [4])",
            ),
            (
                _conv2d_case(np.stack([small, 2 * small])[:, 0:1, 0], kernel),
                " (a batch of two images: dw adds both)",
            ),
            *randoms,
        ]
    if feature == "stride_padding":
        return [
            (_conv2d_case(small, kernel, padding=1), " (padding 1: dx is cropped back to 3x3)"),
            (
                _conv2d_case(
                    np.arange(30.0).reshape(1, 1, 5, 6), np.ones((1, 1, 3, 2)), stride=(2, 3)
                ),
                " (stride (2, 3): no window overlaps)",
            ),
            (
                _conv2d_case(
                    np.arange(35.0).reshape(1, 1, 5, 7),
                    np.ones((2, 1, 3, 3)),
                    stride=2,
                    padding=(1, 0),
                ),
                " (stride 2 < kernel 3: the windows overlap)",
            ),
            *randoms,
        ]
    return [
        (
            _conv2d_case(np.arange(36.0).reshape(1, 1, 6, 6), np.ones((1, 1, 2, 2)), dilation=2),
            " (dilation 2)",
        ),
        *randoms,
    ]


def _forward_name(case: dict[str, Any]) -> str:
    return describe_call("conv2d_forward", case["x"], case["w"], case["b"], **_conv2d_options(case))


def _conv2d_forward_bugs(case: dict[str, Any], expected: np.ndarray) -> list[Bug]:
    x, w, b = case["x"], case["w"], case["b"]
    options = _conv2d_options(case)
    bugs: list[Bug] = [
        (
            "flipped-kernel",
            "the kernel is flipped (a textbook convolution); CNNs use cross-correlation.",
            lambda: reference.conv2d(x, w[:, :, ::-1, ::-1], b, **options),
        ),
    ]
    if b is not None:
        bugs.append(
            (
                "bias-missing",
                "the bias is missing: add b[o] to every output of channel o.",
                lambda: reference.conv2d(x, w, None, **options),
            )
        )
    if case["stride"] != 1:
        bugs.append(
            (
                "stride-ignored",
                "the stride is ignored.",
                lambda: reference.conv2d(x, w, b, **{**options, "stride": 1}),
            )
        )
    if case["dilation"] != 1:
        bugs.append(
            (
                "dilation-ignored",
                "the dilation is ignored.",
                lambda: reference.conv2d(x, w, b, **{**options, "dilation": 1}),
            )
        )
    if case["padding"] != 0:
        bugs.append(
            (
                "padding-ignored",
                "the padding is ignored.",
                lambda: reference.conv2d(x, w, b, **{**options, "padding": 0}),
            )
        )
    return bugs


def _student_forward(
    forward: Callable, case: dict[str, Any], purpose: str = ""
) -> tuple[Any, Any, str]:
    name = _forward_name(case)
    result = call_student(
        forward, case["x"], case["w"], case["b"], exercise="conv2d_forward", **_conv2d_options(case)
    )
    out, cache = _unpack(
        result, 2, name + purpose, "(out, cache): the output and what backward needs"
    )
    return out, cache, name


def _check_conv2d_forward_case(forward: Callable, case: dict[str, Any], label: str = "") -> None:
    expected = reference.conv2d(case["x"], case["w"], case["b"], **_conv2d_options(case))
    out, _, name = _student_forward(forward, case)
    _assert_close(out, expected, name + label, _conv2d_forward_bugs(case, expected))


@_checker
def check_conv2d_forward(fn: Callable, cases: str = "visible", seed: int = 0) -> None:
    """Check ``fn(x, w, b, stride, padding, dilation) -> (out, cache)``: out as torch's conv2d; stride, padding, dilation as an int or an (h, w) pair."""
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    if cases == "visible":
        selected = [
            case for feature in CONV2D_BACKWARD_FEATURES for case in _visible_conv2d_cases(feature)
        ]
    else:
        rng = hidden_rng(seed)
        selected = [
            (_random_conv2d(rng, feature), "")
            for feature in CONV2D_BACKWARD_FEATURES
            for _ in range(4)
        ]
    for case, label in selected:
        _check_conv2d_forward_case(fn, case, label)
    _report("conv2d_forward", len(selected), cases)


def _check_conv2d_backward_case(
    forward: Callable,
    backward: Callable,
    case: dict[str, Any],
    dout: np.ndarray | None,
    label: str,
    exercise: str,
) -> None:
    options = _conv2d_options(case)
    out_shape = reference.conv2d(case["x"], case["w"], case["b"], **options).shape
    dout = np.ones(out_shape) if dout is None else dout
    _, cache, forward_name = _student_forward(
        forward, case, f" (run to get the cache for {exercise})"
    )
    name = f"{exercise}({describe_value(dout)}, cache of {forward_name})" + label
    got = _unpack(call_student(backward, dout, cache, exercise=exercise), 3, name, "(dx, dw, db)")
    expected = reference.conv2d_backward(dout, case["x"], case["w"], **options)
    stride, pads, dilation = _pair(case["stride"]), _pair(case["padding"]), _pair(case["dilation"])
    bugs = _conv_gradient_bugs(dout, case["x"], case["w"], stride, pads, dilation)
    _check_gradients(got, expected, name, bugs, pads)


def _conv2d_backward_cases(
    feature: str, cases: str, seed: int
) -> list[tuple[dict[str, Any], np.ndarray | None, str]]:
    if cases == "visible":
        rng = np.random.default_rng(44)
        chosen = _visible_conv2d_cases(feature)
        selected = [
            (case, None if index == 0 else rng, label) for index, (case, label) in enumerate(chosen)
        ]
    else:
        rng = hidden_rng(seed)
        selected = [(_random_conv2d(rng, feature), rng, "") for _ in range(HIDDEN_RANDOM_CASES_3)]
    result = []
    for case, source, label in selected:
        dout = None
        if source is not None:
            shape = reference.conv2d(case["x"], case["w"], case["b"], **_conv2d_options(case)).shape
            dout = source.standard_normal(shape)
        result.append((case, dout, label))
    return result


@_checker
def check_conv2d_backward(
    forward: Callable,
    backward: Callable,
    feature: str = "basic",
    cases: str = "visible",
    seed: int = 0,
) -> None:
    """Check ``backward(dout, cache) -> (dx, dw, db)`` (cache from ``forward``) against autograd for one ``feature``.

    ``feature`` is one of ``CONV2D_BACKWARD_FEATURES``: "basic" (batches and channels, stride 1,
    no padding), "stride_padding" (per axis, overlapping and separate windows) or "dilation".
    """
    if feature not in CONV2D_BACKWARD_FEATURES:
        raise ValueError(f"feature must be one of {CONV2D_BACKWARD_FEATURES}, got {feature!r}")
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    selected = _conv2d_backward_cases(feature, cases, seed)
    for case, dout, label in selected:
        _check_conv2d_backward_case(forward, backward, case, dout, label, "conv2d_backward")
    _report(f"conv2d_backward ({feature})", len(selected), cases)
