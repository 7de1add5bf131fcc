"""The grading pipeline on top of nbgrader: release, collect, autograde, check, export, feedback.

Each nbgrader step runs in its own subprocess, one student at a time, so a submission that
crashes its kernel, loops forever or is not even JSON fails alone and every other grade is
recorded. Scores are read back through nbgrader's gradebook API.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .normalize import normalize_submission
from .sandbox import (
    SANDBOX_ENV_VAR,
    Limits,
    SandboxUnavailable,
    check_sandbox,
)

CONFIG_FILE = "nbgrader_config.py"
SOURCE_DIR = "solutions"
RELEASE_DIR = "assignments"
SUBMITTED_DIR = "submitted"
AUTOGRADED_DIR = "autograded"
FEEDBACK_DIR = "feedback"
LOG_DIR = "logs"
SOLUTION_STUDENT = "solution-check"
RELEASE_STUDENT = "release-check"
DEFAULT_STUDENT_TIMEOUT = 15 * 60  # a backstop: the notebook's own budget (Limits) ends it sooner
STUDENT_ID_PATTERN = re.compile(r"[^A-Za-z0-9_.@-]+")

Progress = Callable[[str], None]


class CourseError(RuntimeError):
    """A problem the instructor has to fix (missing folder, unknown assignment, nbgrader failure)."""


@dataclass
class GradeResult:
    """The outcome of autograding one student's submission of one assignment."""

    student: str
    assignment: str
    status: str  # "graded" or "failed"
    score: float = 0.0
    max_score: float = 0.0
    reason: str = ""
    seconds: float = 0.0
    log: str = ""
    flags: list[str] = field(default_factory=list)  # integrity findings: "flagged for review"

    @property
    def ok(self) -> bool:
        return self.status == "graded"


