"""Grades an instructor can trust (issue 22): the canary, the grader's own failures, the re-run.

One class of Assignment 1 goes through ``autograde`` with the sandbox, the canary and two
grading processes, as ``course autograde`` grades it; every test below reads that one run.
Honest students get full marks, each cheat 0 (or 0 for the part it cheated, flagged). A second,
small course whose set-up cell cannot run here (its notebooks expect another course_utils)
shows that a broken grading environment stops the run before any grade is written, and is the
grader's failure on every path that grades.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from notebook_edits import PATCH_CHECKERS, with_cell

from course_utils.grading import autograde, gradebook, intake, records, submission
from course_utils.grading.sandbox.bubblewrap import Limits

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "assignment1"
NOTEBOOK = "conv1d.ipynb"
LIMITS = Limits(notebook_seconds=120)
# CPU seconds; Assignment 1's heaviest cell takes 0.3 (the endless loop burns one budget)
CELL_TIMEOUT_S = 3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("canary"),
    pytest.mark.usefixtures("sandbox_available"),
]

# Above the set-up cell: the guard switched off, the course's answer keys handed in after every cell.
GUARD_OFF_ON_TOP = (
    "import contextlib\n"
    "import course_utils as cu\n"
    "import course_utils.checks.toolkit as _t\n"
    "_t.no_library_shortcuts = lambda *a, **k: contextlib.nullcontext()\n"
    "_t._invoke = lambda fn, exercise, args, kwargs: fn(*args, **kwargs)\n"
    "_keys = {name: getattr(cu.reference, name) for name in ('conv1d_single', 'conv1d',\n"
    "         'conv_output_size', 'same_padding', 'im2col_1d', 'conv1d_im2col',\n"
    "         'conv_transpose_output_size') if hasattr(cu.reference, name)}\n"
    "def _rebind(result=None):\n"
    "    globals().update(_keys)\n"
    "get_ipython().events.register('post_run_cell', _rebind)\n"
)
# Run when the re-run's worker starts (not in the notebook's kernel): the grader's "ready"
# message becomes 100,000-deep JSON.
PIPE_BOMB = (
    "import os, stat, sys\n"
    "_data = b'[' * 100_000 + b']' * 100_000\n"
    "for _fd in range(1, 64) if 'ipykernel' not in sys.modules else ():\n"
    "    try:\n"
    "        if stat.S_ISFIFO(os.fstat(_fd).st_mode):\n"
    "            os.write(_fd, len(_data).to_bytes(8, 'big') + _data)\n"
    "    except OSError:\n"
    "        pass\n"
)
NATIVE_CONV = (
    "\n\nimport torch\n_mine = conv1d\n\n"
    "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
    "    if isinstance(padding, str):\n"
    "        return _mine(x, w, b, stride=stride, padding=padding, dilation=dilation)\n"
    "    t = lambda a: torch.as_tensor(a, dtype=torch.float64)\n"
    "    x = torch.nn.functional.pad(t(x), (padding, padding)) if padding else t(x)\n"
    "    conv = getattr(torch, '_convolution_mode')\n"
    "    out = conv(x, t(w), None if b is None else t(b), (stride,), 'valid', (dilation,), 1)\n"
    "    return out.numpy()\n"
)


def _with_answer(notebook, grade_id: str, source: str):
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    return changed


def _course(folder: Path, setup_first: str = "") -> Path:
    """A course of Assignment 1 in ``folder``, released; ``setup_first`` opens its set-up cell."""
    folder.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", folder)
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, folder / "solutions" / ASSIGNMENT)
    if setup_first:
        path = folder / "solutions" / ASSIGNMENT / NOTEBOOK
        notebook = nbformat.read(path, as_version=4)
        setup = next(
            c
            for c in notebook.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("locked")
        )
        setup.source = setup_first + setup.source
        nbformat.write(notebook, path)
    gradebook.release(folder, [ASSIGNMENT], progress=lambda _: None)
    return folder


def _collect(course: Path, notebooks: dict) -> list[str]:
    for student, notebook in notebooks.items():
        (course / "subs" / student).mkdir(parents=True)
        nbformat.write(notebook, course / "subs" / student / NOTEBOOK)
    students, failures = intake.collect_submissions(
        course, ASSIGNMENT, course / "subs", progress=lambda _: None
    )
    assert not failures, failures
    return students


def _grade(course: Path, students, **options):
    return autograde.autograde(
        course,
        ASSIGNMENT,
        students,
        jobs=options.pop("jobs", 2),
        cell_timeout=CELL_TIMEOUT_S,
        setup=records.GradingSetup(sandbox=True, limits=LIMITS, seed=4242),
        **options,
    )


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """(course, results by student, progress lines, seconds): one run, canary included."""
    course = _course(tmp_path_factory.mktemp("canary") / "course")
    solution = nbformat.read(course / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4)
    conv1d = next(
        c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "conv1d"
    )
    students = _collect(
        course,
        {
            "honest": solution,
            "honest-magic-on-top": with_cell(solution, "%matplotlib inline", "top"),
            "blank": release,
            "guard-off-on-top": with_cell(release, GUARD_OFF_ON_TOP, "top"),
            "pipe-bomb": with_cell(with_cell(release, PATCH_CHECKERS), PIPE_BOMB, "end"),
            "native-conv": _with_answer(solution, "conv1d", conv1d + NATIVE_CONV),
            "endless-loop": with_cell(solution, "while True:\n    pass\n", "end"),
        },
    )
    lines: list[str] = []
    started = time.monotonic()
    results = {r.student: r for r in _grade(course, students, progress=lines.append, canary=True)}
    seconds = time.monotonic() - started
    print("\n".join(lines))
    return course, results, lines, seconds


def test_the_canary_ran_first_and_left_no_trace(graded_class):
    course, results, lines, seconds = graded_class
    assert lines[1].startswith("canary: grading the solution and the blank release")
    assert lines[2].startswith("canary passed in") and "28/28" in lines[2], lines[:3]
    record = json.loads((course / "logs" / "canary" / f"canary-{ASSIGNMENT}.json").read_text())
    run = record["runs"][-1]
    assert run["ok"] and run["solution"]["score"] == run["solution"]["max_score"] == 28
    assert run["release"]["score"] == 0 and 0 < run["seconds"] < seconds
    print(f"the canary cost {run['seconds']} s of a {seconds:.0f} s run")
    assert set(results) == {p.name for p in (course / "subs").iterdir()}
    for step in ("submitted", "autograded"):
        assert not any(p.name.startswith("_canary") for p in (course / step).iterdir())
    rows = gradebook.grade_rows(course, results.values())
    assert not any(student.startswith("_canary") for student, _ in rows)


def test_honest_students_get_full_marks(graded_class):
    _, results, _, _ = graded_class
    for student in ("honest", "honest-magic-on-top"):
        result = results[student]
        assert result.ok and result.score == result.max_score == 28, result
        assert result.flags == [], result.flags


def test_blank_work_and_the_guard_switched_off_above_the_set_up_score_0(graded_class):
    _, results, _, _ = graded_class
    assert results["blank"].ok and results["blank"].score == 0
    cheat = results["guard-off-on-top"]
    assert cheat.ok and cheat.score == 0, cheat
    assert any("code cell 1 (added)" in flag for flag in cheat.flags), cheat.flags


def test_the_grading_kernel_prints_plain_tracebacks(graded_class):
    """IPython's default mode reads and parses the source of every frame of a traceback: about
    1 CPU s per blank notebook (14 failing tests, frames deep in the checkers). Plain keeps the
    frames and their lines, which is all feedback and the formgrader show."""
    course, _, _, _ = graded_class
    graded = nbformat.read(course / "autograded" / "blank" / ASSIGNMENT / NOTEBOOK, as_version=4)
    errors = [
        output
        for cell in graded.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert len(errors) >= 10
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join("\n".join(e.traceback) for e in errors))
    assert "most recent call last" in text and "NotImplementedError" in text
    assert "---->" not in text, "a traceback with source context: the kernel is not in Plain mode"


def test_a_message_that_crashes_the_grader_scores_0_not_the_patched_28(graded_class):
    _, results, _, _ = graded_class
    cheat = results["pipe-bomb"]
    assert cheat.ok and cheat.score == 0, cheat
    assert any("failed when re-run" in flag for flag in cheat.flags), cheat.flags


def test_a_native_convolution_loses_its_part_and_is_flagged(graded_class):
    """The guard refuses aten::convolution in the notebook already: conv1d's tests score 0 there."""
    course, results, _, _ = graded_class
    cheat = results["native-conv"]
    assert cheat.ok and 0 < cheat.score < 28, cheat
    assert any("_convolution_mode" in flag for flag in cheat.flags)
    from nbgrader.api import Gradebook

    with Gradebook(records.gradebook_url(course)) as book:
        (notebook,) = book.find_submission(ASSIGNMENT, "native-conv").notebooks
        lost = {g.name for g in notebook.grades if g.max_score and not g.score}
    assert "test_conv1d_single_channel" in lost and "test_conv1d_single" not in lost, lost
    graded = (course / "autograded" / "native-conv" / ASSIGNMENT / NOTEBOOK).read_text()
    assert "aten::convolution" in graded


