"""The same grades on an idle and on a busy machine (issue 22, item 3).

A slow, correct submission is graded twice by ``course autograde``'s own path: once as the
machine is, once beside 8 processes that burn CPU, each in a session of its own (so each is its
own scheduler autogroup and takes its share of the cores from the grader, as other users' jobs
do). Limits count CPU seconds of the student's sandbox, so the scores must be identical. The cell
budget is 1 CPU second here so that the test is quick and wall-clock limits would visibly fail
it: beside 8 busy sessions on 2 cores a cell gets about 2/9 of a core, so a test cell of 0.4 CPU
seconds takes about 2 s of wall-clock time (with ``COURSE_LIMIT_WALL_FACTOR=1``, cells limited
by wall-clock time as before, the busy run loses points). Fewer burners than the 16 of before:
while they run, the test on the suite's other worker gets a share of the cores too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from released_courses import released_course

from course_utils.grading import autograde, intake, records
from course_utils.grading.sandbox.bubblewrap import SandboxUnavailable, check_sandbox

pytestmark = pytest.mark.slow

ASSIGNMENT = "assignment1"
BUSY_PROCESSES = 8
CELL_CPU_SECONDS = 1  # the heaviest test cell here takes about 0.4 s of CPU time
VECTORISED = """    for t in range(l_out):
        start = t * stride
        window = x_pad[:, :, start : start + span : dilation]  # (N, C_in, K): the receptive field
        for c in range(c_in):  # every filter spans all input channels
            y[:, :, t] += window[:, c, :] @ w[:, c, :].T  # (N, K) @ (K, C_out)
"""
PLAIN_LOOPS = """    for n in range(x.shape[0]):  # plain loops: slow, and correct
        for f in range(c_out):
            for t in range(l_out):
                total = 0.0
                for c in range(c_in):
                    for i in range(k):
                        total += w[f, c, i] * x_pad[n, c, t * stride + i * dilation]
                y[n, f, t] = total
"""


def plain_loop_solution(solution):
    """The solution with conv1d written as five plain loops (CS231n's "naive" style)."""
    plain = nbformat.from_dict(nbformat.reads(nbformat.writes(solution), as_version=4))
    cell = next(c for c in plain.cells if c.cell_type == "code" and "def conv1d(" in c.source)
    assert VECTORISED in cell.source, "the solution's conv1d changed: update this test"
    cell.source = cell.source.replace(VECTORISED, PLAIN_LOOPS)
    return plain


def _grade(course: Path, students: list[str]) -> dict[str, tuple[str, float, str]]:
    results = autograde.autograde(
        course,
        ASSIGNMENT,
        students,
        jobs=1,
        cell_timeout=CELL_CPU_SECONDS,
        progress=lambda _: None,
        canary=False,
    )
    return {r.student: (r.status, r.score, r.max_score, r.reason) for r in results}


def test_the_same_grades_idle_and_beside_busy_processes(tmp_path):
    try:
        check_sandbox()
    except SandboxUnavailable as exc:
        if os.environ.get("COURSE_REQUIRE_SANDBOX"):
            pytest.fail(f"the sandbox is required here but cannot start: {exc}")
        pytest.skip(f"no sandbox here: {exc}")
    course = released_course(ASSIGNMENT, tmp_path / "course")
    name = records.notebook_names(course, ASSIGNMENT)[0]
    solution = nbformat.read(course / "solutions" / ASSIGNMENT / name, as_version=4)
    # One honest student whose code is slow: what wall-clock limits punished under load. (A blank
    # release would only add its 0 and the re-runs that name its mistakes, about a minute here.)
    folder = course / "subs" / "plain"
    folder.mkdir(parents=True)
    nbformat.write(plain_loop_solution(solution), folder / name)
    students, failures = intake.collect_submissions(
        course, ASSIGNMENT, course / "subs", progress=lambda _: None
    )
    assert not failures and students == ["plain"]

    started = time.monotonic()
    idle = _grade(course, students)
    idle_seconds = time.monotonic() - started
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True:\n    pass"], start_new_session=True)
        for _ in range(BUSY_PROCESSES)
    ]
    try:
        started = time.monotonic()
        busy = _grade(course, students)
        busy_seconds = time.monotonic() - started
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait()
    print(f"graded idle in {idle_seconds:.0f} s, beside {BUSY_PROCESSES} busy processes in "
          f"{busy_seconds:.0f} s: {idle} / {busy}")  # fmt: skip
    assert idle["plain"][0] == "graded", idle
    assert idle["plain"][1] == idle["plain"][2] > 0, idle  # slow and correct: full marks
    assert {s: r[:3] for s, r in busy.items()} == {s: r[:3] for s, r in idle.items()}
    assert busy_seconds > idle_seconds  # the load was real
