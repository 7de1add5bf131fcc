"""Orchestration, the top of the grading engine: grade a class, check the course's own assignments.

Students are graded in long-lived grading processes (:mod:`course_utils.grading.pool`; one per
job, or on a Dask cluster with :mod:`course_utils.grading.cluster`), each student in a fresh
sandboxed kernel, so a submission that crashes its kernel, loops forever or is not even JSON costs
only itself, and every other grade is recorded.

Every run starts with a canary (:func:`run_canary`): the instructor's solution and the blank
release are graded first, in the course folder, by the same grading processes with the class's
settings. Unless the solution earns every autogradable point and the release none, the run
stops with a :class:`~course_utils.grading.records.CourseError` before any student is graded:
a grading environment that cannot run the course's own cells never turns into a class of zeros.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from course_utils.grading.gradebook import forget, release, release_differences
from course_utils.grading.records import (
    AUTOGRADED_DIR,
    CONFIG_FILE,
    DEFAULT_STUDENT_TIMEOUT,
    LOG_DIR,
    RELEASE_DIR,
    RELEASE_STUDENT,
    SOLUTION_STUDENT,
    SOURCE_DIR,
    SUBMITTED_DIR,
    CheckResult,
    CourseError,
    GradeResult,
    GradingSetup,
    Progress,
    gradebook_url,
    resolve_assignments,
    save_record,
)
from course_utils.grading.sandbox.bubblewrap import (
    SandboxUnavailable,
    check_sandbox,
)
from course_utils.grading.sandbox.kernel import GRADER_ENVIRONMENT
from course_utils.grading.submission import _grade_one, grader_failure

# The canary's submissions, graded in the course folder before the class. Intake never makes an
# id that starts with "_" (course_utils.grading.roster.student_id strips it), so no student's
# folder can be one of these; they are removed again, whatever happens.
CANARY_SOLUTION = "_canary-solution"
CANARY_RELEASE = "_canary-release"
CANARY_IDS = (CANARY_SOLUTION, CANARY_RELEASE)
CANARY_LOG_DIR = "canary"  # logs/canary/: the canary's logs and its cost per run
CANARY_ENV_VAR = "COURSE_CANARY"  # "0" skips the canary (test suites only)


def autograde(
    root: Path,
    assignment: str,
    students: Iterable[str] | None = None,
    jobs: int = 1,
    timeout: float = DEFAULT_STUDENT_TIMEOUT,
    cell_timeout: int | None = None,
    progress: Progress = print,
    setup: GradingSetup | None = None,
    cluster: str | None = None,
    persistent: bool = True,
    bar: bool = False,
    canary: bool | None = None,
) -> list[GradeResult]:
    """Autograde each student's submission; never stop at a failure of one student's.

    ``students`` defaults to every folder in submitted/ that holds ``assignment``. ``jobs`` > 1
    grades that many students at once (2 suits a 2-core machine). Progress is reported per student.
    ``setup`` says whether kernels are sandboxed (default: yes, and a missing sandbox is a
    ``CourseError``), their limits, and the run's secret seed for hidden cases (default: drawn
    now and reported); each graded submission is then verified outside its notebook.
    ``persistent`` (default) grades in ``jobs`` long-lived grading processes
    (:mod:`course_utils.grading.pool`), False in a new nbgrader process per student; ``cluster`` (a Dask
    scheduler's address) grades on that cluster's workers instead (:mod:`course_utils.grading.cluster`).
    ``bar`` shows a progress bar (rate, time left) and a line only per failure or flag.
    ``canary`` (default: on, unless the environment sets ``COURSE_CANARY=0``, which test
    suites do) first grades the solution and the release the same way (:func:`run_canary`) and
    raises ``CourseError`` before any student is graded unless the solution earns full marks and
    the release 0. A result whose failure lies in the course's own cells says "grader
    environment: ..." (never a student's 0).
    """
    resolve_assignments(root, [assignment])
    setup = setup or GradingSetup(seed=secrets.randbelow(2**32))
    if setup.sandbox:
        try:
            check_sandbox()
        except SandboxUnavailable as exc:
            raise CourseError(str(exc)) from None
    if students is None:
        students = sorted(
            p.parent.name
            for p in (root / SUBMITTED_DIR).glob(f"*/{assignment}")
            if p.is_dir() and p.parent.name not in CANARY_IDS
        )
    students = list(students)
    reserved = sorted(set(students) & set(CANARY_IDS))
    if reserved:
        raise CourseError(f"students: {reserved} are the canary's reserved ids, not students")
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    total, finished, started = len(students), [], time.perf_counter()
    lock = threading.Lock()

    if canary is None:
        canary = os.environ.get(CANARY_ENV_VAR, "1") != "0"
    # never more grading processes than submissions to grade at once (each one pays its start)
    jobs = min(jobs, max(total, len(CANARY_IDS) if canary else 1))
    progress(
        f"grading {total} submission(s) of {assignment} "
        f"{'in the sandbox' if setup.sandbox else 'WITHOUT a sandbox'}; hidden cases drawn with "
        f"seed {setup.seed} (--seed {setup.seed} draws them again)"
        + ("" if canary else "; NO canary (a broken grading environment would go unnoticed)")
    )

    from course_utils.grading.pool import GraderPool, progress_bar

    shown = progress_bar(total, assignment) if bar else None
    graders = GraderPool(root, jobs, root / LOG_DIR) if persistent and not cluster else None

    def grade_only(student: str) -> GradeResult:
        try:
            if graders is not None:
                result = graders.grade(assignment, student, setup, cell_timeout, timeout)
            else:
                result = _grade_one(root, assignment, student, timeout, cell_timeout, setup)
        except Exception as exc:  # a grader-side problem with one student never stops the run
            result = GradeResult(
                student, assignment, "failed", reason=f"grading failed: {type(exc).__name__}: {exc}"
            )
        return _name_grader_failure(result)

    def grade(student: str) -> GradeResult:
        return report(grade_only(student))

    def report(result: GradeResult) -> GradeResult:
        result = _name_grader_failure(result)
        student = result.student
        save_record(root, result)
        outcome = (
            f"{result.score:g}/{result.max_score:g}" if result.ok else f"FAILED: {result.reason}"
        )
        note = f" ({result.reason})" if result.ok and result.reason else ""
        if result.flags:
            note += f" [flagged for review: {len(result.flags)} finding(s); {result.flags[0]}]"
        with lock:  # one whole line at a time when graders run in parallel
            finished.append(result)
            elapsed = time.perf_counter() - started
            remaining = elapsed / len(finished) * (total - len(finished))
            line = f"[{len(finished)}/{total}] {student}: {outcome}{note} in {result.seconds:.1f} s"
            if shown is None:
                progress(f"{line}; about {remaining:.0f} s left")
            else:
                shown.update(1)
                if not result.ok or result.flags:
                    shown.write(line)
        return result

    def grade_canary(chosen: list[str]) -> list[GradeResult]:
        if cluster:
            from course_utils.grading.cluster import autograde_on_cluster

            done = autograde_on_cluster(
                root,
                assignment,
                chosen,
                cluster,
                setup,
                cell_timeout,
                timeout,
                _name_grader_failure,
                lambda _: None,
            )
            return list(done)
        if jobs == 1 or len(chosen) == 1:
            return [grade_only(student) for student in chosen]
        with ThreadPoolExecutor(max_workers=min(jobs, len(chosen))) as pool:
            return list(pool.map(grade_only, chosen))

    try:
        if canary:
            run_canary(root, assignment, grade_canary, setup, progress, stop_early=jobs == 1)
        if cluster:
            from course_utils.grading.cluster import autograde_on_cluster

            return autograde_on_cluster(
                root, assignment, students, cluster, setup, cell_timeout, timeout, report, progress
            )
        if jobs == 1:
            return [grade(student) for student in students]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(grade, students))
    finally:
        if graders is not None:
            graders.close()
        if shown is not None:
            shown.close()


def _name_grader_failure(result: GradeResult) -> GradeResult:
    """A failed result whose log shows the course's own cells failed says "grader environment"."""
    if result.ok or result.reason.startswith(GRADER_ENVIRONMENT) or not result.log:
        return result
    with contextlib.suppress(OSError):
        failure = grader_failure(Path(result.log).read_text(encoding="utf-8", errors="replace"))
        if failure:
            result.reason = failure
    return result


def _test_grades(root: Path, assignment: str, student: str) -> list[tuple[str, float, float]]:
    """(grade_id, score, max) of every autograded test cell of a graded submission."""
    from nbgrader.api import Gradebook, MissingEntry

    found = []
    with contextlib.suppress(MissingEntry), Gradebook(gradebook_url(root)) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        for notebook in submission.notebooks:
            answers = {c.name for c in notebook.notebook.solution_cells}
            for grade in notebook.grades:
                if grade.cell_type == "code" and grade.name not in answers:
                    found.append((grade.name, float(grade.score), float(grade.max_score)))
    return found


def _forget_canary(root: Path, assignment: str) -> None:
    """Remove every trace of the canary: its folders, logs, records and gradebook entries."""
    from nbgrader.api import Gradebook, MissingEntry

    kept = root / LOG_DIR / CANARY_LOG_DIR
    for student in CANARY_IDS:
        log = root / LOG_DIR / f"autograde-{assignment}-{student}.log"
        if log.is_file():
            kept.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, kept / log.name)
    present = [
        s
        for s in CANARY_IDS
        if any((root / step / s).exists() for step in (SUBMITTED_DIR, AUTOGRADED_DIR))
        or (root / LOG_DIR / f"result-{assignment}-{s}.json").exists()
    ]
    with contextlib.suppress(CourseError):
        if present:
            forget(root, assignment, present)
    with Gradebook(gradebook_url(root)) as gradebook:
        for student in CANARY_IDS:
            with contextlib.suppress(MissingEntry):
                gradebook.remove_student(student)
    for step in (SUBMITTED_DIR, AUTOGRADED_DIR, "feedback"):
        for student in CANARY_IDS:
            folder = root / step / student
            if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()