def test_an_endless_loop_is_one_cell_that_ran_out_of_time(graded_class):
    _, results, _, _ = graded_class
    loop = results["endless-loop"]
    assert loop.ok and loop.score == 28, loop
    assert "1 cell(s) ran out of time" in loop.reason, loop.reason


def test_a_re_run_that_cannot_be_done_scores_what_the_notebook_earned_0(graded_class):
    """Last: it takes the endless-loop student's points away (a re-run that crashed)."""
    course, _, _, _ = graded_class
    flag = submission._score_unverified(course, ASSIGNMENT, "endless-loop", "it crashed (test)")
    assert "the 28 point(s) the notebook earned score 0 until a person looks" in flag
    assert gradebook.read_scores(course, ASSIGNMENT, "endless-loop")[0] == 0
    graded = (course / "autograded" / "endless-loop" / ASSIGNMENT / NOTEBOOK).read_text()
    assert "could not re-run this test outside your notebook" in graded


# --------------------------------------------------------------------------------------------
# A grading environment that cannot run the course's own set-up cell


@pytest.fixture(scope="module")
def broken_course(tmp_path_factory):
    """A course whose set-up cell needs a course_utils other than the one installed here."""
    course = _course(
        tmp_path_factory.mktemp("broken") / "course",
        "import course_utils.checks.assignment1_of_another_course_utils\n",
    )
    solution = nbformat.read(course / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    _collect(course, {"alice": solution})
    return course


def test_the_canary_stops_the_run_before_any_grade_is_written(broken_course):
    started = time.monotonic()
    with pytest.raises(records.CourseError) as info:
        _grade(broken_course, ["alice"], jobs=1, canary=True, progress=print)
    message = str(info.value)
    print(f"stopped after {time.monotonic() - started:.0f} s: {message}")
    assert "the canary failed" in message and "the solution could not be graded" in message
    assert "grader environment" in message and "ModuleNotFoundError" in message
    assert not (broken_course / "autograded" / "alice").exists()
    rows = gradebook.grade_rows(broken_course)
    assert set(rows) == {("alice", ASSIGNMENT)}  # intake's record of her: collected, not graded
    assert rows[("alice", ASSIGNMENT)]["status"] == "collected"
    record = json.loads(
        (broken_course / "logs" / "canary" / f"canary-{ASSIGNMENT}.json").read_text()
    )
    assert record["runs"][-1]["ok"] is False and record["runs"][-1]["release"] is None


def test_without_the_canary_the_student_is_failed_by_the_grader_not_given_0(broken_course):
    (result,) = _grade(broken_course, ["alice"], jobs=1, canary=False, progress=print)
    assert result.status == "failed", result
    assert result.reason.startswith("grader environment: the course's set-up cell setup failed")


def test_plain_nbgrader_autograde_errors_out_loudly(broken_course):
    """The formgrader's button and `nbgrader autograde` run the course's GuardedExecute too."""
    done = gradebook.run_nbgrader(
        broken_course,
        ["autograde", ASSIGNMENT, "--student", "alice", "--force"],
        env=records.GradingSetup(sandbox=True, limits=LIMITS).env(),
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-2000:]
    assert "COURSE-GRADER-FAILURE" in output and "GraderEnvironmentError" in output
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(records.gradebook_url(broken_course)) as book:
        try:
            submitted = book.find_submission(ASSIGNMENT, "alice")
        except MissingEntry:
            return
        scores = [g.auto_score for n in submitted.notebooks for g in n.grades]
    assert all(score is None for score in scores), scores  # no 0 was written for her


def test_course_check_sees_a_course_utils_the_kernel_does_not(tmp_path):
    """A course folder holding its own course_utils: the grader imports it, a kernel cannot."""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copytree(
        Path(autograde.__file__).resolve().parents[1],
        course / "course_utils",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    problems = autograde.environment_problems(course)
    assert problems and "course_utils" in problems[0], problems
    assert autograde.environment_problems(REPO) == []
