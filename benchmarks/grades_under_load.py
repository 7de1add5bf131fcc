"""The same grades on an idle and on a busy machine (issue 22, item 3): a load experiment.

A class is graded twice by ``course autograde``'s own path: once as the machine is, once beside
16 processes that burn CPU, each in a session of its own (so each is its own scheduler autogroup
and takes its share of the cores from the grader, as other users' jobs do). Limits count CPU
seconds of the student's sandbox, so the scores must be identical. The cell budget is 2 CPU
seconds here so that the test is quick and wall-clock limits would visibly fail it: beside 16
busy sessions on 2 cores a cell gets about 2/17 of a core, so a test cell of 0.4 CPU seconds
takes over 3 s of wall-clock time (with ``COURSE_LIMIT_WALL_FACTOR=1``, cells limited by
wall-clock time as before, the busy run loses points).

It takes about 7 minutes on 2 cores and loads the machine on purpose, so it is a benchmark, not
part of the test suite (the suite keeps the fast proof that a cell's limit is CPU time:
tests/test_limits.py, a 4 s sleep under a 2 s CPU limit). Run from the repository root, as root
or where bubblewrap works:

    .venv/bin/python benchmarks/grades_under_load.py
    .venv/bin/python benchmarks/grades_under_load.py --busy 8
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course_utils.grading import autograde, intake, records
from course_utils.grading.sandbox.bubblewrap import check_sandbox

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the test suite's cached release of an assignment
from released_courses import released_course  # noqa: E402

ASSIGNMENT = "assignment1"
BUSY_PROCESSES = 16
CELL_CPU_SECONDS = 2  # the heaviest test cell here takes about 0.4 s of CPU time
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


def grades_idle_and_busy(tmp_path: Path, busy_processes: int = BUSY_PROCESSES) -> None:
    """Grade a plain-loop solution and a blank release idle, then beside ``busy_processes``
    CPU burners; raise AssertionError unless the grades are the same."""
    check_sandbox()
    course = released_course(ASSIGNMENT, tmp_path / "course")
    name = records.notebook_names(course, ASSIGNMENT)[0]
    solution = nbformat.read(course / "solutions" / ASSIGNMENT / name, as_version=4)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / name, as_version=4)
    for student, notebook in (("plain", plain_loop_solution(solution)), ("blank", release)):
        folder = course / "subs" / student
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / name)
    students, failures = intake.collect_submissions(
        course, ASSIGNMENT, course / "subs", progress=lambda _: None
    )
    assert not failures and sorted(students) == ["blank", "plain"]

    started = time.monotonic()
    idle = _grade(course, students)
    idle_seconds = time.monotonic() - started
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True:\n    pass"], start_new_session=True)
        for _ in range(busy_processes)
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
    print(f"graded idle in {idle_seconds:.0f} s, beside {busy_processes} busy processes in "
          f"{busy_seconds:.0f} s: {idle} / {busy}")  # fmt: skip
    assert idle["plain"][0] == "graded" and idle["blank"][0] == "graded", idle
    assert idle["plain"][1] == idle["plain"][2] > 0, idle  # slow and correct: full marks
    assert idle["blank"][1] == 0, idle
    assert {s: r[:3] for s, r in busy.items()} == {s: r[:3] for s, r in idle.items()}
    assert busy_seconds > idle_seconds  # the load was real
    print("the same grades idle and busy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", type=int, default=BUSY_PROCESSES, help="CPU burners to start")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="grades-under-load-") as folder:
        grades_idle_and_busy(Path(folder), args.busy)


if __name__ == "__main__":
    main()
