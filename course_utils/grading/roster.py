"""Who is in the class: the roster (from a plain CSV or a Canvas or Moodle export) and student ids.

The roster lives in the course folder as ``roster.csv`` (one row per student, the columns of
:data:`ROSTER_COLUMNS`) and in nbgrader's gradebook (``Student``: id, names, email, LMS user
id), so nbgrader's own formgrader and export see the same class. Every export lists every rostered
student; submissions are matched to a rostered student by the LMS's user id, a login, an email or
the name (:meth:`Roster.find`).

A student id is what nbgrader files a student under (``submitted/<id>/...``): a roster's id, or
one made from a name by :func:`student_id`, which keeps Unicode (normalised to NFC), never
returns an empty id and never maps two different names to one id (:func:`unique_ids`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from course_utils.grading.records import LOG_DIR, CourseError, gradebook_url

ROSTER_FILE = "roster.csv"


ROSTER_COLUMNS = ["id", "name", "email", "login", "lms_id", "sis_id", "section"]


ID_REGISTRY = "student-ids.json"  # in logs/: the id each name got, so that it never changes


MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class Student:
    """One rostered student: the course's id and what the LMS knows them by."""

    id: str
    name: str = ""
    email: str = ""
    login: str = ""  # a login or user name (Canvas "SIS Login ID", Moodle "Username")
    lms_id: str = ""  # the LMS's own user id (Canvas "ID"; in Canvas's download file names)
    sis_id: str = ""  # the institution's id (Canvas "SIS User ID", Moodle "ID number")
    section: str = ""


# ---------------------------------------------------------------------------------------------
# Student ids


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def student_id(name: str) -> str:
    """Return a student id made from ``name``: never empty, Unicode kept (NFC), no path characters.

    Letters and digits of every script are kept; ``_ . @ -`` too; anything else (spaces,
    punctuation, slashes, control characters) becomes ``_``. A name with nothing left
    (``"???"``, an emoji) gets ``student-`` and a hash of the name. Different names can give the
    same id (``"a b"``, ``"a_b"``): :func:`unique_ids` keeps those apart.
    """
    text = _nfc(name)
    kept = [
        ch if ch.isalnum() or ch in "_.@-" or unicodedata.category(ch).startswith("M") else "_"
        for ch in text
    ]
    cleaned = re.sub(r"_{2,}", "_", "".join(kept)).strip("._-")[:MAX_ID_LENGTH].strip("._-")
    return cleaned or f"student-{_short_hash(text)}"


def _id_key(identifier: str) -> str:
    """Ids that differ only in case are one folder on some file systems: compare them folded."""
    return _nfc(identifier).casefold()


def unique_ids(names: Iterable[str], taken: dict[str, str] | None = None) -> dict[str, str]:
    """Give each name an id (:func:`student_id`) that no other name has.

    ``taken`` maps ids already given (the roster's, earlier runs') to the name they belong to; a
    name keeps the id it was given before. Two different names whose ids would collide (also
    in case only) both get a hash of their name appended, so neither depends on the other.
    """
    taken = dict(taken or {})
    owners = {_id_key(i): _nfc(n) for i, n in taken.items()}
    known = {_nfc(n): i for i, n in taken.items() if n}
    result: dict[str, str] = {}
    wanted: dict[str, list[str]] = {}
    for name in sorted({_nfc(n) for n in names}):
        if name in known:
            result[name] = known[name]
        else:
            wanted.setdefault(_id_key(student_id(name)), []).append(name)
    for key, group in wanted.items():
        clash = len(group) > 1 or (key in owners and owners[key] not in group)
        for name in group:
            base = student_id(name)
            result[name] = f"{base[: MAX_ID_LENGTH - 9]}-{_short_hash(name)}" if clash else base
    return result


def registered_ids(root: Path) -> dict[str, str]:
    """The ids given to names so far in this course (id -> name), from logs/student-ids.json."""
    path = root / LOG_DIR / ID_REGISTRY
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CourseError(f"{path} is unreadable ({exc}); restore it or remove it") from None
    return {str(k): str(v) for k, v in data.items()}


