"""Grades back into the LMS, and exports that list the whole class.

A class collected from a Canvas download and from a Moodle download, with a roster holding a
student who did not submit; the gradebook holds the scores as grading leaves them (written here
through nbgrader's API, so no notebook runs). Checked: every rostered student has one row
(``missing`` for the non-submitter), Canvas's import file and Moodle's grading worksheet have
exactly their columns, a failed or half-graded submission is never uploaded as 0, and the
leftovers of a mistyped assignment stay out of every export until ``course forget`` removes them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_utils import cli
from course_utils.grading import gradebook, intake, lms, records, roster

ASSIGNMENT = "toy"
ANSWER_META = {
    "grade": False,
    "grade_id": "add",
    "locked": False,
    "schema_version": 3,
    "solution": True,
    "task": False,
}


@pytest.fixture()
def course(tmp_path, repo_root) -> Path:
    root = tmp_path / "course"
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(repo_root / "nbgrader_config.py", root)
    nbformat.write(_notebook("solution"), root / "solutions" / ASSIGNMENT / "toy.ipynb")
    from nbgrader.api import Gradebook

    with Gradebook(records.gradebook_url(root)) as book:  # as `course release` leaves it
        book.update_or_create_assignment(ASSIGNMENT)
        book.add_notebook("toy", ASSIGNMENT)
        book.add_solution_cell("add", "toy", ASSIGNMENT)
        book.add_grade_cell("test_add", "toy", ASSIGNMENT, max_score=3, cell_type="code")
        book.add_solution_cell("explain", "toy", ASSIGNMENT)
        book.add_grade_cell("explain", "toy", ASSIGNMENT, max_score=2, cell_type="markdown")
    return root


def _notebook(author: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"def add(a, b):\n    return a + b  # {author}")
    cell.metadata["nbgrader"] = dict(ANSWER_META)
    notebook.cells = [cell]
    return notebook


def _graded(course: Path, student: str, test: float, written: float | None) -> None:
    """What grading leaves: the gradebook's scores and the kept outcome."""
    from nbgrader.api import Gradebook

    with Gradebook(records.gradebook_url(course)) as book:
        book.update_or_create_student(student)
        book.add_submission(ASSIGNMENT, student)
        grade = book.find_grade("test_add", "toy", ASSIGNMENT, student)
        grade.auto_score, grade.needs_manual_grade = test, False
        answer = book.find_grade("explain", "toy", ASSIGNMENT, student)
        answer.manual_score, answer.needs_manual_grade = written, written is None
        book.db.commit()
    note = "" if written is not None else "+2 points of written answers to grade by hand"
    records.save_record(
        course, records.GradeResult(student, ASSIGNMENT, "graded", test, 3.0, reason=note)
    )


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def _quiet(function, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


CANVAS_ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Toy (777)\n"
    "    Points Possible,,,,,5\n"
    '"Smith, Alice",10234,S001,asmith,CNN 2026,\n'
    '"Brown, Zoë",10235,S002,zbrown,CNN 2026,\n'
    '"Петрова, Анна",10237,S003,apetrova,CNN 2026,\n'
    '"Lee, Carol",10239,S004,clee,CNN 2026,\n'
)


def test_a_canvas_term_round_trip(course, tmp_path):
    (tmp_path / "roster.csv").write_text(CANVAS_ROSTER, encoding="utf-8")
    _quiet(cli.main, ["--root", str(course), "roster", "import", str(tmp_path / "roster.csv")])
    download = tmp_path / "submissions.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for name, who in {
            "smithalice_10234_1_toy.ipynb": "alice",
            "brownzoë_LATE_10235_2_toy-1.ipynb": "zoë",  # late, resubmitted
            "петроваанна_10237_3_toy.ipynb": "anna",
            "stranger_55555_4_toy.ipynb": "stranger",
        }.items():
            archive.writestr(name, nbformat.writes(_notebook(who)))
    ready, failures = intake.collect_submissions(course, ASSIGNMENT, download, lambda _: None)
    assert sorted(ready) == ["apetrova", "asmith", "stranger_55555", "zbrown"] and not failures
    _graded(course, "asmith", 3.0, 2.0)
    _graded(course, "zbrown", 3.0, None)  # written answer not graded yet
    _graded(course, "stranger_55555", 1.0, 0.0)
    records.save_record(  # the grader could not grade Anna's notebook
        course, records.GradeResult("apetrova", ASSIGNMENT, "failed", reason="kernel died")
    )
    records.save_record(  # a typo's leftovers: `course autograde toy9` before the fix
        course, records.GradeResult("asmith", "toy9", "failed", reason="no notebook named")
    )

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = cli.main(
            ["--root", str(course), "export", "--lms", "canvas", "--assignment", ASSIGNMENT]
            + ["--column", "Toy (777)"]
        )
    assert status == 0
    assert "course forget toy9 --all" in printed.getvalue()
    plain = {r["student"]: r for r in csv.DictReader((course / "grades" / "grades.csv").open())}
    assert set(plain) == {"asmith", "zbrown", "apetrova", "clee", "stranger_55555"}
    assert all(r["assignment"] == ASSIGNMENT for r in plain.values())  # no toy9 rows
    assert (plain["asmith"]["status"], plain["asmith"]["score"]) == ("graded", "5.0")
    assert plain["asmith"]["name"] == "Smith, Alice"
    assert plain["zbrown"]["status"] == "needs manual grading"
    assert plain["zbrown"]["late"] == "late (marked by canvas)"
    assert (plain["clee"]["status"], plain["clee"]["score"]) == ("missing", "0.0")
    assert plain["clee"]["max_score"] == "5.0"
    assert plain["apetrova"]["status"] == "failed"
    assert "matches no rostered student" in plain["stranger_55555"]["review"]

    canvas = _rows(course / "grades" / "toy-canvas.csv")
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Toy (777)"]
    assert canvas[1] == ["    Points Possible", "", "", "", "", "5"]
    body = {row[1]: row for row in canvas[2:]}
    assert body["10234"] == ["Smith, Alice", "10234", "S001", "asmith", "CNN 2026", "5"]
    assert body["10239"][-1] == "0"  # did not submit
    assert body["10235"][-1] == "" and body["10237"][-1] == ""  # never uploaded as 0
    assert body["55555"][-1] == "1"
    assert "zbrown: left blank (needs manual grading" in printed.getvalue()
    assert len(canvas) == 2 + 5

    # the typo is forgotten; a student's run can be undone too
    _quiet(cli.main, ["--root", str(course), "forget", "toy9", "--all"])
    assert gradebook.stale_assignments(course) == []
    assert _quiet(cli.main, ["--root", str(course), "forget", ASSIGNMENT, "stranger_55555"]) == 0
    rows = gradebook.grade_rows(course)
    assert ("stranger_55555", ASSIGNMENT) not in rows
    assert not (course / "submitted" / "stranger_55555").exists()
    with pytest.raises(records.CourseError, match="nothing is kept of nobody"):
        gradebook.forget(course, ASSIGNMENT, ["nobody"])


