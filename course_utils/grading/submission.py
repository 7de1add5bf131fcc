"""Grade one submission: nbgrader's autograde in the sandbox, then the re-run outside it, scores, notes.

Used by a grading process (:mod:`course_utils.grading.pool`) and by the one-process-per-student
path of :func:`course_utils.grading.autograde.autograde`.

Fails closed. A failure of the course's own cells (the set-up, before anything of the
student's ran: :class:`~course_utils.grading.sandbox.kernel.GraderEnvironmentError`, or the
set-up cell in the re-run's worker) is the grader's: status "failed", reason "grader
environment: ...", never a student's 0. A re-run that cannot be done at all (it crashed, timed
out, or its report cannot be read) scores every test that passed in the notebook 0 and says so
in the review column: a notebook's own score never stands unverified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from course_utils.grading.gradebook import (
    _failure_reason,
    _graded_answers,
    _keep_manual_grades,
    _nbgrader_env,
    describe_incident,
    incidents,
    read_scores,
    run_nbgrader,
)
from course_utils.grading.records import (
    AUTOGRADED_DIR,
    LOG_DIR,
    GradeResult,
    GradingSetup,
    report_path,
)
from course_utils.grading.sandbox.kernel import GRADER_ENVIRONMENT, GRADER_FAILURE_MARKER

# What the executor writes into a cell that ran out of time (course_utils.grading.sandbox.kernel)
TIMEOUT_ERRORS = ("CellTimeoutError",)
NOT_RUN_ERRORS = ("NotebookTimeBudgetError",)


def grader_failure(output: str) -> str:
    """The reason a grading run failed in the course's own cells ("grader environment: ..."), or ""."""
    for line in output.splitlines():
        if GRADER_FAILURE_MARKER in line:
            try:
                found = json.loads(line.split(GRADER_FAILURE_MARKER, 1)[1])
            except ValueError:
                found = {}
            cell = found.get("grade_id") if isinstance(found, dict) else None
            error = found.get("error", "") if isinstance(found, dict) else ""
            return (
                f"{GRADER_ENVIRONMENT}: the course's set-up cell {cell or ''} failed before any of "
                f"the student's code ran ({str(error)[:300]}); fix the grading environment "
                "(is course_utils importable in the sandbox?) and grade again"
            )
    return ""


def _grade_one(
    root: Path,
    assignment: str,
    student: str,
    timeout: float,
    cell_timeout: int | None,
    setup: GradingSetup,
) -> GradeResult:
    log_path = root / LOG_DIR / f"autograde-{assignment}-{student}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = ["autograde", assignment, "--student", student, "--force"]
    if cell_timeout is not None:
        args.append(f"--Execute.timeout={int(cell_timeout)}")
    graded_by_hand = _graded_answers(root, assignment, student)
    start = time.perf_counter()
    result = GradeResult(student, assignment, "failed", log=str(log_path))
    try:
        done = run_nbgrader(root, args, timeout=timeout, env=setup.env())
        output = done.stdout + done.stderr
        returncode = done.returncode
    except subprocess.TimeoutExpired as exc:
        output = f"{exc.stdout or ''}{exc.stderr or ''}"
        output = output.decode(errors="replace") if isinstance(output, bytes) else output
        returncode = None
    result.seconds = time.perf_counter() - start
    log_path.write_text(output, encoding="utf-8")
    graded = list((root / AUTOGRADED_DIR / student / assignment).glob("*.ipynb"))
    if returncode is None:
        result.reason = f"grading took longer than {timeout:.0f} s and was stopped"
    elif returncode != 0 or not graded:
        result.reason = grader_failure(output) or _failure_reason(output)
    else:
        finish_graded(root, result, output, setup, cell_timeout, graded_by_hand)
    return result


def finish_graded(
    root: Path,
    result: GradeResult,
    output: str,
    setup: GradingSetup,
    cell_timeout: int | None,
    graded_by_hand: dict[tuple[str, str], str],
) -> None:
    """Complete the result of a notebook nbgrader graded: verify, scores, notes, flags."""
    assignment, student = result.assignment, result.student
    result.status = "graded"
    failure = grader_failure(output)
    if failure:  # cannot happen after a run nbgrader finished; never let it pass as a grade
        result.status, result.reason = "failed", failure
        return
    if setup.verify:
        problem = _verify(root, assignment, student, setup, cell_timeout, result)
        if problem.startswith(GRADER_ENVIRONMENT):
            result.status, result.reason = "failed", problem
            return
        if problem:
            result.flags.append(problem)
    kept = _keep_manual_grades(root, assignment, student, graded_by_hand)
    result.score, result.max_score, manual = read_scores(root, assignment, student)
    lost = incidents(output)
    notes = [describe_incident(incident) for incident in lost]
    result.flags += [f"{note}: check by hand" for note in notes]
    out_of_time, not_run = _timed_out_cells(root, assignment, student, lost)
    if out_of_time:
        notes.append(
            f"{out_of_time} cell(s) ran out of time and were stopped at the time limit "
            "(they scored 0)"
        )
    if not_run:
        notes.append(f"{not_run} cell(s) not run: the notebook's time budget was used up")
    if manual:
        notes.append(f"+{manual:g} points of written answers to grade by hand")
    if kept:
        notes.append(f"{kept} answer(s) graded by hand before were unchanged; their grades stand")
    result.reason = "; ".join(notes)