def register_ids(root: Path, ids: dict[str, str]) -> None:
    """Remember ``ids`` (id -> name), so the same name gets the same id in every later run."""
    known = registered_ids(root)
    known.update(ids)
    path = root / LOG_DIR / ID_REGISTRY
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=1, ensure_ascii=False, sort_keys=True) + "\n", "utf-8")


# ---------------------------------------------------------------------------------------------
# Names


def _words(name: str) -> list[str]:
    """The words of a name, case-folded, without punctuation ("Smith, Alice" -> smith, alice)."""
    text = _nfc(name).casefold()
    return [w for w in re.split(r"[^\w]+", text) if w]


def _ascii(text: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )


def name_keys(name: str) -> set[str]:
    """Forms of a name that identify it whatever the order of its parts or its punctuation.

    ``"Alice Smith"``, ``"Smith, Alice"`` and ``"smith alice"`` share a key; so do the squashed
    forms an LMS writes in file names (Canvas: ``smithalice``). Accents count: ``Zoë`` and
    ``Zoé`` have no key in common.
    """
    words = _words(name)
    if not words:
        return set()
    keys = {" ".join(sorted(words)), "".join(words), "".join(reversed(words))}
    if len(words) > 2:  # "Ana María López" is "lópezanamaría" in Canvas's sortable form
        keys.add("".join(words[-1:] + words[:-1]))
    return keys


def ascii_name_keys(name: str) -> set[str]:
    """``name_keys`` without accents, for names an LMS has squashed to ASCII (used only when no
    name matches as written: ``Zoë`` and ``Zoé`` both become ``zoe``)."""
    return {_ascii(k) for k in name_keys(name)}


# ---------------------------------------------------------------------------------------------
# Reading roster files (plain, nbgrader's, Canvas's and Moodle's exports)


def _header_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.replace("\ufeff", "").casefold()).strip()


PLAIN_COLUMNS = {
    "id": ["id", "student id", "student", "student number", "userid", "user id"],
    "login": ["login", "username", "user name", "login id", "sis login id"],
    "email": ["email", "email address", "e mail", "mail"],
    "lms_id": ["lms id", "lms user id", "canvas id", "canvas user id"],
    "sis_id": ["sis id", "sis user id", "id number", "matriculation number"],
    "section": ["section", "group", "groups"],
    "name": ["name", "full name", "student name", "display name"],
    "first": ["first name", "firstname", "given name"],
    "last": ["last name", "lastname", "surname", "family name"],
}


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CourseError(f"cannot read the roster {path}: {exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CourseError(
            f"the roster {path} is not UTF-8 text: save it as 'CSV UTF-8' and import it again"
        ) from None
    first_line = text.split("\n", 1)[0]  # the header decides: Excel in some locales writes ";"
    delimiter = max(",;\t", key=first_line.count)
    rows = [
        row
        for row in csv.reader(io.StringIO(text), delimiter=delimiter)
        if any(c.strip() for c in row)
    ]
    if not rows:
        raise CourseError(f"the roster {path} is empty")
    return rows[0], rows[1:]


def _layout(header: list[str]) -> str:
    keys = {_header_key(h) for h in header}
    if {"student", "id"} <= keys and keys & {"sis user id", "sis login id", "section"}:
        return "canvas"
    if "email address" in keys and (
        {"first name", "last name"} <= keys or "full name" in keys or "identifier" in keys
    ):
        return "moodle"
    return "plain"


