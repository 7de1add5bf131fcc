"""Grading on a Dask cluster: ``course autograde ASSIGNMENT --cluster ADDRESS``.

The course's machine (the *client*) submits one Dask task per student to a ``dask.distributed``
scheduler; each worker grades its tasks in a long-lived grading process of its own
(:class:`course_utils.grading.pool.GraderProcess`: nbgrader's autograde in the bubblewrap sandbox, then
the verification), so the per-student cost is the same as on one machine. Dask does the
scheduling, the retries (a task whose worker dies is run again on another worker) and the
dashboard; nothing here is a job queue of our own.

What the workers need: the same Python environment (this package, nbgrader, bubblewrap) and the
course folder at the same path (a shared file system: NFS, a cluster's home directory). The
gradebook is ``COURSE_DB_URL`` (PostgreSQL when the workers are on several machines; nbgrader
writes each student's grades in its own transactions, so a worker that dies loses nothing that
was committed and its student is graded again elsewhere). Grade records, the CSV and the
progress are written by the client alone.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_LOCAL = threading.local()  # one grading process per worker thread


def grade_task(
    root: str,
    assignment: str,
    student: str,
    setup: dict[str, Any],
    cell_timeout: int | None,
    timeout: float,
    env: dict[str, str],
) -> dict[str, Any]:
    """Grade one submission on a Dask worker; return the GradeResult as a dict (runs on the worker)."""
    from dataclasses import asdict

    from course_utils.grading.pool import GraderProcess, _setup_from_dict

    graders: dict[str, GraderProcess] = getattr(_LOCAL, "graders", None) or {}
    _LOCAL.graders = graders
    if root not in graders:
        log = Path(root) / "logs" / f"grader-{os.uname().nodename}-{os.getpid()}.log"
        graders[root] = GraderProcess(Path(root), log)
    result, timings = graders[root].grade(
        assignment, student, _setup_from_dict(setup), cell_timeout, timeout, env=env
    )
    return {**asdict(result), "worker": os.uname().nodename, "timings": timings}


def _register_students(db_url: str, assignment: str, students: list[str]) -> None:
    """Add every student to the gradebook once, from the client, before the workers start."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        gradebook.find_assignment(assignment)  # released there, else a clear error now
        for student in students:
            gradebook.update_or_create_student(student)


def autograde_on_cluster(
    root: Path,
    assignment: str,
    students: Iterable[str],
    address: str,
    setup,
    cell_timeout: int | None,
    timeout: float,
    report: Callable[[Any], Any],
    progress: Callable[[str], None] = print,
) -> list:
    """Grade ``students`` on the Dask cluster at ``address``; call ``report`` with each GradeResult.

    Returns the results in the order of ``students``. A student whose task cannot be run (its
    workers kept dying, the cluster went away) gets a failed result with the reason.
    """
    from dataclasses import fields

    from distributed import Client, as_completed

    from course_utils.grading.pool import setup_to_dict
    from course_utils.grading.records import CourseError, GradeResult, gradebook_url

    students = list(students)
    db_url = gradebook_url(root)
    env = {"COURSE_DB_URL": db_url}
    try:
        client = Client(address, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise CourseError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        workers = client.scheduler_info().get("workers", {})
        progress(
            f"Dask cluster {address}: {len(workers)} worker(s); dashboard {client.dashboard_link}"
        )
        _register_students(db_url, assignment, students)
        token = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                grade_task,
                str(Path(root).resolve()),
                assignment,
                student,
                setup_to_dict(setup),
                cell_timeout,
                timeout,
                env,
                key=f"grade-{assignment}-{student}-{token}",
                pure=False,
            ): student
            for student in students
        }
        names = {f.name for f in fields(GradeResult)}
        results: dict[str, GradeResult] = {}
        for future in as_completed(futures):
            student = futures[future]
            try:
                data = future.result()
                result = GradeResult(**{k: v for k, v in data.items() if k in names})
            except Exception as exc:  # noqa: BLE001 (KilledWorker, a lost cluster, ...)
                result = GradeResult(
                    student,
                    assignment,
                    "failed",
                    reason=f"the cluster could not grade it: {type(exc).__name__}: {exc}",
                )
            results[student] = report(result)
        return [results[student] for student in students]
    finally:
        client.close()
