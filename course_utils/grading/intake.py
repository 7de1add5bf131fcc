"""Submissions in: folders, zips, LMS downloads and nbgrader's exchange, into submitted/<id>/.

A download is read as it comes, without options: a folder or a zip per student, one class zip,
or the layouts of Canvas, Moodle, Blackboard and Brightspace (:data:`LAYOUTS_LOOKED_FOR`). Files
are read, never extracted: a zip's size and member count are checked before anything is read,
symbolic links are never followed, and an archive inside the class zip is never opened. Each
submission is filed under the rostered student it matches, else under an id made from its name
(:mod:`course_utils.grading.roster`); two submissions for one student stop the run before
anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
    save_record,
)
from course_utils.grading.roster import (
    Roster,
    load_roster,
    register_ids,
    registered_ids,
    student_id,
    unique_ids,
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
            student = _exchange_student(root, folder.parent.name)
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


def _exchange_student(root: Path, account: str) -> str:
    """The student id of an exchange account: the rostered student it names, else the account
    as an id (never empty, Unicode kept)."""
    roster = load_roster(root)
    if roster is not None:
        student, _ = roster.find(key=account)
        if student is not None:
            return student.id
    return student_id(account)


# ---------------------------------------------------------------------------------------------
# What a download holds: files read from a folder or a zip, never extracted, never followed

MAX_ARCHIVE_MEMBERS = 20_000  # entries of one zip, checked before anything is read


MAX_ARCHIVE_BYTES = 4 * 2**30  # uncompressed bytes one zip declares in all, checked first


MAX_NOTEBOOK_BYTES = 64 * 2**20  # one submitted notebook (the sandbox's file-size limit)


MAX_FOLDER_FILES = 20_000  # files under a folder of submissions


@dataclass
class Entry:
    """One file of a download: its path inside the download and how to read it."""

    parts: tuple[str, ...]
    size: int
    origin: str  # for messages: the file on disk, or ZIP:member
    read: Callable[[], bytes] = field(repr=False, default=lambda: b"")
    problem: str = ""  # why it may not be read (a link, an unsafe name)
    when: str = ""  # the attempt it belongs to, where an LMS keeps several (Blackboard)
    folder: bool = False  # an empty folder at the top: a student who submitted nothing

    @property
    def name(self) -> str:
        return self.parts[-1]


def _skipped(part: str) -> bool:
    return part.startswith(".") or part in ("__MACOSX", "Thumbs.db", "desktop.ini")


def _folder_entries(folder: Path) -> list[Entry]:
    """Every file under ``folder`` (hidden ones skipped); a symbolic link is an entry with a
    problem, never followed."""
    entries: list[Entry] = []
    for current, dirs, files in os.walk(folder, followlinks=False):
        here = Path(current)
        base = here.relative_to(folder).parts
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        for name in [*dirs, *sorted(files)]:
            path = here / name
            if _skipped(name):
                continue
            parts = tuple(unicodedata.normalize("NFC", p) for p in (*base, name))
            if path.is_symlink():
                entries.append(
                    Entry(
                        parts,
                        0,
                        str(path),
                        problem=f"{'/'.join(parts)} is a symbolic link (to {os.readlink(path)}); "
                        "links are never followed: submit the files themselves",
                    )
                )
                if name in dirs:
                    dirs.remove(name)
                continue
            if name in dirs:
                continue
            if not path.is_file():
                continue  # a device, a socket: nothing a student submits
            size = path.lstat().st_size
            entries.append(Entry(parts, size, str(path), read=_file_reader(path)))
            if len(entries) > MAX_FOLDER_FILES:
                raise CourseError(
                    f"{folder} holds more than {MAX_FOLDER_FILES} files: is it the folder of "
                    "submissions? (a zip per student or a folder per student is expected)"
                )
    return _with_empty_folders(entries, folder, [p.name for p in folder.iterdir() if p.is_dir()])


def _with_empty_folders(entries: list[Entry], label: Path | str, tops: list[str]) -> list[Entry]:
    """Add a marker for each top-level folder that holds no file (a submission of nothing)."""
    used = {e.parts[0] for e in entries}
    empty = sorted({unicodedata.normalize("NFC", t) for t in tops} - used)
    markers = [Entry((t,), 0, f"{label}/{t}", folder=True) for t in empty if not _skipped(t)]
    return entries + markers


def _file_reader(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as handle:
            return handle.read(MAX_NOTEBOOK_BYTES + 1)

    return read


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:  # not marked UTF-8: Python read it as cp437
        with contextlib.suppress(UnicodeError):
            name = name.encode("cp437").decode("utf-8")
    return unicodedata.normalize("NFC", name.replace("\\", "/"))


def _zip_entries(path: Path, label: str) -> list[Entry]:
    """The files of the zip at ``path``, checked before any is read: at most
    ``MAX_ARCHIVE_MEMBERS`` members and ``MAX_ARCHIVE_BYTES`` declared in all; links, absolute
    or climbing names and encrypted members become entries with a problem."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CourseError(f"{label} is not a readable zip file: {exc}") from None
    infos = archive.infolist()
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise CourseError(
            f"{label} holds {len(infos)} members, more than the {MAX_ARCHIVE_MEMBERS} a class "
            "download may hold; nothing was extracted"
        )
    declared = sum(info.file_size for info in infos)
    if declared > MAX_ARCHIVE_BYTES:
        raise CourseError(
            f"{label} would unpack to {declared / 2**30:.1f} GiB, more than the "
            f"{MAX_ARCHIVE_BYTES / 2**30:.0f} GiB a class download may hold (a zip bomb?); "
            "nothing was extracted"
        )
    entries = []
    folders = []
    for info in infos:
        if info.is_dir():
            folders.append(_member_name(info).strip("/").split("/")[0])
            continue
        name = _member_name(info)
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if not parts or any(_skipped(p) for p in parts):
            continue
        origin = f"{label}:{name}"
        problem = ""
        if name.startswith("/") or ".." in parts or ":" in parts[0]:
            problem = f"{name} has an unsafe path inside the zip"
        elif stat.S_ISLNK(info.external_attr >> 16):
            problem = f"{name} is a symbolic link inside the zip; links are never followed"
        elif info.flag_bits & 0x1:
            problem = f"{name} is encrypted in the zip"
        entries.append(
            Entry(
                parts, info.file_size, origin, read=_member_reader(archive, info), problem=problem
            )
        )
    return _with_empty_folders(entries, label, [f for f in folders if f])


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        with archive.open(info) as handle:  # never more than the declared size (zipfile checks)
            return handle.read(MAX_NOTEBOOK_BYTES + 1)

    return read


