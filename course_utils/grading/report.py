"""What the class got wrong: the report after a grading run (an HTML page and a CSV file).

Built from what grading kept, never by running a notebook again:

- the test cells, their points and their parts (the ``## Part ...`` heading above each), from the
  source notebook in ``solutions/``;
- every student's score per test cell, from the gradebook (nbgrader's API);
- the outcome of each submission (``logs/result-*.json``: graded or not, the review flags);
- the mistakes the checkers named, from the grader's re-run of the tests outside the student's
  process (``logs/verify-*.json``, :mod:`course_utils.grading.verify`): diagnosis ids recorded as
  data there (:mod:`course_utils.checks.diagnoses`), and which of a cell's cases failed (visible
  or hidden). What the student's kernel printed is never read for a diagnosis; a re-run report
  older than the graded notebook is not used;
- time-outs and crashes, from the error outputs of the graded notebooks' test cells.

The page (``grades/ASSIGNMENT-report.html``) needs no network and no JavaScript: tables, one
histogram as a ``data:`` PNG, links into the reading site. Every student id and message is
escaped. The CSV (``grades/ASSIGNMENT-report.csv``) has one row per mistake.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.checks import diagnoses
from course_utils.grading.records import (
    AUTOGRADED_DIR,
    SOURCE_DIR,
    CourseError,
    assignment_names,
    gradebook_url,
    load_records,
    notebook_names,
    report_path,
    resolve_assignments,
)

REPORT_DIR = "grades"
SITE_DIR = Path("_build") / "site"
TIMEOUT_ERRORS = frozenset({"CellTimeoutError", "NotebookTimeBudgetError"})
CRASH_ERRORS = frozenset({"KernelDiedError", "DeadKernelError"})
CSV_COLUMNS = [
    "assignment",
    "diagnosis",
    "family",
    "title",
    "exercise",
    "students",
    "share_percent",
    "test_cells",
    "points_lost",
    "lecture",
    "lecture_url",
    "student_ids",
    "uncertain_student_ids",
]
MESSAGE_CHARS = 240


# --------------------------------------------------------------------------------------------
# What grading kept
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCell:
    """An autograded test cell of the source notebook, with the part it belongs to."""

    notebook: str
    grade_id: str
    points: float
    part: str


@dataclass
class CellResult:
    """One student's result in one test cell.

    ``outcome``: "passed", "failed", "timeout" or "crash" (in the notebook). ``named`` tells what
    the grader's re-run found for a failure: "diagnosed" (``diagnoses`` names the mistakes),
    "unnamed" (it failed there too and no catalogued bug explains it), or why it says nothing
    ("not re-run", "passed when re-run", ...).
    """

    score: float
    outcome: str
    failed_cases: str = ""
    diagnoses: tuple[str, ...] = ()
    named: str = ""
    message: str = ""
    uncertain: bool = False  # several typical bugs explain it and nothing else decides


@dataclass
class Submission:
    """One student's graded submission: total, cells, review flags, and whether a re-run report was read."""

    student: str
    score: float
    max_score: float
    cells: dict[str, CellResult] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    rerun: bool = False


@dataclass
class ClassRecord:
    """Everything kept about one assignment: its test cells, graded submissions, ungraded students."""

    assignment: str
    cells: list[TestCell]
    submissions: list[Submission]
    not_graded: dict[str, str] = field(default_factory=dict)  # student -> reason


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def test_cells_of(root: Path, assignment: str) -> list[TestCell]:
    """The autograded test cells of ``assignment``'s source notebooks, in order, with their parts."""
    cells = []
    for filename in notebook_names(root, assignment):
        notebook = Path(filename).stem
        data = json.loads((root / SOURCE_DIR / assignment / filename).read_text(encoding="utf-8"))
        part = notebook
        for cell in data.get("cells", []):
            if cell.get("cell_type") == "markdown":
                for line in _source(cell).splitlines():
                    if line.startswith("## "):
                        part = line[3:].strip()
            meta = _nbgrader(cell)
            if cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution"):
                cells.append(
                    TestCell(notebook, meta["grade_id"], float(meta.get("points", 0)), part)
                )
    return cells


