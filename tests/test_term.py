"""A term on a small assignment: nbgrader's exchange, due dates, manual grading, re-grades, exports.

The class goes through what an instructor runs in a term: `course release --exchange --due`,
students fetch and submit with nbgrader's own commands, `course collect`, `course autograde`,
a person grades the written answers, a re-grade, `course export` and `course feedback`.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest

from course_utils import cli
from course_utils.grading import autograde, gradebook, intake, records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("term-course")]

ANSWER_META = {
    "grade": False,
    "grade_id": "add",
    "locked": False,
    "schema_version": 3,
    "solution": True,
    "task": False,
}
WRITTEN_META = {
    "grade": True,
    "grade_id": "explain",
    "locked": False,
    "points": 2,
    "schema_version": 3,
    "solution": True,
    "task": False,
}
TEST_META = {
    "grade": True,
    "grade_id": "test_add",
    "locked": True,
    "points": 3,
    "schema_version": 3,
    "solution": False,
    "task": False,
}
HIDDEN_LINE = "assert add(40, 2) == 42, 'hidden case 40 + 2'"
ASSIGNMENT = "toy"


def _cell(source: str, meta: dict, markdown: bool = False) -> nbformat.NotebookNode:
    make = nbformat.v4.new_markdown_cell if markdown else nbformat.v4.new_code_cell
    cell = make(source)
    cell.metadata["nbgrader"] = dict(meta)
    return cell


@pytest.fixture()
def course(tmp_path, repo_root) -> Path:
    """A course with one assignment: a function, a written answer (2 points), a test (3 points)."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(repo_root / "nbgrader_config.py", root)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        _cell(
            "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
            ANSWER_META,
        ),
        _cell(
            "Why does addition commute?\n\n=== BEGIN MARK SCHEME ===\nany\n=== END MARK SCHEME ===",
            WRITTEN_META,
            markdown=True,
        ),
        _cell(
            f'"""add adds"""\nassert add(1, 2) == 3, "add(1, 2) should be 3"\n### BEGIN HIDDEN TESTS\n{HIDDEN_LINE}\n### END HIDDEN TESTS',
            TEST_META,
        ),
    ]
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(notebook, root / "solutions" / ASSIGNMENT / "toy.ipynb")
    return root


# nbgrader's exchange knows a student by the operating-system account; on a JupyterHub each
# student has one. Here every student is this test's account, so each command runs as if logged
# in as its student.
AS_STUDENT = (
    "import sys, nbgrader.utils as u; student = sys.argv.pop(1); "
    "u.get_osusername = lambda: student; from nbgrader.apps.nbgraderapp import main; main()"
)


def _nbgrader(cwd: Path, student: str, *args: str) -> None:
    """Run an nbgrader command as ``student`` would, in the student's own folder."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            AS_STUDENT,
            student,
            *args,
            "--course",
            "cnn-course",
            f"--Exchange.root={cwd.parent.parent / 'course' / 'exchange'}",
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _student_works(home: Path, student: str, answer: str, written: str) -> Path:
    home.mkdir(parents=True)
    _nbgrader(home, student, "fetch_assignment", ASSIGNMENT)
    path = home / ASSIGNMENT / "toy.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "add":
            cell.source = answer
        elif grade_id == "explain":
            cell.source = written
    nbformat.write(notebook, path)
    return path


def _rows(path: Path) -> dict[str, dict]:
    return {row["student"]: row for row in csv.DictReader(path.open(encoding="utf-8"))}


def _course(course: Path, *args: str) -> tuple[int, str]:
    """Run a `course` command on ``course``; return its exit status and what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = cli.main(["--root", str(course), *args])
    return status, printed.getvalue()


def _export(course: Path, name: str) -> dict[str, dict]:
    target = course / "grades" / name
    assert _course(course, "export", "--to", str(target))[0] == 0
    return _rows(target)


