"""Submissions in: LMS downloads as they come, ids that never collide, nothing that overwrites.

Every download here is built as the LMS writes it (file and folder names, a wrapping folder, a
late mark, a resubmission), with accented and non-Latin names; what must be refused (an archive
inside the class zip, symbolic links, a zip bomb, two submissions for one student) is refused
with a reason and overwrites nothing. No grading runs: these tests stop at submitted/.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import unicodedata
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_utils import cli
from course_utils.grading import intake, records, roster

ASSIGNMENT = "toy"
ANSWER_META = {
    "grade": False,
    "grade_id": "add",
    "locked": False,
    "schema_version": 3,
    "solution": True,
    "task": False,
}


@pytest.fixture()
def course(tmp_path, repo_root) -> Path:
    """A course folder with one one-notebook assignment (no release needed to collect)."""
    root = tmp_path / "course"
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(repo_root / "nbgrader_config.py", root)
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"
    )
    cell.metadata["nbgrader"] = dict(ANSWER_META)
    notebook.cells = [cell]
    nbformat.write(notebook, root / "solutions" / ASSIGNMENT / "toy.ipynb")
    return root


def _work(author: str) -> bytes:
    """A submitted toy.ipynb whose answer names its author (to see whose work was filed where)."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f"def add(a, b):\n    return a + b  # by {author}")
    cell.metadata["nbgrader"] = dict(ANSWER_META)
    notebook.cells = [cell]
    return nbformat.writes(notebook).encode("utf-8")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _filed(course: Path) -> dict[str, str]:
    """student id -> the author named in the notebook filed for them."""
    found = {}
    for path in sorted((course / "submitted").glob(f"*/{ASSIGNMENT}/toy.ipynb")):
        source = json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"]
        text = "".join(source) if isinstance(source, list) else source
        found[path.parent.parent.name] = text.rsplit("# by ", 1)[-1].strip()
    return found


def _collect(course: Path, download: Path):
    messages: list[str] = []
    ready, failures = intake.collect_submissions(course, ASSIGNMENT, download, messages.append)
    return ready, {f.student: f.reason for f in failures}, messages


# --- ids -------------------------------------------------------------------------------------


def test_student_ids_keep_unicode_and_never_collide_or_vanish():
    composed, decomposed = "Zoë Brown", unicodedata.normalize("NFD", "Zoë Brown")
    assert composed != decomposed
    assert roster.student_id(composed) == roster.student_id(decomposed) == "Zoë_Brown"
    assert roster.student_id("Zoé Brown") == "Zoé_Brown" != roster.student_id(composed)
    assert roster.student_id("Иван Петров") == "Иван_Петров"
    assert roster.student_id("王小明") == "王小明"
    assert roster.student_id("../../etc/passwd") == "etc_passwd"
    for nothing in ("???", "   ", "🙂", "..", "/"):
        made = roster.student_id(nothing)
        assert made.startswith("student-") and len(made) > len("student-")
        assert made == roster.student_id(nothing)  # stable
    assert roster.student_id("???") != roster.student_id("!!!")
    # different names whose ids would be one (also in case only) get one each
    ids = roster.unique_ids(["a b", "a_b", "Alice", "alice", "Bob"])
    assert len(set(ids.values())) == 5 and ids["Bob"] == "Bob"
    assert ids["a b"].startswith("a_b-") and ids["a_b"].startswith("a_b-")
    # an id given before stays with its name; a newcomer whose id would clash gets another
    again = roster.unique_ids(["a_b", "a b"], taken={"a_b": "a b"})
    assert again["a b"] == "a_b" and again["a_b"] != "a_b"


# --- layouts -----------------------------------------------------------------------------------


CANVAS_FILES = {
    "smithalice_10234_556677_toy.ipynb": "alice",
    "brownzoë_10235_556678_toy.ipynb": "zoë",
    "brownzoé_10238_556690_toy.ipynb": "zoé",
    "jonesbob_LATE_10236_556679_toy-1.ipynb": "bob",  # late, and a resubmission's name
    "петроваанна_10237_556680_toy.ipynb": "anna",
}


