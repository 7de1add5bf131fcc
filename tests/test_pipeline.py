"""The grading pipeline on a tiny assignment: every kind of broken submission, zips, CSV, feedback."""

from __future__ import annotations

import copy
import csv
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import autograde, gradebook, intake, records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("toy-course")]

SOLUTION_META = {
    "grade": False,
    "grade_id": "add",
    "locked": False,
    "schema_version": 3,
    "solution": True,
    "task": False,
}
TEST_META = {
    "grade": True,
    "grade_id": "test_add",
    "locked": True,
    "points": 2,
    "schema_version": 3,
    "solution": False,
    "task": False,
}
HIDDEN_META = dict(TEST_META, grade_id="test_add_hidden", points=3)
SETUP_META = dict(TEST_META, grade=False, grade_id="setup")
del SETUP_META["points"]
CORRECT = "def add(a, b):\n    return a + b"
HIDDEN_LINE = "assert add(5, 5) == 10"


def _cell(source: str, meta: dict) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = dict(meta)
    return cell


@pytest.fixture(scope="module")
def toy_course(tmp_path_factory, repo_root) -> Path:
    """A course folder with the real nbgrader_config.py and one released two-test assignment."""
    root = tmp_path_factory.mktemp("toy-course")
    shutil.copy(repo_root / "nbgrader_config.py", root)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.cells = [
        # the course's set-up cell: locked, as in every real assignment (the re-run takes the
        # set-up from the source's locked cells; an unlocked cell would be the student's)
        _cell("import warnings", SETUP_META),
        _cell(
            "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
            SOLUTION_META,
        ),
        _cell('"""add adds two numbers"""\nassert add(1, 2) == 3', TEST_META),
        _cell(
            '"""add, more cases; a warning on stderr must not cost points"""\n'
            'warnings.warn("harmless RuntimeWarning-like message", RuntimeWarning)\n'
            f"assert add(2, 2) == 4\n### BEGIN HIDDEN TESTS\n{HIDDEN_LINE}\n### END HIDDEN TESTS",
            HIDDEN_META,
        ),
    ]
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(notebook, root / "solutions" / "toy" / "toy.ipynb")
    gradebook.release(root, ["toy"], progress=lambda _: None)
    return root


def _submission(course: Path, folder: Path, student: str, edit, name: str = "toy.ipynb") -> None:
    notebook = copy.deepcopy(
        nbformat.read(course / "assignments" / "toy" / "toy.ipynb", as_version=4)
    )
    edit(notebook)
    (folder / student).mkdir(parents=True)
    nbformat.write(notebook, folder / student / name)


def _solve(code: str):
    def edit(notebook):
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = code

    return edit


def test_release_is_reproducible(toy_course, tmp_path):
    fresh = tmp_path / "fresh"
    shutil.copytree(toy_course, fresh, ignore=shutil.ignore_patterns("gradebook.db", "assignments"))
    gradebook.release(fresh, ["toy"], progress=lambda _: None)
    assert (
        gradebook.release_differences(
            fresh / "assignments" / "toy", toy_course / "assignments" / "toy"
        )
        == []
    )
    released = (toy_course / "assignments" / "toy" / "toy.ipynb").read_text()
    assert HIDDEN_LINE not in released and "return a + b" not in released


