"""course_utils.checks.diagnoses: every typical bug has a catalogued family, every failure its ids.

The checkers' lists of typical bugs are read from their source (every ``(family, message,
make)`` tuple names a catalogued family; every family is used), the lecture sections the
catalogue links to exist on the reading site under the anchor it computes, and a failing checker
carries its diagnosis ids and the failed cases as data, in this process and through the grader's
re-run (course_utils.grading.verify).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from docutils import nodes

from course_utils import checks
from course_utils.checks import diagnoses
from course_utils.grading import verify
from course_utils.grading.sandbox.bubblewrap import Limits

REPO = Path(__file__).resolve().parents[1]
CHECKS = REPO / "course_utils" / "checks"
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.M)


def _bug_tuples() -> list[tuple[Path, int, list[ast.expr]]]:
    """The typical bugs in the checkers: every tuple whose last element is a lambda, and every
    tuple appended to (or listed in) a list whose name says it holds bugs."""
    found = {}
    for path in sorted(CHECKS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            tuples = []
            if isinstance(node, ast.Tuple) and node.elts and isinstance(node.elts[-1], ast.Lambda):
                tuples.append(node)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("append", "extend")
                and isinstance(node.func.value, ast.Name)
                and "bug" in node.func.value.id
            ):
                for arg in node.args:
                    tuples += [arg] if isinstance(arg, ast.Tuple) else getattr(arg, "elts", [])
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.List):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and "bug" in t.id for t in targets):
                    tuples += node.value.elts
            for item in tuples:
                if isinstance(item, ast.Tuple):
                    found[(path, item.lineno, item.col_offset)] = item.elts
    return [(path, line, elements) for (path, line, _), elements in found.items()]


def _string_literals() -> set[str]:
    return {
        node.value
        for path in CHECKS.rglob("*.py")
        if path.name != "diagnoses.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_every_typical_bug_names_a_catalogued_family():
    bugs = _bug_tuples()
    assert len(bugs) > 200  # the reader finds the catalogue (it has about 250 bugs)
    wrong = [
        f"{path.relative_to(REPO)}:{line}"
        for path, line, elements in bugs
        if len(elements) != 3
        or not (
            (isinstance(elements[0], ast.Constant) and elements[0].value in diagnoses.FAMILIES)
            or (isinstance(elements[0], ast.Name) and elements[0].id == "family")  # re-packed
        )
    ]
    assert not wrong, f"bugs without a catalogued family (family, message, make): {wrong}"


def test_every_family_is_used_by_a_checker():
    unused = set(diagnoses.FAMILIES) - _string_literals()
    assert not unused, f"catalogued families no checker uses: {sorted(unused)}"


def _headings(lecture: str) -> list[str]:
    notebook = nbformat.read(REPO / "lectures" / f"{lecture}.ipynb", as_version=4)
    return [
        heading
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for heading in HEADING.findall(cell.source)
    ]


def _docutils_id(heading: str) -> str:
    """The id Sphinx gives the section (MyST: the heading's text, literals and math as text)."""
    return nodes.make_id(nodes.fully_normalize_name(re.sub(r"[`*$]", "", heading)))


def test_every_family_links_to_a_lecture_section_that_exists():
    sections = {
        section
        for family in diagnoses.FAMILIES.values()
        for section in (family.section, *family.sections.values())
    }
    for section in sections:
        headings = _headings(section.lecture)
        assert section.heading in headings, f"{section.label} is not a heading of {section.lecture}"
        anchors = [_docutils_id(h) for h in headings]
        assert section.anchor == _docutils_id(section.heading), section.heading
        assert anchors.count(section.anchor) == 1, f"{section.anchor} is not unique"
        assert section.href("../site").endswith(f"lectures/{section.lecture}.html#{section.anchor}")


def test_the_anchor_follows_docutils():
    for heading in [
        "2D convolution — Img2Col (deck p. 29)",
        "Stride 2 and `output_padding`",
        "7×7",
    ]:
        assert diagnoses.heading_anchor(heading) == _docutils_id(heading)


def test_ids_are_data_with_a_grammar():
    made = diagnoses.diagnosis_id("a1", "conv1d", "padding-one-side")
    assert made == "a1.conv1d.padding-one-side"
    parsed = diagnoses.parse(made)
    assert (parsed.assignment, parsed.exercise, parsed.family.slug) == (
        "a1",
        "conv1d",
        "padding-one-side",
    )
    assert parsed.section == diagnoses.FAMILIES["padding-one-side"].section
    assert diagnoses.parse("a3.conv2d_backward.padding-one-side").section.lecture.startswith("03")
    for bad in ["a1.conv1d.no-such-family", "conv1d.flipped-kernel", "a1.Conv1d.flipped-kernel", 3]:
        with pytest.raises(ValueError, match="diagnosis"):
            diagnoses.parse(bad)
    with pytest.raises(ValueError, match="family"):
        diagnoses.diagnosis_id("a1", "conv1d", "typo")
    with pytest.raises(ValueError, match="families"):
        diagnoses.mark(AssertionError("x"), ["typo"])
    assert diagnoses.assignment_key("course_utils.checks.assignment2.conv2d") == "a2"
    with pytest.raises(ValueError, match="module"):
        diagnoses.assignment_key("course_utils.checks.toolkit")


def _flipped(x, w):
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)[::-1]
    return np.array([x[t : t + len(w)] @ w for t in range(len(x) - len(w) + 1)])


def _short_when_long(x, w):
    """Right on short signals (the visible cases), one output short on long ones (hidden)."""
    x, w = np.asarray(x, dtype=float), np.asarray(w, dtype=float)
    stop = len(x) - len(w) + (1 if len(x) <= 10 else 0)
    return np.array([x[t : t + len(w)] @ w for t in range(stop)])