def test_canvas_flat_download_in_a_zip_and_unzipped_gives_the_same_ids(course, tmp_path):
    download = _zip(
        tmp_path / "submissions.zip",
        {f"submissions/{name}": _work(who) for name, who in CANVAS_FILES.items()},
    )
    ready, failures, messages = _collect(course, download)
    assert not failures
    filed = _filed(course)
    assert filed == {
        "smithalice_10234": "alice",
        "brownzoë_10235": "zoë",
        "brownzoé_10238": "zoé",
        "jonesbob_10236": "bob",
        "петроваанна_10237": "anna",
    }
    assert sorted(ready) == sorted(filed)
    ledger = intake.read_ledger(course, ASSIGNMENT)
    assert ledger["jonesbob_10236"]["late"] is True and ledger["smithalice_10234"]["late"] is False
    assert ledger["smithalice_10234"]["lms_id"] == "10234"
    assert "[5 canvas]" in messages[-1]

    shutil.rmtree(course / "submitted")
    unzipped = tmp_path / "unzipped"
    unzipped.mkdir()
    for name, who in CANVAS_FILES.items():
        (unzipped / name).write_bytes(_work(who))
    _collect(course, unzipped)
    assert _filed(course) == filed


def test_canvas_files_of_one_student_and_two_candidates(course, tmp_path):
    download = tmp_path / "canvas"
    download.mkdir()
    (download / "smithalice_10234_556677_toy.ipynb").write_bytes(_work("alice"))
    (download / "smithalice_10234_556678_notes.txt").write_text("my notes")
    (download / "jonesbob_10236_556679_toy.ipynb").write_bytes(_work("bob 1"))
    (download / "jonesbob_10236_556680_toy-1.ipynb").write_bytes(_work("bob 2"))
    ready, failures, _ = _collect(course, download)
    assert ready == ["smithalice_10234"]
    assert "2 notebooks could be toy.ipynb" in failures["jonesbob_10236"]


MOODLE = {
    "Alice Smith": ("125", "alice"),
    "Zoë Brown": ("126", "zoë"),
    "Zoé Brown": ("127", "zoé"),
    "Иван Петров": ("128", "ivan"),
    "???": ("129", "nameless"),
}


def test_moodle_class_zip_and_zips_per_student_give_one_id_per_person(course, tmp_path):
    class_zip = _zip(
        tmp_path / "class.zip",
        {
            f"{name}_{number}_assignsubmission_file_/{'toy (1).ipynb' if who == 'zoé' else 'toy.ipynb'}": _work(
                who
            )
            for name, (number, who) in MOODLE.items()
        },
    )
    ready, failures, _ = _collect(course, class_zip)
    assert not failures and len(ready) == 5
    from_class = _filed(course)
    assert from_class["Zoë_Brown"] == "zoë" and from_class["Zoé_Brown"] == "zoé"
    assert from_class["Иван_Петров"] == "ivan"
    [nameless] = [s for s, who in from_class.items() if who == "nameless"]
    assert nameless.startswith("student-")

    # the same people again, one zip each (as Moodle gives a selected student), in a folder
    shutil.rmtree(course / "submitted")
    folder = tmp_path / "per-student"
    folder.mkdir()
    for index, (name, (number, who)) in enumerate(MOODLE.items()):
        _zip(
            folder / f"download-{index}.zip",
            {f"{name}_{number}_assignsubmission_file_/toy.ipynb": _work(who)},
        )
    ready, failures, _ = _collect(course, folder)
    assert not failures
    assert _filed(course) == from_class  # same ids, so one row per person in every export


def test_moodle_files_not_in_folders_and_online_text(course, tmp_path):
    download = tmp_path / "moodle"
    download.mkdir()
    (download / "Alice Smith_125_assignsubmission_file_toy.ipynb").write_bytes(_work("alice"))
    (download / "Alice Smith_125_assignsubmission_onlinetext_onlinetext.html").write_text("hi")
    ready, failures, _ = _collect(course, download)
    assert (ready, failures) == (["Alice_Smith"], {})
    assert intake.read_ledger(course, ASSIGNMENT)["Alice_Smith"]["participant"] == "125"


def test_blackboard_and_brightspace_keep_the_latest_attempt(course, tmp_path):
    download = tmp_path / "lms"
    download.mkdir()
    early, late = "2026-03-01-10-00-00", "2026-03-02-09-30-00"
    (download / f"Assignment 2_asmith_attempt_{early}_toy.ipynb").write_bytes(_work("first"))
    (download / f"Assignment 2_asmith_attempt_{late}_toy.ipynb").write_bytes(_work("second"))
    (download / f"Assignment 2_asmith_attempt_{late}.txt").write_text("receipt")
    first, second = "Mar 1, 2026 1015 PM", "Mar 2, 2026 0905 AM"
    (download / f"123-456 - Bob Jones - {first} - toy.ipynb").write_bytes(_work("old"))
    (download / f"123-789 - Bob Jones - {second} - toy.ipynb").write_bytes(_work("new"))
    (download / "index.html").write_text("<html></html>")
    ready, failures, _ = _collect(course, download)
    assert not failures
    assert _filed(course) == {"asmith": "second", "Bob_Jones": "new"}


