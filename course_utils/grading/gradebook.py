"""nbgrader's side: release, autograde runs, scores read back, hand grades kept, export, feedback."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from course_utils.grading.records import (
    AUTOGRADED_DIR,
    FEEDBACK_DIR,
    LOG_DIR,
    RELEASE_DIR,
    SUBMITTED_DIR,
    CourseError,
    GradeResult,
    Progress,
    _tail,
    assignment_names,
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


def _hand_grades_path(root: Path, assignment: str, student: str) -> Path:
    return root / LOG_DIR / f"hand-graded-{assignment}-{student}.json"


def _graded_answers(root: Path, assignment: str, student: str) -> dict[tuple[str, str], str]:
    """Answers a person has graded: (notebook, grade_id) -> the graded answer's source.

    From the gradebook (a person's score, not waiting for review) and from what an earlier
    re-grade kept (logs/hand-graded-ASSIGNMENT-STUDENT.json, the answer's source with the
    person's score): nbgrader marks every hand-graded answer for review again when it re-grades,
    so a re-grade that stopped before :func:`_keep_manual_grades` ran would otherwise turn a
    person's grades into "needs manual grading" for good.
    """
    from nbgrader.api import Gradebook, MissingEntry

    graded: dict[tuple[str, str], str] = {}
    path = _hand_grades_path(root, assignment, student)
    try:
        remembered = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        remembered = {}
    keep: dict[str, dict] = {}
    with Gradebook(gradebook_url(root)) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return graded
        for notebook in submission.notebooks:
            path_nb = root / AUTOGRADED_DIR / student / assignment / f"{notebook.name}.ipynb"
            sources = _cell_sources(path_nb)
            for grade in notebook.grades:
                if grade.manual_score is None or _is_autograded_test(grade):
                    continue
                key = f"{notebook.name}/{grade.name}"
                earlier = remembered.get(key, {})
                if not grade.needs_manual_grade and grade.name in sources:
                    source = sources[grade.name]
                elif earlier.get("manual_score") == grade.manual_score and "source" in earlier:
                    source = earlier["source"]  # kept before, not looked at since
                else:
                    continue
                graded[(notebook.name, grade.name)] = source
                keep[key] = {"source": source, "manual_score": grade.manual_score}
    if keep:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(keep, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
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
    "name",
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


def _intake_ledger(root: Path, assignment: str) -> dict[str, dict]:
    """What intake recorded of each student's submission (see course_utils.grading.intake)."""
    try:
        return json.loads((root / LOG_DIR / f"intake-{assignment}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}


def grade_rows(
    root: Path,
    results: Iterable[GradeResult] = (),
    assignments: Iterable[str] | None = None,
) -> dict[tuple[str, str], dict]:
    """Every student's outcome per assignment: (student, assignment) -> the export's columns.

    Rows come from the gradebook, from the kept outcome of every collection and grading run
    (``save_record``) and from the roster: a rostered student with no submission of an
    assignment that others submitted (or that ``assignments`` names) gets score 0 and status
    "missing". Only assignments of solutions/ are listed: leftovers of a mistyped name are
    not (``course forget`` removes them).
    """
    from nbgrader.api import Gradebook

    from course_utils.grading.roster import load_roster

    for result in results:  # results of this run are kept like any other
        if not record_path(root, result.assignment, result.student).is_file():
            save_record(root, result)
    known = set(assignment_names(root))
    records = {key: r for key, r in load_records(root).items() if key[1] in known}
    rows: dict[tuple[str, str], dict] = {}
    with Gradebook(gradebook_url(root)) as gradebook:
        maxima = {a.name: a.max_score for a in gradebook.assignments}
        names = {
            s.id: " ".join(p for p in (s.first_name, s.last_name) if p) for s in gradebook.students
        }
        for assignment in gradebook.assignments:
            if assignment.name not in known:
                continue
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
    wanted = set(assignments) if assignments is not None else {a for _, a in rows}
    rows = {key: row for key, row in rows.items() if key[1] in wanted}
    roster = load_roster(root)
    for assignment in sorted(wanted & known):
        ledger = _intake_ledger(root, assignment)
        for student, entry in ledger.items():
            row = rows.get((student, assignment))
            if row is None:
                continue
            if entry.get("late") and not row["late"]:
                row["late"] = f"late (marked by {entry.get('layout', 'the LMS')})"
            if entry.get("rostered") is False:
                note = f"matches no rostered student ({entry.get('source', '?')})"
                row["review"] = "; ".join(p for p in (row["review"], note) if p)
            if not names.get(student):
                names[student] = entry.get("name", "")
        for student in roster.students if roster is not None else []:
            names[student.id] = student.name or names.get(student.id, "")
            rows.setdefault(
                (student.id, assignment),
                {
                    "score": 0.0,
                    "max_score": maxima.get(assignment, 0.0),
                    "status": "missing",
                    "reason": "no submission collected",
                    "late": "",
                    "review": "",
                    "log": "",
                },
            )
    for (student, _), row in rows.items():
        row["name"] = names.get(student, "")
    return rows


def export_grades(
    root: Path,
    path: str | Path,
    results: Iterable[GradeResult] = (),
    assignments: Iterable[str] | None = None,
) -> Path:
    """Write one row per student and assignment to a CSV file; return its path.

    Rows: :func:`grade_rows` (every submitted student, every rostered one, each unusable
    submission). Columns: student, name, assignment, score, max_score, percent, status
    ("graded", "needs manual grading", "failed", "collected", "missing"), reason, late (how
    late, by the due date, or as the LMS marked it), review (what a person should look at; empty
    when nothing), log. ``assignments`` limits the rows to those.
    """
    rows = grade_rows(root, results, assignments)
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


def stale_assignments(root: Path) -> list[str]:
    """Assignments with kept outcomes that are not in solutions/ (e.g. a mistyped name)."""
    known = set(assignment_names(root))
    return sorted({a for _, a in load_records(root)} - known)


def forget(root: Path, assignment: str, students: Iterable[str] | None = None) -> list[str]:
    """Remove what collecting and grading kept of ``students`` (all when None) for ``assignment``.

    The gradebook's submission, the kept outcome, the logs, submitted/, autograded/ and
    feedback/ copies, and the intake's entry go; the roster stays. ``assignment`` need not be
    in solutions/ any more (the leftovers of a mistyped name). Returns the students forgotten.
    """
    if not assignment or {"/", "\\"} & set(assignment) or assignment in (".", ".."):
        raise CourseError(f"assignment: {assignment!r} is not an assignment name")
    recorded = {s for s, a in load_records(root) if a == assignment}
    folders = {
        p.parent.name
        for step in (SUBMITTED_DIR, AUTOGRADED_DIR, FEEDBACK_DIR)
        for p in (root / step).glob(f"*/{assignment}")
    }
    ledger = _intake_ledger(root, assignment)
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url(root)) as gradebook:
        try:
            graded = {s.student_id for s in gradebook.find_assignment(assignment).submissions}
        except MissingEntry:
            graded = set()
    everyone = recorded | folders | graded | set(ledger)
    if students is None:
        chosen = everyone
    else:
        chosen = set(students)
        unknown = sorted(chosen - everyone)
        if unknown:
            raise CourseError(
                f"nothing is kept of {', '.join(unknown)} for {assignment} "
                f"(kept: {', '.join(sorted(everyone)[:10]) or 'nobody'})"
            )
    if not chosen:
        raise CourseError(f"nothing is kept for an assignment named {assignment!r}")
    bad = [s for s in chosen if not s or {"/", "\\"} & set(s) or s in (".", "..")]
    if bad:
        raise CourseError(f"student: {bad[0]!r} is not a student id")
    with Gradebook(gradebook_url(root)) as gradebook:
        for student in sorted(chosen & graded):
            gradebook.remove_submission(assignment, student)
        if students is None and assignment not in assignment_names(root):
            with contextlib.suppress(MissingEntry):
                gradebook.remove_assignment(assignment)
    for student in chosen:
        for step in (SUBMITTED_DIR, AUTOGRADED_DIR, FEEDBACK_DIR):
            folder = root / step / student / assignment
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder)
                with contextlib.suppress(OSError):  # the student's folder, once empty
                    folder.parent.rmdir()
        logs = root / LOG_DIR
        for name in (
            f"result-{assignment}-{student}.json",
            f"verify-{assignment}-{student}.json",
            f"collect-{assignment}-{student}.log",
            f"autograde-{assignment}-{student}.log",
            f"hand-graded-{assignment}-{student}.json",
        ):
            with contextlib.suppress(FileNotFoundError):
                (logs / name).unlink()
        ledger.pop(student, None)
    path = root / LOG_DIR / f"intake-{assignment}.json"
    if path.is_file():
        path.write_text(json.dumps(ledger, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    return sorted(chosen)


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
