"""Repository hygiene: clean notebooks, releases in sync, one set of dependencies, CI runs the README."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from released_courses import released_course

from course_utils.grading import gradebook, records
from course_utils.publish import notebooks

REPO = Path(__file__).resolve().parents[1]
SOURCE_NOTEBOOKS = sorted([*REPO.glob("lectures/*.ipynb"), *REPO.glob("solutions/*/*.ipynb")])


def test_there_are_lectures_and_assignments():
    assert list(REPO.glob("lectures/*.ipynb")), "no lecture notebooks in lectures/"
    assert records.assignment_names(REPO), "no assignments in solutions/"


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_source_notebooks_are_committed_clean(path):
    notebook = notebooks.read_notebook(path)
    problems = notebooks.volatile_parts(notebook)
    assert not problems, f"{path.name} carries outputs or volatile metadata: {problems[:5]}"
    # from the file itself: nbformat.read silently replaces a duplicated id with a new one
    ids = [cell.get("id") for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]
    assert all(ids) and len(set(ids)) == len(ids), f"{path.name}: cell ids missing or duplicated"


@pytest.mark.parametrize("path", SOURCE_NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebooks_start_with_the_course_setup_cell(path):
    first_code = next(c for c in notebooks.read_notebook(path).cells if c.cell_type == "code")
    assert "import course_utils as cu" in first_code.source
    assert "cu.setup(" in first_code.source


def test_clean_notebook_removes_what_volatile_parts_finds():
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.outputs = [
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)
    ]
    cell.execution_count = 1
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    cell.metadata["slideshow"] = {"slide_type": "slide"}
    notebook.cells = [cell]
    notebook.metadata["widgets"] = {"state": {}}
    notebook.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    assert len(notebooks.volatile_parts(notebook)) == 5
    cleaned = notebooks.clean_notebook(notebook)
    assert notebooks.volatile_parts(cleaned) == []
    assert cleaned.cells[0].metadata["slideshow"] == {"slide_type": "slide"}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", records.assignment_names(REPO))
def test_committed_release_matches_a_fresh_release(assignment, tmp_path):
    released_course(assignment, tmp_path)  # released by gradebook.release, once per run
    differences = gradebook.release_differences(
        tmp_path / "assignments" / assignment, REPO / "assignments" / assignment
    )
    assert not differences, (
        f"assignments/{assignment} is out of date with solutions/ "
        f"({differences}); run `./course.sh release {assignment}` and commit"
    )


def _requirement_names(requirements: list[str]) -> dict[str, str]:
    parsed = {}
    for requirement in requirements:
        name = re.split(r"[<>=!\[ ]", requirement, maxsplit=1)[0].lower()
        parsed[name] = requirement[len(name) :].replace(" ", "")
    return parsed


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert "cnn-course[instructor]" in extras["test"], "the test install must get the instructor's"
    wanted = _requirement_names(
        project["dependencies"]
        + extras["instructor"]
        + [r for r in extras["test"] if not r.startswith("cnn-course")]
    )
    text = (REPO / "environment.yml").read_text().split("dependencies:", 1)[1]
    listed = _requirement_names(
        re.findall(r"^\s+- (?!pip\b|python=|-e)([A-Za-z][^\s#]*)", text, re.M)
    )
    assert listed == wanted, (
        "environment.yml and pyproject.toml list different packages or versions"
    )
    assert wanted["torch"] == "==2.13.0", (
        "torch must stay pinned (an open range pulls a CUDA build)"
    )


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    commands = re.findall(r"^\s*(\./course\.sh \w+)\s*$", readme, re.M)
    assert "./course.sh build" in commands and "./course.sh test" in commands
    assert "./course.sh test" in ci


def test_command_line_help_does_not_import_torch():
    import subprocess

    code = (
        "import sys\nfrom course_utils import cli\ntry:\n    cli.main(['--help'])\n"
        "except SystemExit:\n    pass\nprint('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "release" in done.stdout and "autograde" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_grading_modules_do_not_import_plotting():
    import subprocess

    code = (
        "import sys\nimport course_utils as cu\ncu.checks.toolkit, cu.checks, cu.reference\n"
        "print(sorted(m for m in ('matplotlib', 'ipywidgets') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_ruff_lint_and_format_are_clean():
    import subprocess

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    lint = subprocess.run(
        [ruff, "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert lint.returncode == 0, f"ruff check found problems:\n{lint.stdout[-3000:]}"
    fmt = subprocess.run(
        [ruff, "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert fmt.returncode == 0, f"run `ruff format .`:\n{fmt.stdout[-3000:]}"


@pytest.mark.parametrize("path", sorted(REPO.glob("assignments/*/*.ipynb")), ids=lambda p: p.stem)
def test_releases_hold_no_solutions_or_hidden_tests(path):
    text = path.read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{path.name} contains {marker!r}"
    assert "raise NotImplementedError()" in text


@pytest.mark.xdist_group("suite-self-check")
def test_an_xdist_group_keeps_its_tests_on_one_worker(request):
    """Modules that grade a class once in a module fixture rely on their group (tests/conftest.py)."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("only under --dist loadgroup (./course.sh test)")
    assert request.node.nodeid.endswith("@suite-self-check"), request.node.nodeid


def test_modules_with_slow_tests_are_handed_out_first(request):
    """tests/conftest.py puts them first, and xdist keeps that order: a minute-long test started
    last would leave the other worker with nothing to do."""
    items = request.session.items
    slow = [item.get_closest_marker("slow") is not None for item in items]
    modules = [item.module.__name__ for item in items]
    slow_modules = {m for m, s in zip(modules, slow, strict=True) if s}
    first_quick = next((i for i, m in enumerate(modules) if m not in slow_modules), len(modules))
    assert all(m not in slow_modules for m in modules[first_quick:]), (
        "a slow module after a quick one"
    )
    if hasattr(request.config.option, "loadscopereorder"):
        assert request.config.option.loadscopereorder is False