def _timed_out_cells(
    root: Path, assignment: str, student: str, lost: list[dict]
) -> tuple[int, int]:
    """(cells stopped for running out of time, cells not run for the notebook's budget), each
    cell counted once (an interrupted cell holds two errors: the interrupt and the reason), the
    cells lost to an unresponsive kernel left to their incident notes."""
    lost_cells = {i.get("cell") for i in lost}
    out_of_time = not_run = 0
    for path in sorted((root / AUTOGRADED_DIR / student / assignment).glob("*.ipynb")):
        try:
            cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        except (OSError, ValueError):
            continue
        for index, cell in enumerate(cells):
            errors = [o for o in cell.get("outputs", []) if isinstance(o, dict)]
            stopped = [
                o
                for o in errors
                if o.get("ename") in TIMEOUT_ERRORS
                and not str(o.get("evalue", "")).startswith("not run")
            ]
            if stopped and index not in lost_cells:
                out_of_time += 1
            elif any(o.get("ename") in NOT_RUN_ERRORS for o in errors):
                not_run += 1
    return out_of_time, not_run


VERIFY_IN_PROCESS = False  # set by course_utils.grading.pool's long-lived grading process


def _verify(
    root: Path,
    assignment: str,
    student: str,
    setup: GradingSetup,
    cell_timeout: int | None,
    result: GradeResult,
) -> str:
    """Re-run the passed tests outside the student's process (course_utils.grading.verify).

    Returns "" when it ran (its flags are added to ``result``), a reason starting with "grader
    environment" when the course's own set-up failed there, else the flag saying that the re-run
    could not be done and every test that passed in the notebook was scored 0.
    """
    cell = cell_timeout or int(os.environ.get("COURSE_CELL_TIMEOUT", "60"))
    seconds = max(
        2 * cell, cell + 30
    )  # the re-run adds a process boundary: more room than in the notebook
    command = [
        sys.executable,
        "-m",
        "course_utils.grading.verify",
        str(root),
        assignment,
        student,
        f"--seed={setup.seed}",
        f"--cell-timeout={seconds}",
    ]
    if not setup.sandbox:
        command.append("--no-sandbox")
    path = report_path(root, assignment, student)
    path.unlink(missing_ok=True)  # an earlier run's report must not stand for this one
    if VERIFY_IN_PROCESS:  # a long-lived grading process (course_utils.grading.pool)
        problem = verify_in_process(root, assignment, student, setup, seconds)
    else:
        try:
            done = subprocess.run(
                command,
                cwd=root,
                env=_nbgrader_env(setup.env()),
                capture_output=True,
                text=True,
                timeout=2 * setup.limits.notebook_seconds + 120,
            )
        except subprocess.TimeoutExpired:
            problem = "it did not finish in time"
        else:
            with open(result.log, "a", encoding="utf-8") as log:
                log.write(f"\n--- verification (seed {setup.seed}) ---\n{done.stdout}{done.stderr}")
            problem = "" if done.returncode == 0 else f"it ended with exit status {done.returncode}"
    if not problem:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            grader_error = str(report.get("grader_error") or "")
            flags = [str(flag) for flag in report.get("flags", [])]
        except (OSError, ValueError, AttributeError) as exc:
            problem = f"its report could not be read ({type(exc).__name__})"
        else:
            if grader_error:
                return grader_error
            result.flags += flags
            return ""
    return _score_unverified(root, assignment, student, problem)


def _score_unverified(root: Path, assignment: str, student: str, problem: str) -> str:
    """Score 0 what the notebook earned, since the re-run could not be done; return the flag."""
    from course_utils.grading.verify import zero_unverified

    reason = f"the re-run of the tests outside the notebook failed: {problem}"
    try:
        removed = zero_unverified(root, assignment, student, reason)
    except Exception as exc:  # noqa: BLE001 (then no grade at all: the caller sees a failure)
        raise RuntimeError(
            f"{reason}, and its points could not be taken back ({type(exc).__name__}: {exc})"
        ) from exc
    return (
        f"{reason}; the {removed:g} point(s) the notebook earned score 0 until a person looks "
        "(see the log)"
    )


def _nbgrader_api(root: Path, cell_timeout: int | None):
    """Return an ``NbGraderAPI`` configured as ``nbgrader`` run in ``root`` would be."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    if cell_timeout is not None:
        config.Execute.timeout = int(cell_timeout)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config)


def verify_in_process(root: Path, assignment: str, student: str, setup, cell_seconds: float) -> str:
    """Verify a graded submission here (no new process); write its report; return what went wrong, if anything."""
    from course_utils.grading.verify import verify_submission

    try:
        report = verify_submission(
            root,
            assignment,
            student,
            seed=setup.seed,
            sandbox=setup.sandbox,
            limits=setup.limits,
            cell_seconds=cell_seconds,
        )
    except Exception as exc:  # noqa: BLE001 (any failure: the caller scores the notebook 0)
        return f"it crashed ({type(exc).__name__}: {str(exc)[:200]})"
    path = report_path(root, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=1) + "\n", encoding="utf-8")
    return ""