def _scores(root: Path, assignment: str) -> dict[str, dict[tuple[str, str], float]]:
    """student -> (notebook, grade_id) -> score, from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    found: dict[str, dict[tuple[str, str], float]] = {}
    with Gradebook(gradebook_url(root)) as gradebook:
        try:
            submissions = gradebook.find_assignment(assignment).submissions
        except MissingEntry:
            return found
        for submission in submissions:
            found[submission.student_id] = {
                (notebook.name, grade.name): float(grade.score or 0)
                for notebook in submission.notebooks
                for grade in notebook.grades
            }
    return found


def _notebook_errors(path: Path) -> dict[str, str]:
    """grade_id -> the ename of the first error output of that cell in a graded notebook."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        errors = {}
        for cell in data.get("cells", []):
            grade_id = _nbgrader(cell).get("grade_id")
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error" and grade_id not in errors:
                    errors[grade_id] = str(output.get("ename", ""))
        return errors
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _rerun(root: Path, assignment: str, student: str) -> dict | None:
    """The re-run's report of a submission, or None: missing, unreadable, or older than the graded notebooks."""
    path = report_path(root, assignment, student)
    graded = list((root / AUTOGRADED_DIR / student / assignment).glob("*.ipynb"))
    try:
        written = path.stat().st_mtime
        if any(notebook.stat().st_mtime > written for notebook in graded):
            return None  # graded again since: its diagnoses are another submission's
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("student") != student:
        return None
    return data if data.get("assignment") == assignment else None


def _cell_result(
    score: float, points: float, ename: str | None, verdict: dict | None, rerun: bool
) -> CellResult:
    if score > 0 and (verdict is None or verdict.get("verified") is not False):
        return CellResult(score, "passed")
    outcome = "failed"
    if ename in TIMEOUT_ERRORS:
        outcome = "timeout"
    elif ename in CRASH_ERRORS:
        outcome = "crash"
    result = CellResult(score, outcome)
    if verdict is None:
        result.named = "no re-run report" if not rerun else "not re-run"
        return result
    found = verdict.get("diagnoses") or []
    result.diagnoses = tuple(d for d in found if isinstance(d, str) and _catalogued(d))
    cases = verdict.get("failed_cases")
    result.failed_cases = cases if cases in ("visible", "hidden") else ""
    message = str(verdict.get("message") or "")
    result.message = _shorten(message.splitlines()[0] if message else "")
    explained, verified = verdict.get("explained"), verdict.get("verified")
    if result.diagnoses:
        result.named = "diagnosed"
    elif message.startswith("not re-run"):
        result.named = "not re-run"
    elif verified is False or explained == "failed":
        # a checker's failure always says which cases failed: one it could not name is unnamed
        result.named = "unnamed" if result.failed_cases else "failed outside a checker"
    elif explained == "passed":
        result.named = "passed when re-run"
    elif explained:
        result.named = "re-run stopped"
    else:
        result.named = "not re-run"
    return result


def _shorten(line: str) -> str:
    """A message's first line; a long one keeps its start (the call) and its end (what went wrong)."""
    if len(line) <= MESSAGE_CHARS:
        return line
    half = MESSAGE_CHARS // 2
    return f"{line[:half]} … {line[-half:]}"


def _catalogued(diagnosis: str) -> bool:
    try:
        diagnoses.parse(diagnosis)
    except ValueError:
        return False
    return True


def _family(diagnosis: str) -> str:
    return diagnoses.parse(diagnosis).family.slug


