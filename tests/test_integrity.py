"""course_utils.grading.integrity: the answer-cell reader flags what no honest answer needs, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.grading.integrity import UnreadableCell, read_cells, scan_cells, scan_source

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("source", "word"),
    [
        ("import sys\nf = sys._getframe(1)", "_getframe"),
        ("import sys\nsys.modules['numpy'] = None", "modules"),
        ("cu.checks.check_conv1d = print", "checks"),
        ("import course_utils.checks.toolkit as g", "course_utils"),
        ("exec('x = 1')", "exec"),
        ("eval('1')", "eval"),
        ("__import__('os')", "__import__"),
        ("getattr(cu, 'che' + 'cks')", "computed name"),
        ("setattr(np, 'isclose', None)", "setattr"),
        ("import torch\ny = torch.ops.aten.convolution", "torch operators"),
        ("import torch\ntorch._C._set_grad_enabled(False)", "_C"),
        ("from numpy._core import multiarray", "numpy._core"),
        ("np.core.multiarray.correlate2(a, b, 0)", "correlate2"),
        ("import subprocess", "subprocess"),
        ("import threading", "threading"),
        ("import os\nos.kill(1, 9)", "signals"),
        ("open('/tmp/x', 'w').write('1')", "open"),
        ("get_ipython().run_cell('x')", "get_ipython"),
        ("import torch.nn.functional as F\ny = F.conv1d(x, w)", "conv1d"),
        ("y = np.convolve(a, b)", "convolve"),
        ("f.__globals__['np'] = None", "__globals__"),
        ("import ctypes", "ctypes"),
    ],
)
def test_suspicious_code_is_flagged(source, word):
    found = scan_source(source)
    assert found and any(word in line for line in found), found


def test_the_solutions_are_not_flagged():
    """Every answer cell of every solution notebook is honest code: no finding at all."""
    for path in sorted(REPO.glob("solutions/*/*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        sources = [
            "".join(c["source"])
            for c in cells
            if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")
        ]
        assert scan_cells(["# set-up", *sources]) == [], path.name


def test_magics_and_syntax_errors_do_not_break_the_reader():
    assert scan_source("%timeit x = 1\ny = 2") == []
    assert scan_source("def broken(:\n") == []


def test_every_cell_is_read_the_first_too():
    """The caller passes only the student's cells (verify.student_cells): each one is read."""
    found = scan_cells(["import subprocess", "x = 1"], label="nb", names=["code cell 1", "f"])
    assert found == ["nb: code cell 1, line 1: imports subprocess (starts other programs)"]
    assert scan_cells(["x = 1", "import subprocess"])[0].startswith("cell 1, line 1")


def test_a_cell_too_deep_to_read_is_reported_not_skipped():
    deep = "_x = " + "+".join(["1"] * 5000)
    with pytest.raises(UnreadableCell, match="RecursionError"):
        scan_source(deep)
    flags, unreadable = read_cells(["x = 1", deep], label="nb", names=["a", "b"])
    assert flags == [] and len(unreadable) == 1 and unreadable[0].startswith("nb: b: the integrity")


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nf = getattr(torch, '_convolution_mode')",
        "import torch as t\nf = getattr(t.nn, '_reduction')",
        "import numpy\ng = getattr(numpy, '_core')",
        "import sys\nf = getattr(sys, '_getframe')",
        "from torch.utils._python_dispatch import _disable_current_modes",
        "import torch\nm = torch.utils._python_dispatch",
    ],
)
def test_private_parts_are_flagged_by_getattr_and_by_import(source):
    assert scan_source(source), source


def test_public_getattr_is_not_flagged():
    assert (
        scan_source("import numpy as np\nf = getattr(np, 'maximum')\nn = getattr(x, 'shape')") == []
    )