def run_canary(
    root: Path,
    assignment: str,
    grade: Callable[[list[str]], list[GradeResult]],
    setup: GradingSetup,
    progress: Progress = print,
    stop_early: bool = False,
) -> dict:
    """Grade the solution and the blank release as the class will be graded; raise unless 28/28 and 0.

    ``grade(ids)`` is the run's own way of grading (its grading processes, cluster or one
    process per student, its sandbox, limits and seed); the two notebooks are copied into
    submitted/ under :data:`CANARY_IDS` and everything of theirs is removed afterwards (their
    logs are kept in logs/canary/, with the canary's cost per run in
    logs/canary/canary-ASSIGNMENT.json). ``stop_early`` skips the release when the solution
    already failed. Raises :class:`CourseError` naming what failed; returns the record.
    """
    release_folder = root / RELEASE_DIR / assignment
    if not release_folder.is_dir():
        raise CourseError(
            f"{RELEASE_DIR}/{assignment} is missing, so the canary (the blank release graded "
            f"first) cannot run: run `course release {assignment}`"
        )
    started = time.perf_counter()
    progress(
        f"canary: grading the solution and the blank release of {assignment} as the class "
        "will be graded"
    )
    _forget_canary(root, assignment)  # what an interrupted run may have left
    problems: list[str] = []
    results: dict[str, GradeResult] = {}
    try:
        for student, origin in ((CANARY_SOLUTION, SOURCE_DIR), (CANARY_RELEASE, RELEASE_DIR)):
            shutil.copytree(root / origin / assignment, root / SUBMITTED_DIR / student / assignment)
        order = [[CANARY_SOLUTION], [CANARY_RELEASE]] if stop_early else [list(CANARY_IDS)]
        for chosen in order:
            for result in grade(chosen):
                results[result.student] = result
            solution = results.get(CANARY_SOLUTION)
            if stop_early and solution is not None and not _full_marks(solution):
                break
        problems = _canary_problems(root, assignment, results)
    finally:
        _forget_canary(root, assignment)
    seconds = time.perf_counter() - started
    record = {
        "assignment": assignment,
        "seconds": round(seconds, 1),
        "seed": setup.seed,
        "sandbox": setup.sandbox,
        "ok": not problems,
        "problems": problems,
        "solution": _summary(results.get(CANARY_SOLUTION)),
        "release": _summary(results.get(CANARY_RELEASE)),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = root / LOG_DIR / CANARY_LOG_DIR / f"canary-{assignment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    history = []
    with contextlib.suppress(OSError, ValueError):
        history = list(json.loads(path.read_text(encoding="utf-8")).get("runs", []))
    path.write_text(
        json.dumps({"runs": [*history[-49:], record]}, indent=1) + "\n", encoding="utf-8"
    )
    if problems:
        raise CourseError(
            f"the canary failed, so nothing was graded and no grade was written: "
            f"{'; '.join(problems)}. The solution must earn every autogradable point and the "
            "blank release none when graded exactly as the class is (this machine, sandbox, "
            f"limits, seed {setup.seed}); logs in {path.parent}"
        )
    solution = results[CANARY_SOLUTION]
    progress(
        f"canary passed in {seconds:.1f} s: the solution scored {solution.score:g}/"
        f"{solution.max_score:g} and the blank release 0"
    )
    return record


def _full_marks(result: GradeResult) -> bool:
    return result.ok and result.max_score > 0 and result.score == result.max_score


def _summary(result: GradeResult | None) -> dict | None:
    if result is None:
        return None
    return {
        "status": result.status,
        "score": result.score,
        "max_score": result.max_score,
        "reason": result.reason,
        "flags": result.flags[:5],
        "seconds": round(result.seconds, 1),
    }


def _canary_problems(root: Path, assignment: str, results: dict[str, GradeResult]) -> list[str]:
    """What the canary's two results say is wrong (empty when the solution is full, the release 0)."""
    problems = []
    solution, blank = results.get(CANARY_SOLUTION), results.get(CANARY_RELEASE)
    if solution is None:
        problems.append("the solution was not graded")
    elif not solution.ok:
        problems.append(f"the solution could not be graded ({solution.reason})")
    elif not _full_marks(solution):
        lost = [
            f"{gid} {score:g}/{most:g}"
            for gid, score, most in _test_grades(root, assignment, CANARY_SOLUTION)
            if score < most
        ]
        why = f"; flags: {'; '.join(solution.flags[:3])}" if solution.flags else ""
        problems.append(
            f"the solution scored {solution.score:g}/{solution.max_score:g}, not full marks "
            f"(lost: {', '.join(lost[:8]) or 'unknown'}{why})"
        )
    if blank is None:
        if solution is not None and solution.ok and _full_marks(solution):
            problems.append("the blank release was not graded")
    elif not blank.ok:
        problems.append(f"the blank release could not be graded ({blank.reason})")
    elif blank.score != 0:
        won = [
            f"{gid} {score:g}/{most:g}"
            for gid, score, most in _test_grades(root, assignment, CANARY_RELEASE)
            if score > 0
        ]
        problems.append(
            f"the blank release scored {blank.score:g}, not 0 (earned: {', '.join(won[:8])})"
        )
    return problems


# Run by environment_problems() with the course folder as working directory, as the grading
# processes run: which course_utils does the grader import, which one a sandboxed kernel?
_PROBE = """
import json, subprocess, sys, tempfile
import course_utils
from course_utils.grading.sandbox.bubblewrap import (
    SandboxUnavailable, check_sandbox, give_to_sandbox, sandbox_command)
kernel = [sys.executable, "-c", "import course_utils.checks; print(course_utils.__file__)"]
with tempfile.TemporaryDirectory(prefix="course-probe-") as folder:
    try:
        check_sandbox()
        give_to_sandbox(folder)
        kernel = sandbox_command(kernel, writable=[folder], cwd=folder)
    except SandboxUnavailable:
        pass
    done = subprocess.run(kernel, cwd=folder, capture_output=True, text=True, timeout=120)
print(json.dumps({"grader": course_utils.__file__, "kernel": done.stdout.strip(),
                  "error": done.stderr.strip()[-400:], "status": done.returncode}))
"""


def environment_problems(root: Path) -> list[str]:
    """What would keep a student's kernel from running the course's set-up cell here (empty: none).

    Started from the course folder, as the grading processes are: the course_utils the grader
    imports must be the one a sandboxed kernel imports (a course folder holding another
    course_utils, an editable install under the sandbox's private /tmp, a grader started from
    another checkout all break this).
    """
    from course_utils.grading.gradebook import _nbgrader_env

    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            cwd=root,
            env=_nbgrader_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return [f"the grading environment could not be probed ({type(exc).__name__}: {exc})"]
    grader, kernel = Path(found["grader"]).resolve(), found["kernel"]
    if found["status"] != 0 or not kernel:
        return [
            f"a sandboxed kernel cannot import course_utils (the grader uses {grader.parent}): "
            f"{found['error'][-300:] or 'exit status ' + str(found['status'])}"
        ]
    if Path(kernel).resolve() != grader:
        return [
            f"started from {root}, the grader imports course_utils from {grader.parent} but a "
            f"sandboxed kernel imports it from {Path(kernel).parent}: run the course command "
            "with the course_utils that is installed (no course_utils/ folder in the course "
            "folder, no editable install under /tmp)"
        ]
    return []


def check(
    root: Path,
    names: Iterable[str] | None = None,
    jobs: int = 1,
    progress: Progress = print,
) -> list[CheckResult]:
    """Release each assignment in a scratch course and autograde its solution and its release.

    The solution must earn every autogradable point and the release none; the committed
    assignments/ must equal a fresh release; a sandboxed kernel started from ``root`` must import
    the course_utils the grader uses (:func:`environment_problems`). Nothing in ``root`` changes.
    """
    names = resolve_assignments(root, names)
    results = []
    environment = environment_problems(root)
    try:  # our own notebooks: the sandbox is used where there is one, not required
        check_sandbox()
        sandboxed = True
    except SandboxUnavailable:
        sandboxed = False
    setup = GradingSetup(sandbox=sandboxed, seed=secrets.randbelow(2**32))
    with tempfile.TemporaryDirectory(prefix="course-check-") as scratch:
        work = Path(scratch)
        shutil.copy(root / CONFIG_FILE, work / CONFIG_FILE)
        env_backup = os.environ.pop("COURSE_DB_URL", None)
        try:
            for name in names:
                shutil.copytree(root / SOURCE_DIR / name, work / SOURCE_DIR / name)
                release(work, [name], progress=progress)
                for student, origin in (
                    (SOLUTION_STUDENT, SOURCE_DIR),
                    (RELEASE_STUDENT, RELEASE_DIR),
                ):
                    shutil.copytree(work / origin / name, work / SUBMITTED_DIR / student / name)
                graded = {
                    r.student: r
                    for r in autograde(
                        work,
                        name,
                        [SOLUTION_STUDENT, RELEASE_STUDENT],
                        jobs=jobs,
                        progress=progress,
                        setup=setup,
                    )
                }
                for result in graded.values():  # keep the logs once the scratch course is gone
                    kept = root / LOG_DIR / "check" / Path(result.log).name
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(result.log, kept)
                    result.log = str(kept)
                outcome = CheckResult(name, graded[SOLUTION_STUDENT], graded[RELEASE_STUDENT])
                outcome.problems += [f"grader environment: {p}" for p in environment]
                solution, released = outcome.solution, outcome.release
                if not solution.ok:
                    outcome.problems.append(f"the solution could not be graded: {solution.reason}")
                elif solution.max_score <= 0:
                    outcome.problems.append("the assignment has no autograded points")
                elif solution.score != solution.max_score:
                    outcome.problems.append(
                        f"the solution scores {solution.score:g}/{solution.max_score:g}, not full marks"
                    )
                if solution.flags:
                    outcome.problems.append(
                        "the solution is flagged for review: " + "; ".join(solution.flags)
                    )
                if not released.ok:
                    outcome.problems.append(f"the release could not be graded: {released.reason}")
                elif released.score != 0:
                    outcome.problems.append(
                        f"the untouched release scores {released.score:g}, not 0"
                    )
                stale = release_differences(work / RELEASE_DIR / name, root / RELEASE_DIR / name)
                if stale:
                    outcome.problems.append(
                        "assignments/ is out of date with solutions/ "
                        f"({'; '.join(stale)}): run `course release {name}`"
                    )
                results.append(outcome)
        finally:
            if env_backup is not None:
                os.environ["COURSE_DB_URL"] = env_backup
    return results