def resolve(found: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """One student's diagnoses per failed cell, each failure's alternatives narrowed where possible.

    A failure can match several typical bugs at once ("padding on one side" and "'same' put the
    extra zero first" give the same output when the total padding is 1). The student's other
    failures decide: of the alternatives, those whose family a failure that matched one family
    only shows are kept; when none is shown, every alternative stays (and counts as uncertain).
    """
    certain = {_family(ids[0]) for ids in found if ids and len({_family(d) for d in ids}) == 1}
    resolved = []
    for ids in found:
        kept = tuple(d for d in ids if _family(d) in certain)
        resolved.append(kept if kept and len({_family(d) for d in ids}) > 1 else ids)
    return resolved


def collect(root: Path, assignment: str) -> ClassRecord:
    """Read what grading kept of ``assignment`` (see the module's docstring)."""
    resolve_assignments(root, [assignment])
    cells = test_cells_of(root, assignment)
    scores = _scores(root, assignment)
    records = {s: r for (s, a), r in load_records(root).items() if a == assignment}
    record = ClassRecord(assignment, cells, [])
    for student in sorted(set(records) | set(scores)):
        kept = records.get(student)
        if student not in scores or (kept is not None and not kept.ok):
            record.not_graded[student] = kept.reason if kept else "not in the gradebook"
            continue
        rerun = _rerun(root, assignment, student)
        verdicts = {
            (str(c.get("notebook")), str(c.get("grade_id"))): c
            for c in (rerun or {}).get("cells", [])
            if isinstance(c, dict)
        }
        submission = Submission(student, 0.0, 0.0, rerun=rerun is not None)
        errors = {}
        for name in {cell.notebook for cell in cells}:
            path = root / AUTOGRADED_DIR / student / assignment / f"{name}.ipynb"
            errors[name] = _notebook_errors(path)
        for cell in cells:
            key = (cell.notebook, cell.grade_id)
            score = scores[student].get(key, 0.0)
            submission.score += score
            submission.max_score += cell.points
            submission.cells[cell.grade_id] = _cell_result(
                score,
                cell.points,
                errors[cell.notebook].get(cell.grade_id),
                verdicts.get(key),
                rerun is not None,
            )
        results = list(submission.cells.values())
        for result, ids in zip(results, resolve([r.diagnoses for r in results]), strict=True):
            result.uncertain = len({_family(d) for d in ids}) > 1
            result.diagnoses = ids
        flags = list(kept.flags) if kept else []
        flags += [f for f in (rerun or {}).get("flags", []) if isinstance(f, str)]
        submission.flags = list(dict.fromkeys(flags))
        record.submissions.append(submission)
    return record


def diagnoses_by_student(root: Path, assignment: str) -> dict[str, set[str]]:
    """student -> the diagnosis ids their re-run report of ``assignment`` records (fresh reports only)."""
    found: dict[str, set[str]] = {}
    for path in sorted(
        report_path(root, assignment, "*").parent.glob(f"verify-{assignment}-*.json")
    ):
        try:
            student = json.loads(path.read_text(encoding="utf-8")).get("student")
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(student, str) or report_path(root, assignment, student) != path:
            continue
        data = _rerun(root, assignment, student)
        if data is None:
            continue
        cells = [
            tuple(d for d in cell.get("diagnoses") or [] if isinstance(d, str) and _catalogued(d))
            for cell in data.get("cells", [])
            if isinstance(cell, dict) and isinstance(cell.get("diagnoses"), list)
        ]
        ids = {d for found_ids in resolve(cells) for d in found_ids}
        if ids:
            found[student] = ids
    return found


# --------------------------------------------------------------------------------------------
# The report's tables
# --------------------------------------------------------------------------------------------


@dataclass
class Mistake:
    """A row of the misconceptions table: a diagnosis, or a cell's unnamed mistakes."""

    key: str  # the diagnosis id, or "unnamed:<grade_id>"
    title: str
    students: list[str]
    cells: dict[str, int]  # grade_id -> students who lost it with this mistake
    points_lost: float
    section: diagnoses.Section | None = None
    family: str = diagnoses.UNNAMED
    exercise: str = ""
    examples: list[str] = field(default_factory=list)
    uncertain: list[str] = field(
        default_factory=list
    )  # counted only as one of several explanations


@dataclass
class PartSummary:
    """A row of the per-part table."""

    name: str
    cells: list[TestCell]
    points: float
    visible: tuple[int, int]  # (passed, known)
    hidden: tuple[int, int]
    median: float
    scores: list[float]
    timeouts: int
    crashes: int


@dataclass
class Recurrence:
    """A family of mistakes one student made in this assignment and in another one."""

    family: str
    student: str
    seen: dict[str, list[str]]  # assignment -> diagnosis ids


@dataclass
class Report:
    assignment: str
    graded: int
    not_graded: dict[str, str]
    totals: list[float]
    max_score: float
    mistakes: list[Mistake]
    unnamed: list[Mistake]
    undiagnosed: dict[str, list[str]]  # why -> students with a failed cell the re-run did not name
    parts: list[PartSummary]
    flags: list[tuple[str, list[str]]]
    recurrences: list[Recurrence]
    notes: list[str]
    seconds: float = 0.0


def _mistakes(record: ClassRecord) -> tuple[list[Mistake], list[Mistake], dict[str, list[str]]]:
    points = {cell.grade_id: cell.points for cell in record.cells}
    named: dict[str, Mistake] = {}
    unnamed: dict[str, Mistake] = {}
    undiagnosed: dict[str, set[str]] = defaultdict(set)
    sure: dict[str, set[str]] = defaultdict(set)  # students a failure names this mistake alone for
    for submission in record.submissions:
        for grade_id, result in submission.cells.items():
            lost = points[grade_id] - result.score
            if result.outcome == "passed":
                continue
            if result.named == "diagnosed":
                for diagnosis in result.diagnoses:
                    parsed = diagnoses.parse(diagnosis)
                    row = named.setdefault(
                        diagnosis,
                        Mistake(
                            diagnosis,
                            parsed.family.title,
                            [],
                            {},
                            0.0,
                            parsed.section,
                            parsed.family.slug,
                            parsed.exercise,
                        ),
                    )
                    _count(row, submission.student, grade_id, lost)
                    if not result.uncertain:
                        sure[diagnosis].add(submission.student)
            elif result.named == "unnamed":
                row = unnamed.setdefault(
                    grade_id,
                    Mistake(
                        f"{diagnoses.UNNAMED}:{grade_id}",
                        f"unnamed mistakes in {grade_id}",
                        [],
                        {},
                        0.0,
                    ),
                )
                _count(row, submission.student, grade_id, lost)
                if result.message and len(row.examples) < 3:
                    row.examples.append(f"{submission.student}: {result.message}")
            elif result.outcome == "failed":
                undiagnosed[result.named].add(submission.student)
    for key, row in named.items():
        row.uncertain = sorted(set(row.students) - sure[key])
    order = lambda m: (-len(m.students), m.key)  # noqa: E731
    return (
        sorted(named.values(), key=order),
        sorted(unnamed.values(), key=order),
        {why: sorted(students) for why, students in sorted(undiagnosed.items())},
    )


def _count(row: Mistake, student: str, grade_id: str, lost: float) -> None:
    if student not in row.students:
        row.students.append(student)
        row.students.sort()
    row.cells[grade_id] = row.cells.get(grade_id, 0) + 1
    row.points_lost += lost


def _parts(record: ClassRecord) -> list[PartSummary]:
    parts: dict[str, list[TestCell]] = {}
    for cell in record.cells:
        parts.setdefault(cell.part, []).append(cell)
    summaries = []
    for name, cells in parts.items():
        visible = hidden = known_visible = known_hidden = timeouts = crashes = 0
        scores = []
        for submission in record.submissions:
            scores.append(sum(submission.cells[c.grade_id].score for c in cells))
            for cell in cells:
                result = submission.cells[cell.grade_id]
                timeouts += result.outcome == "timeout"
                crashes += result.outcome == "crash"
                if result.outcome == "passed":
                    visible, hidden = visible + 1, hidden + 1
                    known_visible, known_hidden = known_visible + 1, known_hidden + 1
                elif result.failed_cases == "hidden":
                    visible += 1
                    known_visible, known_hidden = known_visible + 1, known_hidden + 1
                elif result.failed_cases == "visible":
                    known_visible += 1
        summaries.append(
            PartSummary(
                name,
                cells,
                sum(c.points for c in cells),
                (visible, known_visible),
                (hidden, known_hidden),
                statistics.median(scores) if scores else 0.0,
                scores,
                timeouts,
                crashes,
            )
        )
    return summaries


def _recurrences(
    assignment: str, record: ClassRecord, others: dict[str, dict[str, set[str]]]
) -> list[Recurrence]:
    here: dict[str, set[str]] = defaultdict(set)
    for submission in record.submissions:
        for result in submission.cells.values():
            here[submission.student].update(result.diagnoses)
    everywhere = {**others, assignment: here}
    found = []
    for student in sorted(here):
        families = {diagnoses.parse(d).family.slug for d in here[student]}
        for family in sorted(families):
            seen = {
                name: sorted(d for d in ids if diagnoses.parse(d).family.slug == family)
                for name, by_student in everywhere.items()
                for ids in [by_student.get(student, set())]
            }
            seen = {name: ids for name, ids in sorted(seen.items()) if ids}
            if len(seen) > 1:
                found.append(Recurrence(family, student, seen))
    return found


def build_report(
    record: ClassRecord, others: dict[str, dict[str, set[str]]] | None = None
) -> Report:
    """The report's tables from a :class:`ClassRecord`; ``others``: assignment -> student -> ids."""
    mistakes, unnamed, undiagnosed = _mistakes(record)
    flags = [(s.student, s.flags) for s in record.submissions if s.flags]
    flags += [(student, [f"not graded: {why}"]) for student, why in record.not_graded.items()]
    notes = []
    missing = [s.student for s in record.submissions if not s.rerun]
    if missing:
        notes.append(
            f"{len(missing)} graded submission(s) have no current re-run report (verification "
            "off, failed, or graded again since): their failed tests are not diagnosed"
        )
    return Report(
        assignment=record.assignment,
        graded=len(record.submissions),
        not_graded=dict(record.not_graded),
        totals=[s.score for s in record.submissions],
        max_score=sum(c.points for c in record.cells),
        mistakes=mistakes,
        unnamed=unnamed,
        undiagnosed=undiagnosed,
        parts=_parts(record),
        flags=sorted(flags),
        recurrences=_recurrences(record.assignment, record, others or {}),
        notes=notes,
    )


# --------------------------------------------------------------------------------------------
# The page and the CSV
# --------------------------------------------------------------------------------------------


def _histogram_png(report: Report) -> bytes:
    """The score histograms (the total, then each part) as one PNG; matplotlib without pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [("Total", report.totals, report.max_score)]
    panels += [(part.name, part.scores, part.points) for part in report.parts]
    columns = 3
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(4.2 * columns, 2.6 * rows), dpi=80)  # fixed margins: fast
    figure.subplots_adjust(left=0.06, right=0.98, top=1 - 0.1 / rows, bottom=0.14 / rows)
    figure.subplots_adjust(hspace=0.75, wspace=0.3)
    FigureCanvasAgg(figure)
    for index, (name, scores, maximum) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        edges = [x - 0.5 for x in range(int(maximum) + 2)] if maximum <= 40 else 20
        axes.hist(scores, bins=edges, color="#4c72b0", edgecolor="white")
        axes.set_title(name if len(name) <= 48 else name[:47] + "…", fontsize=10)
        axes.set_xlabel(f"points (of {maximum:g})", fontsize=9)
        axes.set_ylabel("students", fontsize=9)
        axes.tick_params(labelsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _percent(count: int, total: int) -> str:
    return f"{100 * count / total:.0f} %" if total else "–"


def _rate(pair: tuple[int, int]) -> str:
    passed, known = pair
    return f"{_percent(passed, known)} ({passed}/{known})" if known else "–"


def _link(section: diagnoses.Section | None, site: str) -> str:
    if section is None:
        return ""
    return f'<a href="{_e(section.href(site))}">{_e(section.label)}</a>'


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.n { text-align: right; white-space: nowrap; }
.ids { font-size: 0.85em; color: #444; } .note { color: #7a4b00; } code { font-size: 0.9em; }
img { max-width: 100%; }
"""


def render_html(report: Report, site: str) -> str:
    """The report as one self-contained HTML page (no script, no remote asset; all text escaped)."""
    graded = report.graded
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(report.assignment)}: what the class got wrong</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{_e(report.assignment)}: what the class got wrong</h1>",
        f"<p>{graded} graded submission(s), {len(report.not_graded)} not graded. Median total "
        f"{statistics.median(report.totals) if report.totals else 0:g} of {report.max_score:g}. "
        "The mistakes are those the checkers named when the grader re-ran each test outside "
        "the student's notebook.</p>",
    ]
    out += [f'<p class="note">{_e(note)}</p>' for note in report.notes]
    out.append("<h2>Misconceptions</h2>")
    rows = report.mistakes + report.unnamed
    if rows:
        out.append(
            "<table><tr><th>mistake</th><th>students</th><th>share</th><th>tests it cost</th>"
            "<th>taught in</th><th>students to follow up</th></tr>"
        )
        for row in rows:
            cost = ", ".join(f"{_e(g)} ({n})" for g, n in row.cells.items())
            title = f"{_e(row.title)}<br><code>{_e(row.key)}</code>"
            if row.examples:
                title += "".join(f'<div class="ids">{_e(x)}</div>' for x in row.examples)
            if row.uncertain:
                title += (
                    f'<div class="note">{len(row.uncertain)} of them only as one of several '
                    f"explanations of a failure: {_e(', '.join(row.uncertain))}</div>"
                )
            out.append(
                f"<tr><td>{title}</td><td class='n'>{len(row.students)}</td>"
                f"<td class='n'>{_percent(len(row.students), graded)}</td>"
                f"<td>{cost}<br>{row.points_lost:g} points lost</td>"
                f"<td>{_link(row.section, site)}</td>"
                f"<td class='ids'>{_e(', '.join(row.students))}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>No test failed with a mistake the re-run could see.</p>")
    for why, students in report.undiagnosed.items():
        out.append(
            f'<p class="note">Failed tests not diagnosed ({_e(why)}): {len(students)} '
            f"student(s): {_e(', '.join(students))}</p>"
        )
    out.append("<h2>Per part</h2>")
    out.append(
        "<table><tr><th>part</th><th>tests</th><th>points</th><th>visible tests passed</th>"
        "<th>hidden tests passed (of those who passed the visible)</th><th>median points</th>"
        "<th>time-outs</th><th>crashes</th></tr>"
    )
    for part in report.parts:
        tests = ", ".join(_e(c.grade_id) for c in part.cells)
        out.append(
            f"<tr><td>{_e(part.name)}</td><td class='ids'>{tests}</td>"
            f"<td class='n'>{part.points:g}</td><td class='n'>{_rate(part.visible)}</td>"
            f"<td class='n'>{_rate(part.hidden)}</td><td class='n'>{part.median:g}</td>"
            f"<td class='n'>{part.timeouts}</td><td class='n'>{part.crashes}</td></tr>"
        )
    out.append("</table>")
    out.append(
        "<p>Visible: of the students whose result is known, the share that passed a test's "
        "visible cases; hidden: of those, the share that passed its hidden cases too (a test "
        "stops at its first failing case). A large gap means answers tuned to the visible "
        "cases.</p>"
    )
    if report.totals:
        png = base64.b64encode(_histogram_png(report)).decode("ascii")
        out.append(f'<img alt="histograms of the scores" src="data:image/png;base64,{png}">')
    out.append("<h2>Integrity</h2>")
    if report.flags:
        out.append("<table><tr><th>student</th><th>flagged for review</th></tr>")
        for student, flags in report.flags:
            items = "".join(f"<li>{_e(flag)}</li>" for flag in flags)
            out.append(f"<tr><td>{_e(student)}</td><td><ul>{items}</ul></td></tr>")
        out.append("</table>")
    else:
        out.append("<p>No submission was flagged.</p>")
    out.append("<h2>Across assignments</h2>")
    if report.recurrences:
        out.append("<table><tr><th>family of mistakes</th><th>student</th><th>seen in</th></tr>")
        for item in report.recurrences:
            family = diagnoses.FAMILIES[item.family]
            seen = "; ".join(f"{_e(name)}: {_e(', '.join(ids))}" for name, ids in item.seen.items())
            out.append(
                f"<tr><td>{_e(family.title)}<br><code>{_e(item.family)}</code></td>"
                f"<td>{_e(item.student)}</td><td class='ids'>{seen}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>No student made a mistake of this assignment in another one too.</p>")
    out.append(
        f"<p class='ids'>Read and counted in {report.seconds:.1f} s from the gradebook and "
        "logs/ (no notebook was run).</p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text (no formula from a student id or a message)."""
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(report: Report, path: Path, site: str) -> Path:
    """One row per mistake (named first, then each test's unnamed mistakes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for row in report.mistakes + report.unnamed:
            section = row.section
            writer.writerow(
                _cell(value)
                for value in (
                    report.assignment,
                    row.key,
                    row.family,
                    row.title,
                    row.exercise,
                    len(row.students),
                    round(100 * len(row.students) / report.graded, 1) if report.graded else "",
                    " ".join(row.cells),
                    f"{row.points_lost:g}",
                    section.label if section else "",
                    section.href(site) if section else "",
                    " ".join(row.students),
                    " ".join(row.uncertain),
                )
            )
    return path


def site_for(root: Path, folder: Path, site: str | None = None) -> str:
    """Where the links point: ``site`` (a URL), else the reading site built in ``root/_build/site``,
    relative to ``folder`` so that the page opens from disk."""
    if site:
        if not site.startswith(("https://", "http://", "file://")):
            raise ValueError(f"site: {site!r} is not an http(s):// or file:// address")
        return site
    return Path(os.path.relpath(root / SITE_DIR, folder)).as_posix()


def write_report(
    root: Path,
    assignment: str,
    *,
    folder: Path | None = None,
    site: str | None = None,
    others: Iterable[str] | None = None,
) -> tuple[Path, Path, Report]:
    """Build ``assignment``'s report; write ``folder/ASSIGNMENT-report.html`` and ``.csv`` (folder:
    ``root/grades``); return (html, csv, the report). ``others``: the assignments to look for
    the same mistakes in (default: every other assignment of solutions/)."""
    started = time.perf_counter()
    try:
        record = collect(root, assignment)
    except (OSError, ValueError) as exc:
        raise CourseError(f"cannot read what grading kept of {assignment}: {exc}") from exc
    folder = folder or root / REPORT_DIR
    names = [
        a for a in (others if others is not None else assignment_names(root)) if a != assignment
    ]
    report = build_report(record, {name: diagnoses_by_student(root, name) for name in names})
    links = site_for(root, folder, site)
    report.seconds = time.perf_counter() - started
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"{assignment}-report.html"
    page.write_text(render_html(report, links), encoding="utf-8")
    table = write_csv(report, folder / f"{assignment}-report.csv", links)
    report.seconds = time.perf_counter() - started
    return page, table, report