@dataclass
class CheckResult:
    """Scores of an assignment's solution (should be full) and release (should be zero)."""

    assignment: str
    solution: GradeResult
    release: GradeResult
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_course_root(start: str | Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` holding nbgrader_config.py and solutions/."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() and (folder / SOURCE_DIR).is_dir():
            return folder
    raise CourseError(
        f"no course found at or above {here}: expected {CONFIG_FILE} and {SOURCE_DIR}/ "
        "(run inside the course repository or pass --root)"
    )


def assignment_names(root: Path) -> list[str]:
    """Return the assignments in ``root/solutions`` (folders holding at least one notebook)."""
    source = root / SOURCE_DIR
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def resolve_assignments(root: Path, names: Iterable[str] | None) -> list[str]:
    """Return ``names`` (all assignments when empty), raising ``CourseError`` for unknown ones."""
    known = assignment_names(root)
    names = list(names or []) or known
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CourseError(f"unknown assignment(s) {unknown}; known: {known}")
    return names


def notebook_names(root: Path, assignment: str) -> list[str]:
    """Return the notebook file names of ``assignment`` in solutions/."""
    return sorted(p.name for p in (root / SOURCE_DIR / assignment).glob("*.ipynb"))


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


def _normalise_release(path: Path) -> None:
    """Rewrite a released notebook with stable formatting so regenerating it gives the same bytes."""
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(
        json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def sanitize_student_id(name: str) -> str:
    """Return ``name`` reduced to characters nbgrader accepts in a student id."""
    cleaned = STUDENT_ID_PATTERN.sub("_", name.strip()).strip("._")
    if not cleaned:
        raise CourseError(f"cannot make a student id from {name!r}")
    return cleaned


def _submission_sources(folder: Path) -> dict[str, Path | zipfile.Path]:
    """Map student id -> folder (or folder inside a zip) for a folder of submissions."""
    sources: dict[str, Path | zipfile.Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            sources[sanitize_student_id(entry.name)] = entry
        elif entry.suffix == ".zip":
            archive = zipfile.Path(zipfile.ZipFile(entry))
            tops = [p for p in archive.iterdir() if not p.name.startswith(("__MACOSX", "."))]
            if (
                len(tops) > 1
                and all(p.is_dir() for p in tops)
                and len(list(folder.glob("*.zip"))) == 1
            ):
                for top in tops:  # one archive for the whole class: a folder per student
                    sources[sanitize_student_id(top.name)] = top
            else:
                sources[sanitize_student_id(entry.stem)] = archive
    return sources


def _walk_notebooks(source: Path | zipfile.Path) -> list[Path | zipfile.Path]:
    found, pending = [], [source]
    while pending:
        current = pending.pop()
        for child in current.iterdir():
            if child.name.startswith((".", "__MACOSX")) or child.name == ".ipynb_checkpoints":
                continue
            if child.is_dir():
                pending.append(child)
            elif child.name.endswith(".ipynb"):
                found.append(child)
    return sorted(found, key=lambda p: str(p))


def collect_submissions(
    root: Path, assignment: str, folder: str | Path, progress: Progress = print
) -> tuple[list[str], list[GradeResult]]:
    """Copy a folder of submissions into submitted/<student>/<assignment>/.

    ``folder`` holds one sub-folder per student or one zip per student (as a learning-management
    system exports them), or a single zip with a folder per student. A submitted notebook whose
    name differs from the assignment's (``conv1d (2).ipynb``) is matched when there is only one.
    Returns the students ready to grade and a failure for each unusable submission.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CourseError(f"submissions folder {folder} does not exist")
    expected = notebook_names(root, assignment)
    ready, failures = [], []
    for student, source in _submission_sources(folder).items():
        notebooks = _walk_notebooks(source)
        chosen: dict[str, Path | zipfile.Path] = {}
        for name in expected:
            exact = [nb for nb in notebooks if nb.name == name]
            if exact:
                chosen[name] = exact[0]
            elif len(expected) == 1 and len(notebooks) == 1:
                chosen[name] = notebooks[0]
        if not chosen:
            failures.append(
                GradeResult(
                    student,
                    assignment,
                    "failed",
                    reason=f"no notebook named {', '.join(expected)} in the submission",
                )
            )
            continue
        target = root / SUBMITTED_DIR / student / assignment
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        problem = ""
        for name, notebook in chosen.items():
            raw = notebook.read_bytes()
            try:
                data = json.loads(raw.decode("utf-8"))
                import nbformat

                nbformat.validate(nbformat.from_dict(data))
            except Exception as exc:
                problem = f"{notebook.name} is not a valid notebook ({type(exc).__name__}: {str(exc)[:200]})"
                break
            source = json.loads((root / SOURCE_DIR / assignment / name).read_text(encoding="utf-8"))
            data, changes = normalize_submission(data, source)
            if changes:
                progress(f"  {student}: {name}: " + "; ".join(changes))
            (target / name).write_text(json.dumps(data, indent=1, ensure_ascii=False), "utf-8")
        if problem:
            shutil.rmtree(target)
            failures.append(GradeResult(student, assignment, "failed", reason=problem))
            continue
        ready.append(student)
    progress(f"collected {len(ready)} submission(s) of {assignment}; {len(failures)} unusable")
    return ready, failures


def read_scores(root: Path, assignment: str, student: str) -> tuple[float, float, bool]:
    """Return (autograded score, autogradable maximum, points still to grade by hand) from the gradebook.

    Manually graded answers count towards neither number until an instructor grades them.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(gradebook_url(root)) as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry as exc:
            raise CourseError(f"{student} has no graded submission of {assignment}") from exc
        score = maximum = 0.0
        manual = 0.0
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.needs_manual_grade:
                    manual += grade.max_score
                    continue
                maximum += grade.max_score
                score += grade.score
        return score, maximum, manual


def gradebook_url(root: Path) -> str:
    """Return the gradebook's database URL: ``COURSE_DB_URL``, else SQLite ``root/gradebook.db``."""
    return os.environ.get("COURSE_DB_URL") or f"sqlite:///{root / 'gradebook.db'}"


@dataclass(frozen=True)
class GradingSetup:
    """How a grading run treats untrusted code: sandbox, limits, the run's secret seed."""

    sandbox: bool = True
    limits: Limits = field(default_factory=Limits.from_env)
    seed: int = 0
    verify: bool = True

    def env(self) -> dict[str, str]:
        return {SANDBOX_ENV_VAR: "1" if self.sandbox else "0", **self.limits.as_env()}


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
        result.status = "graded"
        if setup.verify:
            problem = _verify(root, assignment, student, setup, cell_timeout, result)
            if problem:
                result.flags.append(problem)
        result.score, result.max_score, manual = read_scores(root, assignment, student)
        if manual:
            result.reason = f"+{manual:g} points of written answers to grade by hand"
        timed_out = output.count("Timeout waiting for execute reply") + output.count(
            "CellTimeoutError"
        )
        if timed_out:
            notes = ["a cell ran past the time limit and was interrupted", result.reason]
            result.reason = "; ".join(note for note in notes if note)
    return result


def _verify(
    root: Path,
    assignment: str,
    student: str,
    setup: GradingSetup,
    cell_timeout: int | None,
    result: GradeResult,
) -> str:
    """Re-run the passed tests outside the student's process (course_utils.verify); return a problem, if any."""
    cell = cell_timeout or int(os.environ.get("COURSE_CELL_TIMEOUT", "60"))
    seconds = max(
        2 * cell, cell + 30
    )  # the re-run adds a process boundary: more room than in the notebook
    command = [
        sys.executable,
        "-m",
        "course_utils.verify",
        str(root),
        assignment,
        student,
        f"--seed={setup.seed}",
        f"--cell-timeout={seconds}",
    ]
    if not setup.sandbox:
        command.append("--no-sandbox")
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
    result.flags += _read_flags(root, assignment, student)
    return ""


def _read_flags(root: Path, assignment: str, student: str) -> list[str]:
    from .verify import report_path

    path = report_path(root, assignment, student)
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("flags", []))
    except (OSError, ValueError):
        return [f"the verification report {path.name} is unreadable"]


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


def autograde(
    root: Path,
    assignment: str,
    students: Iterable[str] | None = None,
    jobs: int = 1,
    timeout: float = DEFAULT_STUDENT_TIMEOUT,
    cell_timeout: int | None = None,
    progress: Progress = print,
    setup: GradingSetup | None = None,
) -> list[GradeResult]:
    """Autograde each student's submission in its own nbgrader process; never stop at a failure.

    ``students`` defaults to every folder in submitted/ that holds ``assignment``. ``jobs`` > 1
    grades that many students at once (2 suits a 2-core machine). Progress is reported per student.
    ``setup`` says whether kernels are sandboxed (default: yes, and a missing sandbox is a
    ``CourseError``), their limits, and the run's secret seed for hidden cases (default: drawn
    now and reported); each graded submission is then verified outside its notebook.
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

    def grade(student: str) -> GradeResult:
        try:
            result = _grade_one(root, assignment, student, timeout, cell_timeout, setup)
        except Exception as exc:  # a grader-side problem with one student never stops the run
            result = GradeResult(
                student, assignment, "failed", reason=f"grading failed: {type(exc).__name__}: {exc}"
            )
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
            progress(
                f"[{len(finished)}/{total}] {student}: {outcome}{note} in {result.seconds:.1f} s"
                f"; about {remaining:.0f} s left"
            )
        return result

    if jobs == 1:
        return [grade(student) for student in students]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(grade, students))


def export_grades(root: Path, path: str | Path, results: Iterable[GradeResult] = ()) -> Path:
    """Write every gradebook score (plus failures in ``results``) to a CSV file; return its path.

    Columns: student, assignment, score, max_score, percent, status, reason, review (what the
    integrity checks flagged for a person to look at; empty when nothing was).
    """
    from nbgrader.api import Gradebook

    rows: dict[tuple[str, str], dict] = {}
    with Gradebook(gradebook_url(root)) as gradebook:
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                key = (submission.student_id, assignment.name)
                rows[key] = {
                    "student": submission.student_id,
                    "assignment": assignment.name,
                    "score": submission.score,
                    "max_score": submission.max_score,
                    "status": "needs manual grading" if submission.needs_manual_grade else "graded",
                    "reason": "",
                    "review": "; ".join(_read_flags(root, assignment.name, submission.student_id)),
                }
        maxima = {assignment.name: assignment.max_score for assignment in gradebook.assignments}
    for result in results:
        if not result.ok:
            rows[(result.student, result.assignment)] = {
                "student": result.student,
                "assignment": result.assignment,
                "score": 0.0,
                "max_score": result.max_score or maxima.get(result.assignment, 0.0),
                "status": "failed",
                "reason": result.reason,
                "review": "; ".join(result.flags),
            }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle,
            [
                "student",
                "assignment",
                "score",
                "max_score",
                "percent",
                "status",
                "reason",
                "review",
            ],
        )
        writer.writeheader()
        for key in sorted(rows):
            row = rows[key]
            row["percent"] = (
                round(100 * row["score"] / row["max_score"], 1) if row["max_score"] else ""
            )
            writer.writerow(row)
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
