"""The bottom of the grading engine: the course's folders, a student's result and its record on disk."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.grading.sandbox.bubblewrap import (
    SANDBOX_ENV_VAR,
    Limits,
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


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def sanitize_student_id(name: str) -> str:
    """Return ``name`` reduced to characters nbgrader accepts in a student id."""
    cleaned = STUDENT_ID_PATTERN.sub("_", name.strip()).strip("._")
    if not cleaned:
        raise CourseError(f"cannot make a student id from {name!r}")
    return cleaned


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


def report_path(root: Path, assignment: str, student: str) -> Path:
    """Where the verification report of a submission is kept (logs/verify-ASSIGNMENT-STUDENT.json)."""
    return root / LOG_DIR / f"verify-{assignment}-{student}.json"


def read_flags(root: Path, assignment: str, student: str) -> list[str]:
    """The review flags the re-run of a submission's tests recorded (none if it wrote no report)."""
    path = report_path(root, assignment, student)
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("flags", []))
    except (OSError, ValueError):
        return [f"the verification report {path.name} is unreadable"]