# ---------------------------------------------------------------------------------------------
# Layouts: which files belong to which student

# Canvas: "smithalice_10234_556677_conv2d.ipynb": sortable name squashed, _LATE when late, the
# student's Canvas user id, the file's id, then the file's name (a resubmission: "conv2d-1.ipynb").
CANVAS = re.compile(
    r"^(?P<name>[^_]+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<file_id>\d+)_(?P<file>.+)$", re.I
)
# Moodle: "Full Name_125_assignsubmission_file_" (a folder per student, or a prefix of each
# file when not in folders); 125 is the participant number of this assignment.
MOODLE = re.compile(
    r"^(?P<name>.+?)_(?P<participant>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?(?P<file>.*)$"
)
# Blackboard: "Assignment 2_asmith_attempt_2026-03-01-22-15-09_conv2d.ipynb" (and a receipt
# "..._attempt_2026-03-01-22-15-09.txt").
BLACKBOARD = re.compile(
    r"^(?P<assignment>.+)_(?P<user>[^_]+)_attempt_"
    r"(?P<when>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})(?:_(?P<file>.+)|\.txt)?$"
)
# Brightspace (D2L): "123456-789012 - Alice Smith - Mar 1, 2026 1015 PM - conv2d.ipynb", or a
# folder of that name without the file part.
BRIGHTSPACE = re.compile(
    r"^(?P<ids>\d+-\d+) - (?P<name>.+?) - "
    r"(?P<when>[A-Z][a-z]{2} \d{1,2}, \d{4} \d{3,4} [AP]M)(?: - (?P<file>.+))?$"
)
LAYOUTS_LOOKED_FOR = (
    "a folder per student (alice/conv2d.ipynb); a zip per student (alice.zip); one class zip "
    "holding either; Canvas's download (smithalice_10234_556677_conv2d.ipynb, _LATE_ when "
    "late); Moodle's (Alice Smith_125_assignsubmission_file_/conv2d.ipynb, in folders or not); "
    "Blackboard's (Assignment_asmith_attempt_2026-03-01-22-15-09_conv2d.ipynb); Brightspace's "
    "(123-456 - Alice Smith - Mar 1, 2026 1015 PM - conv2d.ipynb)"
)