def test_broken_submissions_fail_alone(toy_course, tmp_path):
    subs = tmp_path / "subs"
    _submission(toy_course, subs, "good", _solve(CORRECT))
    _submission(toy_course, subs, "renamed", _solve(CORRECT), name="toy (2).ipynb")
    _submission(toy_course, subs, "loops", _solve("def add(a, b):\n    while True:\n        pass"))
    _submission(toy_course, subs, "crash", _solve("import os\nos._exit(1)"))

    def crash_between_tests(notebook):  # correct work, and one cell that kills the kernel
        _solve(CORRECT)(notebook)
        notebook.cells.insert(3, nbformat.v4.new_code_cell("import os\nos._exit(1)"))

    _submission(toy_course, subs, "crash-between", crash_between_tests)
    _submission(
        toy_course,
        subs,
        "ignores-interrupt",
        _solve(
            "def add(a, b):\n    while True:\n        try:\n            while True:\n"
            "                pass\n        except KeyboardInterrupt:\n            pass"
        ),
    )
    _submission(toy_course, subs, "wrong", _solve("def add(a, b):\n    return a - b"))

    def delete_tests(notebook):
        _solve(CORRECT)(notebook)
        notebook.cells = [
            c for c in notebook.cells if not c.metadata.get("nbgrader", {}).get("grade")
        ]

    _submission(toy_course, subs, "deleted-cells", delete_tests)

    def gut_tests(notebook):
        _solve("def add(a, b):\n    return 0")(notebook)
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                cell.source = "pass"

    _submission(toy_course, subs, "gutted-asserts", gut_tests)
    (subs / "not-json").mkdir()
    (subs / "not-json" / "toy.ipynb").write_text('{"cells": [', encoding="utf-8")
    _submission(toy_course, subs, "zipped", _solve(CORRECT))
    with zipfile.ZipFile(subs / "zipped.zip", "w") as archive:
        archive.write(subs / "zipped" / "toy.ipynb", "zipped/toy.ipynb")
    shutil.rmtree(subs / "zipped")
    (subs / "empty").mkdir()

    messages = []
    students, failures = intake.collect_submissions(
        toy_course, "toy", subs, progress=messages.append
    )
    assert sorted(students) == [
        "crash",
        "crash-between",
        "deleted-cells",
        "good",
        "gutted-asserts",
        "ignores-interrupt",
        "loops",
        "renamed",
        "wrong",
        "zipped",
    ]
    reasons = {f.student: f.reason for f in failures}
    assert "is not valid JSON" in reasons["not-json"]
    assert "no notebook named toy.ipynb" in reasons["empty"]
    for failure in failures:  # every unusable submission has a log that says why
        assert failure.student in Path(failure.log).read_text()
    assert "found 12 submission(s) of toy: 10 ready to grade, 2 unusable" in messages[-1]

    results = autograde.autograde(
        toy_course, "toy", students, jobs=2, cell_timeout=3, progress=messages.append
    )
    by_student = {r.student: r for r in results}
    # the collection line, the line saying how the run grades, then one line per student
    assert len(messages) == len(students) + 2, messages
    for student in ("good", "renamed", "zipped", "deleted-cells"):
        result = by_student[student]
        assert (result.status, result.score) == ("graded", 5.0), (student, result)
    assert by_student["wrong"].score == 0 and by_student["wrong"].max_score == 5
    assert by_student["gutted-asserts"].score == 0  # the original tests ran, not the gutted ones
    assert by_student["loops"].ok and by_student["loops"].score == 0
    assert "time limit" in by_student["loops"].reason
    # a crash costs the part it happened in, and a person is told
    crash = by_student["crash"]
    assert (crash.status, crash.score, crash.max_score) == ("graded", 0, 5)
    assert "partly graded: the kernel died in add" in crash.reason
    between = by_student["crash-between"]
    assert (between.status, between.score) == ("graded", 5.0), between
    assert "the kernel died in cell 3" in between.reason and between.flags
    stubborn = by_student["ignores-interrupt"]
    assert stubborn.ok and stubborn.score == 0
    assert "ignored the time limit's interrupt" in stubborn.reason

    # `course export` in a later process: every student, with status, reason and log
    csv_path = gradebook.export_grades(toy_course, tmp_path / "grades.csv")
    rows = {row["student"]: row for row in csv.DictReader(csv_path.open())}
    assert set(rows) == set(students) | {f.student for f in failures}
    assert rows["good"]["score"] == "5.0" and rows["good"]["percent"] == "100.0"
    assert rows["good"]["status"] == "graded" and rows["good"]["reason"] == ""
    assert rows["crash"]["status"] == "graded" and "kernel died" in rows["crash"]["reason"]
    assert "check by hand" in rows["crash-between"]["review"]
    assert "ran out of time" in rows["loops"]["reason"]
    assert rows["not-json"]["status"] == "failed" and rows["not-json"]["max_score"] == "5.0"
    assert "not valid JSON" in rows["not-json"]["reason"]
    assert Path(rows["not-json"]["log"]).is_file()
    assert all(row["log"] for row in rows.values())

    feedback = gradebook.generate_feedback(toy_course, "toy", ["good", "wrong"])
    assert {path.parent.parent.name for path in feedback} == {"good", "wrong"}
    for path in feedback:
        html = path.read_text(encoding="utf-8").replace("&#34;", '"')
        assert "add adds two numbers" in html
        assert HIDDEN_LINE not in html and "BEGIN HIDDEN TESTS" not in html
        assert str(toy_course) not in html and "site-packages" not in html
    wrong = next(p for p in feedback if p.parent.parent.name == "wrong").read_text()
    assert "AssertionError" in wrong


def test_check_reports_solution_and_release(toy_course, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(
        toy_course,
        course,
        ignore=shutil.ignore_patterns(
            "gradebook.db", "submitted", "autograded", "feedback", "logs"
        ),
    )
    [result] = autograde.check(course, ["toy"], progress=lambda _: None)
    assert result.ok, result.problems
    assert (result.solution.score, result.solution.max_score) == (5.0, 5.0)
    assert result.release.score == 0.0

    # A solution that fails a hidden test and a stale release are both reported.
    path = course / "solutions" / "toy" / "toy.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].source = notebook.cells[1].source.replace(
        "return a + b", "return a + b if a < 5 else 0"
    )
    notebook.cells[
        2
    ].source += "\nassert add(0, 0) == 0"  # a visible change: the release must follow
    nbformat.write(notebook, path)
    [result] = autograde.check(course, ["toy"], progress=lambda _: None)
    assert not result.ok
    assert any("scores 2/5, not full marks" in p for p in result.problems), result.problems
    assert any("out of date" in p for p in result.problems), result.problems


def test_unknown_assignment_and_missing_course(toy_course, tmp_path):
    with pytest.raises(records.CourseError, match="unknown assignment"):
        gradebook.release(toy_course, ["nope"])
    with pytest.raises(records.CourseError, match="no course found"):
        records.find_course_root(tmp_path)
    with pytest.raises(records.CourseError, match="does not exist"):
        intake.collect_submissions(toy_course, "toy", tmp_path / "missing")


def test_student_ids_are_sanitised():
    assert records.sanitize_student_id("Ada Lovelace (late)") == "Ada_Lovelace_late"
    with pytest.raises(records.CourseError):
        records.sanitize_student_id("   ")
