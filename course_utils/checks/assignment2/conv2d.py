"""Assignment 2, Part B: conv2d (and the same cases for conv2d_im2col and conv2d_torch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import reference
from ...validation import check_int
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
    random_conv2d_case,
)
from ._shared import (
    CONV2D_FEATURES,
    DECK2_IMAGE,
    DECK2_KERNEL,
    HIDDEN_RANDOM_CASES_2D,
    SHARPEN_IMAGE,
    SHARPEN_KERNEL,
    _by_output_channel,
    _conv2d_padded,
    _pair,
    _resolve_pads,
)


def _case(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> dict[str, Any]:
    as_array = lambda a: None if a is None else np.asarray(a, dtype=np.float64)  # noqa: E731
    return {
        "x": as_array(x),
        "w": as_array(w),
        "b": as_array(b),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
    }


def _options(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups")}


def _expected(case: dict[str, Any]) -> np.ndarray:
    return reference.conv2d(case["x"], case["w"], case["b"], **_options(case))


def _conv2d_bugs(case: dict[str, Any], expected: np.ndarray) -> list[Bug]:
    """Outputs of the typical 2-D mistakes for one conv2d case, computed with the reference."""
    x, w, b, groups = case["x"], case["w"], case["b"], case["groups"]
    stride, dilation = _pair(case["stride"]), _pair(case["dilation"])
    p = case["padding"]
    kernel = (w.shape[2], w.shape[3])
    pads = _resolve_pads(p, x.shape[2:], kernel, stride, dilation)
    c_in, f = x.shape[1], w.shape[0]

    def ref(xx=x, ww=w, bb=b, ss=stride, pp=pads, dd=dilation, gg=groups):
        return _conv2d_padded(xx, ww, bb, ss, pp, dd, gg)

    no_bias = expected if b is None else expected - b[None, :, None, None]
    bugs: list[Bug] = [
        (
            "flipped-kernel",
            "the kernel is flipped (a textbook convolution). CNNs use cross-correlation: "
            "y[n, f, i, j] = b[f] + sum_c,a,b w[f, c, a, b] * x_pad[n, c, i*sh + a*dh, j*sw + b*dw], no flip.",
            lambda: ref(ww=w[..., ::-1, ::-1]),
        ),
        (
            "rows-columns-swapped",
            "the kernel's rows and columns are swapped: read w[f, c, a, b] with a the kernel row "
            "(KH = w.shape[2]) and b the column (KW = w.shape[3]).",
            lambda: ref(ww=w.transpose(0, 1, 3, 2)),
        ),
        ("off-by-one", "the last output row is missing (off by one).", lambda: expected[:, :, :-1]),
        (
            "off-by-one",
            "the last output column is missing (off by one).",
            lambda: expected[:, :, :, :-1],
        ),
    ]
    if b is not None:
        bugs += [
            (
                "bias-missing",
                "the bias is missing: add b[f] to every output of filter f.",
                lambda: no_bias,
            ),
            (
                "bias-misapplied",
                "the bias is added twice.",
                lambda: expected + b[None, :, None, None],
            ),
            (
                "bias-misapplied",
                "the bias is added along the width axis (b[None, None, None, :]): it belongs to "
                "the filter axis, b[None, :, None, None].",
                lambda: no_bias + b[None, None, None, :],
            ),
            (
                "bias-misapplied",
                "the bias is added along the height axis (b[None, None, :, None]): it belongs to "
                "the filter axis, b[None, :, None, None].",
                lambda: no_bias + b[None, None, :, None],
            ),
        ]
    if c_in > 1 and groups == 1:
        bugs += [
            (
                "channels-not-summed",
                "only the first input channel is summed: a filter spans all input channels.",
                lambda: ref(xx=x[:, :1], ww=w[:, :1]),
            ),
            (
                "overwrite-not-accumulate",
                "only the last input channel counts: each channel overwrote the previous one (=) "
                "instead of being accumulated (+=).",
                lambda: ref(xx=x[:, -1:], ww=w[:, -1:]),
            ),
        ]
        if f == c_in:
            bugs.append(
                (
                    "weight-layout",
                    "w is indexed as w[c, f], but its shape is (F, C, KH, KW): use w[f, c].",
                    lambda: ref(ww=w.transpose(1, 0, 2, 3)),
                )
            )
    if stride != (1, 1):
        bugs += [
            (
                "stride-ignored",
                "the stride is ignored: output (i, j) starts at (i*sh, j*sw).",
                lambda: ref(ss=(1, 1)),
            ),
            (
                "stride-ignored",
                "the output size uses the stride but the windows do not: output (i, j) starts at "
                "(i*sh, j*sw).",
                lambda: ref(ss=(1, 1))[:, :, : expected.shape[2], : expected.shape[3]],
            ),
        ]
        bugs += [
            (
                "one-axis-only",
                "the stride is applied on one axis only (the height).",
                lambda: ref(ss=(stride[0], 1)),
            ),
            (
                "one-axis-only",
                "the stride is applied on one axis only (the width).",
                lambda: ref(ss=(1, stride[1])),
            ),
        ]
        if stride[0] != stride[1]:
            bugs += [
                (
                    "height-width-swapped",
                    "height and width are swapped in the stride: stride=(sh, sw) moves sh rows "
                    "down and sw columns right.",
                    lambda: ref(ss=stride[::-1]),
                ),
                (
                    "one-axis-only",
                    "an (h, w) stride was read as one number: use stride[0] for the rows and "
                    "stride[1] for the columns.",
                    lambda: ref(ss=(stride[0],) * 2),
                ),
            ]
    if dilation != (1, 1):
        bugs += [
            (
                "dilation-ignored",
                "dilation ignored: tap (a, b) reads x_pad[i*sh + a*dh, j*sw + b*dw].",
                lambda: ref(dd=(1, 1)),
            ),
            (
                "dilation-ignored",
                "the output size uses the dilation but the taps do not: tap (a, b) reads "
                "x_pad[i*sh + a*dh, j*sw + b*dw].",
                lambda: ref(dd=(1, 1))[:, :, : expected.shape[2], : expected.shape[3]],
            ),
            (
                "one-axis-only",
                "dilation applied on the height axis only.",
                lambda: ref(dd=(dilation[0], 1)),
            ),
            (
                "one-axis-only",
                "dilation applied on the width axis only.",
                lambda: ref(dd=(1, dilation[1])),
            ),
        ]
        if dilation[0] != dilation[1]:
            bugs.append(
                (
                    "height-width-swapped",
                    "height and width are swapped in the dilation: dilation=(dh, dw).",
                    lambda: ref(dd=dilation[::-1]),
                )
            )
    if not isinstance(p, str) and _pair(p) != (0, 0):
        (ph, _), (pw, _) = pads
        bugs += [
            (
                "padding-one-side",
                "zeros added at the top and left only: pad `padding` zeros on BOTH sides of each axis.",
                lambda: ref(pp=((2 * ph, 0), (2 * pw, 0))),
            ),
            (
                "padding-one-side",
                "zeros added at the bottom and right only: pad `padding` zeros on BOTH sides of each axis.",
                lambda: ref(pp=((0, 2 * ph), (0, 2 * pw))),
            ),
            (
                "padding-one-side",
                "zeros added on one side of each axis only, `padding` of them: pad on BOTH sides.",
                lambda: ref(pp=((ph, 0), (pw, 0))),
            ),
            (
                "padding-one-side",
                "zeros added on one side of each axis only, `padding` of them: pad on BOTH sides.",
                lambda: ref(pp=((0, ph), (0, pw))),
            ),
            (
                "padding-as-total",
                "padding treated as the total: `padding` zeros go on EACH side.",
                lambda: ref(pp=((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))),
            ),
            (
                "one-axis-only",
                "the padding is applied to the height only.",
                lambda: ref(pp=((ph, ph), (0, 0))),
            ),
            (
                "one-axis-only",
                "the padding is applied to the width only.",
                lambda: ref(pp=((0, 0), (pw, pw))),
            ),
            ("padding-ignored", "padding ignored.", lambda: ref(pp=((0, 0), (0, 0)))),
        ]
        if ph != pw:
            bugs.append(
                (
                    "height-width-swapped",
                    "height and width are swapped in the padding: padding=(ph, pw) puts ph rows "
                    "above and below, pw columns left and right.",
                    lambda: ref(pp=((pw, pw), (ph, ph))),
                )
            )
    if p == "same":
        swapped = tuple(pair[::-1] for pair in pads)
        same_stride1 = _resolve_pads("same", x.shape[2:], kernel, (1, 1), dilation)
        bugs += [
            (
                "same-extra-zero-first",
                "'same' put the extra zero at the top/left: when an axis's total is odd, the "
                "extra zero goes at the BOTTOM/RIGHT (before = total // 2, after = total - before).",
                lambda: ref(pp=swapped),
            ),
            (
                "same-padding",
                "'same' ignores the stride: each axis needs max((ceil(n/s) - 1)*s + d(k-1) + 1 - n, 0) "
                "zeros in total, for ceil(n / s) outputs.",
                lambda: ref(pp=same_stride1),
            ),
            (
                "same-padding",
                "'same' padded (k-1)//2 on each side: only right for odd kernels and stride 1.",
                lambda: ref(pp=tuple((t // 2, t // 2) for t in (sum(a) for a in pads))),
            ),
            (
                "padding-mode-mixed",
                "padding='same' gave the 'valid' result.",
                lambda: ref(pp=((0, 0), (0, 0))),
            ),
        ]
        if dilation != (1, 1):
            bugs.append(
                (
                    "dilation-ignored",
                    "'same' padding ignores the dilation.",
                    lambda: ref(pp=_resolve_pads("same", x.shape[2:], kernel, stride, (1, 1))),
                )
            )
    if p == "full":
        spans = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        bugs += [
            (
                "dilation-ignored",
                "'full' ignores the dilation: pad dilation * (k - 1) zeros on each side.",
                lambda: ref(pp=((kernel[0] - 1,) * 2, (kernel[1] - 1,) * 2)),
            ),
            (
                "padding-one-side",
                "'full' padded on one side only: pad d*(k-1) zeros at BOTH ends of each axis.",
                lambda: ref(pp=((spans[0], 0), (spans[1], 0))),
            ),
            (
                "padding-mode-mixed",
                "padding='full' gave the 'valid' result.",
                lambda: ref(pp=((0, 0), (0, 0))),
            ),
        ]
    if p == "valid":
        bugs.append(
            (
                "padding-mode-mixed",
                "padding='valid' gave the 'same' result.",
                lambda: ref(pp=_resolve_pads("same", x.shape[2:], kernel, stride, dilation)),
            )
        )
    if groups > 1:
        cg, fg = c_in // groups, f // groups
        bugs += [
            (
                "groups",
                "the groups are split wrongly: output channel o belongs to group o // (F // groups) "
                "(consecutive blocks), not o % groups.",
                lambda: _by_output_channel(
                    x,
                    w,
                    b,
                    stride,
                    pads,
                    dilation,
                    lambda o: slice((o % groups) * cg, (o % groups + 1) * cg),
                ),
            ),
            (
                "groups",
                "the input channels of a group were taken interleaved (c, c + groups, ...): group g "
                "holds the consecutive channels g*C/groups ... (g+1)*C/groups - 1.",
                lambda: _by_output_channel(
                    x, w, b, stride, pads, dilation, lambda o: slice(o // fg, None, groups)
                ),
            ),
            (
                "groups",
                "every group read the first group's channels: shift the channel block with the group.",
                lambda: _by_output_channel(x, w, b, stride, pads, dilation, lambda o: slice(0, cg)),
            ),
        ]
    return bugs


def _conv2d_name(exercise: str, case: dict[str, Any], label: str) -> str:
    return describe_call(exercise, case["x"], case["w"], case["b"], **_options(case)) + label


def _check_conv2d_case(
    fn: Callable,
    case: dict[str, Any],
    label: str = "",
    exercise: str = "conv2d",
    extra_bugs: Callable[[dict[str, Any], np.ndarray], list[Bug]] | None = None,
) -> None:
    expected = _expected(case)
    actual = call_student(fn, case["x"], case["w"], case["b"], exercise=exercise, **_options(case))
    bugs = _conv2d_bugs(case, expected) + (extra_bugs(case, expected) if extra_bugs else [])
    _assert_close(actual, expected, _conv2d_name(exercise, case, label), bugs)


def _deck2(**options: Any) -> dict[str, Any]:
    return _case(DECK2_IMAGE[None, None], DECK2_KERNEL[None, None], **options)


def _sharpen(**options: Any) -> dict[str, Any]:
    return _case(SHARPEN_IMAGE[None, None], SHARPEN_KERNEL[None, None], **options)


# the features each conv2d test cell grades, as restrictions of random_conv2d_case
_FEATURE_CASES: dict[str, dict[str, Any]] = {
    "channels_bias": dict(stride=1, padding=0, dilation=1),
    "stride_padding": dict(
        stride=[1, 2, 3, (1, 2), (2, 1), (3, 2)],
        padding=[0, 1, 2, (0, 1), (2, 1), (1, 0)],
        dilation=1,
    ),
    "dilation": dict(dilation=[2, (1, 2), (2, 1), (3, 2)], padding=[0, 1, (1, 2)]),
    "padding_modes": dict(padding=["valid", "same", "full"]),
    "groups": dict(),
}


def _random_conv2d(rng: np.random.Generator, feature: str, **overrides: Any) -> dict[str, Any]:
    if feature != "groups":
        case = random_conv2d_case(rng, **{**_FEATURE_CASES[feature], **overrides})
        return {**case, "groups": 1}
    groups = int(rng.choice([2, 3]))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    case = random_conv2d_case(rng, in_channels=c_in, out_channels=c_out, **overrides)
    kh, kw = case["w"].shape[2:]
    return {**case, "w": rng.standard_normal((c_out, c_in // groups, kh, kw)), "groups": groups}


def _visible_conv2d_cases(feature: str) -> list[tuple[dict[str, Any], str]]:
    rng = np.random.default_rng(2025)
    randoms = [(_random_conv2d(rng, feature, max_size=7), "") for _ in range(3)]
    two = np.stack([DECK2_IMAGE, DECK2_IMAGE.T])  # (2, 4, 4)
    if feature == "channels_bias":
        w2 = np.stack([np.stack([DECK2_KERNEL, np.zeros((2, 2))]), np.ones((2, 2, 2))])
        three = np.stack([DECK2_KERNEL, DECK2_KERNEL.T, np.ones((2, 2))])[:, None]
        return [
            (_sharpen(), " (Lecture 1's sharpen kernel as a batch of one image)"),
            (_deck2(), " (Lecture 2's example: expect [[[[2, 0, 2], [2, -1, 2], [3, -1, 0]]]])"),
            (
                _case(
                    np.stack([SHARPEN_IMAGE, -SHARPEN_IMAGE])[:, None], SHARPEN_KERNEL[None, None]
                ),
                " (a batch of two images)",
            ),
            (
                _case(DECK2_IMAGE[None, None], three, [1.0, 2.0, 3.0]),
                " (three filters with bias [1, 2, 3]: Lecture 2's kernel, its transpose, ones)",
            ),
            (
                _case(two[None], w2, [10.0, -1.0]),
                " (two channels, two filters, bias [10, -1]: filter 0 is Lecture 2's kernel on channel 0)",
            ),
            *randoms,
        ]
    if feature == "stride_padding":
        return [
            (_sharpen(padding=1), " (Lecture 1's image, padding 1: a 5x5 output)"),
            (_deck2(stride=2), " (stride 2: expect [[[[2, 2], [3, 0]]]])"),
            (_sharpen(stride=(2, 1)), " (stride (2, 1): every second row)"),
            (_deck2(padding=(1, 0)), " (padding (1, 0): zero rows above and below only)"),
            (
                _case(
                    np.arange(35.0).reshape(1, 1, 5, 7),
                    np.ones((1, 1, 3, 2)),
                    stride=(3, 2),
                    padding=(0, 1),
                ),
                " (strides that do not divide evenly: floor)",
            ),
            *randoms,
        ]
    if feature == "dilation":
        return [
            (_sharpen(dilation=2), " (dilation 2: the 3x3 kernel spans 5x5, one output)"),
            (
                _case(
                    np.arange(42.0).reshape(1, 1, 6, 7), DECK2_KERNEL[None, None], dilation=(1, 3)
                ),
                " (dilation (1, 3): taps 3 columns apart)",
            ),
            (
                _case(
                    np.arange(42.0).reshape(1, 1, 7, 6),
                    DECK2_KERNEL[None, None],
                    dilation=(2, 1),
                    padding=1,
                ),
                " (dilation (2, 1), padding 1)",
            ),
            *randoms,
        ]
    if feature == "padding_modes":
        return [
            (_deck2(padding="valid"), " ('valid': expect [[[[2, 0, 2], [2, -1, 2], [3, -1, 0]]]])"),
            (
                _deck2(padding="same"),
                " ('same', 2x2 kernel: the extra zero row and column at the bottom/right)",
            ),
            (_sharpen(padding="same", stride=2), " ('same' with stride 2: ceil(5/2) = 3 per axis)"),
            (_deck2(padding="full"), " ('full': every overlap, 5x5)"),
            (
                _case(
                    np.arange(30.0).reshape(1, 1, 5, 6),
                    np.ones((1, 1, 2, 3)),
                    padding="same",
                    dilation=(2, 1),
                ),
                " ('same' with dilation (2, 1))",
            ),
            *randoms,
        ]
    # groups
    x = np.stack([DECK2_IMAGE, DECK2_IMAGE.T, -DECK2_IMAGE, np.ones((4, 4))])[None]  # (1, 4, 4, 4)
    w = np.stack(
        [np.stack([DECK2_KERNEL, np.zeros((2, 2))]), np.ones((2, 2, 2))] * 2
    )  # (4, 2, 2, 2)
    depthwise = np.stack([DECK2_KERNEL, np.ones((2, 2)), DECK2_KERNEL.T, -DECK2_KERNEL])[:, None]
    return [
        (
            _case(x, w, groups=2),
            " (groups=2: filters 0-1 see channels 0-1, filters 2-3 see channels 2-3)",
        ),
        (_case(x, depthwise, groups=4), " (groups=4, depthwise: one kernel per channel)"),
        (_case(x, np.concatenate([w, w]), groups=2), " (groups=2, 8 filters: 4 per group)"),
        *randoms,
    ]


def _hidden_conv2d_edges(
    feature: str, rng: np.random.Generator
) -> list[tuple[dict[str, Any], str]]:
    n = rng.standard_normal
    edges: dict[str, list[tuple[dict[str, Any], str]]] = {
        "channels_bias": [
            (_case(n((2, 3, 4, 5)), n((2, 3, 4, 5)), n(2)), " (kernel as large as the image)"),
            (_case(n((1, 1, 1, 1)), n((3, 1, 1, 1)), n(3)), " (1x1 image and kernel)"),
            (_case(np.arange(24).reshape(1, 2, 3, 4), np.ones((1, 2, 2, 2))), " (integer image)"),
        ],
        "stride_padding": [
            (
                _case(n((1, 2, 3, 5)), n((2, 2, 2, 2)), stride=(7, 9)),
                " (stride larger than the image)",
            ),
            (
                _case(n((2, 1, 2, 3)), n((1, 1, 2, 2)), n(1), padding=(3, 1)),
                " (more zeros than needed)",
            ),
            (
                _case(n((1, 2, 1, 1)), n((2, 2, 3, 3)), padding=1, stride=(2, 3)),
                " (one pixel, padded)",
            ),
        ],
        "dilation": [
            (_case(n((1, 2, 9, 5)), n((2, 2, 3, 3)), dilation=(4, 2)), " (span equals the image)"),
            (
                _case(n((2, 1, 4, 6)), n((1, 1, 1, 1)), dilation=3),
                " (1x1 kernel: dilation has no effect)",
            ),
            (
                _case(
                    n((1, 3, 11, 8)),
                    n((2, 3, 3, 2)),
                    n(2),
                    stride=(2, 1),
                    padding=(2, 1),
                    dilation=(3, 2),
                ),
                "",
            ),
        ],
        "padding_modes": [
            (
                _case(n((1, 1, 3, 4)), n((1, 1, 2, 3)), stride=(5, 2), padding="same"),
                " ('same', stride > H)",
            ),
            (
                _case(n((2, 2, 7, 5)), n((2, 2, 4, 2)), padding="same", dilation=2),
                " (dilated 'same', odd totals)",
            ),
            (
                _case(n((1, 2, 2, 3)), n((1, 2, 5, 4)), n(1), padding="full"),
                " ('full', kernel larger than x)",
            ),
            (
                _case(n((1, 1, 4, 3)), n((1, 1, 6, 5)), padding="same"),
                " ('same', kernel larger than x)",
            ),
        ],
        "groups": [
            (
                _case(n((1, 6, 5, 4)), n((6, 1, 3, 2)), n(6), groups=6, padding=1),
                " (depthwise, 6 channels)",
            ),
            (
                _case(n((2, 6, 4, 4)), n((9, 2, 2, 2)), groups=3, stride=2),
                " (3 groups, 3 filters each)",
            ),
            (
                _case(
                    n((1, 4, 6, 5)),
                    n((2, 2, 3, 3)),
                    n(2),
                    groups=2,
                    dilation=(1, 2),
                    padding="same",
                ),
                "",
            ),
        ],
    }
    return edges[feature]


def _check_conv2d_feature(
    fn: Callable,
    feature: str,
    cases: str,
    seed: int,
    exercise: str,
    extra_bugs: Callable[[dict[str, Any], np.ndarray], list[Bug]] | None = None,
    random_cases: int = HIDDEN_RANDOM_CASES_2D,
) -> int:
    if feature not in CONV2D_FEATURES:
        raise ValueError(f"feature must be one of {CONV2D_FEATURES}, got {feature!r}")
    if cases == "visible":
        selected = _visible_conv2d_cases(feature)
    else:
        rng = hidden_rng(seed)
        selected = [(_random_conv2d(rng, feature), "") for _ in range(random_cases)]
        selected += _hidden_conv2d_edges(feature, rng)
    for case, label in selected:
        _check_conv2d_case(fn, case, label, exercise=exercise, extra_bugs=extra_bugs)
    return len(selected)


@_checker
def check_conv2d(
    fn: Callable, feature: str = "channels_bias", cases: str = "visible", seed: int = 0
) -> None:
    """Check ``fn(x (N, C, H, W), w (F, C/groups, KH, KW), b, stride, padding, dilation, groups) -> (N, F, H_out, W_out)`` for one ``feature``.

    ``feature`` is one of ``CONV2D_FEATURES``: "channels_bias", "stride_padding", "dilation",
    "padding_modes" or "groups".
    """
    cases, seed = _check_cases(cases), check_int("seed", seed, 0)
    count = _check_conv2d_feature(fn, feature, cases, seed, exercise="conv2d")
    _report(f"conv2d ({feature})", count, cases)