def test_a_term_through_the_exchange(course, tmp_path, sandbox_available):
    due = datetime.now(UTC) + timedelta(days=1)
    status, _ = _course(
        course, "release", ASSIGNMENT, "--exchange", "--due", due.strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    assert status == 0

    students = tmp_path / "students"
    alice = _student_works(
        students / "alice", "alice", "def add(a, b):\n    return a + b", "Because a + b = b + a."
    )
    _nbgrader(alice.parent.parent, "alice", "submit", ASSIGNMENT)
    bob = _student_works(students / "bob", "bob", "def add(a, b):\n    return a - b", "It does.")
    _nbgrader(bob.parent.parent, "bob", "submit", ASSIGNMENT)
    carol = _student_works(students / "carol", "carol", "def add(a, b):\n    return a + b", "x")
    carol.write_text(carol.read_text()[:200], encoding="utf-8")  # a truncated file is submitted
    _nbgrader(carol.parent.parent, "carol", "submit", ASSIGNMENT)

    status, printed = _course(course, "collect", ASSIGNMENT)
    assert status == 0
    assert (
        "collected 3 submission(s) of toy from the exchange: 2 ready to grade, 1 unusable"
        in printed
    )
    assert "carol: UNUSABLE" in printed and "not valid JSON" in printed
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["alice", "bob"]
    # bob submitted two hours after the due date
    stamp = course / "submitted" / "bob" / ASSIGNMENT / "timestamp.txt"
    stamp.write_text((due + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S.%f UTC"))

    rows = _export(course, "before.csv")  # collected, not graded yet: everyone is listed
    assert {name: r["status"] for name, r in rows.items()} == {
        "alice": "collected",
        "bob": "collected",
        "carol": "failed",
    }

    status, printed = _course(course, "autograde", ASSIGNMENT, "--cell-timeout", "10")
    assert status == 0, printed
    assert "2 submission(s) of toy: 2 graded (0 of them partly), 0 not graded" in printed
    rows = _export(course, "autograded.csv")
    assert (rows["alice"]["score"], rows["alice"]["max_score"]) == ("3.0", "5.0")
    assert rows["alice"]["reason"] == "+2 points of written answers to grade by hand"
    assert set(rows) == {"alice", "bob", "carol"}
    assert rows["alice"]["status"] == "needs manual grading"
    assert rows["bob"]["late"].startswith("2 h") and rows["alice"]["late"] == ""
    assert rows["carol"]["status"] == "failed" and Path(rows["carol"]["log"]).is_file()

    from nbgrader.api import Gradebook

    with Gradebook(records.gradebook_url(course)) as gradebook:  # a person grades the answers
        for student, points in (("alice", 2.0), ("bob", 0.5)):
            grade = gradebook.find_grade("explain", "toy", ASSIGNMENT, student)
            grade.manual_score = points
            grade.needs_manual_grade = False
        gradebook.db.commit()
    rows = _export(course, "manual.csv")
    alice_row = rows["alice"]
    assert (alice_row["status"], alice_row["score"], alice_row["percent"]) == (
        "graded",
        "5.0",
        "100.0",
    )
    assert alice_row["reason"] == ""

    # a re-grade (a new seed, a fixed grader) keeps a person's grade of an unchanged answer
    again = autograde.autograde(
        course, ASSIGNMENT, ["alice"], cell_timeout=10, progress=lambda _: None
    )
    assert "graded by hand before were unchanged" in again[0].reason
    rows = _export(course, "regraded.csv")
    assert (rows["alice"]["status"], rows["alice"]["score"]) == ("graded", "5.0")

    status, printed = _course(course, "feedback", ASSIGNMENT)
    assert status == 0 and "2 feedback file(s)" in printed
    files = sorted((course / "feedback").glob(f"*/{ASSIGNMENT}/*.html"))
    bob_page = next(f for f in files if f.parent.parent.name == "bob")
    assert "add(1, 2) should be 3" in html.unescape(bob_page.read_text())  # the test's message
    for page in files:
        text = html.unescape(page.read_text())
        assert "hidden case 40 + 2" not in text and "BEGIN HIDDEN TESTS" not in text
        assert str(course) not in text and "site-packages" not in text


def test_a_single_class_zip_is_a_folder_per_student(course, tmp_path):
    gradebook.release(course, [ASSIGNMENT], progress=lambda _: None)
    released = (course / "assignments" / ASSIGNMENT / "toy.ipynb").read_bytes()
    inner = tmp_path / "dan.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("Dan Brown_123_assignsubmission_file_/toy (1).ipynb", released)
    class_zip = tmp_path / "class.zip"
    with zipfile.ZipFile(class_zip, "w") as archive:  # one wrapping folder, as LMS exports do
        archive.writestr("toy-submissions/alice/toy.ipynb", released)
        archive.writestr("toy-submissions/bob/notes.txt", "no notebook")
        archive.write(inner, "toy-submissions/dan.zip")
    messages: list[str] = []
    ready, failures = intake.collect_submissions(course, ASSIGNMENT, class_zip, messages.append)
    assert sorted(ready) == ["alice"]
    # a zip inside the class zip is never opened (it could hold other students' folders)
    assert sorted(f.student for f in failures) == ["bob", "dan"]
    assert "found 3 submission(s) of toy: 1 ready to grade, 2 unusable (bob, dan)" in "".join(
        messages
    )
    record = json.loads(records.record_path(course, ASSIGNMENT, "bob").read_text())
    assert record["status"] == "failed" and "notes.txt" in record["reason"]
    dan = json.loads(records.record_path(course, ASSIGNMENT, "dan").read_text())
    assert "zip inside the class zip" in dan["reason"]
    with pytest.raises(records.CourseError, match="does not exist"):
        intake.collect_submissions(course, ASSIGNMENT, tmp_path / "missing.zip")