def test_a_download_with_nothing_recognisable_says_what_was_looked_for(course, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("not a submission")
    with pytest.raises(records.CourseError) as caught:
        intake.collect_submissions(course, ASSIGNMENT, empty)
    message = str(caught.value)
    assert "found no submissions" in message and "README.txt" in message
    for layout in ("a folder per student", "Canvas", "Moodle", "Blackboard", "Brightspace"):
        assert layout in message
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        status = cli.main(["--root", str(course), "autograde", ASSIGNMENT, str(empty)])
    assert status != 0 and "found no submissions" in printed.getvalue()


def test_an_unknown_assignment_writes_nothing(course, tmp_path):
    download = tmp_path / "subs"
    (download / "alice").mkdir(parents=True)
    (download / "alice" / "toy.ipynb").write_bytes(_work("alice"))
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        status = cli.main(["--root", str(course), "autograde", "toy9", str(download)])
    assert status == 2 and "unknown assignment" in printed.getvalue()
    assert not (course / "logs").exists() and not (course / "submitted").exists()


# --- what is refused ---------------------------------------------------------------------------


def test_a_zip_inside_the_class_zip_replaces_nobody(course, tmp_path):
    mallory = io.BytesIO()
    with zipfile.ZipFile(mallory, "w") as archive:
        archive.writestr("alice/toy.ipynb", _work("mallory"))
        archive.writestr("bob/toy.ipynb", _work("mallory"))
    download = _zip(
        tmp_path / "class.zip",
        {
            "alice/toy.ipynb": _work("alice"),
            "bob/toy.ipynb": _work("bob"),
            "mallory.zip": mallory.getvalue(),
        },
    )
    ready, failures, _ = _collect(course, download)
    assert sorted(ready) == ["alice", "bob"]
    assert _filed(course) == {"alice": "alice", "bob": "bob"}
    assert "zip inside the class zip" in failures["mallory"]


def test_a_zip_in_a_folder_holding_classmates_is_refused(course, tmp_path):
    folder = tmp_path / "subs"
    for who in ("alice", "bob"):
        (folder / who).mkdir(parents=True)
        (folder / who / "toy.ipynb").write_bytes(_work(who))
    _zip(
        folder / "mallory.zip",
        {
            "Alice Smith_1_assignsubmission_file_/toy.ipynb": _work("mallory"),
            "Bob Jones_2_assignsubmission_file_/toy.ipynb": _work("mallory"),
        },
    )
    _zip(folder / "eve.zip", {"alice/toy.ipynb": _work("eve"), "bob/toy.ipynb": _work("eve")})
    ready, failures, _ = _collect(course, folder)
    assert sorted(ready) == ["alice", "bob"]
    assert _filed(course) == {"alice": "alice", "bob": "bob"}
    assert "several students" in failures["mallory"]
    assert "2 notebooks could be toy.ipynb" in failures["eve"]  # never a guess


def test_symbolic_links_are_refused_never_followed(course, tmp_path):
    folder = tmp_path / "subs"
    (folder / "alice").mkdir(parents=True)
    (folder / "alice" / "toy.ipynb").write_bytes(_work("alice"))
    os.symlink(course / "solutions" / ASSIGNMENT, folder / "mallory")  # a folder that is a link
    (folder / "eve").mkdir()
    os.symlink(folder / "alice" / "toy.ipynb", folder / "eve" / "toy.ipynb")  # a file link
    (folder / "trudy").mkdir()
    (folder / "trudy" / "toy.ipynb").write_bytes(_work("trudy"))
    os.symlink(course / "solutions", folder / "trudy" / "answers")  # a link beside the work
    link_zip = tmp_path / "link.zip"
    with zipfile.ZipFile(link_zip, "w") as archive:
        archive.writestr("alice/toy.ipynb", _work("alice"))
        member = zipfile.ZipInfo("oscar/toy.ipynb")
        member.external_attr = (0o120777 << 16) | 0
        archive.writestr(member, "../alice/toy.ipynb")
    ready, failures, _ = _collect(course, folder)
    assert ready == ["alice"]
    for student in ("mallory", "eve", "trudy"):
        assert "symbolic link" in failures[student], failures
    assert not (course / "submitted" / "mallory").exists()
    ready, failures, _ = _collect(course, link_zip)
    assert ready == ["alice"] and "symbolic link" in failures["oscar"]


def test_archives_are_capped_before_anything_is_read(course, tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("alice/toy.ipynb", _work("alice"))
        archive.writestr("alice/data.bin", b"\0" * (8 * 2**20))  # 8 MiB in a few KiB
    assert bomb.stat().st_size < 100_000
    monkeypatch.setattr(intake, "MAX_ARCHIVE_BYTES", 4 * 2**20)
    with pytest.raises(records.CourseError, match="nothing was extracted"):
        intake.collect_submissions(course, ASSIGNMENT, bomb)
    monkeypatch.setattr(intake, "MAX_ARCHIVE_BYTES", 2**30)
    monkeypatch.setattr(intake, "MAX_ARCHIVE_MEMBERS", 1)
    with pytest.raises(records.CourseError, match="holds 2 members"):
        intake.collect_submissions(course, ASSIGNMENT, bomb)
    assert not (course / "submitted").exists()
    monkeypatch.setattr(intake, "MAX_ARCHIVE_MEMBERS", 100)
    big = _zip(
        tmp_path / "big.zip", {"alice/toy.ipynb": _work("alice"), "bob/toy.ipynb": b"x" * 5000}
    )
    monkeypatch.setattr(intake, "MAX_NOTEBOOK_BYTES", 4000)
    ready, failures, _ = _collect(course, big)
    assert ready == ["alice"] and "more than the" in failures["bob"]


def test_two_submissions_for_one_student_stop_before_anything_is_written(course, tmp_path):
    download = tmp_path / "subs"
    download.mkdir()
    for number in ("1", "2"):
        folder = download / f"Wei Zhang_{number}_assignsubmission_file_"
        folder.mkdir()
        (folder / "toy.ipynb").write_bytes(_work(number))
    with pytest.raises(records.CourseError) as caught:
        intake.collect_submissions(course, ASSIGNMENT, download)
    message = str(caught.value)
    assert "two submissions for the student 'Wei_Zhang'" in message
    assert "Wei Zhang_1_assignsubmission_file_" in message
    assert "Wei Zhang_2_assignsubmission_file_" in message
    assert not (course / "submitted").exists()


def test_a_second_download_replaces_the_first_and_says_so(course, tmp_path):
    first = tmp_path / "first"
    (first / "alice").mkdir(parents=True)
    (first / "alice" / "toy.ipynb").write_bytes(_work("draft"))
    _collect(course, first)
    second = _zip(tmp_path / "second.zip", {"alice/toy.ipynb": _work("final")})
    _, _, messages = _collect(course, second)
    assert _filed(course) == {"alice": "final"}
    assert any("replaces the submission collected before" in m for m in messages)


# --- with a roster -----------------------------------------------------------------------------


def test_a_roster_files_every_layout_under_its_ids(course, tmp_path):
    canvas_export = tmp_path / "canvas-grades.csv"
    canvas_export.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Assignment 1 (101)\n"
        "    Points Possible,,,,,10\n"
        '"Smith, Alice",10234,S001,asmith,CNN 2026,\n'
        '"Brown, Zoë",10235,S002,zbrown,CNN 2026,\n'
        '"Brown, Zoé",10238,S003,zbrown2,CNN 2026,\n'
        '"Jones, Bob",10236,S004,bjones,CNN 2026,\n'
        '"Петрова, Анна",10237,S005,apetrova,CNN 2026,\n'
        '"Lee, Carol",10239,S006,clee,CNN 2026,\n'
        '"Student, Test",99999,,,CNN 2026,\n',
        encoding="utf-8",
    )
    with contextlib.redirect_stdout(io.StringIO()):
        imported = roster.import_roster(course, canvas_export)
    assert [s.id for s in imported.students] == [
        "asmith",
        "zbrown",
        "zbrown2",
        "bjones",
        "apetrova",
        "clee",
    ]
    files = dict(CANVAS_FILES)
    files["stranger_55555_1_toy.ipynb"] = "stranger"
    download = _zip(tmp_path / "canvas.zip", {name: _work(who) for name, who in files.items()})
    ready, failures, messages = _collect(course, download)
    assert not failures
    assert _filed(course) == {
        "asmith": "alice",
        "zbrown": "zoë",
        "zbrown2": "zoé",
        "bjones": "bob",
        "apetrova": "anna",
        "stranger_55555": "stranger",
    }
    assert any("match no rostered student" in m and "stranger_55555" in m for m in messages)
    assert intake.read_ledger(course, ASSIGNMENT)["stranger_55555"]["rostered"] is False

    # Moodle's names find the same people
    shutil.rmtree(course / "submitted")
    moodle = _zip(
        tmp_path / "moodle.zip",
        {
            "Alice Smith_7_assignsubmission_file_/toy.ipynb": _work("alice"),
            "Zoé Brown_8_assignsubmission_file_/toy.ipynb": _work("zoé"),
            "Анна Петрова_9_assignsubmission_file_/toy.ipynb": _work("anna"),
        },
    )
    _collect(course, moodle)
    assert _filed(course) == {"asmith": "alice", "zbrown2": "zoé", "apetrova": "anna"}
