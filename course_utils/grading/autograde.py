"""Orchestration, the top of the grading engine: grade a class, check the course's own assignments.

Students are graded in long-lived grading processes (:mod:`course_utils.grading.pool`; one per
job, or on a Dask cluster with :mod:`course_utils.grading.cluster`), each student in a fresh
sandboxed kernel, so a submission that crashes its kernel, loops forever or is not even JSON costs
only itself, and every other grade is recorded.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from course_utils.grading.gradebook import release, release_differences
from course_utils.grading.records import (
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
    resolve_assignments,
    save_record,
)
from course_utils.grading.sandbox.bubblewrap import (
    SandboxUnavailable,
    check_sandbox,
)
from course_utils.grading.submission import _grade_one


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
) -> list[GradeResult]:
    """Autograde each student's submission; never stop at a failure.

    ``students`` defaults to every folder in submitted/ that holds ``assignment``. ``jobs`` > 1
    grades that many students at once (2 suits a 2-core machine). Progress is reported per student.
    ``setup`` says whether kernels are sandboxed (default: yes, and a missing sandbox is a
    ``CourseError``), their limits, and the run's secret seed for hidden cases (default: drawn
    now and reported); each graded submission is then verified outside its notebook.
    ``persistent`` (default) grades in ``jobs`` long-lived grading processes
    (:mod:`course_utils.grading.pool`), False in a new nbgrader process per student; ``cluster`` (a Dask
    scheduler's address) grades on that cluster's workers instead (:mod:`course_utils.grading.cluster`).
    ``bar`` shows a progress bar (rate, time left) and a line only per failure or flag.
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
            p.parent.name for p in (root / SUBMITTED_DIR).glob(f"*/{assignment}") if p.is_dir()
        )
    students = list(students)
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    total, finished, started = len(students), [], time.perf_counter()
    lock = threading.Lock()

    progress(
        f"grading {total} submission(s) of {assignment} "
        f"{'in the sandbox' if setup.sandbox else 'WITHOUT a sandbox'}; hidden cases drawn with "
        f"seed {setup.seed} (--seed {setup.seed} draws them again)"
    )

    from course_utils.grading.pool import GraderPool, progress_bar

    shown = progress_bar(total, assignment) if bar else None
    graders = GraderPool(root, jobs, root / LOG_DIR) if persistent and not cluster else None

    def grade(student: str) -> GradeResult:
        try:
            if graders is not None:
                result = graders.grade(assignment, student, setup, cell_timeout, timeout)
            else:
                result = _grade_one(root, assignment, student, timeout, cell_timeout, setup)
        except Exception as exc:  # a grader-side problem with one student never stops the run
            result = GradeResult(
                student, assignment, "failed", reason=f"grading failed: {type(exc).__name__}: {exc}"
            )
        return report(result)

    def report(result: GradeResult) -> GradeResult:
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

    try:
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


def check(
    root: Path,
    names: Iterable[str] | None = None,
    jobs: int = 1,
    progress: Progress = print,
) -> list[CheckResult]:
    """Release each assignment in a scratch course and autograde its solution and its release.

    The solution must earn every autogradable point and the release none; the committed
    assignments/ must equal a fresh release. Nothing in ``root`` changes.
    """
    names = resolve_assignments(root, names)
    results = []
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