def read_roster_file(path: str | Path) -> tuple[list[Student], str]:
    """Read a roster CSV; return its students (ids not yet unique) and the layout it had.

    Layouts, recognised from the header: Canvas's gradebook export (``Student, ID, SIS User ID,
    SIS Login ID, Section``; its "Points Possible" row and Canvas's "Test Student" are skipped),
    Moodle's participants, gradebook or grading-worksheet export (``First name, Last name`` or
    ``Full name``, ``Email address``, ``Username``/``ID number`` when shown), and a plain CSV with
    columns such as ``id, name, email`` (nbgrader's ``id, first_name, last_name, email,
    lms_user_id`` included). A student without an id column gets one from the login, the
    institution's id, the email's local part or the name, in that order.
    """
    path = Path(path)
    header, rows = _read_rows(path)
    layout = _layout(header)
    columns = {_header_key(h): i for i, h in reversed(list(enumerate(header)))}

    def column(*names: str) -> int | None:
        return next((columns[n] for n in names if n in columns), None)

    if layout == "canvas":
        where = {
            "name": column("student"),
            "lms_id": column("id"),
            "sis_id": column("sis user id"),
            "login": column("sis login id"),
            "section": column("section"),
            "email": column("email", "email address"),
            "id": None,
        }
    else:
        where = {field: column(*names) for field, names in PLAIN_COLUMNS.items()}
        if layout == "moodle":
            where["id"] = None  # Moodle's "Identifier" is per assignment, not the person
            where["lms_id"] = None
    first, last = where.pop("first", None), where.pop("last", None)
    naming = ("id", "name", "email", "login")
    if all(where[f] is None for f in naming) and first is None and last is None:
        raise CourseError(
            f"the roster {path} has no column naming the students: found {header}; "
            "expected an id, a name or an email column (e.g. id,name,email), or a roster "
            "exported from Canvas (Grades > Export) or Moodle (Participants, or the grading "
            "worksheet)"
        )

    def cell(row: list[str], index: int | None) -> str:
        return _nfc(row[index]) if index is not None and index < len(row) else ""

    students = []
    for row in rows:
        name = cell(row, where["name"]) or " ".join(
            part for part in (cell(row, first), cell(row, last)) if part
        )
        values = {f: cell(row, where[f]) for f in ("id", "email", "login", "lms_id", "sis_id")}
        if layout == "canvas":
            if name.casefold().startswith("points possible") or _words(name) in (
                ["test", "student"],
                ["student", "test"],
            ):
                continue
            if not values["lms_id"].isdigit():
                continue  # Canvas's muted/other info rows
        if not any(values.values()) and not name:
            continue
        students.append(
            Student(
                id=values["id"],
                name=name,
                email=values["email"],
                login=values["login"],
                lms_id=values["lms_id"],
                sis_id=values["sis_id"],
                section=cell(row, where["section"]),
            )
        )
    if not students:
        raise CourseError(f"the roster {path} lists no students (header: {header})")
    return students, layout


# ---------------------------------------------------------------------------------------------
# The roster of the course


class Roster:
    """The class list, with look-ups by LMS id, login, email and name."""

    def __init__(self, students: Iterable[Student]):
        self.students = list(students)
        self.by_id = {_id_key(s.id): s for s in self.students}
        self._exact: dict[str, list[Student]] = {}
        self._names: dict[str, list[Student]] = {}
        self._ascii: dict[str, list[Student]] = {}
        for s in self.students:
            for key in {s.id, s.login, s.email, s.sis_id, s.email.split("@")[0] if s.email else ""}:
                if key:
                    self._exact.setdefault(_id_key(key), []).append(s)
            for key in name_keys(s.name):
                self._names.setdefault(key, []).append(s)
            for key in ascii_name_keys(s.name):
                self._ascii.setdefault(key, []).append(s)
        self._lms = {s.lms_id: s for s in self.students if s.lms_id}

    def __len__(self) -> int:
        return len(self.students)

    def get(self, identifier: str) -> Student | None:
        return self.by_id.get(_id_key(identifier))

    def find(
        self, *, lms_id: str = "", key: str = "", name: str = ""
    ) -> tuple[Student | None, str]:
        """The rostered student an LMS user id, an id/login/email (``key``) or a name points at.

        Returns (student, "") or (None, why not): no match, or several rostered students match
        (two people of the same name are never guessed between).
        """
        if lms_id and lms_id in self._lms:
            return self._lms[lms_id], ""
        tiers = (
            (key, self._exact, "id", lambda t: {_id_key(t)}),
            (name, self._names, "name", name_keys),
            (name, self._ascii, "name", ascii_name_keys),
        )
        for text, index, what, keys_of in tiers:
            if not text:
                continue
            keys = keys_of(text)
            found = {s.id: s for k in keys for s in index.get(k, [])}
            if len(found) == 1:
                return next(iter(found.values())), ""
            if len(found) > 1:
                return None, f"{len(found)} rostered students match the {what} {text!r}: " + (
                    ", ".join(sorted(found))
                )
        if key and not name:  # a folder named after the student: try it as a name too
            return self.find(name=key)
        return None, "matches no rostered student"


