"""Grade one submission: nbgrader's autograde in the sandbox, then the re-run outside it, scores, notes.

Used by a grading process (:mod:`course_utils.grading.pool`) and by the one-process-per-student
path of :func:`course_utils.grading.autograde.autograde`.
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
    read_flags,
    report_path,
)


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
        result.reason = _failure_reason(output)
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
    if setup.verify:
        problem = _verify(root, assignment, student, setup, cell_timeout, result)
        if problem:
            result.flags.append(problem)
    kept = _keep_manual_grades(root, assignment, student, graded_by_hand)
    result.score, result.max_score, manual = read_scores(root, assignment, student)
    notes = [describe_incident(incident) for incident in incidents(output)]
    result.flags += [f"{note}: check by hand" for note in notes]
    interrupted = output.count("Timeout waiting for execute reply") - sum(
        1 for i in incidents(output) if i.get("kind") == "uninterruptible timeout"
    )
    if interrupted > 0:
        notes.append(
            f"{interrupted} cell(s) ran past the time limit and were interrupted (they scored 0)"
        )
    if manual:
        notes.append(f"+{manual:g} points of written answers to grade by hand")
    if kept:
        notes.append(f"{kept} answer(s) graded by hand before were unchanged; their grades stand")
    result.reason = "; ".join(notes)


VERIFY_IN_PROCESS = False  # set by course_utils.grading.pool's long-lived grading process


def _verify(
    root: Path,
    assignment: str,
    student: str,
    setup: GradingSetup,
    cell_timeout: int | None,
    result: GradeResult,
) -> str:
    """Re-run the passed tests outside the student's process (course_utils.grading.verify); return a problem, if any."""
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
    if (
        VERIFY_IN_PROCESS
    ):  # a long-lived grading process (course_utils.grading.pool): no new process
        from course_utils.grading.submission import verify_in_process

        problem = verify_in_process(root, assignment, student, setup, seconds)
        if not problem:
            result.flags += read_flags(root, assignment, student)
        return problem
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
        return "the re-run of the tests outside the notebook did not finish; grade not verified"
    with open(result.log, "a", encoding="utf-8") as log:
        log.write(f"\n--- verification (seed {setup.seed}) ---\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        return (
            "the re-run of the tests outside the notebook failed (see the log); grade not verified"
        )
    result.flags += read_flags(root, assignment, student)
    return ""


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
    """Verify a graded submission here (no new process); write its report; return a problem, if any."""
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
    except Exception as exc:  # noqa: BLE001 (any failure leaves the grade unverified, never lost)
        return (
            "the re-run of the tests outside the notebook failed "
            f"({type(exc).__name__}: {str(exc)[:200]}); grade not verified"
        )
    path = report_path(root, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=1) + "\n", encoding="utf-8")
    return ""