@dataclass
class Submission:
    """One student's files in a download, and who the download says they are."""

    layout: str  # folder, zip, canvas, moodle, blackboard, brightspace
    label: str  # the name the layout gives: folder name, Canvas's squashed name, a full name
    source: str  # where it was found, for messages
    entries: list[Entry] = field(default_factory=list)  # parts relative to the submission
    lms_id: str = ""  # Canvas user id
    login: str = ""  # Blackboard user name
    participant: str = ""  # Moodle's participant number (per assignment)
    late: bool = False  # the LMS marked it late (Canvas)
    submitted: str = ""  # when, as the LMS wrote it (Blackboard, Brightspace)
    problem: str = ""  # a reason the submission cannot be used as it is


def _file_identity(name: str) -> tuple[Submission, str, str] | None:
    """Who an LMS download's file (or folder) name names: (the student's submission so far, the
    file's own name, the attempt's time), or None when it follows no LMS's pattern."""
    if m := CANVAS.match(name):
        sub = Submission("canvas", m["name"], name, lms_id=m["user"], late=bool(m["late"]))
        return sub, m["file"], ""
    if (m := MOODLE.match(name)) and m["plugin"] in ("file", "onlinetext"):
        return Submission("moodle", m["name"], name, participant=m["participant"]), m["file"], ""
    if m := BLACKBOARD.match(name):
        return (
            Submission("blackboard", m["user"], name, login=m["user"]),
            m["file"] or "",
            m["when"],
        )
    if m := BRIGHTSPACE.match(name):
        return Submission("brightspace", m["name"], name), m["file"] or "", m["when"]
    return None


def _strip_wrappers(entries: list[Entry]) -> tuple[list[Entry], tuple[str, ...]]:
    """Skip folders that only wrap the class ("assignment2-submissions/"): one folder at the
    top, named after no student, holding several students' folders, zips or LMS files."""
    prefix: tuple[str, ...] = ()
    while True:
        tops = {e.parts[0] for e in entries}
        if len(tops) != 1 or any(len(e.parts) == 1 for e in entries):
            return entries, prefix
        top = next(iter(tops))
        if _file_identity(top) is not None:
            return entries, prefix
        inner = {e.parts[1] for e in entries}
        nested = {e.parts[1] for e in entries if len(e.parts) > 2}
        lms = {p for p in inner if _file_identity(p) is not None}
        zips = {p for p in inner if p.lower().endswith(".zip")}
        if len(nested | zips | lms) < 2 and not lms:
            return entries, prefix
        prefix += (top,)
        entries = [replace(e, parts=e.parts[1:]) for e in entries]


