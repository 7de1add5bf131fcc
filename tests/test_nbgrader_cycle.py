"""The whole nbgrader cycle for each assignment, in a scratch course folder.

Release; autograde, in the sandbox with the re-run, the solution (full marks, nothing flagged),
the untouched release (zero), a release whose test cells were emptied (the original tests still
run: zero), a release that replaces every checker by a no-op (zero: the re-run outside the
notebook fails it, and it is flagged), and, for Assignments 1 and 2, a solution with an infinite
loop (that part times out, the rest is graded, the run goes on); then export and feedback.

One grading process per class (``jobs=1``): the suite's two workers already keep both cores
busy, and every grading process pays its own start (nbgrader, torch, the fork server).
"""

from __future__ import annotations

import copy
import csv
import html
import re
from pathlib import Path

import nbformat
import pytest
from notebook_edits import PATCH_CHECKERS, with_cell
from released_courses import released_course

from course_utils.grading import autograde, gradebook, intake, records

REPO = Path(__file__).resolve().parents[1]
# CPU seconds per cell, about 5 times each assignment's heaviest graded cell on the course's
# 2-core machine (Assignment 1: 0.3 s, 2: 1 s, 3: 3.3 s, the accuracy check that trains twice):
# an infinite loop burns the whole budget of every cell that calls it.
CELL_TIMEOUT_S = {"assignment1": 4, "assignment2": 8, "assignment3": 20}
# Assignment 3's looping function is called by two test cells (2 x 20 CPU s): the time-out
# itself is the same code for every assignment, so it is shown on the two cheaper ones.
WITH_INFINITE_LOOP = ("assignment1", "assignment2")

pytestmark = pytest.mark.slow


def _is(cell, key: str) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get(key))


def _write(course: Path, student: str, assignment: str, name: str, notebook) -> None:
    folder = course / "subs" / student
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / name)


def _with_infinite_loop(solution):
    """The solution with its first solved function spinning forever when called."""
    looping = copy.deepcopy(solution)
    for cell in looping.cells:
        if (
            cell.cell_type == "code"
            and _is(cell, "solution")
            and "### BEGIN SOLUTION" in cell.source
        ):
            cell.source = re.sub(
                r"^(\s*)### BEGIN SOLUTION\n",
                lambda m: f"{m.group(0)}{m.group(1)}while True:\n{m.group(1)}    pass\n",
                cell.source,
                count=1,
                flags=re.M,
            )
            return looping
    raise AssertionError("no solution cell with a BEGIN SOLUTION region")


def _with_tests_emptied(release):
    """The release with every autograded test cell's code replaced by ``pass``."""
    gutted = copy.deepcopy(release)
    for cell in gutted.cells:
        if cell.cell_type == "code" and _is(cell, "grade") and not _is(cell, "solution"):
            cell.source = "pass"
    return gutted


@pytest.mark.usefixtures("sandbox_available")
@pytest.mark.parametrize("assignment", records.assignment_names(REPO))
def test_full_nbgrader_cycle(assignment, tmp_path):
    course = released_course(assignment, tmp_path / "course")

    names = records.notebook_names(course, assignment)
    for name in names:
        solution = nbformat.read(course / "solutions" / assignment / name, as_version=4)
        release = nbformat.read(course / "assignments" / assignment / name, as_version=4)
        _write(course, "solution", assignment, name, solution)
        _write(course, "untouched", assignment, name, release)
        _write(course, "tests-emptied", assignment, name, _with_tests_emptied(release))
        _write(
            course,
            "patched-checkers",
            assignment,
            name,
            with_cell(release, PATCH_CHECKERS),
        )
        if assignment in WITH_INFINITE_LOOP:
            _write(course, "infinite-loop", assignment, name, _with_infinite_loop(solution))

    students, failures = intake.collect_submissions(
        course, assignment, course / "subs", progress=lambda _: None
    )
    assert not failures
    results = {
        r.student: r
        for r in autograde.autograde(
            course,
            assignment,
            students,
            jobs=1,
            cell_timeout=CELL_TIMEOUT_S[assignment],
            progress=lambda _: None,
            setup=records.GradingSetup(sandbox=True, seed=99),
        )
    }
    assert all(r.ok for r in results.values()), {s: r.reason for s, r in results.items()}
    honest = results["solution"]
    full = honest.max_score
    assert full > 0 and honest.score == full and not honest.flags, honest
    assert results["untouched"].score == 0
    assert results["tests-emptied"].score == 0, (
        "emptied test cells must be restored from the gradebook"
    )
    cheat = results["patched-checkers"]
    assert cheat.score == 0, cheat
    assert any("failed when re-run outside" in f for f in cheat.flags), cheat.flags
    if assignment in WITH_INFINITE_LOOP:
        looping = results["infinite-loop"]
        assert 0 < looping.score < full, f"infinite loop: {looping.score}/{full}"
        assert "time limit" in looping.reason

    rows = list(csv.DictReader(gradebook.export_grades(course, tmp_path / "grades.csv").open()))
    assert {row["student"] for row in rows} == set(students)

    feedback = gradebook.generate_feedback(course, assignment, ["untouched"])
    assert feedback
    source_text = "".join(
        cell.source
        for name in names
        for cell in nbformat.read(course / "solutions" / assignment / name, as_version=4).cells
    )
    hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source_text, re.S)
    hidden_lines = {
        line.strip() for block in hidden for line in block.splitlines() if len(line.strip()) > 20
    }
    released_text = "".join(
        cell.source
        for name in names
        for cell in nbformat.read(course / "assignments" / assignment / name, as_version=4).cells
    )
    hidden_lines = {line for line in hidden_lines if line not in released_text}
    assert hidden_lines, "the assignment should have hidden tests"
    for path in feedback:
        text = html.unescape(path.read_text(encoding="utf-8"))
        leaked = [line for line in hidden_lines if line in text]
        assert not leaked, f"hidden tests leak into feedback: {leaked[:2]}"
