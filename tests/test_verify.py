"""course_utils.grading.verify: test cells re-run in the grader, the student's functions in a worker."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest

from course_utils import checks
from course_utils.checks.toolkit import LibraryShortcutError, StudentProxy, call_student
from course_utils.grading import verify
from course_utils.grading.sandbox.bubblewrap import Limits
from course_utils.grading.verify import RemoteFunction, WorkerClient


def test_names_in_a_test_cell():
    source = 'cu.checks.check_conv1d(conv1d, "dilation", cases="hidden", seed=1)\nprint(len(x))'
    assert verify.student_names(source) == ["conv1d", "x"]
    trusted = verify.trusted_imports("import numpy as np\nimport warnings\nimport os.path")
    assert trusted["warnings"] == "warnings" and trusted["os"] == "os"
    assert verify.student_names("warnings.warn('x')\nf(1)", trusted) == ["f"]


def test_exceptions_come_back_as_known_classes():
    assert isinstance(
        verify._rebuild({"mro": ["MyError", "ValueError"], "message": "m"}), ValueError
    )
    shortcut = verify._rebuild({"mro": ["LibraryShortcutError", "AssertionError"], "message": "m"})
    assert isinstance(shortcut, LibraryShortcutError)
    other = verify._rebuild({"type": "SystemExit", "mro": ["SystemExit", "BaseException"]})
    assert isinstance(other, verify.StudentProcessError) and "SystemExit" in str(other)


def _meta(grade_id, **kw):
    return {"nbgrader": {"grade_id": grade_id, "schema_version": 3, "task": False, **kw}}


def _notebooks(answer: str):
    source = nbformat.v4.new_notebook()
    source.cells = [
        nbformat.v4.new_code_cell(
            "import numpy as np\nimport course_utils as cu",
            metadata=_meta("setup", locked=True, grade=False, solution=False),
        ),
        nbformat.v4.new_code_cell(
            "def double(x):\n    return 2 * x",
            metadata=_meta("double", solution=True, grade=False, locked=False),
        ),
        nbformat.v4.new_code_cell(
            "assert np.allclose(double(np.arange(3.0)), [0, 2, 4])\nassert double(1.5) == 3.0",
            metadata=_meta("test_double", grade=True, solution=False, locked=True, points=2),
        ),
        nbformat.v4.new_code_cell(
            "import time; time.sleep(100)",
            metadata=_meta("demo", locked=True, grade=False, solution=False),
        ),
    ]
    graded = nbformat.from_dict(nbformat.reads(nbformat.writes(source), as_version=4))
    graded.cells[1].source = answer
    return source, graded


def _verify(answer: str, sandbox: bool, seconds: float = 30):
    source, graded = _notebooks(answer)
    return verify.verify_notebooks(
        [("nb", source, graded, {"test_double": 2}, {"test_double": 2})],
        student="s",
        assignment="a",
        seed=1,
        sandbox=sandbox,
        limits=Limits(notebook_seconds=60),
        cell_seconds=seconds,
    )


def test_the_student_cells_exclude_tests_and_instructor_cells():
    source, graded = _notebooks("def double(x):\n    return x + x")
    assert verify.setup_cells(source) == ["import numpy as np\nimport course_utils as cu"]
    assert verify.student_cells(graded, source) == [
        ("answer cell double", "def double(x):\n    return x + x")
    ]


@pytest.mark.parametrize("sandbox", [False, True])
def test_honest_passes_and_a_patched_checker_does_not_help(sandbox, request):
    if sandbox:
        request.getfixturevalue("sandbox_available")
    good = _verify("def double(x):\n    return x + x", sandbox)
    assert [c.verified for c in good.cells] == [True] and not good.flags
    cheat = _verify(
        "import numpy as np\nnp.allclose = lambda *a, **k: True\ndef double(x):\n    return 0",
        sandbox,
    )
    assert [c.verified for c in cheat.cells] == [False]
    assert "failed when re-run outside" in cheat.flags[-1]


def test_an_endless_function_times_out_and_the_next_cell_gets_a_fresh_worker():
    report = _verify("def double(x):\n    while True:\n        pass", sandbox=False, seconds=3)
    assert report.cells[0].verified is False and "too long" in report.cells[0].message


def test_a_remote_function_behaves_like_the_local_one():
    client = WorkerClient(
        [
            "import numpy as np",
            "def f(x, k=1):\n    if k < 0:\n        raise ValueError('k must be >= 0')\n    x += k\n    return x, object()",
        ],
        sandbox=False,
        limits=Limits(),
        startup_seconds=60,
    )
    try:
        client.begin_cell(30)
        f = RemoteFunction(client, "f")
        with pytest.raises(AssertionError, match="in place"):
            call_student(f, np.zeros(2), exercise="f")
        out, handle = f(1.0)
        assert out == 2.0 and "kept in the student's process" in repr(handle)
        with pytest.raises(ValueError, match="k must be"):
            f(1.0, k=-1)
        assert not hasattr(f, "__globals__")
    finally:
        client.stop()


POISONED_CACHE_CELLS = [
    "import numpy as np\nimport course_utils.checks.toolkit as _t\nimport course_utils.reference as _ref",
    "def empty_the_cache():\n    _t._REFERENCE_KEYS[1].clear()\n    return 0",
    "def swap_the_list():\n    _t._REFERENCE_KEYS[:] = [_t._REFERENCE_KEYS[0], []]\n    return 0",
    "def answer_key(x, w):\n    return _ref.conv1d(x, w)",
    # the guard's plan of patches, kept from one call to the next: emptied, so nothing is patched
    "def empty_the_plan():\n    plan = _t._GUARD.plan\n    _t._GUARD.plan = (*plan[:2], (), frozenset())\n    return 0",
    "def numpy_convolve(x, w):\n    return np.convolve(x, w)",
]


@pytest.mark.parametrize("poison", ["empty_the_cache", "swap_the_list"])
def test_a_poisoned_cache_of_answer_keys_unblocks_nothing(poison):
    """The guard caches the course's answer keys in the student's process (finding them costs a
    scan of every loaded module); the worker uses that cache only as it found it itself."""
    client = WorkerClient(POISONED_CACHE_CELLS, sandbox=False, limits=Limits(), startup_seconds=60)
    x, w = np.arange(12.0).reshape(1, 1, 12), np.ones((1, 1, 3))
    try:
        client.begin_cell(30)
        answer_key = RemoteFunction(client, "answer_key")
        for _ in range(2):
            with pytest.raises(LibraryShortcutError, match="course_utils.reference.conv1d"):
                call_student(answer_key, x, w, exercise="conv1d")
            assert call_student(RemoteFunction(client, poison), exercise="conv1d") == 0
    finally:
        client.stop()


def test_a_poisoned_plan_of_the_guard_unblocks_nothing():
    """The guard reuses its plan of patches from one call to the next (toolkit._Guard.reuse_plan);
    student code in the worker could empty it, so the worker drops it before every request."""
    client = WorkerClient(POISONED_CACHE_CELLS, sandbox=False, limits=Limits(), startup_seconds=60)
    try:
        client.begin_cell(30)
        convolve = RemoteFunction(client, "numpy_convolve")
        for _ in range(2):
            with pytest.raises(LibraryShortcutError, match="numpy.convolve"):
                call_student(convolve, np.ones(5), np.ones(2), exercise="conv1d")
            assert call_student(RemoteFunction(client, "empty_the_plan"), exercise="conv1d") == 0
    finally:
        client.stop()


# Assignment 2's shared helpers (course_utils.checks.assignment2.helpers): the re-run may swap the
# course's helper in for the student's, in the worker, by name from a fixed list only.
HELPER_CELLS = [
    "def as_pair(value, name):\n    return (value, value) if isinstance(value, int) else tuple(value)",
    "def padding_2d(size, kernel_size, stride=1, padding=0, dilation=1):\n    return 'theirs'",
    "def pads_of(size):\n    return padding_2d(size, 2, 1, 'same', 1)",
]


def test_the_worker_swaps_in_only_the_course_helpers_and_puts_the_students_back():
    client = WorkerClient(HELPER_CELLS, sandbox=False, limits=Limits(), startup_seconds=60)
    try:
        client.begin_cell(30)
        pads_of = RemoteFunction(client, "pads_of")
        assert pads_of.use_course_helpers([]) == ["as_pair", "padding_2d"]
        assert pads_of((4, 5)) == "theirs"
        assert pads_of.use_course_helpers(["padding_2d", "output_size_2d"]) == [
            "as_pair",
            "padding_2d",
        ]
        assert pads_of((4, 5)) == ((0, 1), (0, 1))  # the course's, called by the student's code
        with pytest.raises(NameError):  # not theirs: nothing is added to their namespace
            pads_of.sibling("output_size_2d")((4, 5), 2)
        for refused in (["open"], ["pads_of"], ["__builtins__"], "padding_2d", ["as_pair"] * 2):
            with pytest.raises(ValueError, match="distinct names"):
                pads_of.use_course_helpers(refused)
            assert pads_of((4, 5)) == ((0, 1), (0, 1))  # a refused request changes nothing
        pads_of.use_course_helpers([])
        assert pads_of((4, 5)) == "theirs"
    finally:
        client.stop()


class _LyingWorker(StudentProxy):
    """A student's process that claims every helper of theirs is wrong, ignores every swap and
    answers im2col_2d with zeros: the checker's own comparison still decides."""

    def __init__(self, name: str = "im2col_2d") -> None:
        self.__name__ = name

    def call(self, exercise, args, kwargs):
        if self.__name__ == "im2col_2d":
            return np.zeros((1, 4, 9))
        return "wrong"

    def sibling(self, name):
        return _LyingWorker(name)

    def use_course_helpers(self, names):
        return ["as_pair", "padding_2d", "output_size_2d"]


def test_a_student_process_cannot_claim_a_pass_through_the_swap():
    with pytest.raises(AssertionError) as caught:
        checks.check_im2col_2d(_LyingWorker())
    with pytest.raises(AssertionError) as own:
        checks.check_im2col_2d.__wrapped__(_LyingWorker())
    assert str(caught.value) == str(own.value)
    assert "differs from the expected values" in str(caught.value)
