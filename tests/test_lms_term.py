"""A term on Canvas, graded for real: roster, Canvas's download, `course autograde`, a person's
hand grades that survive a re-grade that stopped half-way, and Canvas's import file.

The assignment is tiny (a function, a 2-point written answer, a 3-point test) so that nbgrader,
the sandbox and the verification all run in a few seconds per student.
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
from course_utils.grading import gradebook, records

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("lms-term")]

ASSIGNMENT = "toy"
CELLS = [
    (
        "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
        {"grade": False, "grade_id": "add", "locked": False, "solution": True},
        False,
    ),
    (
        "Why does addition commute?\n\n=== BEGIN MARK SCHEME ===\nany\n=== END MARK SCHEME ===",
        {"grade": True, "grade_id": "explain", "locked": False, "points": 2, "solution": True},
        True,
    ),
    (
        '"""add adds"""\nassert add(1, 2) == 3, "add(1, 2) should be 3: is it a + b?"',
        {"grade": True, "grade_id": "test_add", "locked": True, "points": 3, "solution": False},
        False,
    ),
]
ROSTER = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Toy (777)\n"
    "    Points Possible,,,,,5\n"
    '"Smith, Alice",10234,S001,asmith,CNN 2026,\n'
    '"Brown, Zoë",10235,S002,zbrown,CNN 2026,\n'
    '"Петрова, Анна",10237,S003,apetrova,CNN 2026,\n'
    '"Lee, Carol",10239,S004,clee,CNN 2026,\n'
)


@pytest.fixture()
def course(tmp_path, repo_root) -> Path:
    root = tmp_path / "course"
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(repo_root / "nbgrader_config.py", root)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    for source, meta, markdown in CELLS:
        cell = (nbformat.v4.new_markdown_cell if markdown else nbformat.v4.new_code_cell)(source)
        cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **meta}
        notebook.cells.append(cell)
    nbformat.write(notebook, root / "solutions" / ASSIGNMENT / "toy.ipynb")
    gradebook.release(root, [ASSIGNMENT], progress=lambda _: None)
    return root


def _work(course: Path, code: str, written: str) -> str:
    notebook = nbformat.read(course / "assignments" / ASSIGNMENT / "toy.ipynb", as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "add":
            cell.source = code
        elif grade_id == "explain":
            cell.source = written
    return nbformat.writes(notebook)


def _course(course: Path, *args: str) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = cli.main(["--root", str(course), *args])
    return status, printed.getvalue()


def _export(course: Path) -> dict[str, dict]:
    status, _ = _course(course, "export", "--to", str(course / "grades" / "all.csv"))
    assert status == 0
    return {r["student"]: r for r in csv.DictReader((course / "grades" / "all.csv").open())}


def test_a_canvas_term_graded_for_real(course, tmp_path, sandbox_available):
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    download = tmp_path / "submissions.zip"
    right, wrong = "def add(a, b):\n    return a + b", "def add(a, b):\n    return a - b"
    with zipfile.ZipFile(download, "w") as archive:
        archive.writestr("smithalice_10234_1_toy.ipynb", _work(course, right, "a + b = b + a"))
        archive.writestr(  # late, and Canvas renamed the resubmitted file
            "brownzoë_LATE_10235_2_toy-1.ipynb", _work(course, right, "Because.")
        )
        archive.writestr("петроваанна_10237_3_toy.ipynb", _work(course, wrong, "It does."))
    status, printed = _course(
        course,
        "autograde",
        ASSIGNMENT,
        str(download),
        "--roster",
        str(tmp_path / "roster.csv"),
        "--cell-timeout",
        "20",
        "--no-progress-bar",
    )
    assert status == 0, printed
    rows = _export(course)
    assert set(rows) == {"asmith", "zbrown", "apetrova", "clee"}  # one row each, by roster id
    assert [rows[s]["score"] for s in ("asmith", "zbrown", "apetrova")] == ["3.0", "3.0", "0.0"]
    assert rows["zbrown"]["late"] == "late (marked by canvas)"
    assert (rows["clee"]["status"], rows["clee"]["score"]) == ("missing", "0.0")
    assert rows["asmith"]["status"] == "needs manual grading"

    from nbgrader.api import Gradebook

    with Gradebook(records.gradebook_url(course)) as book:  # a person grades Alice's answer
        grade = book.find_grade("explain", "toy", ASSIGNMENT, "asmith")
        grade.manual_score, grade.needs_manual_grade = 2.0, False
        book.db.commit()
    assert _export(course)["asmith"]["status"] == "graded"

    # A re-grade that stopped after nbgrader's autograde (a crash, a killed grader): nbgrader has
    # marked the hand-graded answer for review again, and nothing restored it.
    first = gradebook._graded_answers(course, ASSIGNMENT, "asmith")
    assert list(first) == [("toy", "explain")]
    done = gradebook.run_nbgrader(
        course,
        ["autograde", ASSIGNMENT, "--student", "asmith", "--force"],
        env={"COURSE_SANDBOX": "0"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _export(course)["asmith"]["status"] == "needs manual grading"

    status, printed = _course(course, "autograde", ASSIGNMENT, "--no-progress-bar")
    assert status == 0, printed
    alice = _export(course)["asmith"]
    assert (alice["status"], alice["score"]) == ("graded", "5.0"), alice
    assert "graded by hand before were unchanged; their grades stand" in alice["reason"]

    status, printed = _course(
        course, "export", "--lms", "canvas", "--assignment", ASSIGNMENT, "--column", "Toy (777)"
    )
    assert status == 0, printed
    with (course / "grades" / "toy-canvas.csv").open(encoding="utf-8") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0][-1] == "Toy (777)" and canvas[1][-1] == "5"
    grades = {row[1]: row[-1] for row in canvas[2:]}
    # Zoë's and Anna's written answers wait for a person: blank, never 0
    assert grades == {"10234": "5", "10235": "", "10237": "", "10239": "0"}