def find_submissions(
    entries: list[Entry], in_archive: bool, label: str
) -> tuple[list[Submission], list[str]]:
    """Group a download's files by student; return the submissions and the files that fit no
    layout.

    ``in_archive``: the download is one zip, so a zip inside it (named by no LMS) is refused
    with a reason: an archive in an archive is never opened, as it could hold other students'
    folders. In a folder, such a zip is one student's submission (:func:`_zip_submission`). A
    zip an LMS named after a student is a file of that student's submission, not opened.
    """
    entries, _ = _strip_wrappers(entries)
    grouped: dict[tuple, Submission] = {}
    ignored: list[str] = []
    for entry in entries:
        top = entry.parts[0]
        alone = len(entry.parts) == 1
        found = _file_identity(top)
        if entry.folder:  # nothing in it: a submission without a notebook
            if found is not None:
                identity = found[0]
                identity.source = entry.origin
                key = (identity.layout, identity.lms_id or identity.participant or identity.label)
                grouped.setdefault(key, identity)
            else:
                grouped.setdefault(("folder", top), Submission("folder", top, entry.origin))
            continue
        if found is None and alone and top.lower().endswith(".zip"):
            if in_archive:
                sub = Submission("zip", Path(top).stem, entry.origin)
                sub.problem = (
                    f"{top} is a zip inside the class zip; archives inside archives are never "
                    "opened (one could hold other students' folders): extract it by hand and "
                    "check whose work it is"
                )
            else:
                sub = _zip_submission(entry)
            grouped[("zip", top)] = sub
            continue
        if found is not None:
            identity, own_name, when = found
            key = (identity.layout, identity.lms_id or identity.participant or identity.label)
            if key not in grouped:
                identity.source = entry.origin if alone else _source_of(entry)
                grouped[key] = identity
            sub = grouped[key]
            sub.late = sub.late or identity.late
            if alone and entry.problem:
                sub.problem = sub.problem or entry.problem
            elif alone:
                if not own_name:
                    continue  # Blackboard's receipt of an attempt
                sub.entries.append(replace(entry, parts=(own_name,), when=when))
            else:
                sub.entries.append(replace(entry, parts=entry.parts[1:], when=when))
            continue
        if alone and entry.problem:  # a student's folder that is a link
            sub = grouped.setdefault(("folder", top), Submission("folder", top, entry.origin))
            sub.problem = entry.problem
            continue
        if alone:
            if top.lower() != "index.html":  # Brightspace's list of submissions
                ignored.append(entry.origin)
            continue
        sub = grouped.setdefault(("folder", top), Submission("folder", top, _source_of(entry)))
        sub.entries.append(replace(entry, parts=entry.parts[1:]))
    submissions = list(grouped.values())
    for sub in submissions:
        _keep_latest_attempt(sub)
        problems = [e.problem for e in sub.entries if e.problem]
        if problems and not sub.problem:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            sub.problem = problems[0] + more
    return submissions, ignored


def _source_of(entry: Entry) -> str:
    """The folder (or zip member) of a student, from one of their files' origin."""
    depth = len(entry.parts) - 1
    origin = entry.origin
    for _ in range(depth):
        origin = origin.rsplit("/", 1)[0]
    return origin


def _when_key(when: str) -> str:
    """A sortable form of an attempt's time (Blackboard: 2026-03-01-22-15-09; Brightspace:
    Mar 1, 2026 1015 PM)."""
    from datetime import datetime

    for pattern in ("%Y-%m-%d-%H-%M-%S", "%b %d, %Y %I%M %p"):
        with contextlib.suppress(ValueError):
            return datetime.strptime(when, pattern).isoformat()
    return when


def _keep_latest_attempt(sub: Submission) -> None:
    """Keep only the files of the latest attempt (Blackboard and Brightspace keep every one)."""
    whens = {e.when for e in sub.entries} - {""}
    if len(whens) <= 1:
        if whens:
            sub.submitted = _when_key(next(iter(whens)))
        return
    latest = max(whens, key=_when_key)
    sub.entries = [e for e in sub.entries if e.when in ("", latest)]
    sub.submitted = _when_key(latest)


