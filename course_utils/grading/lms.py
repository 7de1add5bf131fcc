"""Grades back into the LMS: Canvas's gradebook import file and Moodle's grading worksheet.

Both are CSV files the LMS's own import page reads:

- **Canvas** (Grades > Import): the columns of Canvas's gradebook export, ``Student, ID, SIS User
  ID, SIS Login ID, Section``, then one column per assignment, named ``Assignment name (id)``
  for an assignment Canvas has (a name without an id makes Canvas create one); a
  ``Points Possible`` row under the header. Canvas finds each student by ``ID`` (its user id:
  from the roster, or from the download's file names).
- **Moodle** (the assignment's *View all submissions* > *Upload grading worksheet*): the
  worksheet Moodle offers for download, ``Identifier, Full name, Email address, Status, Grade,
  Maximum Grade, Grade can be changed, Last modified (submission), Last modified (grade),
  Feedback comments``. Moodle finds each student by ``Identifier`` ("Participant 125": per
  assignment, from the download's folder names). Best: download Moodle's worksheet and pass it
  (``worksheet``): its rows are kept, every enrolled student included, and only ``Grade`` is
  filled in (scaled to Moodle's maximum grade when that differs).

A grade is written only for a student whose status is ``graded`` (their score) or ``missing``
(0); a submission that failed, waits for grading, or needs grading by hand is left blank and
reported, never uploaded as 0.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from course_utils.grading.gradebook import grade_rows
from course_utils.grading.intake import read_ledger
from course_utils.grading.records import CourseError, resolve_assignments
from course_utils.grading.roster import Roster, load_roster

LMS_FORMATS = ("canvas", "moodle")


CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


MOODLE_COLUMNS = [
    "Identifier",
    "Full name",
    "Email address",
    "Status",
    "Grade",
    "Maximum Grade",
    "Grade can be changed",
    "Last modified (submission)",
    "Last modified (grade)",
    "Feedback comments",
]


UPLOADED = ("graded", "missing")  # the statuses whose score goes to the LMS


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _grades(root: Path, assignment: str) -> tuple[dict[str, dict], float]:
    rows = grade_rows(root, assignments=[assignment])
    by_student = {student: row for (student, _), row in rows.items()}
    maximum = max((row["max_score"] for row in by_student.values()), default=0.0)
    return by_student, maximum


def export_lms(
    root: Path,
    lms: str,
    assignment: str,
    path: str | Path,
    column: str | None = None,
    worksheet: str | Path | None = None,
) -> tuple[Path, list[str]]:
    """Write ``assignment``'s grades as ``lms`` ("canvas" or "moodle") imports them; return the
    file and notes for the instructor (students left blank or not matched, and why)."""
    if lms not in LMS_FORMATS:
        raise CourseError(f"lms: {lms!r} is not one of {', '.join(LMS_FORMATS)}")
    resolve_assignments(root, [assignment])
    if worksheet is not None and lms != "moodle":
        raise CourseError("worksheet: only Moodle's grading worksheet can be filled in")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if lms == "canvas":
        return path, _canvas(root, assignment, path, column or assignment)
    if worksheet is not None:
        return path, _fill_moodle_worksheet(root, assignment, path, Path(worksheet))
    return path, _moodle(root, assignment, path)


def _blank_note(student: str, row: dict) -> str:
    return f"{student}: left blank ({row['status']}: {row['reason'] or 'see grades.csv'})"


def _canvas(root: Path, assignment: str, path: Path, column: str) -> list[str]:
    grades, maximum = _grades(root, assignment)
    roster = load_roster(root) or Roster([])
    ledger = read_ledger(root, assignment)
    notes, lines = [], []
    for student, row in sorted(grades.items()):
        person = roster.get(student)
        canvas_id = (person.lms_id if person else "") or ledger.get(student, {}).get("lms_id", "")
        if not canvas_id:
            notes.append(
                f"{student}: no Canvas user id (import Canvas's gradebook export as the roster, "
                "or collect from Canvas's download), not in the file"
            )
            continue
        grade = _number(row["score"]) if row["status"] in UPLOADED else ""
        if not grade:
            notes.append(_blank_note(student, row))
        lines.append(
            [
                (person.name if person else "") or row["name"] or student,
                canvas_id,
                person.sis_id if person else "",
                person.login if person else "",
                person.section if person else "",
                grade,
            ]
        )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CANVAS_COLUMNS, column])
        writer.writerow(["    Points Possible", "", "", "", "", _number(maximum)])
        writer.writerows(lines)
    if not re.search(r"\(\d+\)$", column):
        notes.append(
            f"the column {column!r} has no Canvas assignment id: Canvas creates a new assignment "
            "of that name; pass --column 'Name (id)' (from Canvas's gradebook export) to fill in "
            "an existing one"
        )
    return notes


def _participants(root: Path, assignment: str) -> dict[str, str]:
    return {
        student: entry["participant"]
        for student, entry in read_ledger(root, assignment).items()
        if entry.get("participant")
    }


def _moodle(root: Path, assignment: str, path: Path) -> list[str]:
    grades, maximum = _grades(root, assignment)
    roster = load_roster(root) or Roster([])
    participants = _participants(root, assignment)
    notes, lines = [], []
    for student, row in sorted(grades.items()):
        person = roster.get(student)
        participant = participants.get(student)
        if not participant:
            notes.append(
                f"{student}: no Moodle participant number for {assignment} ({row['status']}), "
                "not in the file; pass Moodle's grading worksheet (--worksheet) to include "
                "every enrolled student"
            )
            continue
        grade = _number(row["score"]) if row["status"] in UPLOADED else ""
        if not grade:
            notes.append(_blank_note(student, row))
        lines.append(
            {
                "Identifier": f"Participant {participant}",
                "Full name": (person.name if person else "") or row["name"] or student,
                "Email address": person.email if person else "",
                "Status": row["status"],
                "Grade": grade,
                "Maximum Grade": _number(maximum),
                "Grade can be changed": "Yes",
                "Last modified (submission)": "",
                "Last modified (grade)": "",
                "Feedback comments": "",
            }
        )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, MOODLE_COLUMNS)
        writer.writeheader()
        writer.writerows(lines)
    return notes


def _fill_moodle_worksheet(root: Path, assignment: str, path: Path, worksheet: Path) -> list[str]:
    """Fill in the Grade column of Moodle's own worksheet; keep everything else as it is."""
    try:
        text = worksheet.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseError(f"worksheet: cannot read {worksheet} as UTF-8 text: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = list(reader.fieldnames or [])
    missing = [c for c in ("Identifier", "Grade") if c not in header]
    if missing:
        raise CourseError(
            f"worksheet: {worksheet} has no {', '.join(missing)} column (found {header}); "
            "download it from the assignment's 'View all submissions' page"
        )
    grades, maximum = _grades(root, assignment)
    roster = load_roster(root) or Roster([])
    by_participant = {p: s for s, p in _participants(root, assignment).items()}
    ledger = read_ledger(root, assignment)
    moodle_download = any(e.get("layout") == "moodle" for e in ledger.values())
    notes, rows = [], []
    for line in reader:
        number = re.sub(r"\D", "", line.get("Identifier", ""))
        student = by_participant.get(number)
        if student is None:
            person, _ = roster.find(
                key=line.get("Email address", ""), name=line.get("Full name", "")
            )
            student = person.id if person else None
        row = grades.get(student) if student else None
        if row is None and moodle_download and number not in by_participant:
            row = {"status": "missing", "score": 0.0, "reason": "no submission collected"}
        if row is None:
            notes.append(f"{line.get('Full name', number)}: matches no student here; left as is")
            rows.append(line)
            continue
        if row["status"] not in UPLOADED:
            notes.append(_blank_note(student or line.get("Full name", number), row))
            rows.append({**line, "Grade": ""})
            continue
        score = row["score"]
        theirs = _float(line.get("Maximum Grade", ""))
        if theirs and maximum and abs(theirs - maximum) > 1e-9:
            score = score / maximum * theirs
        rows.append({**line, "Grade": _number(score)})
    theirs = {_float(r.get("Maximum Grade", "")) for r in rows} - {None}
    if theirs and maximum and any(abs(t - maximum) > 1e-9 for t in theirs):
        notes.append(
            f"grades scaled from {_number(maximum)} points to Moodle's maximum grade "
            f"{', '.join(_number(t) for t in sorted(theirs))}"
        )
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return notes


def _float(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except (AttributeError, ValueError):
        return None
