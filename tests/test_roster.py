"""The roster: plain, Canvas's and Moodle's class lists read as they are exported; kept in
roster.csv and nbgrader's gradebook; ids stable across imports; matching by LMS id and name."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from pathlib import Path

import pytest

from course_utils import cli
from course_utils.grading import records, roster

CANVAS_EXPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Assignment 1 (101),Current Score\n"
    "    Points Possible,,,,,10,(read only)\n"
    '"Smith, Alice",10234,S001,asmith,CNN 2026,,\n'
    '"Brown, Zoë",10235,S002,zbrown,CNN 2026,,\n'
    '"Петрова, Анна",10237,,,CNN 2026,,\n'
    '"Student, Test",99999,,,CNN 2026,,\n'
)
# Moodle's participants download (identity fields as a site shows them), semicolon-separated
MOODLE_EXPORT = (
    "\ufeffFirst name;Last name;ID number;Email address\n"
    "Alice;Smith;S001;alice.smith@uni.example\n"
    "Zoé;Brown;;zoe.brown@uni.example\n"
    "Wei;Zhang;;wzhang@uni.example\n"
    "Wei;Zhang;;wei.zhang2@other.example\n"
)


@pytest.fixture()
def course(tmp_path, repo_root) -> Path:
    root = tmp_path / "course"
    (root / "solutions" / "toy").mkdir(parents=True)
    shutil.copy(repo_root / "nbgrader_config.py", root)
    (root / "solutions" / "toy" / "toy.ipynb").write_text("{}", encoding="utf-8")
    return root


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_canvas_gradebook_export_is_a_roster(tmp_path):
    students, layout = roster.read_roster_file(_file(tmp_path, "canvas.csv", CANVAS_EXPORT))
    assert layout == "canvas"
    assert [(s.name, s.lms_id, s.sis_id, s.login, s.section) for s in students] == [
        ("Smith, Alice", "10234", "S001", "asmith", "CNN 2026"),
        ("Brown, Zoë", "10235", "S002", "zbrown", "CNN 2026"),
        ("Петрова, Анна", "10237", "", "", "CNN 2026"),
    ]


def test_moodle_participants_export_is_a_roster(tmp_path):
    students, layout = roster.read_roster_file(_file(tmp_path, "moodle.csv", MOODLE_EXPORT))
    assert layout == "moodle"
    assert [(s.name, s.email, s.sis_id) for s in students][:2] == [
        ("Alice Smith", "alice.smith@uni.example", "S001"),
        ("Zoé Brown", "zoe.brown@uni.example", ""),
    ]


def test_plain_and_nbgrader_rosters(tmp_path):
    plain = _file(tmp_path, "plain.csv", "id,name,email\nalice,Alice Smith,alice@uni.example\n")
    [alice], layout = roster.read_roster_file(plain)
    assert (layout, alice.id, alice.name, alice.email) == (
        "plain",
        "alice",
        "Alice Smith",
        "alice@uni.example",
    )
    nbgrader_style = _file(
        tmp_path,
        "nb.csv",
        "id,first_name,last_name,email,lms_user_id\nbob,Bob,Jones,bob@uni.example,42\n",
    )
    [bob], _ = roster.read_roster_file(nbgrader_style)
    assert (bob.id, bob.name, bob.lms_id) == ("bob", "Bob Jones", "42")


def test_a_roster_without_names_or_ids_is_an_error_naming_its_columns(tmp_path):
    with pytest.raises(records.CourseError, match=r"no column naming the students.*'grade'"):
        roster.read_roster_file(_file(tmp_path, "bad.csv", "grade,comment\n10,good\n"))
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("id,name\nzoe,Zoë\n".encode("latin-1"))
    with pytest.raises(records.CourseError, match="not UTF-8"):
        roster.read_roster_file(latin1)


def test_import_keeps_ids_across_imports_and_fills_the_gradebook(course, tmp_path):
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet:
        first = roster.import_roster(course, _file(tmp_path, "m.csv", MOODLE_EXPORT))
    ids = [s.id for s in first.students]
    # the two Wei Zhangs keep apart; ids come from the institution's id or the email
    assert ids == ["S001", "zoe.brown", "wzhang", "wei.zhang2"]
    assert (course / roster.ROSTER_FILE).is_file()
    from nbgrader.api import Gradebook

    with Gradebook(records.gradebook_url(course)) as gradebook:
        zoe = gradebook.find_student("zoe.brown")
        assert (zoe.first_name, zoe.last_name, zoe.email) == (
            "Zoé",
            "Brown",
            "zoe.brown@uni.example",
        )
    # a later export with a changed layout (a new column, a new student) keeps everyone's id
    later = (
        MOODLE_EXPORT.replace("Email address", "Email address;Username").replace(
            "@uni.example\n", "@uni.example;\n"
        )
        + "Carol;Lee;;carol@uni.example;clee\n"
    )
    with contextlib.redirect_stdout(io.StringIO()):
        second = roster.import_roster(course, _file(tmp_path, "m2.csv", later))
    assert [s.id for s in second.students][:4] == ids
    assert second.get("clee").name == "Carol Lee"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["--root", str(course), "roster", "show"]) == 0
    assert "5 student(s)" in printed.getvalue()


def test_two_students_with_one_id_is_an_error_naming_both(course, tmp_path):
    doubled = _file(tmp_path, "d.csv", "id,name\nalice,Alice Smith\nalice,Alice Jones\n")
    with pytest.raises(records.CourseError, match=r"two students the id 'alice'.*row 2.*row 3"):
        roster.import_roster(course, doubled)


def test_roster_find_by_lms_id_id_and_name_never_guesses():
    people = roster.Roster(
        [
            roster.Student("asmith", "Smith, Alice", lms_id="10234", email="a.smith@u.example"),
            roster.Student("zb1", "Zoë Brown"),
            roster.Student("zb2", "Zoé Brown"),
            roster.Student("w1", "Wei Zhang"),
            roster.Student("w2", "Wei Zhang"),
            roster.Student("ap", "Анна Петрова"),
        ]
    )
    assert people.find(lms_id="10234")[0].id == "asmith"
    assert people.find(key="a.smith")[0].id == "asmith"  # the email's local part
    assert people.find(name="alice smith")[0].id == "asmith"
    assert people.find(name="smithalice")[0].id == "asmith"  # Canvas's squashed form
    assert people.find(name="Zoé Brown")[0].id == "zb2"
    assert people.find(name="Brown, Zoë")[0].id == "zb1"
    assert people.find(name="Петрова Анна")[0].id == "ap"
    nobody, why = people.find(name="Wei Zhang")
    assert nobody is None and "2 rostered students" in why
    nobody, why = people.find(name="Zoe Brown")  # ASCII: could be either
    assert nobody is None and "zb1" in why and "zb2" in why
    assert people.find(name="Dan Brown") == (None, "matches no rostered student")


def test_the_roster_file_has_the_documented_columns(course, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()):
        roster.import_roster(course, _file(tmp_path, "c.csv", CANVAS_EXPORT))
    with (course / roster.ROSTER_FILE).open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == roster.ROSTER_COLUMNS
    assert {r["id"] for r in rows} == {"asmith", "zbrown", "Петрова_Анна"}
