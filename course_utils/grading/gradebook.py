"""nbgrader's side: release, autograde runs, scores read back, hand grades kept, export, feedback."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from course_utils.grading.records import (
    AUTOGRADED_DIR,
    FEEDBACK_DIR,
    RELEASE_DIR,
    CourseError,
    GradeResult,
    Progress,
    _tail,
    gradebook_url,
    load_records,
    read_flags,
    record_path,
    resolve_assignments,
    save_record,
)
from course_utils.grading.sandbox.bubblewrap import (
    INCIDENT_MARKER,
)


def _nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader calls `alembic` by name; make this interpreter's scripts folder findable.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    env.pop("MPLBACKEND", None)  # kernels use the inline backend, which closes its figures
    # Grading runs small arrays, often two students at once: one thread each avoids
    # BLAS/OpenMP pools fighting over the cores (seen as 100x slow-downs on 2 cores).
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(variable, "1")
    env.update(extra or {})
    return env


def run_nbgrader(
    root: Path,
    args: list[str],
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``root`` and return the finished process (output captured).

    Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds (the process is killed).
    """
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        env=_nbgrader_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def release(
    root: Path, names: Iterable[str] | None = None, progress: Progress = print
) -> list[Path]:
    """Generate the student version of each assignment into assignments/; return the notebooks."""
    written = []
    for name in resolve_assignments(root, names):
        start = time.perf_counter()
        done = run_nbgrader(root, ["generate_assignment", name, "--force"])
        if done.returncode != 0:
            raise CourseError(f"releasing {name} failed:\n{_tail(done.stdout + done.stderr)}")
        notebooks = sorted((root / RELEASE_DIR / name).glob("*.ipynb"))
        for notebook in notebooks:
            _normalise_release(notebook)
        written.extend(notebooks)
        progress(
            f"released {name}: {len(notebooks)} notebook(s) in {time.perf_counter() - start:.1f} s"
        )
    return written


def set_due_date(root: Path, assignment: str, due: str) -> None:
    """Record ``assignment``'s due date in the gradebook (e.g. "2026-12-01 23:59 UTC"); late
    submissions are then marked in the grades."""
    resolve_assignments(root, [assignment])
    done = run_nbgrader(root, ["db", "assignment", "add", assignment, f"--duedate={due}"])
    if done.returncode != 0:
        raise CourseError(
            f"setting the due date of {assignment} failed:\n{_tail(done.stdout + done.stderr)}"
        )


def release_to_exchange(root: Path, assignment: str, progress: Progress = print) -> None:
    """Put the released ``assignment`` in nbgrader's exchange, where students fetch it."""
    resolve_assignments(root, [assignment])
    if not (root / RELEASE_DIR / assignment).is_dir():
        raise CourseError(
            f"{RELEASE_DIR}/{assignment} is missing: run `course release {assignment}`"
        )
    done = run_nbgrader(root, ["release_assignment", assignment, "--force"])
    if done.returncode != 0:
        raise CourseError(
            f"releasing {assignment} to the exchange failed:\n{_tail(done.stdout + done.stderr)}"
        )
    progress(f"{assignment} is in the exchange: students can fetch it (Assignment List)")


