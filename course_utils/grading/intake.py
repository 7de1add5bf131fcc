"""Submissions in: folders, zips and nbgrader's exchange, copied into submitted/ under safe ids."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from pathlib import Path

from course_utils.grading.gradebook import run_nbgrader
from course_utils.grading.normalize import normalize_submission
from course_utils.grading.records import (
    LOG_DIR,
    SOURCE_DIR,
    SUBMITTED_DIR,
    CourseError,
    GradeResult,
    Progress,
    _tail,
    notebook_names,
    resolve_assignments,
    sanitize_student_id,
    save_record,
)


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
