"""The re-run takes a notebook's structure from the source, and fails closed (issue 22, items 2, 6-8).

Each case is a submission judged by :func:`course_utils.grading.verify.verify_notebooks` as if
every test had passed in the student's notebook (what patched checkers give there): the honest
answer must be verified, the cheat must score 0 (``verified`` False) or be flagged, and nothing
may crash the re-run into keeping the notebook's own score. No nbgrader here: fast.
"""

from __future__ import annotations

import nbformat
import pytest

from course_utils.grading import verify
from course_utils.grading.sandbox.bubblewrap import Limits


def _meta(grade_id, **kw):
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "task": False, **kw}}


SETUP = "import numpy as np\nimport course_utils as cu"
HONEST = "def size(n, k):\n    return n - k + 1"
BLANK = "def size(n, k):\n    raise NotImplementedError()"
TEST = (
    "from course_utils.checks.toolkit import call_student\n"
    "assert call_student(size, 7, 3, exercise='size') == 5\n"
    "assert call_student(size, np.int64(9), 2, exercise='size') == 8"
)


def _source(setup: str = SETUP):
    source = nbformat.v4.new_notebook()
    source.cells = [
        nbformat.v4.new_code_cell(setup, metadata=_meta("setup", locked=True, grade=False)),
        nbformat.v4.new_code_cell(HONEST, metadata=_meta("size", solution=True, grade=False)),
        nbformat.v4.new_code_cell(
            TEST, metadata=_meta("test_size", grade=True, solution=False, locked=True, points=2)
        ),
        nbformat.v4.new_code_cell(
            "print(size(100, 1))", metadata=_meta("demo", locked=True, grade=False)
        ),
    ]
    return source


def _submission(answer: str = HONEST, top: str | None = None, end: str | None = None):
    graded = nbformat.from_dict(nbformat.reads(nbformat.writes(_source()), as_version=4))
    graded.cells[1].source = answer
    if top is not None:  # a cell the student added above the set-up cell
        graded.cells.insert(0, nbformat.v4.new_code_cell(top))
    if end is not None:
        graded.cells.append(nbformat.v4.new_code_cell(end))
    return graded


def _judge(graded, source=None, sandbox=False):
    return verify.verify_notebooks(
        [("nb", source or _source(), graded, {"test_size": 2}, {"test_size": 2})],
        student="s",
        assignment="a",
        seed=3,
        sandbox=sandbox,
        limits=Limits(notebook_seconds=120),
        cell_seconds=60,
    )


# A student cell above the set-up: switch the guard off and hand in the course's answer key
# (course_utils.arithmetic.conv_output_size: n - k + 1 for these arguments) after every cell.
GUARD_OFF_TOP = (
    "import contextlib\n"
    "import course_utils as cu\n"
    "import course_utils.checks.toolkit as _t\n"
    "_t.no_library_shortcuts = lambda *a, **k: contextlib.nullcontext()\n"
    "_t._invoke = lambda fn, exercise, args, kwargs: fn(*args, **kwargs)\n"
    "_key = cu.arithmetic.conv_output_size\n"
    "def _rebind(result=None):\n"
    "    globals()['size'] = lambda n, k: _key(n, k)\n"
    "get_ipython().events.register('post_run_cell', _rebind)\n"
)
DEEP = "_x = " + "+".join(["1"] * 5000) + "\n"
# Written onto every pipe of the worker when its cells run: what the grader reads as the worker's
# "ready" message is a JSON array 100,000 levels deep.
PIPE_BOMB = (
    "import os, stat\n"
    "_data = b'[' * 100_000 + b']' * 100_000\n"
    "for _fd in range(1, 64):\n"
    "    try:\n"
    "        if stat.S_ISFIFO(os.fstat(_fd).st_mode):\n"
    "            os.write(_fd, len(_data).to_bytes(8, 'big') + _data)\n"
    "    except OSError:\n"
    "        pass\n"
)
TORCH_OPS = (
    "import torch\n"
    "def size(n, k):\n"
    "    x, w = torch.ones(1, 1, int(n), dtype=torch.float64), torch.ones(1, 1, k, dtype=torch.float64)\n"
    "    return int(torch.ops.aten.convolution(x, w, None, [1], [0], [1], False, [0], 1).shape[-1])\n"
)
PRIVATE_GETATTR = (
    "import torch\n"
    "def size(n, k):\n"
    "    x, w = torch.ones(1, 1, int(n), dtype=torch.float64), torch.ones(1, 1, k, dtype=torch.float64)\n"
    "    conv = getattr(torch, '_convolution_mode')\n"
    "    return int(conv(x, w, None, (1,), 'valid', (1,), 1).shape[-1])\n"
)
GUARD_PATCHED = (
    "import course_utils.checks.toolkit as _t\n"
    "_t._GUARD.enter = lambda *a, **k: None\n"
    "_t._GUARD.exit = lambda *a, **k: None\n"
    "def size(n, k):\n"
    "    return __import__('course_utils').arithmetic.conv_output_size(n, k)\n"
)


# Every case is judged once, in the module fixture: all of the module's tests on one worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tamper-structure")]