def _normalise_release(path: Path) -> None:
    """Rewrite a released notebook with stable formatting so regenerating it gives the same bytes."""
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(
        json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _is_autograded_test(grade) -> bool:
    """Whether a gradebook grade is an autograded test cell (not a written or coded answer)."""
    solutions = {cell.name for cell in grade.notebook.notebook.solution_cells}
    return grade.cell_type == "code" and grade.name not in solutions


def read_scores(root: Path, assignment: str, student: str) -> tuple[float, float, float]:
    """Return (autograded score, autograded maximum, answer points still to grade by hand).

    Only test cells count in the first two numbers, so a solution and an untouched release report
    the same maximum; answers graded by a person are added when the grades are exported.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url(root)) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry as exc:
            raise CourseError(f"{student} has no graded submission of {assignment}") from exc
        score = maximum = manual = 0.0
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if _is_autograded_test(grade):
                    maximum += grade.max_score
                    score += grade.score
                elif grade.needs_manual_grade:
                    manual += grade.max_score
        return score, maximum, manual


def _graded_answers(root: Path, assignment: str, student: str) -> dict[tuple[str, str], str]:
    """Answers a person has graded: (notebook, grade_id) -> the graded answer's source."""
    from nbgrader.api import Gradebook, MissingEntry

    graded: dict[tuple[str, str], str] = {}
    with Gradebook(gradebook_url(root)) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return graded
        for notebook in submission.notebooks:
            path = root / AUTOGRADED_DIR / student / assignment / f"{notebook.name}.ipynb"
            sources = _cell_sources(path)
            for grade in notebook.grades:
                kept = grade.manual_score is not None and not grade.needs_manual_grade
                if kept and not _is_autograded_test(grade) and grade.name in sources:
                    graded[(notebook.name, grade.name)] = sources[grade.name]
    return graded


def _cell_sources(path: Path) -> dict[str, str]:
    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return {}
    sources = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        source = cell.get("source", "")
        if grade_id:
            sources[grade_id] = "".join(source) if isinstance(source, list) else source
    return sources


def _keep_manual_grades(
    root: Path, assignment: str, student: str, graded: dict[tuple[str, str], str]
) -> int:
    """After a re-grade, keep a person's grade of every answer that did not change; return how many."""
    if not graded:
        return 0
    from nbgrader.api import Gradebook

    kept = 0
    with Gradebook(gradebook_url(root)) as gradebook:
        for notebook_name in {name for name, _ in graded}:
            path = root / AUTOGRADED_DIR / student / assignment / f"{notebook_name}.ipynb"
            sources = _cell_sources(path)
            for (name, grade_id), source in graded.items():
                if name == notebook_name and sources.get(grade_id) == source:
                    grade = gradebook.find_grade(grade_id, name, assignment, student)
                    grade.needs_manual_grade = False
                    kept += 1
        gradebook.db.commit()
    return kept


def incidents(output: str) -> list[dict]:
    """The cells the executor lost to a dead or unresponsive kernel, from its log (oldest first)."""
    found = []
    for line in output.splitlines():
        if INCIDENT_MARKER in line:
            try:
                found.append(json.loads(line.split(INCIDENT_MARKER, 1)[1]))
            except ValueError:
                continue
    return found


def describe_incident(incident: dict) -> str:
    """One sentence for the instructor about a cell lost during grading."""
    cell = incident.get("grade_id") or f"cell {incident.get('cell', '?')}"
    what = (
        "the kernel died"
        if incident.get("kind") == "kernel died"
        else "a cell ignored the time limit's interrupt"
    )
    rest = (
        "grading stopped there"
        if incident.get("gave_up")
        else "that cell scored 0 and the rest was graded in a fresh kernel"
    )
    return f"partly graded: {what} in {cell}; {rest}"


def _failure_reason(output: str) -> str:
    known = [
        ("DeadKernelError", "the notebook's kernel died (crash, os._exit or out of memory)"),
        ("Kernel died", "the notebook's kernel died (crash, os._exit or out of memory)"),
        ("CellTimeoutError", "a cell ran past the time limit and could not be interrupted"),
        (
            "Timeout waiting for execute reply",
            "a cell ran past the time limit and could not be interrupted",
        ),
        ("NotJSONError", "the notebook is not valid JSON"),
        ("No notebooks found", "no notebook of this assignment was submitted"),
    ]
    for marker, reason in known:
        if marker in output:
            return reason
    errors = [line for line in output.splitlines() if "ERROR" in line or "Error" in line]
    return (errors[-1].strip() if errors else "nbgrader failed") + " (see the log)"


EXPORT_COLUMNS = [
    "student",
    "assignment",
    "score",
    "max_score",
    "percent",
    "status",
    "reason",
    "late",
    "review",
    "log",
]


def _late_text(seconds: float) -> str:
    if not seconds or seconds <= 0:
        return ""
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"


def export_grades(
    root: Path,
    path: str | Path,
    results: Iterable[GradeResult] = (),
    assignments: Iterable[str] | None = None,
) -> Path:
    """Write one row per submitted student and assignment to a CSV file; return its path.

    Rows come from the gradebook and from the kept outcome of every collection and grading run
    (``save_record``), so a student whose submission could not be read or graded is listed too.
    Columns: student, assignment, score, max_score, percent, status ("graded", "needs manual
    grading", "failed", "collected"), reason, late (how late, by the due date), review (what a
    person should look at; empty when nothing), log. ``assignments`` limits the rows to those.
    """
    from nbgrader.api import Gradebook

    for result in results:  # results of this run are kept like any other
        if not record_path(root, result.assignment, result.student).is_file():
            save_record(root, result)
    records = load_records(root)
    rows: dict[tuple[str, str], dict] = {}
    with Gradebook(gradebook_url(root)) as gradebook:
        maxima = {a.name: a.max_score for a in gradebook.assignments}
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                key = (submission.student_id, assignment.name)
                record = records.get(key)
                manual = submission.needs_manual_grade
                notes = [n for n in (record.reason if record else "").split("; ") if n]
                if not manual:  # drop a "to grade by hand" note once a person has graded
                    notes = [n for n in notes if "to grade by hand" not in n]
                rows[key] = {
                    "score": submission.score,
                    "max_score": submission.max_score,
                    "status": "needs manual grading" if manual else "graded",
                    "reason": "; ".join(notes),
                    "late": _late_text(submission.total_seconds_late),
                    "review": "; ".join(record.flags if record else [])
                    or "; ".join(read_flags(root, assignment.name, submission.student_id)),
                    "log": record.log if record else "",
                }
    for key, record in records.items():
        if record.ok and key in rows:
            continue
        rows[key] = {  # failed, or collected and not graded yet: the latest outcome wins
            "score": 0.0,
            "max_score": record.max_score or maxima.get(record.assignment, 0.0),
            "status": record.status,
            "reason": record.reason
            or ("graded, but missing from the gradebook" if record.ok else ""),
            "late": "",
            "review": "; ".join(record.flags),
            "log": record.log,
        }
    if assignments is not None:
        wanted = set(assignments)
        rows = {key: row for key, row in rows.items() if key[1] in wanted}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, EXPORT_COLUMNS)
        writer.writeheader()
        for (student, assignment), row in sorted(rows.items()):
            maximum = row["max_score"]
            percent = round(100 * row["score"] / maximum, 1) if maximum else ""
            writer.writerow(
                {**row, "student": student, "assignment": assignment, "percent": percent}
            )
    return path


