"""The grading pipeline on top of nbgrader: release, collect, autograde, check, export, feedback.

Students are graded in long-lived grading processes (:mod:`course_utils.grader`; one per job,
or on a Dask cluster with :mod:`course_utils.cluster`), each student in a fresh sandboxed kernel,
so a submission that crashes its kernel, loops forever or is not even JSON costs only itself
(and a crash only the cell it happened in), and every other grade is recorded. Each student's
latest outcome is kept (:func:`save_record`) so every export lists everyone; scores are read
back through nbgrader's gradebook API.
"""

from __future__ import annotations

import csv
import io
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
    INCIDENT_MARKER,
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
    status: str  # "graded", "failed" (nothing could be graded) or "collected" (not graded yet)
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


def collect_exchange(
    root: Path, assignment: str, progress: Progress = print
) -> tuple[list[str], list[GradeResult]]:
    """Collect the latest submission of each student from nbgrader's exchange into submitted/.

    Like :func:`collect_submissions`: each notebook is validated and normalized, each student gets
    a record, each unusable submission a log; the submission time is kept, so a late one is marked.
    """
    resolve_assignments(root, [assignment])
    expected = notebook_names(root, assignment)
    with tempfile.TemporaryDirectory(prefix="course-collect-") as scratch:
        done = run_nbgrader(
            root,
            ["collect", assignment, f"--CourseDirectory.submitted_directory={scratch}", "--update"],
        )
        if done.returncode != 0:
            raise CourseError(
                f"collecting {assignment} failed:\n{_tail(done.stdout + done.stderr)}"
            )
        ready, failures = [], []
        folders = sorted(p for p in Path(scratch).glob(f"*/{assignment}") if p.is_dir())
        for folder in folders:
            student = sanitize_student_id(folder.parent.name)
            found = {
                name: (folder / name).read_bytes() for name in expected if (folder / name).is_file()
            }
            if not found:
                problem = f"no notebook named {', '.join(expected)} in the submission"
                failures.append(_unusable(root, assignment, student, problem, problem))
                continue
            failure = prepare_submission(root, assignment, student, found, progress)
            if failure:
                failures.append(failure)
                continue
            stamp = folder / "timestamp.txt"
            if stamp.is_file():
                shutil.copy(stamp, root / SUBMITTED_DIR / student / assignment / stamp.name)
            ready.append(student)
    progress(
        f"collected {len(folders)} submission(s) of {assignment} from the exchange: "
        f"{len(ready)} ready to grade, {len(failures)} unusable"
    )
    return ready, failures


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


def _open_zip(source: Path | zipfile.Path) -> zipfile.Path:
    """Open a zip file on disk, or a zip stored inside another zip, as a browsable folder."""
    if isinstance(source, Path):
        return zipfile.Path(zipfile.ZipFile(source))
    archive = zipfile.ZipFile(io.BytesIO(source.read_bytes()))
    archive.filename = source.name  # a name for messages and sorting, as a file on disk has
    return zipfile.Path(archive)


def _entries(folder: Path | zipfile.Path) -> list[Path | zipfile.Path]:
    return sorted(
        (e for e in folder.iterdir() if not e.name.startswith((".", "__MACOSX"))),
        key=lambda e: e.name,
    )


def _class_folder(archive: zipfile.Path) -> Path | zipfile.Path:
    """The folder of a class archive that holds one entry per student (skips one wrapping folder)."""
    entries = _entries(archive)
    while len(entries) == 1 and entries[0].is_dir():
        inner = _entries(entries[0])
        if not inner or not all(e.is_dir() or e.name.endswith(".zip") for e in inner):
            break
        archive, entries = entries[0], inner
    return archive


def _submission_sources(folder: Path | zipfile.Path) -> dict[str, Path | zipfile.Path]:
    """Map student id -> folder (or folder inside a zip) for a folder or a class zip of submissions."""
    sources: dict[str, Path | zipfile.Path] = {}
    entries = _entries(folder)
    zips = [e for e in entries if e.name.endswith(".zip") and not e.is_dir()]
    for entry in entries:
        if entry.is_dir():
            sources[sanitize_student_id(entry.name)] = entry
        elif entry.name.endswith(".zip"):
            archive = _open_zip(entry)
            tops = _entries(archive)
            if len(tops) > 1 and all(p.is_dir() for p in tops) and len(zips) == 1:
                # one archive for the whole class: a folder per student
                sources.update(_submission_sources(archive))
            else:
                sources[sanitize_student_id(Path(entry.name).stem)] = archive
    return sources


def _walk_files(source: Path | zipfile.Path) -> list[Path | zipfile.Path]:
    """Every file in a submission (folders and zips inside it searched), hidden files skipped."""
    found, pending = [], [source]
    while pending:
        current = pending.pop()
        for child in current.iterdir():
            if child.name.startswith((".", "__MACOSX")) or child.name == ".ipynb_checkpoints":
                continue
            if child.is_dir():
                pending.append(child)
            else:
                found.append(child)
    return sorted(found, key=lambda p: str(p))