def roster_path(root: Path) -> Path:
    return root / ROSTER_FILE


def load_roster(root: Path) -> Roster | None:
    """The course's roster (roster.csv), or None when none was imported."""
    path = roster_path(root)
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = {f.name for f in fields(Student)}
    return Roster(Student(**{k: v for k, v in row.items() if k in names}) for row in rows)


def _assign_ids(students: list[Student], previous: Roster | None, path: Path) -> list[Student]:
    """Give every student a unique id: the file's id column, else the id they had in the roster
    before (matched by LMS id, institution id, login or email), else their login, institution
    id, email's local part or name."""

    def before(s: Student) -> str:
        for p in previous.students if previous is not None else []:
            if (
                (s.lms_id and p.lms_id == s.lms_id)
                or (s.sis_id and p.sis_id == s.sis_id)
                or (s.login and _id_key(p.login) == _id_key(s.login))
                or (s.email and _id_key(p.email) == _id_key(s.email))
            ):
                return p.id
        return ""

    locals_ = [s.email.split("@")[0].casefold() for s in students if s.email]
    given: dict[int, str] = {}
    derived: dict[int, str] = {}
    for index, s in enumerate(students):
        local = s.email.split("@")[0] if s.email else ""
        unique_local = local if local and locals_.count(local.casefold()) == 1 else ""
        chosen = s.id or before(s) or s.login or s.sis_id or unique_local
        if chosen:
            given[index] = student_id(chosen)
        else:
            derived[index] = s.name or s.email
    taken = {given[i]: "" for i in given}  # ids given are never handed to another name
    names = unique_ids(derived.values(), taken)
    for index, name in derived.items():
        given[index] = names[_nfc(name)]
    seen: dict[str, int] = {}
    for index in range(len(students)):
        key = _id_key(given[index])
        if key in seen:
            a, b = students[seen[key]], students[index]
            raise CourseError(
                f"the roster {path} gives two students the id {given[index]!r}: "
                f"{a.name or a.email!r} (row {seen[key] + 2}) and {b.name or b.email!r} "
                f"(row {index + 2}); make the ids unique"
            )
        seen[key] = index
    return [Student(**{**asdict(s), "id": given[i]}) for i, s in enumerate(students)]


def write_roster(root: Path, students: Iterable[Student]) -> Path:
    """Write the course's roster.csv."""
    path = roster_path(root)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ROSTER_COLUMNS)
        writer.writeheader()
        for s in sorted(students, key=lambda s: s.id):
            writer.writerow(asdict(s))
    return path


def _split_name(name: str) -> tuple[str, str]:
    if "," in name:  # "Smith, Alice" (Canvas's sortable name)
        last, first = (part.strip() for part in name.split(",", 1))
        return first, last
    parts = name.rsplit(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (name, "")


def import_roster(root: Path, source: str | Path, progress=print) -> Roster:
    """Read a roster file into the course (roster.csv) and nbgrader's gradebook; return it.

    A student imported before keeps their id (matched by LMS id, institution id, login or
    email). Students in the gradebook who are not in the new file stay there (their grades are
    kept); the command reports them.
    """
    source = Path(source)
    students, layout = read_roster_file(source)
    previous = load_roster(root)
    students = _assign_ids(students, previous, source)
    write_roster(root, students)
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(root)) as gradebook:
        for s in students:
            first, last = _split_name(s.name)
            gradebook.update_or_create_student(
                s.id,
                first_name=first or None,
                last_name=last or None,
                email=s.email or None,
                lms_user_id=s.lms_id or None,
            )
        others = sorted({st.id for st in gradebook.students} - {s.id for s in students})
    roster = Roster(students)
    progress(
        f"roster: {len(students)} student(s) from {source.name} ({layout} layout) in "
        f"{roster_path(root).name} and the gradebook"
    )
    if others:
        progress(
            f"  not in this roster but in the gradebook (kept, with their grades): "
            f"{', '.join(others[:10])}{' ...' if len(others) > 10 else ''}"
        )
    return roster