def _zip_submission(entry: Entry) -> Submission:
    """A zip in a folder of submissions: one student's work, named by the zip, or by the one
    Moodle folder it holds (Moodle's download of one student). A zip holding several students'
    folders is refused."""
    sub = Submission("zip", Path(entry.name).stem, entry.origin)
    if entry.problem:
        sub.problem = entry.problem
        return sub
    try:
        inner = _zip_entries(Path(entry.origin), entry.origin)
    except CourseError as exc:
        sub.problem = str(exc)
        return sub
    tops = {e.parts[0] for e in inner if len(e.parts) > 1}
    people = {t: found[0] for t in tops if (found := _file_identity(t)) is not None}
    if people:
        if len(people) > 1 or any(len(e.parts) == 1 for e in inner):
            sub.problem = (
                f"{entry.name} holds the work of several students or files outside the student's "
                f"folder ({', '.join(sorted(people)[:4])}); a zip in a folder of submissions "
                "must hold one student's work"
            )
            return sub
        top, person = next(iter(people.items()))
        person.source = f"{entry.origin}:{top}"
        person.entries = [replace(e, parts=e.parts[1:]) for e in inner]
        return person
    sub.entries = inner
    return sub


def _notebook_key(name: str) -> str:
    """A submitted notebook's name without the copy marks LMSs and browsers add:
    ``conv2d-1.ipynb`` (Canvas, a resubmission), ``conv2d (1).ipynb``, ``conv2d copy.ipynb``."""
    stem = name[: -len(".ipynb")] if name.lower().endswith(".ipynb") else name
    stem = re.sub(r"(?:-\d+| \(\d+\)| copy(?: \d+)?)$", "", stem)
    return unicodedata.normalize("NFC", stem).casefold() + ".ipynb"


def choose_notebooks(sub: Submission, expected: list[str]) -> tuple[dict[str, Entry], str]:
    """The submission's file for each of the assignment's notebooks; or a problem to report.

    The notebook of that name, or of that name with a copy mark; else, for a one-notebook
    assignment, the only notebook. Two candidates for one notebook are a problem (never a guess).
    """
    notebooks = [e for e in sub.entries if e.name.lower().endswith(".ipynb")]
    notebooks = [e for e in notebooks if ".ipynb_checkpoints" not in e.parts]
    chosen: dict[str, Entry] = {}
    for name in expected:
        for candidates in (  # an exact name and a copy's name both count: never a guess
            [e for e in notebooks if _notebook_key(e.name) == _notebook_key(name)],
            notebooks if len(expected) == 1 else [],
        ):
            if len(candidates) == 1:
                chosen[name] = candidates[0]
                break
            if len(candidates) > 1:
                found = ", ".join("/".join(e.parts) for e in candidates[:5])
                return {}, f"{len(candidates)} notebooks could be {name} ({found}); submit one"
    if chosen:
        return chosen, ""
    found = ", ".join("/".join(e.parts) for e in sub.entries[:5]) or "nothing"
    zips = [e.name for e in sub.entries if e.name.lower().endswith(".zip")]
    hint = (
        f"; {', '.join(zips[:3])} is an archive inside the submission, never opened: submit the "
        "notebook itself"
        if zips
        else ""
    )
    return {}, f"no notebook named {', '.join(expected)} in the submission (found: {found}){hint}"


# ---------------------------------------------------------------------------------------------
# Who is who: the roster, else ids made from the names


@dataclass
class Identified:
    """A submission with the student id it is filed under."""

    student: str
    submission: Submission
    rostered: bool | None  # None: the course has no roster
    note: str = ""  # why it matched no rostered student


def _derived_name(sub: Submission) -> str:
    if sub.layout == "canvas":  # squashed names repeat; Canvas's user id never does
        return f"{sub.label}_{sub.lms_id}"
    return sub.label


