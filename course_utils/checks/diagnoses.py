"""The catalogue of typical mistakes the checkers name: stable ids, families, the lecture that teaches each.

Every typical bug a checker compares a student's output with belongs to a **family**: a kind of
mistake that can come back in a later assignment ("padding-one-side" in 1-D in Assignment 1, in
2-D in Assignment 2, when cropping a gradient in Assignment 3). When a failing check recognises
a bug, its ``AssertionError`` carries the families as data (:func:`mark`); the public
``check_*`` function that raised it adds the **diagnosis id** ``<assignment>.<exercise>.<family>``,
e.g. ``a1.conv1d.flipped-kernel``, and the section of the lectures that teaches it
(:func:`diagnoses_of`, :func:`cases_of`). The message the student reads names the same id and
section, so the feedback and the instructor's report (:mod:`course_utils.grading.report`) speak
of the same mistake.

The grader reads the ids from the exception object in its own process, where it re-runs the
tests with the student's functions behind a process boundary (:mod:`course_utils.grading.verify`);
nothing is ever parsed back out of a message. Pure data: a grading kernel imports this module.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Attributes of an exception raised by a checker (set by the checker, read by the grader).
FAMILIES_ATTRIBUTE = "course_mistake_families"  # the families a failing comparison recognised
DIAGNOSES_ATTRIBUTE = "course_diagnoses"  # the diagnosis ids, added by the public check_*
CASES_ATTRIBUTE = "course_cases"  # "visible" or "hidden": the part of the test cell that failed

ID_PATTERN = re.compile(r"^a(?P<assignment>\d+)\.(?P<exercise>[a-z0-9_]+)\.(?P<family>[a-z0-9-]+)$")
LECTURES_DIR = "lectures"
_NON_ID = re.compile(r"[^a-z0-9]+")
_ID_ENDS = re.compile(r"^[-0-9]+|-+$")


def heading_anchor(heading: str) -> str:
    """Return the HTML id Sphinx gives a section titled ``heading`` (docutils' ``make_id``)."""
    text = unicodedata.normalize("NFKD", heading.lower()).encode("ascii", "ignore").decode()
    return _ID_ENDS.sub("", _NON_ID.sub("-", " ".join(text.split())))


@dataclass(frozen=True)
class Section:
    """A section of a lecture: the notebook's name in lectures/ (no suffix) and its heading."""

    lecture: str
    heading: str

    @property
    def anchor(self) -> str:
        return heading_anchor(self.heading)

    @property
    def number(self) -> int:
        return int(self.lecture.split("_", 1)[0])

    @property
    def label(self) -> str:
        """``Lecture 2, "Padding — same (deck p. 11)"``: how messages and the report name it."""
        return f'Lecture {self.number}, "{self.heading}"'

    def href(self, site: str) -> str:
        """The section's address on the reading site whose root is ``site`` (a URL or a relative path)."""
        return f"{site.rstrip('/')}/{LECTURES_DIR}/{self.lecture}.html#{self.anchor}"


@dataclass(frozen=True)
class Family:
    """A kind of mistake: its slug, a title for the report, the section that teaches it.

    ``sections`` overrides ``section`` per assignment (``"a3"``: the backward pass is taught in
    Lecture 3, the forward pass in Lectures 1 and 2).
    """

    slug: str
    title: str
    section: Section
    sections: Mapping[str, Section] = field(default_factory=dict)

    def section_for(self, assignment: str) -> Section:
        return self.sections.get(assignment, self.section)


_L1 = "01_convolution_from_first_principles"
_L2 = "02_convolution_arithmetic_and_implementation"
_L3 = "03_training_convolutional_networks"
_L5 = "05_modern_convolutional_architectures"


def _s(lecture: str, heading: str) -> Section:
    return Section(lecture, heading)


CROSS_CORRELATION = _s(_L2, "Last week — cross-correlation (deck p. 7)")
CROSS_CORRELATION_2D = _s(
    _L3, "2D Convolution Example — cross-correlation, not convolution (deck p. 55)"
)
DEFINITION_2D = _s(_L2, "2D convolution — the definition, step 1 (deck p. 23)")
MODES_2D = _s(_L2, "2D Convolution — valid, same, full and strided (deck p. 28)")
OUTPUT_SIZE = _s(_L1, "Convolution Layers: Dimensions — the output-size formula (deck p. 57)")
PADDING_OUTPUT_SIZE = _s(_L1, "Convolution Layers: Padding — output size with padding (deck p. 61)")
ZERO_PADDING = _s(_L1, "Convolution Layers: Padding — a 7×7 image with zero padding (deck p. 60)")
SAME_PADDING = _s(_L2, "Padding — same (deck p. 11)")
SAME_WITH_STRIDE = _s(_L2, "Stride (for Tensorflow) — same padding (deck p. 18)")
STRIDE = _s(_L2, "Stride (deck p. 13)")
STRIDE_2D = _s(_L3, "2D convolution: stride (deck p. 58)")
DILATION = _s(_L2, "Dilated Convolution (deck p. 45)")
LAYER = _s(_L1, "Convolution Layer — what defines a layer (deck p. 42)")
FULL_DEPTH = _s(
    _L1, "Convolutions on RGB Images — the filter spans the full depth (1/3) (deck p. 36)"
)
ONE_NUMBER = _s(_L1, "Convolutions on RGB Images — one number at a time (2/3) (deck p. 37)")
KERNELS_AND_CHANNELS = _s(
    _L2, "2D convolution — multiple channels and multiple kernels (deck p. 39)"
)
LOOP_AND_COLUMNS = _s(_L2, "Implementation — a loop, and row to column (deck p. 20)")
IMG2COL = _s(_L2, "2D convolution — Img2Col, parameter size, output shape, cost (deck p. 29)")
KERNELS_TO_MATRIX = _s(_L2, "2D convolution — Img2Col, and kernels to a matrix (deck p. 36)")
TRANSPOSED = _s(_L2, "Stride 2 and `output_padding` (deck p. 43)")
TRANSPOSED_3 = _s(_L3, "Transpose Convolution (deck pp. 76–77)")
BOUNDARIES_3 = _s(_L3, "2D Convolution: boundaries (deck pp. 56–57)")
BACKPROP = _s(_L3, "Backpropagation (deck pp. 31–35)")
AUTOGRAD = _s(_L3, "Backpropagation — checked against autograd (deck pp. 31–35)")
CHAIN_RULE = _s(_L3, "How to learn the parameters? — the chain rule (deck p. 27)")
RELU = _s(_L3, "Activation functions — ReLU and leaky ReLU (deck p. 8)")
POOLING_3 = _s(_L3, "Pooling layer (deck pp. 66–67)")
PARAMETERS = _s(_L5, "Number of Parameters (deck p. 15)")
COST = _s(_L2, "2D convolution — channels and kernels: parameters, shape, cost (deck p. 40)")
DEPTHWISE = _s(_L5, "Depth-wise (channel-wise) Convolutions (deck p. 17)")
SEPARABLE = _s(_L5, "Depth-wise Separable Convolutions (deck p. 19)")
RECEPTIVE_FIELD = _s(_L1, "Receptive field (deck p. 81)")

_BACKWARD = {"a3": BACKPROP}


def _family(slug: str, title: str, section: Section, **sections: Section) -> Family:
    return Family(slug, title, section, MappingProxyType(dict(sections)))


_CATALOGUE = [
    # what a convolution computes
    _family(
        "flipped-kernel",
        "The kernel is flipped: a textbook convolution instead of cross-correlation",
        CROSS_CORRELATION,
        a3=CROSS_CORRELATION_2D,
    ),
    _family(
        "backward-flip",
        "A flip where the backward pass has none (dx scatters dout times w itself)",
        BACKPROP,
    ),
    _family(
        "rows-columns-swapped",
        "Rows and columns swapped (of the kernel or the image)",
        DEFINITION_2D,
    ),
    _family(
        "height-width-swapped",
        "Height and width swapped in an (h, w) argument (stride, padding, dilation, kernel size)",
        MODES_2D,
    ),
    _family(
        "one-axis-only",
        "An (h, w) argument used on one axis only, or read as one number",
        MODES_2D,
    ),
    _family(
        "weight-layout",
        "The weights read in the wrong layout (w[c, o] for a (C_out, C_in, ...) array)",
        KERNELS_AND_CHANNELS,
    ),
    _family(
        "truncated-to-int",
        "The result truncated to integers (an integer output array)",
        LOOP_AND_COLUMNS,
    ),
    # the output's size
    _family(
        "off-by-one", "An output position missing or the '+ 1' misplaced (off by one)", OUTPUT_SIZE
    ),
    _family(
        "ceil-not-floor",
        "Ceil instead of floor: a last window that does not fit is kept",
        OUTPUT_SIZE,
    ),
    _family("padded-when-valid", "A 'valid' (unpadded) convolution was padded", OUTPUT_SIZE),
    # padding
    _family(
        "padding-counted-once",
        "Padding counted once: the padded length is n + 2p",
        PADDING_OUTPUT_SIZE,
    ),
    _family(
        "padding-one-side",
        "Zeros added (or cropped) on one side only: padding goes on both sides",
        ZERO_PADDING,
        a3=BOUNDARIES_3,
    ),
    _family(
        "padding-as-total",
        "`padding` taken as the total instead of the zeros on each side",
        PADDING_OUTPUT_SIZE,
    ),
    _family("padding-ignored", "Padding ignored", ZERO_PADDING),
    _family(
        "same-extra-zero-first",
        "'same': the odd extra zero put first (it goes at the end)",
        SAME_PADDING,
    ),
    _family(
        "same-padding",
        "'same' padding computed wrongly (the stride, the ceil, the clamp at 0)",
        SAME_WITH_STRIDE,
    ),
    _family(
        "padding-mode-mixed",
        "One padding mode computed as another ('same' gave 'full', ...)",
        MODES_2D,
    ),
    _family(
        "max-pool-zero-padding",
        "Max pooling padded with zeros instead of -inf",
        _s(_L2, "Max Pooling (deck p. 51)"),
    ),
    _family(
        "padding-backward",
        "Padding mishandled in the backward pass (not cropped, cropped with p:-p, dw from unpadded x)",
        BOUNDARIES_3,
    ),
    # stride and dilation
    _family(
        "stride-ignored",
        "The stride ignored (in the windows, the size or both)",
        STRIDE,
        a3=STRIDE_2D,
    ),
    _family("dilation-ignored", "Dilation ignored (the taps are dilation apart)", DILATION),
    _family(
        "dilated-span",
        "A dilated kernel's span miscounted (d(k-1)+1 inputs, still k taps)",
        DILATION,
    ),
    # channels and the bias
    _family("bias-missing", "The bias missing", LAYER),
    _family("bias-misapplied", "The bias added twice or along the wrong axis", LAYER),
    _family(
        "channels-not-summed",
        "Not summed over every channel (only the first input channel or filter)",
        FULL_DEPTH,
        a3=BACKPROP,
    ),
    _family(
        "overwrite-not-accumulate",
        "Overwrote instead of accumulating (= instead of +=)",
        ONE_NUMBER,
        **_BACKWARD,
    ),
    _family("groups", "Groups ignored or split wrongly", DEPTHWISE),
    _family(
        "separable-steps",
        "The depth-wise separable convolution assembled wrongly",
        SEPARABLE,
    ),
    # im2col
    _family(
        "im2col-row-order",
        "im2col rows in the wrong order (the kernel taps must follow the channel)",
        IMG2COL,
        a1=LOOP_AND_COLUMNS,
    ),
    _family(
        "im2col-layout",
        "im2col laid out wrongly (rows for columns, column-major positions, no batch axis)",
        IMG2COL,
        a1=LOOP_AND_COLUMNS,
    ),
    _family(
        "im2col-reshape",
        "The matrix product reshaped, or the weights flattened, in the wrong order",
        KERNELS_TO_MATRIX,
        a1=LOOP_AND_COLUMNS,
    ),
    # the transposed convolution
    _family(
        "transposed-size",
        "The transposed convolution's size: (n-1)s, padding trims, output_padding adds",
        TRANSPOSED,
        a3=TRANSPOSED_3,
    ),
    # counting
    _family("bias-count", "Biases miscounted (one per filter, none with bias=False)", PARAMETERS),
    _family(
        "channels-not-counted",
        "Channels left out of a count (a filter spans C_in/groups; each of C_out maps costs)",
        COST,
    ),
    _family(
        "receptive-field",
        "The receptive-field recursion wrong (strides ignored or summed, sizes summed, start at 0)",
        RECEPTIVE_FIELD,
    ),
    # pooling
    _family("pool-kind", "Max and average pooling swapped", _s(_L2, "Pooling (deck p. 49)")),
    _family(
        "pool-stride-default",
        "The pooling stride defaulted to 1 (it defaults to the kernel size)",
        _s(_L2, "Pooling — output shape (deck p. 50)"),
    ),
    _family(
        "count-include-pad",
        "count_include_pad ignored (what an average over a padded window divides by)",
        _s(_L2, "Average Pooling (deck p. 52)"),
    ),
    _family(
        "maxpool-backward",
        "Max pooling's gradient not sent whole to the one (first) maximum",
        POOLING_3,
    ),
    _family(
        "avgpool-backward",
        "Average pooling's gradient not divided by the window size",
        POOLING_3,
    ),
    # gradients
    _family(
        "finite-difference",
        "The numerical gradient's formula (central differences, 2h, the given step)",
        AUTOGRAD,
    ),
    _family("input-modified", "The input changed in place and not restored", AUTOGRAD),
    _family("dout-ignored", "The upstream gradient dout ignored", CHAIN_RULE),
    _family("relu-derivative", "ReLU's derivative wrong (the output, or a mask from dout)", RELU),
    _family("relu-at-zero", "ReLU'(0) taken as 1 (it is 0, as in PyTorch)", RELU),
    _family(
        "parameter-gradient-sum",
        "dw or db not summed over the batch and the positions (or averaged, or over the wrong axis)",
        BACKPROP,
    ),
    _family(
        "autograd-function",
        "The autograd Function's backward returns its gradients wrongly (order, None, apply)",
        AUTOGRAD,
    ),
]

FAMILIES: Mapping[str, Family] = MappingProxyType({f.slug: f for f in _CATALOGUE})
if len(FAMILIES) != len(_CATALOGUE):  # pragma: no cover (a typo in the table above)
    raise RuntimeError("two mistake families share a slug")
UNNAMED = "unnamed"  # the report's name for a failure no catalogued bug explains


# --------------------------------------------------------------------------------------------
# Ids, and the exceptions that carry them
# --------------------------------------------------------------------------------------------


def assignment_key(module: str) -> str:
    """``course_utils.checks.assignment2.conv2d`` -> ``"a2"`` (the checker's assignment)."""
    match = re.search(r"\.assignment(\d+)(?:\.|$)", module)
    if not match:
        raise ValueError(f"module: {module!r} is not an assignment's checker module")
    return f"a{match.group(1)}"


def diagnosis_id(assignment: str, exercise: str, family: str) -> str:
    """``("a1", "conv1d", "flipped-kernel")`` -> ``"a1.conv1d.flipped-kernel"`` (the family must be catalogued)."""
    if family not in FAMILIES:
        raise ValueError(f"family: {family!r} is not in the catalogue of mistakes")
    made = f"{assignment}.{exercise}.{family}"
    if not ID_PATTERN.match(made):
        raise ValueError(f"assignment/exercise: {made!r} is not a diagnosis id")
    return made


@dataclass(frozen=True)
class Diagnosis:
    """A diagnosis id split into its parts, with its family's title and lecture section."""

    id: str
    assignment: str
    exercise: str
    family: Family

    @property
    def section(self) -> Section:
        return self.family.section_for(self.assignment)


def parse(diagnosis: str) -> Diagnosis:
    """Return the :class:`Diagnosis` of an id; ``ValueError`` for an id that is not catalogued."""
    match = ID_PATTERN.match(diagnosis) if isinstance(diagnosis, str) else None
    if not match or match.group("family") not in FAMILIES:
        raise ValueError(f"diagnosis: {diagnosis!r} is not a catalogued diagnosis id")
    return Diagnosis(
        diagnosis,
        f"a{match.group('assignment')}",
        match.group("exercise"),
        FAMILIES[match.group("family")],
    )


def mark(exc: BaseException, families: Iterable[str]) -> BaseException:
    """Record on ``exc`` the families of the typical bugs that explain it; return ``exc``."""
    found = tuple(dict.fromkeys(families))
    unknown = [f for f in found if f not in FAMILIES]
    if unknown:
        raise ValueError(f"families: {unknown} are not in the catalogue of mistakes")
    if found:
        setattr(exc, FAMILIES_ATTRIBUTE, found)
    return exc


def families_of(exc: BaseException) -> tuple[str, ...]:
    """The families :func:`mark` recorded on ``exc`` (none when nothing was recognised)."""
    found = getattr(exc, FAMILIES_ATTRIBUTE, ())
    return tuple(found) if isinstance(found, tuple) else ()


def diagnoses_of(exc: BaseException) -> tuple[str, ...]:
    """The diagnosis ids a public checker recorded on ``exc`` (none when it named no mistake)."""
    found = getattr(exc, DIAGNOSES_ATTRIBUTE, ())
    if not isinstance(found, tuple):
        return ()
    return tuple(d for d in found if isinstance(d, str) and ID_PATTERN.match(d))


def cases_of(exc: BaseException) -> str | None:
    """``"visible"`` or ``"hidden"``: which cases of a checker failed (None when no checker said)."""
    cases = getattr(exc, CASES_ATTRIBUTE, None)
    return cases if cases in ("visible", "hidden") else None


def record(exc: BaseException, assignment: str, exercise: str, cases: Any) -> None:
    """Turn the families on ``exc`` into diagnosis ids of ``exercise``; note the cases that failed.

    Called by every public checker on the way out; the innermost checker's record stands. The
    message gains one line per diagnosis, naming its id and lecture section (what the feedback
    shows, and what the report's rows are called).
    """
    if getattr(exc, DIAGNOSES_ATTRIBUTE, None) is not None:
        return
    if cases in ("visible", "hidden"):
        setattr(exc, CASES_ATTRIBUTE, cases)
    ids = tuple(diagnosis_id(assignment, exercise, f) for f in families_of(exc))
    setattr(exc, DIAGNOSES_ATTRIBUTE, ids)
    if ids and isinstance(exc, AssertionError) and len(exc.args) == 1:
        lines = [f"Mistake {d}: see {parse(d).section.label}" for d in ids]
        exc.args = ("\n".join([str(exc.args[0]), *lines]),)
