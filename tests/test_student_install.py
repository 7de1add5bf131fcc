"""A student's laptop: a fresh virtual environment, the released notebook and the install line.

The wheel ``course package`` builds is what a student installs. In a fresh venv (the notebook's
third-party dependencies made visible, ``course_utils`` not), the released notebook's set-up
cell must print the one line to run instead of a traceback; after running exactly that line
in the notebook, the notebook with the solution's code passes its visible tests.
"""

from __future__ import annotations

import copy
import json
import os
import re
import site
import subprocess
import venv
from pathlib import Path

import nbformat
import pytest

from course_utils.publish import package

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.parent.name for p in REPO.glob("assignments/*/*.ipynb"))


def _setup_cell(notebook) -> nbformat.NotebookNode:
    return next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_release_names_the_wheel_of_this_version(assignment):
    """The line a student is told to run installs the wheel `course package` builds now."""
    [path] = (REPO / "assignments" / assignment).glob("*.ipynb")
    notebook = nbformat.read(path, as_version=4)
    line = package.install_line(package.project_version(REPO))
    first_markdown = next(c for c in notebook.cells if c.cell_type == "markdown")
    assert line in first_markdown.source, "the first markdown cell shows the install line"
    assert line.removeprefix("%") in _setup_cell(notebook).source.replace("  ", " ")


def test_the_wheel_pins_torch_and_leaves_the_instructor_tools_out(tmp_path):
    wheel = package.build_student_wheel(REPO, tmp_path)
    assert wheel.name == package.wheel_name(package.project_version(REPO))
    required = package.requirements(wheel)
    default = [r for r in required if "extra ==" not in r]
    assert "torch==2.13.0" in default
    names = {re.split(r"[<>=!;\[ ]", r, maxsplit=1)[0].lower() for r in default}
    assert names.isdisjoint({"nbgrader", "dask", "psycopg2-binary", "jupyter-book", "jupyterlab"})
    assert any(r.startswith("nbgrader") and 'extra == "instructor"' in r for r in required)


def _fresh_venv(where: Path) -> Path:
    """A new venv with pip; the notebook's dependencies visible through a .pth file that names a
    folder of links to this environment's packages, every trace of the course's own left out."""
    venv.EnvBuilder(with_pip=True).create(where / "fresh")
    python = where / "fresh" / "bin" / "python"
    target = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    deps = where / "deps"
    deps.mkdir()
    ours = re.compile(r"(course_utils|cnn_course|__editable__|_virtualenv|pip\b|pip-)", re.I)
    for folder in site.getsitepackages():
        for entry in Path(folder).iterdir():
            if not ours.match(entry.name) and not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    (target / "course-deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    return python


def _run(python: Path, notebook: Path, cwd: Path, cells: str = "all") -> list[dict]:
    """Execute ``notebook`` in a kernel of ``python`` (in ``cwd``); return each cell's outputs."""
    code = (
        "import json, sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "if sys.argv[2] != 'all':\n"
        "    nb.cells = [c for c in nb.cells if c.cell_type == 'code'][: int(sys.argv[2])]\n"
        "NotebookClient(nb, timeout=600, allow_errors=True, kernel_name='python3').execute()\n"
        "print(json.dumps([c.get('outputs', []) for c in nb.cells if c.cell_type == 'code']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(MPLBACKEND="Agg", JUPYTER_PATH="", JUPYTER_DATA_DIR=str(cwd / ".jupyter"))
    done = subprocess.run(
        [python, "-c", code, str(notebook), cells],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_fresh_venv_runs_the_released_notebook_after_the_one_install_line(tmp_path):
    assignment = "assignment1"
    python = _fresh_venv(tmp_path)
    home = tmp_path / "student"
    home.mkdir()
    wheel = package.build_student_wheel(REPO, home)  # handed out next to the notebook
    [released] = (REPO / "assignments" / assignment).glob("*.ipynb")
    notebook = nbformat.read(released, as_version=4)

    # 1. Without the package: the set-up cell prints the line to run, no traceback.
    first = home / "first.ipynb"
    nbformat.write(notebook, first)
    outputs = _run(python, first, home, cells="1")[0]
    [error] = [o for o in outputs if o["output_type"] == "error"]
    assert error["ename"] == "NotInstalled"
    assert len(error["traceback"]) == 1, error["traceback"]
    assert f"%pip install {wheel.name}" in error["traceback"][0]
    assert "course_utils is not installed" in error["traceback"][0]

    # 2. The student runs exactly the line they were shown, restarts, and does the work.
    solution = nbformat.read(REPO / "solutions" / assignment / released.name, as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    install = nbformat.v4.new_notebook()
    install.cells = [nbformat.v4.new_code_cell(package.install_line(package.project_version(REPO)))]
    nbformat.write(install, home / "install.ipynb")
    [printed] = _run(python, home / "install.ipynb", home)
    text = "".join(o.get("text", "") for o in printed)
    assert "Successfully installed cnn-course" in text, text[-2000:]

    worked = copy.deepcopy(notebook)
    for cell in worked.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    nbformat.write(worked, home / released.name)
    outputs = _run(python, home / released.name, home)
    errors = [o for cell in outputs for o in cell if o["output_type"] == "error"]
    assert not errors, errors[:2]
    where = subprocess.run(
        [python, "-c", "import course_utils; print(course_utils.__file__)"],
        cwd=home,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(tmp_path / "fresh") in where and str(REPO) not in where