def identify(root: Path, submissions: list[Submission], roster: Roster | None) -> list[Identified]:
    """Give each submission a student id: the rostered student it matches, else an id made from
    its name that no other name has (kept in logs/student-ids.json, so it never changes).

    Two submissions for one id are a ``CourseError`` naming both: nothing is written then.
    """
    found: list[Identified] = []
    unmatched: list[tuple[Submission, str]] = []
    for sub in submissions:
        if roster is not None:
            if sub.layout == "canvas":
                student, why = roster.find(lms_id=sub.lms_id, name=sub.label)
            elif sub.layout == "blackboard":
                student, why = roster.find(key=sub.login)
            elif sub.layout in ("moodle", "brightspace"):
                student, why = roster.find(key=sub.label, name=sub.label)
            else:
                student, why = roster.find(key=sub.label)
            if student is not None:
                found.append(Identified(student.id, sub, True))
                continue
            unmatched.append((sub, why))
        else:
            unmatched.append((sub, ""))
    taken = registered_ids(root)
    if roster is not None:  # a roster's id is never given to another name
        taken.update({s.id: "" for s in roster.students})
    ids = unique_ids([_derived_name(sub) for sub, _ in unmatched], taken)
    for sub, why in unmatched:
        name = unicodedata.normalize("NFC", _derived_name(sub)).strip()
        found.append(Identified(ids[name], sub, None if roster is None else False, why))
    by_id: dict[str, Identified] = {}
    for item in found:
        key = unicodedata.normalize("NFC", item.student).casefold()
        if key in by_id:
            first = by_id[key]
            raise CourseError(
                f"two submissions for the student {item.student!r}: {first.submission.source} and "
                f"{item.submission.source}; nothing was collected. Keep the one to grade (or, "
                "for two people of the same name, rename one folder to the student's id in "
                "the roster) and run again"
            )
        by_id[key] = item
    register_ids(root, {ids[n]: n for n in ids if ids[n] not in taken})
    return found


# ---------------------------------------------------------------------------------------------
# Collecting


def _open_download(folder: Path) -> tuple[list[Entry], bool, Path]:
    """The files of a folder or a class zip (and whether it is one zip)."""
    if folder.is_symlink():
        raise CourseError(f"{folder} is a symbolic link; pass the folder or zip it points to")
    if folder.is_file():
        if not zipfile.is_zipfile(folder):
            raise CourseError(f"{folder} is neither a folder nor a zip file of submissions")
        return _zip_entries(folder, str(folder)), True, folder
    if folder.is_dir():
        entries = _folder_entries(folder)
        alone = [e for e in entries if len(e.parts) == 1]
        if len(entries) == 1 and alone and alone[0].name.lower().endswith(".zip"):
            # the folder the class zip was downloaded into: that zip is the download
            only = Path(alone[0].origin)
            if not alone[0].problem:
                return _zip_entries(only, str(only)), True, only
        return entries, False, folder
    if folder.exists():
        raise CourseError(f"{folder} is neither a folder nor a zip file of submissions")
    raise CourseError(f"submissions folder or zip {folder} does not exist")


def ledger_path(root: Path, assignment: str) -> Path:
    """Where intake keeps, per student, where each submission came from (logs/intake-A.json)."""
    return root / LOG_DIR / f"intake-{assignment}.json"


def read_ledger(root: Path, assignment: str) -> dict[str, dict]:
    """Student id -> what intake recorded of their submission (source, layout, late, LMS ids)."""
    try:
        return json.loads(ledger_path(root, assignment).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}


def _write_ledger(root: Path, assignment: str, ledger: dict[str, dict]) -> None:
    path = ledger_path(root, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(ledger, indent=1, ensure_ascii=False, sort_keys=True) + "\n", "utf-8"
    )


