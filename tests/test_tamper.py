"""The tamper suite: cheating and hostile submissions graded in one run with honest classmates.

One class of Assignment 1 submissions goes through ``pipeline.autograde`` with the sandbox on:
each attack is a real notebook a student could hand in. Every cheat must end at 0 points or be
flagged for review; every honest grade must be what it would be alone; the gradebook, the other
students' files and ``course_utils`` must be untouched by student code; no process may outlive
grading; and the run must finish with a grade or a reason for everyone.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from notebook_edits import PATCH_CHECKERS, with_cell

import course_utils
from course_utils.grading import autograde, gradebook, intake, records
from course_utils.grading.sandbox.bubblewrap import Limits

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "assignment1"
NOTEBOOK = "conv1d.ipynb"
# Assignment 1's heaviest cell takes 0.3 CPU s, the whole notebook about 2 (on the course's
# 2-core machine): the attack that loops in every answer burns a cell's CPU budget per cell until
# the notebook's is used up, so both are kept a few times above what an honest notebook needs.
SUITE_CELL_TIMEOUT_S = 3
SUITE_LIMITS_NOTEBOOK_S = 12
MARKER = "course-tamper-marker-4242"  # a process that must not outlive grading

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tamper")]


def _solution_ids(notebook) -> list[int]:
    return [
        i
        for i, c in enumerate(notebook.cells)
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]


def _with_answer(notebook, index: int, source: str):
    """A copy of ``notebook`` whose ``index``-th answer cell is ``source``."""
    changed = copy.deepcopy(notebook)
    changed.cells[_solution_ids(changed)[index]].source = source
    return changed


def attacks(root: Path, solution, release) -> dict[str, tuple[object, str]]:
    """student id -> (notebook, what must happen: 'zero', 'zero-or-flag', 'flag', 'full', 'failed')."""
    r = str(root)
    steal_frames = (
        "import sys\n\n"
        "def conv1d_single(x, w):\n"
        "    frame = sys._getframe(1)\n"
        "    while frame is not None:\n"
        "        if 'expected' in frame.f_locals:\n"
        "            return frame.f_locals['expected']\n"
        "        frame = frame.f_back\n"
        "    raise ValueError('nothing to steal')\n"
    )
    swallow = (
        "def _swallow(lines):\n"
        "    body = ''.join(lines).splitlines()\n"
        "    return ['try:\\n', *('    ' + line + '\\n' for line in body), "
        "'    pass\\n', 'except BaseException:\\n', '    pass\\n']\n\n"
        "get_ipython().input_transformers_post.append(_swallow)\n"
    )
    torch_ops = next(c.source for c in solution.cells if "def conv1d(" in c.source)
    torch_ops += (
        "\n\nimport torch\n\n_mine = conv1d\n\n"
        "def conv1d(x, w, b=None, stride=1, padding=0, dilation=1):\n"
        "    if isinstance(padding, str):\n"
        "        return _mine(x, w, b, stride=stride, padding=padding, dilation=dilation)\n"
        "    t = lambda a: torch.as_tensor(a, dtype=torch.float64)\n"
        "    out = torch.ops.aten.convolution(t(x), t(w), None if b is None else t(b), [stride],\n"
        "                                     [padding], [dilation], False, [0], 1)\n"
        "    return out.numpy()\n"
    )
    cases = {
        "a-patch-checkers": (
            with_cell(release, PATCH_CHECKERS),
            "zero",
        ),
        "a-rebind-cu": (
            with_cell(
                release,
                "class _Anything:\n"
                "    def __getattr__(self, name):\n"
                "        return self\n\n"
                "    def __call__(self, *args, **kwargs):\n"
                "        return None\n\n"
                "cu = _Anything()\n",
            ),
            "zero",
        ),
        "a-swallow-errors": (with_cell(release, swallow), "zero"),
        "a-stack-frames": (_with_answer(release, 0, steal_frames), "zero"),
        "a-read-solutions": (
            with_cell(
                release,
                f"import json\nnb = json.load(open('{r}/solutions/{ASSIGNMENT}/{NOTEBOOK}'))\n"
                "for c in nb['cells']:\n"
                "    if c['metadata'].get('nbgrader', {}).get('solution'):\n"
                "        exec(''.join(c['source']))\n",
            ),
            "zero",
        ),
        "a-overwrite-classmates": (
            with_cell(
                release,
                "import glob\n"
                f"for p in glob.glob('{r}/submitted/*/*/*.ipynb') + glob.glob('{r}/autograded/*/*/*'):\n"
                "    open(p, 'w').write('{}')\n",
            ),
            "zero",
        ),
        "a-zero-gradebook": (
            with_cell(
                release,
                f"import sqlite3\ndb = sqlite3.connect('{r}/gradebook.db')\n"
                "db.execute('UPDATE grade SET auto_score = 0')\ndb.commit()\n",
            ),
            "zero",
        ),
        "a-append-checkers": (
            with_cell(
                release,
                "import course_utils.checks.assignment1 as a1\n"
                "open(a1.__file__, 'a').write('\\ncheck_conv1d = lambda *a, **k: None\\n')\n",
            ),
            "zero",
        ),
        "a-detached-process": (
            with_cell(
                solution,
                "import subprocess, sys\n"
                f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{MARKER}'],\n"
                "                 start_new_session=True)\n",
            ),
            "full",
        ),
        "a-kill-everything": (
            with_cell(
                release,
                "import os, signal\nfor pid in os.listdir('/proc'):\n"
                "    if pid.isdigit() and int(pid) != os.getpid():\n"
                "        try:\n            os.kill(int(pid), signal.SIGKILL)\n"
                "        except OSError:\n            pass\n",
            ),
            "zero-or-failed",
        ),
        "a-memory-hog": (with_cell(solution, "hog = bytearray(10 * 1024**3)\n"), "full"),
        "a-print-flood": (with_cell(solution, "print('x' * 100_000_000)\n"), "full"),
        "a-loop-everywhere": (_every_answer(release, "while True:\n    pass\n"), "zero"),
        "a-torch-ops": (_with_answer(solution, 3, torch_ops), "flag"),
        "z-honest-duplicated-test": (_duplicated_test_cell(solution), "full"),
        "z-honest-extra-cells": (_extra_cells(solution), "full"),
        "z-honest": (solution, "full"),
        "z-blank": (release, "zero"),
    }
    return cases


def _every_answer(notebook, source: str):
    changed = copy.deepcopy(notebook)
    for index in _solution_ids(changed):
        changed.cells[index].source = source
    return changed


def _duplicated_test_cell(solution):
    copied = copy.deepcopy(solution)
    index = next(
        i
        for i, c in enumerate(copied.cells)
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    )
    twin = copy.deepcopy(copied.cells[index])
    twin["id"] = copied.cells[index].get("id", "x")  # a copy keeps the id in older JupyterLabs
    copied.cells.insert(index + 1, twin)
    return copied


def _extra_cells(solution):
    changed = with_cell(
        solution, "# my scratch work\nprint(conv1d_single([1, 2, 3], [1, 1]))", "end"
    )
    for cell in changed.cells:  # an extension rewrote metadata
        cell.metadata.setdefault("jupyter", {})["source_hidden"] = False
        cell.metadata["collapsed"] = False
    return changed


def _digest(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


@pytest.mark.usefixtures("sandbox_available")
def test_tamper_suite(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    gradebook.release(course, [ASSIGNMENT], progress=lambda _: None)
    solution = nbformat.read(course / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    release = nbformat.read(course / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4)
    cases = attacks(course, solution, release)
    for student, (notebook, _) in cases.items():
        folder = course / "subs" / student
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / NOTEBOOK)
    students, failures = intake.collect_submissions(
        course, ASSIGNMENT, course / "subs", progress=lambda _: None
    )
    assert not failures and len(students) == len(cases)

    package = sorted(Path(course_utils.__file__).parent.rglob("*.py"))
    package_before = _digest(package)
    honest_files = sorted((course / "submitted").glob("z-*/*/*.ipynb"))
    honest_before = _digest(honest_files)

    limits = Limits(notebook_seconds=SUITE_LIMITS_NOTEBOOK_S, memory_mb=3072)
    started = time.monotonic()
    results = {
        r.student: r
        for r in autograde.autograde(
            course,
            ASSIGNMENT,
            students,
            jobs=2,
            cell_timeout=SUITE_CELL_TIMEOUT_S,
            progress=print,
            setup=records.GradingSetup(sandbox=True, limits=limits, seed=12345),
        )
    }
    seconds = time.monotonic() - started
    print(f"graded {len(results)} submissions in {seconds:.0f} s")

    full = results["z-honest"].max_score
    assert results["z-honest"].ok and results["z-honest"].score == full > 0
    problems = []
    for student, (_, expect) in cases.items():
        result = results[student]
        if expect == "full" and not (result.ok and result.score == full):
            problems.append(f"{student}: expected full marks, got {result}")
        if expect == "full" and student.startswith("z-") and result.flags:
            problems.append(f"{student}: an honest student is flagged: {result.flags}")
        if expect == "zero" and result.ok and result.score != 0:
            problems.append(f"{student}: a cheat scored {result.score}: {result.flags}")
        if expect == "zero-or-failed" and result.ok and result.score != 0:
            problems.append(f"{student}: scored {result.score}")
        if expect == "flag" and not result.flags:
            problems.append(f"{student}: not flagged ({result.score}/{full})")
    assert not problems, "\n".join(problems)

    for student in ("a-patch-checkers", "a-rebind-cu", "a-swallow-errors"):
        assert any("failed when re-run outside" in f for f in results[student].flags), student

    assert _digest(package) == package_before, "student code changed course_utils"
    assert _digest(honest_files) == honest_before, "student code changed a classmate's files"

    rows = {
        row["student"]: row
        for row in csv.DictReader(
            gradebook.export_grades(course, tmp_path / "grades.csv", results.values()).open()
        )
    }
    assert set(rows) == set(cases)
    assert float(rows["z-honest"]["score"]) == full
    assert rows["a-torch-ops"]["review"], "the flag must reach the CSV"
    assert not rows["z-honest"]["review"]

    graded = course / "autograded" / "a-print-flood" / ASSIGNMENT / NOTEBOOK
    assert graded.stat().st_size < 5_000_000, "the print flood must be truncated"
    leftovers = subprocess.run(["pgrep", "-f", MARKER], capture_output=True, text=True).stdout
    assert not leftovers.strip(), f"a student's process outlived grading: {leftovers}"
    report = json.loads((course / "logs" / f"verify-{ASSIGNMENT}-z-honest.json").read_text())
    assert report["seed"] == 12345 and report["sandbox"]
    assert all(c["verified"] for c in report["cells"]), report["cells"]