def collect_submissions(
    root: Path, assignment: str, folder: str | Path, progress: Progress = print
) -> tuple[list[str], list[GradeResult]]:
    """Copy a folder (or a class zip) of submissions into submitted/<student>/<assignment>/.

    ``folder`` holds one sub-folder per student or one zip per student (as a learning-management
    system exports them), or it is a single zip with a folder (or a zip) per student. A submitted
    notebook whose name differs from the assignment's (``conv1d (2).ipynb``) is matched when there
    is only one. Returns the students ready to grade and a failure for each unusable submission;
    every student gets a record (see :func:`save_record`) and every failure a log.
    """
    folder = Path(folder)
    if folder.is_file() and zipfile.is_zipfile(folder):
        try:
            container: Path | zipfile.Path = _class_folder(_open_zip(folder))
        except zipfile.BadZipFile as exc:
            raise CourseError(f"{folder} is not a readable zip file: {exc}") from None
    elif folder.is_dir():
        container = folder
    elif folder.exists():
        raise CourseError(f"{folder} is neither a folder nor a zip file of submissions")
    else:
        raise CourseError(f"submissions folder or zip {folder} does not exist")
    expected = notebook_names(root, assignment)
    ready, failures = [], []
    sources = _submission_sources(container)
    for student, source in sources.items():
        files = _walk_files(source)
        notebooks = [f for f in files if f.name.endswith(".ipynb")]
        chosen: dict[str, Path | zipfile.Path] = {}
        for name in expected:
            exact = [nb for nb in notebooks if nb.name == name]
            if exact:
                chosen[name] = exact[0]
            elif len(expected) == 1 and len(notebooks) == 1:
                chosen[name] = notebooks[0]
        if not chosen:
            found = ", ".join(f.name for f in files[:5]) or "nothing"
            problem = f"no notebook named {', '.join(expected)} in the submission (found: {found})"
            failures.append(_unusable(root, assignment, student, problem, problem))
            continue
        texts = {name: notebook.read_bytes() for name, notebook in chosen.items()}
        problem = prepare_submission(root, assignment, student, texts, progress)
        if problem:
            failures.append(problem)
            continue
        ready.append(student)
    progress(
        f"found {len(sources)} submission(s) of {assignment}: {len(ready)} ready to grade, "
        f"{len(failures)} unusable"
        + (f" ({', '.join(f.student for f in failures)})" if failures else "")
    )
    return ready, failures


def prepare_submission(
    root: Path,
    assignment: str,
    student: str,
    notebooks: dict[str, bytes],
    progress: Progress = print,
) -> GradeResult | None:
    """Validate and normalize one student's notebooks into submitted/; return a failure, or None.

    ``notebooks`` maps the assignment's notebook names to the submitted files' bytes. A file that
    is not a valid notebook makes the whole submission unusable (with a log saying why); copied,
    renamed or deleted cells are repaired against the source notebook (``normalize``).
    """
    target = root / SUBMITTED_DIR / student / assignment
    prepared: dict[str, dict] = {}
    for name, raw in notebooks.items():
        try:
            data = json.loads(raw.decode("utf-8"))
            import nbformat

            nbformat.validate(nbformat.from_dict(data))
        except Exception as exc:
            kind = "is not valid JSON" if isinstance(exc, ValueError) else "is not a valid notebook"
            if isinstance(exc, UnicodeDecodeError):
                kind = "is not a text file"
            detail = f"{type(exc).__name__}: {exc}"
            return _unusable(
                root,
                assignment,
                student,
                f"{name} {kind} ({detail[:160]}); the student must resubmit it",
                f"{name} ({len(raw)} bytes) could not be read as a notebook:\n{detail}\n\n"
                f"first 500 bytes:\n{raw[:500]!r}\n",
            )
        source = json.loads((root / SOURCE_DIR / assignment / name).read_text(encoding="utf-8"))
        data, changes = normalize_submission(data, source)
        if changes:
            progress(f"  {student}: {name}: " + "; ".join(changes))
        prepared[name] = data
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name, data in prepared.items():
        (target / name).write_text(json.dumps(data, indent=1, ensure_ascii=False), "utf-8")
    save_record(
        root,
        GradeResult(student, assignment, "collected", reason="collected; not autograded yet"),
    )
    return None


def _unusable(root: Path, assignment: str, student: str, reason: str, details: str) -> GradeResult:
    """Record an unusable submission: a failure with a log holding the details."""
    log = root / LOG_DIR / f"collect-{assignment}-{student}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"{student}: submission of {assignment} not usable\n{details}\n", "utf-8")
    result = GradeResult(student, assignment, "failed", reason=reason, log=str(log))
    stale = root / SUBMITTED_DIR / student / assignment
    if stale.exists():  # an earlier, usable submission must not be graded in its place
        shutil.rmtree(stale)
    save_record(root, result)
    return result


def record_path(root: Path, assignment: str, student: str) -> Path:
    """Where the outcome of a student's latest collection or grading is kept (JSON)."""
    return root / LOG_DIR / f"result-{assignment}-{student}.json"


def save_record(root: Path, result: GradeResult) -> Path:
    """Keep ``result`` as the student's latest outcome, so every export can report it."""
    from dataclasses import asdict

    path = record_path(root, result.assignment, result.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(result), indent=1) + "\n", encoding="utf-8")
    return path


def load_records(root: Path) -> dict[tuple[str, str], GradeResult]:
    """Return every kept outcome, by (student, assignment); unreadable records are skipped."""
    records = {}
    for path in sorted((root / LOG_DIR).glob("result-*.json")):
        try:
            result = GradeResult(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        records[(result.student, result.assignment)] = result
    return records


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


VERIFY_IN_PROCESS = False  # set by course_utils.grader's long-lived grading process


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
    if VERIFY_IN_PROCESS:  # a long-lived grading process (course_utils.grader): no new process
        from .grader import verify_in_process

        problem = verify_in_process(root, assignment, student, setup, seconds)
        if not problem:
            result.flags += _read_flags(root, assignment, student)
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
    (:mod:`course_utils.grader`), False in a new nbgrader process per student; ``cluster`` (a Dask
    scheduler's address) grades on that cluster's workers instead (:mod:`course_utils.cluster`).
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

    from .grader import GraderPool, progress_bar

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
            from .cluster import autograde_on_cluster

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
                    or "; ".join(_read_flags(root, assignment.name, submission.student_id)),
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
