"""The long-lived grading process (course_utils.grading.pool): isolation between students, time limits."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat
import pytest
from released_courses import released_course

from course_utils.grading import intake, records
from course_utils.grading.pool import GraderProcess
from course_utils.grading.sandbox.bubblewrap import Limits, SandboxUnavailable, check_sandbox

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "assignment1"
NOTEBOOK = "conv1d.ipynb"
FORGE = (
    "import os, sys, json\n"
    "_fake = {'ok': True, 'result': {'student': 'x', 'assignment': 'assignment1', "
    "'status': 'graded', 'score': 99.0, 'max_score': 99.0}, 'timings': {}}\n"
    "for _fd in (0, 1, 2):\n"
    "    try:\n"
    "        os.write(_fd, (json.dumps(_fake) + '\\n').encode())\n"
    "    except OSError:\n"
    "        pass\n"
)
# Kills the kernel's parent: the fork server of the student's session, or (shared server) the
# init of the kernel's own PID namespace (course_utils.grading.sandbox.zygote).
SABOTAGE = "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\nexcept OSError:\n    pass\n"


@pytest.fixture(scope="module")
def setup() -> records.GradingSetup:
    try:
        check_sandbox()
        sandboxed = True
    except SandboxUnavailable as exc:
        if os.environ.get("COURSE_REQUIRE_SANDBOX"):
            pytest.fail(f"the sandbox is required here but cannot start: {exc}")
        sandboxed = False
    return records.GradingSetup(sandbox=sandboxed, seed=3, limits=Limits())


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A scratch course: a blank submission that writes forged answers to fds 0-2, and an honest one."""
    root = tmp_path_factory.mktemp("grader-course")
    released_course(ASSIGNMENT, root)
    released = nbformat.read(root / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4)
    forged = copy.deepcopy(released)
    first = next(i for i, c in enumerate(forged.cells) if c.cell_type == "code")
    forged.cells.insert(first + 1, nbformat.v4.new_code_cell(FORGE))
    solution = nbformat.read(root / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    saboteur = copy.deepcopy(solution)
    saboteur.cells.insert(first + 1, nbformat.v4.new_code_cell(SABOTAGE))
    for student, notebook in (("forger", forged), ("honest", solution), ("saboteur", saboteur)):
        (root / "subs" / student).mkdir(parents=True)
        nbformat.write(notebook, root / "subs" / student / NOTEBOOK)
    ready, failures = intake.collect_submissions(
        root, ASSIGNMENT, root / "subs", progress=lambda _: None
    )
    assert not failures and sorted(ready) == ["forger", "honest", "saboteur"]
    return root


def test_a_submission_cannot_answer_for_the_grader(course, setup):
    """Writes to the kernel's inherited descriptors never reach the grader's channel."""
    with GraderProcess(course, course / "logs" / "grader-test.log") as grader:
        forged, _ = grader.grade(ASSIGNMENT, "forger", setup, None, 900)
        honest, timings = grader.grade(ASSIGNMENT, "honest", setup, None, 900)
        assert grader.starts == 1  # one process graded both
    assert forged.student == "forger" and forged.ok, forged
    assert forged.score == 0 and forged.max_score != 99
    assert honest.ok and honest.score == honest.max_score > 0, honest
    assert {"nbgrader", "verify and scores"} <= set(timings)


def test_a_grading_process_past_its_time_is_replaced(course, setup):
    with GraderProcess(course) as grader:
        late, _ = grader.grade(ASSIGNMENT, "honest", setup, None, timeout=0.5)
        assert not late.ok and "longer than" in late.reason
        assert grader.process is None  # killed, with its kernel
        again, _ = grader.grade(ASSIGNMENT, "honest", setup, None, timeout=900)
        assert grader.starts == 2
    assert again.ok and again.score == again.max_score > 0, again


def test_a_cell_cannot_kill_the_fork_server(course, setup):
    """Full marks when a cell tries to kill the process that forked its kernel."""
    log = course / "logs" / "grader-sabotage.log"
    with GraderProcess(course, log) as grader:
        honest, _ = grader.grade(ASSIGNMENT, "honest", setup, None, 900)
        sabotaged, _ = grader.grade(ASSIGNMENT, "saboteur", setup, None, 900)
    assert honest.ok and honest.score == honest.max_score > 0, honest
    assert sabotaged.ok and sabotaged.score == honest.score, sabotaged
    if setup.sandbox:  # the kernels were forked: from the shared server as root, else per student
        shared = os.geteuid() == 0
        kernel_log = course / "logs" / f"autograde-{ASSIGNMENT}-saboteur.log"  # the kernel's
        started = [line for line in kernel_log.read_text().splitlines() if "kernel started" in line]
        home = "course-homes-" if shared else "course-session-"
        assert started and all(home in line for line in started), started