@pytest.fixture(scope="module")
def judged():
    """Every case judged once (about 2 s each: a worker process per case)."""
    cases = {
        "honest": _submission(),
        "honest-magic-on-top": _submission(top="%matplotlib inline"),
        "blank": _submission(BLANK),
        "guard-off-on-top": _submission(BLANK, top=GUARD_OFF_TOP),
        "unreadable": _submission(end=DEEP),
        "pipe-bomb": _submission(end=PIPE_BOMB),
        "torch-ops": _submission(TORCH_OPS),
        "private-getattr": _submission(PRIVATE_GETATTR),
        "guard-patched": _submission(GUARD_PATCHED),
    }
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(_judge, cases.values()))
    return dict(zip(cases, reports, strict=True))


def _passed(report) -> bool:
    return [c.verified for c in report.cells] == [True]


def test_the_honest_answer_is_verified(judged):
    assert _passed(judged["honest"]) and judged["honest"].flags == []


def test_a_cell_above_the_set_up_cell_costs_an_honest_student_nothing(judged):
    """Item 2: the set-up comes from the source and runs first, wherever the student's cells are."""
    report = judged["honest-magic-on-top"]
    assert _passed(report), report.cells
    assert report.flags == []


def test_blank_work_is_not_verified(judged):
    assert [c.verified for c in judged["blank"].cells] == [False]


def test_a_cell_above_the_set_up_cell_is_read_and_run_as_the_students(judged):
    """Item 6: it is read (flagged) and cannot switch the guard off in the re-run (0)."""
    report = judged["guard-off-on-top"]
    assert [c.verified for c in report.cells] == [False], report.cells
    assert any("code cell 1 (added)" in flag and ".checks" in flag for flag in report.flags)
    assert any("get_ipython" in flag for flag in report.flags), report.flags


def test_a_cell_the_integrity_check_cannot_read_scores_0(judged):
    """Item 7: a RecursionError in the scan zeroes the notebook's tests with a plain reason."""
    report = judged["unreadable"]
    assert [c.verified for c in report.cells] == [False]
    assert "could not read" in report.cells[0].message
    assert any("could not read" in flag for flag in report.flags)


def test_a_nested_message_on_the_pipe_scores_0_and_does_not_crash_the_grader(judged):
    """Item 7: the grader reads the 100,000-deep message as unreadable, never crashes on it."""
    report = judged["pipe-bomb"]
    assert [c.verified for c in report.cells] == [False], report.cells
    assert "could not be read" in report.cells[0].message or "ended" in report.cells[0].message


@pytest.mark.parametrize("case", ["torch-ops", "private-getattr"])
def test_native_convolution_kernels_are_refused_however_reached(judged, case):
    """Item 8: torch.ops.aten and private names reach aten::convolution, which the guard sees."""
    report = judged[case]
    assert [c.verified for c in report.cells] == [False]
    assert "aten::convolution" in report.cells[0].message, report.cells[0].message


def test_a_private_getattr_is_flagged_too(judged):
    assert any("_convolution_mode" in flag for flag in judged["private-getattr"].flags)


def test_a_student_cell_that_patches_the_guard_scores_0(judged):
    report = judged["guard-patched"]
    assert [c.verified for c in report.cells] == [False]
    assert "changed the grader's guard" in report.cells[0].message


def test_a_crash_of_the_re_run_itself_scores_0(monkeypatch):
    """Item 7: whatever stops the re-run, what passed in the notebook is not kept unverified."""

    def crash(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded while decoding")

    monkeypatch.setattr(verify, "_run_test_cell", crash)
    report = _judge(_submission())
    assert [c.verified for c in report.cells] == [False]
    assert report.cells[0].message.startswith("the re-run failed (RecursionError")
    assert any("failed when re-run" in flag for flag in report.flags)


def test_a_set_up_cell_that_fails_in_the_worker_is_the_graders_failure():
    """Item 1: nothing of the student's ran before the source's set-up cell: no grade, a reason."""
    report = _judge(_submission(), source=_source("import course_utils_from_another_course"))
    assert report.grader_error.startswith("grader environment: the set-up cell failed")
    assert "ModuleNotFoundError" in report.grader_error
    assert report.flags == [] and all(c.verified is None for c in report.cells)


@pytest.mark.usefixtures("sandbox_available")
def test_the_pipe_bomb_in_the_sandbox():
    report = _judge(_submission(end=PIPE_BOMB), sandbox=True)
    assert [c.verified for c in report.cells] == [False], report.cells
    honest = _judge(_submission(top="%matplotlib inline"), sandbox=True)
    assert _passed(honest) and honest.flags == []


def test_a_cell_stopped_for_time_is_read_but_not_run_again():
    graded = _submission(end="import subprocess\nwhile True:\n    pass")
    graded.cells[-1].outputs = [
        nbformat.v4.new_output(
            "error", ename="CellTimeoutError", evalue="this cell used its 20 s", traceback=[]
        )
    ]
    run = verify.student_cells(graded, _source())
    read = verify.student_cells(graded, _source(), lost=True)
    assert [name for name, _ in read] == [*(name for name, _ in run), "code cell 5 (added)"]
    report = _judge(graded)
    assert _passed(report), report.cells
    assert any("imports subprocess" in flag for flag in report.flags), report.flags


def test_the_set_up_comes_from_the_source_locked_or_not():
    assert verify.setup_cells(_source()) == [SETUP]
    unlocked = _source()
    unlocked.cells[0].metadata = {}  # a set-up cell its author forgot to lock
    assert verify.setup_cells(unlocked) == [SETUP]
    assert verify.trusted_imports("\n".join(verify.setup_cells(unlocked)))["np"] == "numpy"