def test_a_failing_checker_carries_its_ids_and_cases():
    with pytest.raises(AssertionError) as caught:
        checks.check_conv1d_single(_flipped)
    assert diagnoses.diagnoses_of(caught.value) == ("a1.conv1d_single.flipped-kernel",)
    assert diagnoses.cases_of(caught.value) == "visible"
    assert "Mistake a1.conv1d_single.flipped-kernel: see Lecture 2" in str(caught.value)
    with pytest.raises(AssertionError) as caught:
        checks.check_conv1d_single(_short_when_long, "hidden", 3)
    assert diagnoses.diagnoses_of(caught.value) == ("a1.conv1d_single.off-by-one",)
    assert diagnoses.cases_of(caught.value) == "hidden"


def test_a_failure_no_bug_explains_is_unnamed():
    with pytest.raises(AssertionError) as caught:
        checks.check_conv1d_single(lambda x, w: np.zeros(len(x) - len(w) + 1) + 0.5)
    assert diagnoses.diagnoses_of(caught.value) == ()
    assert diagnoses.cases_of(caught.value) == "visible"
    assert "Mistake " not in str(caught.value)


def test_ids_on_an_exception_must_look_like_ids():
    exc = AssertionError("x")
    exc.course_diagnoses = ("a1.conv1d.flipped-kernel", "<script>", 3)
    assert diagnoses.diagnoses_of(exc) == ("a1.conv1d.flipped-kernel",)
    exc.course_diagnoses = "a1.conv1d.flipped-kernel"  # not a tuple: ignored
    assert diagnoses.diagnoses_of(exc) == ()


def _meta(grade_id, **kw):
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "task": False, **kw}}


def _notebook_pair(answer: str, lost: bool = False):
    source = nbformat.v4.new_notebook()
    source.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np\nimport course_utils as cu",
            metadata=_meta("setup", locked=True, grade=False, solution=False),
        ),
        nbformat.v4.new_code_cell(
            "def conv1d_single(x, w):\n    pass",
            metadata=_meta("conv1d_single", solution=True, grade=False, locked=False),
        ),
        nbformat.v4.new_code_cell(
            "cu.checks.check_conv1d_single(conv1d_single)\n"
            'cu.checks.check_conv1d_single(conv1d_single, cases="hidden", seed=3)',
            metadata=_meta("test_single", grade=True, solution=False, locked=True, points=3),
        ),
        nbformat.v4.new_code_cell(
            "assert conv1d_single([1.0], [2.0])[0] == 2.0",
            metadata=_meta("test_other", grade=True, solution=False, locked=True, points=1),
        ),
    ]
    graded = nbformat.from_dict(json.loads(nbformat.writes(source)))
    graded.cells[1].source = answer
    if lost:
        graded.cells[2].outputs = [
            nbformat.v4.new_output("error", ename="CellTimeoutError", evalue="", traceback=[])
        ]
    return source, graded


ANSWERS = {
    "flipped": (
        "def conv1d_single(x, w):\n    x, w = np.asarray(x, float), np.asarray(w, float)[::-1]\n"
        "    return np.array([x[t:t + len(w)] @ w for t in range(len(x) - len(w) + 1)])"
    ),
    "short": (
        "def conv1d_single(x, w):\n    x, w = np.asarray(x, float), np.asarray(w, float)\n"
        "    stop = len(x) - len(w) + (1 if len(x) <= 10 else 0)\n"
        "    return np.array([x[t:t + len(w)] @ w for t in range(stop)])"
    ),
}


def _verify(answer: str, scores: dict[str, float], lost: bool = False) -> verify.VerifyReport:
    source, graded = _notebook_pair(answer, lost)
    return verify.verify_notebooks(
        [("nb", source, graded, {"test_single": 3, "test_other": 1}, scores)],
        student="s",
        assignment="a",
        seed=5,
        sandbox=False,
        limits=Limits(notebook_seconds=120),
        cell_seconds=30,
    )


def test_the_re_run_names_the_mistake_of_a_failed_cell_and_keeps_its_grade():
    report = _verify(ANSWERS["flipped"], {"test_single": 0, "test_other": 1})
    cells = {c.grade_id: c for c in report.cells}
    single = cells["test_single"]
    assert single.explained == "failed" and single.verified is None
    assert single.diagnoses == ["a1.conv1d_single.flipped-kernel"]
    assert single.failed_cases == "visible"
    assert cells["test_other"].verified is True and not cells["test_other"].diagnoses
    assert report.points_removed == 0 and not report.flags
    saved = json.loads(json.dumps(verify.asdict(report)))["cells"]
    assert [c["diagnoses"] for c in saved if c["grade_id"] == "test_single"] == [single.diagnoses]


def test_a_cell_that_fails_only_in_the_re_run_is_flagged_with_its_diagnosis():
    # passed in the notebook (a forged pass, or luck with the notebook's seed) and not here
    report = _verify(ANSWERS["short"], {"test_single": 3, "test_other": 1})
    single = next(c for c in report.cells if c.grade_id == "test_single")
    assert single.verified is False and single.failed_cases == "hidden"
    assert single.diagnoses == ["a1.conv1d_single.off-by-one"]
    assert report.points_removed == 3 and report.flags


def test_a_cell_the_notebook_lost_is_not_re_run():
    report = _verify(ANSWERS["flipped"], {"test_single": 0, "test_other": 1}, lost=True)
    single = next(c for c in report.cells if c.grade_id == "test_single")
    assert not single.explained and single.verified is None and not single.diagnoses