def collect_submissions(
    root: Path, assignment: str, folder: str | Path, progress: Progress = print
) -> tuple[list[str], list[GradeResult]]:
    """Copy a download of submissions into submitted/<student>/<assignment>/.

    ``folder`` is a folder or one zip, as an LMS gives it (layouts: :data:`LAYOUTS_LOOKED_FOR`),
    recognised without options. Each submission is filed under the rostered student it matches
    (:mod:`course_utils.grading.roster`), or under an id made from its name; the same person gets
    the same id whichever layout brought them. A submitted notebook whose name differs from the
    assignment's (``conv1d (2).ipynb``, Canvas's ``conv1d-1.ipynb``) is matched when that is
    unambiguous. Returns the students ready to grade and a failure for each unusable submission
    (a link, an archive inside the class zip, no notebook, not a notebook); every student gets a
    record (:func:`save_record`) and every failure a log.

    Raises ``CourseError`` before anything is written for an unknown assignment, a download
    that is not readable or too big, two submissions for one student, or no submission at all
    (the message lists the layouts looked for and what was found).
    """
    resolve_assignments(root, [assignment])
    folder = Path(folder)
    entries, in_archive, download = _open_download(folder)
    submissions, ignored = find_submissions(entries, in_archive, str(download))
    if not submissions:
        seen = sorted({"/".join(e.parts[:2]) for e in entries})
        raise CourseError(
            f"found no submissions of {assignment} in {folder}: looked for {LAYOUTS_LOOKED_FOR}; "
            f"found {len(entries)} file(s)"
            + (f": {', '.join(seen[:8])}{' ...' if len(seen) > 8 else ''}" if seen else "")
        )
    roster = load_roster(root)
    identified = identify(root, submissions, roster)
    expected = notebook_names(root, assignment)
    ledger = read_ledger(root, assignment)
    ready, failures = [], []
    for item in sorted(identified, key=lambda i: i.student):
        student, sub = item.student, item.submission
        before = ledger.get(student, {}).get("source")
        ledger[student] = {
            "source": sub.source,
            "layout": sub.layout,
            "name": sub.label,
            "lms_id": sub.lms_id,
            "participant": sub.participant,
            "late": sub.late,
            "submitted": sub.submitted,
            "rostered": item.rostered,
            "note": item.note,
        }
        if before and before != sub.source:
            progress(f"  {student}: replaces the submission collected before from {before}")
        problem = sub.problem
        chosen: dict[str, Entry] = {}
        if not problem:
            chosen, problem = choose_notebooks(sub, expected)
        if not problem:
            big = [e for e in chosen.values() if e.size > MAX_NOTEBOOK_BYTES]
            if big:
                problem = (
                    f"{big[0].name} is {big[0].size / 2**20:.0f} MB, more than the "
                    f"{MAX_NOTEBOOK_BYTES // 2**20} MB a notebook may have"
                )
        if problem:
            failures.append(
                _unusable(root, assignment, student, problem, f"{problem}\nsource: {sub.source}")
            )
            continue
        texts = {}
        for name, entry in chosen.items():
            try:
                data = entry.read()
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                problem = f"{entry.name} could not be read from {entry.origin}: {exc}"
                break
            if len(data) > MAX_NOTEBOOK_BYTES:
                problem = f"{entry.name} is larger than its declared size allows"
                break
            texts[name] = data
        if problem:
            failures.append(_unusable(root, assignment, student, problem, problem))
            continue
        failure = prepare_submission(root, assignment, student, texts, progress)
        if failure:
            failures.append(failure)
            continue
        ready.append(student)
    _write_ledger(root, assignment, ledger)
    layouts = Counter(item.submission.layout for item in identified)
    progress(
        f"found {len(identified)} submission(s) of {assignment}: {len(ready)} ready to grade, "
        f"{len(failures)} unusable"
        + (f" ({', '.join(f.student for f in failures)})" if failures else "")
        + f" [{', '.join(f'{n} {layout}' for layout, n in sorted(layouts.items()))}]"
    )
    strangers = [i for i in identified if i.rostered is False]
    if strangers:
        progress(
            f"  {len(strangers)} submission(s) match no rostered student; graded under the "
            "ids shown, listed in the exports for a person to match: "
            + "; ".join(f"{i.student} ({i.submission.source}: {i.note})" for i in strangers[:10])
        )
    if ignored:
        progress(
            f"  ignored {len(ignored)} file(s) that belong to no student's submission: "
            + ", ".join(ignored[:5])
            + (" ..." if len(ignored) > 5 else "")
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