MOODLE_ROSTER = (
    "First name,Last name,ID number,Email address\n"
    "Alice,Smith,S001,alice@uni.example\n"
    "Zoé,Brown,S002,zoe@uni.example\n"
    "Иван,Петров,S003,ivan@uni.example\n"
    "Carol,Lee,S004,carol@uni.example\n"
)


def test_a_moodle_term_round_trip(course, tmp_path):
    (tmp_path / "roster.csv").write_text(MOODLE_ROSTER, encoding="utf-8")
    _quiet(roster.import_roster, course, tmp_path / "roster.csv")
    download = tmp_path / "moodle.zip"
    with zipfile.ZipFile(download, "w") as archive:
        for name, number in (("Alice Smith", 125), ("Zoé Brown", 126), ("Иван Петров", 127)):
            folder = f"{name}_{number}_assignsubmission_file_"
            archive.writestr(f"{folder}/toy.ipynb", nbformat.writes(_notebook(name)))
    ready, _ = intake.collect_submissions(course, ASSIGNMENT, download, lambda _: None)
    assert sorted(ready) == ["S001", "S002", "S003"]
    _graded(course, "S001", 3.0, 2.0)
    _graded(course, "S002", 1.5, 2.0)
    _graded(course, "S003", 3.0, None)

    path, notes = lms.export_lms(course, "moodle", ASSIGNMENT, tmp_path / "moodle.csv")
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == lms.MOODLE_COLUMNS
    by_id = {r["Identifier"]: r for r in rows}
    assert by_id["Participant 125"]["Grade"] == "5" and by_id["Participant 126"]["Grade"] == "3.5"
    assert by_id["Participant 125"]["Email address"] == "alice@uni.example"
    assert by_id["Participant 127"]["Grade"] == ""  # written answers still to grade
    assert any(n.startswith("S004: no Moodle participant number") for n in notes)

    # Moodle's own worksheet: every enrolled student, out of 100 there
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(
        ",".join(f'"{c}"' for c in lms.MOODLE_COLUMNS)
        + "\n"
        + "\n".join(
            f'"Participant {n}","{name}","{email}","Submitted for grading","","100.00","Yes",'
            '"Monday, 2 March 2026, 10:15 AM","-",""'
            for n, name, email in (
                (125, "Alice Smith", "alice@uni.example"),
                (126, "Zoé Brown", "zoe@uni.example"),
                (127, "Иван Петров", "ivan@uni.example"),
                (128, "Carol Lee", "carol@uni.example"),
            )
        )
        + "\n",
        encoding="utf-8",
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = cli.main(
            ["--root", str(course), "export", "--format", "moodle", "--assignment", ASSIGNMENT]
            + ["--worksheet", str(worksheet), "--to", str(tmp_path / "filled.csv")]
        )
    assert status == 0
    filled = list(csv.DictReader((tmp_path / "filled.csv").open(encoding="utf-8")))
    assert [r["Grade"] for r in filled] == ["100", "70", "", "0"]
    assert [r["Last modified (submission)"] for r in filled][0] == "Monday, 2 March 2026, 10:15 AM"
    assert "scaled from 5 points to Moodle's maximum grade 100" in printed.getvalue()


def test_lms_exports_refuse_what_they_cannot_write(course, tmp_path):
    with pytest.raises(records.CourseError, match="lms: 'blackboard'"):
        lms.export_lms(course, "blackboard", ASSIGNMENT, tmp_path / "x.csv")
    with pytest.raises(records.CourseError, match="unknown assignment"):
        lms.export_lms(course, "canvas", "toy9", tmp_path / "x.csv")
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        assert cli.main(["--root", str(course), "export", "--lms", "canvas"]) == 2
    assert "needs --assignment" in printed.getvalue()