def generate_feedback(
    root: Path, assignment: str, students: Iterable[str] | None = None
) -> list[Path]:
    """Write HTML feedback (hidden tests removed) to feedback/<student>/<assignment>/; return the files."""
    resolve_assignments(root, [assignment])
    students = list(students or [])
    runs = [["--student", student] for student in students] or [[]]
    for extra in runs:
        done = run_nbgrader(root, ["generate_feedback", assignment, "--force", *extra])
        if done.returncode != 0:
            raise CourseError(
                f"generating feedback for {assignment} failed:\n{_tail(done.stdout + done.stderr)}"
            )
    files = sorted((root / FEEDBACK_DIR).glob(f"*/{assignment}/*.html"))
    if students:
        files = [f for f in files if f.parent.parent.name in students]
    return files


def release_differences(fresh: Path, committed: Path) -> list[str]:
    """Return how the committed release folder differs from a freshly generated one (empty if equal)."""
    if not committed.is_dir():
        return [f"{committed} is missing"]
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    committed_files = {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()}
    problems = [f"{name} missing" for name in sorted(fresh_files - committed_files)]
    problems += [
        f"{name} not in the fresh release" for name in sorted(committed_files - fresh_files)
    ]
    for name in sorted(fresh_files & committed_files):
        if (fresh / name).read_bytes() != (committed / name).read_bytes():
            problems.append(f"{name} differs")
    return problems
