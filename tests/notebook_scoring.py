"""Score an nbgrader source notebook in this process, as nbgrader would, with bugs injected into it.

Used by the ``test_assignment*_bugs.py`` files. A run executes the notebook's code cells in
order in one namespace (no Jupyter kernel), hidden tests included; a test cell earns its points
iff it raises nothing and writes nothing to stderr. A :class:`Bug` edits one solution cell;
:class:`ScoredNotebook` runs the correct, buggy and released versions and checks the notebook's
structure (points table, metadata, set-up cell, written answers).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import re
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.publish.notebooks import read_notebook, volatile_parts

SETUP_CELL = "import numpy as np\nimport course_utils as cu\n\ndevice = cu.setup(seed=0)"
SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
# ungraded cells not worth running in-process (timings, plots, the training demo);
# test_notebooks.py runs them
UNGRADED_SKIPS = {
    "assignment2": frozenset({"speed", "speed-run", "speed-plot"}),
    "assignment3": frozenset({"gradient-check", "speed", "training"}),
}


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@dataclass
class Result:
    """What a run of the notebook earned: passing test cells and each failing cell's error."""

    points: dict[str, int]
    passed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def score(self) -> int:
        return sum(self.points[g] for g in self.passed)


@dataclass(frozen=True)
class Bug:
    """A mistake made in one solution cell: ``edits`` are (old, new) replacements; old=None appends new."""

    cell: str
    edits: tuple[tuple[str | None, str], ...]
    must_fail: frozenset[str]


def bug(cell: str, *edits: tuple[str | None, str], fails: str) -> Bug:
    return Bug(cell, tuple(edits), frozenset(fails.split()))


def remove(text: str) -> tuple[str, str]:
    return (text, "")


class ScoredNotebook:
    """One source notebook: its autograded test cells and what a run of it (or of a variant) earns."""

    def __init__(self, path: Path, skip: frozenset[str] = frozenset()) -> None:
        self.path = path
        self.skip = skip  # ids of ungraded cells not worth running here (timings, plots)
        self.source = read_notebook(path)
        self.points = {
            nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"]
            for c in self.source.cells
            if c.cell_type == "code" and nbgrader_meta(c).get("grade")
        }
        self.total = sum(self.points.values())
        self._baseline: Result | None = None

    def run(
        self, notebook=None, sources: dict[str, str] | None = None, only_affected: bool = False
    ) -> Result:
        """Execute the code cells in order in one namespace (``sources`` replaces cells by id); score the test cells.

        ``only_affected``: run only the test cells that can see a replaced cell (through the names
        they use, closed over the names those definitions use); every other test cell keeps its
        verdict from the unchanged notebook (run once, then remembered). Falls back to running
        everything when a replaced cell does more than define (see :func:`affected_tests`).
        """
        notebook = self.source if notebook is None else notebook
        sources = sources or {}
        keep: dict[str, str | None] = {}
        if only_affected and notebook is self.source and sources:
            affected = affected_tests(self.source, sources, self.skip)
            if affected is not None:
                baseline = self.baseline()
                keep = {
                    grade_id: baseline.failed.get(grade_id)
                    for grade_id in self.points
                    if grade_id not in affected
                }
        namespace: dict = {"__name__": "__main__"}
        result = Result(self.points)
        for cell in notebook.cells:
            if cell.cell_type != "code" or cell.id in self.skip:
                continue
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id in keep and not nbgrader_meta(cell).get("solution"):
                if keep[grade_id] is None:
                    result.passed.add(grade_id)
                else:
                    result.failed[grade_id] = keep[grade_id]
                continue
            source = sources.get(cell.id, cell.source)
            stderr = io.StringIO()
            error = None
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(stderr),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("always")  # a warning on stderr zeroes a cell in nbgrader
                try:
                    exec(compile(source, f"<cell {cell.id}>", "exec"), namespace)
                except Exception as exc:  # nbgrader records the error and runs on
                    error = f"{type(exc).__name__}: {exc}"
            if stderr.getvalue() and error is None:
                error = f"stderr: {stderr.getvalue()}"
            if nbgrader_meta(cell).get("grade"):
                if error is None:
                    result.passed.add(nbgrader_meta(cell)["grade_id"])
                else:
                    result.failed[nbgrader_meta(cell)["grade_id"]] = error
        return result

    def baseline(self) -> Result:
        """The unchanged notebook's run (computed once)."""
        if self._baseline is None:
            self._baseline = self.run()
        return self._baseline

    def buggy_source(self, bug: Bug) -> str:
        cells = {cell.id: cell for cell in self.source.cells}
        assert bug.cell in cells and nbgrader_meta(cells[bug.cell]).get("solution"), (
            f"{bug.cell} is not a solution cell"
        )
        source = cells[bug.cell].source
        for old, new in bug.edits:
            if old is None:
                source = f"{source}\n\n\n{new}\n"
                continue
            assert source.count(old) == 1, (
                f"{old!r} must occur once in cell {bug.cell} (the solution changed?)"
            )
            source = source.replace(old, new)
        compile(source, f"<buggy {bug.cell}>", "exec")  # a bug is a mistake, not a syntax error
        return source

    def assert_bug_loses_points(self, name: str, bug: Bug) -> None:
        result = self.run(sources={bug.cell: self.buggy_source(bug)}, only_affected=True)
        assert result.score < self.total, f"{name}: the tests did not notice"
        missed = bug.must_fail - set(result.failed)
        assert not missed, (
            f"{name}: expected {sorted(missed)} to fail; failed: {sorted(result.failed)}"
        )
        assert bug.must_fail <= set(self.points)

    def plain_errors_sources(self, mode: str = "plain") -> dict[str, str]:
        """The solution cells of a student whose mathematics is right but whose argument checks are plain.

        ``mode="plain"``: every ``raise ValueError(...)``/``TypeError(...)`` says only "bad input";
        ``mode="none"``: those raises are gone (the illegal call fails however it happens to).
        """
        return {
            cell.id: _plain_raises(cell.source, mode)
            for cell in self.source.cells
            if cell.cell_type == "code" and nbgrader_meta(cell).get("solution")
        }

    def release(self):
        """What `nbgrader generate_assignment` gives students: solutions and hidden tests removed."""
        from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

        release = copy.deepcopy(self.source)
        resources = {"language": "python"}
        release, resources = ClearSolutions().preprocess(release, resources)
        release, resources = ClearHiddenTests().preprocess(release, resources)
        return release

    # ------------------------------------------------------------------ structure

    def assert_points_table_matches_metadata(self) -> None:
        title = self.source.cells[0].source
        rows = re.findall(r"^\|[^|]*\|[^|]*\| `(\w+)` \| (\d+) \|$", title, re.M)
        table = {grade_id: int(points) for grade_id, points in rows}
        graded = {
            nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"]
            for c in self.source.cells
            if nbgrader_meta(c).get("grade")
        }
        assert table == graded
        total = re.search(r"\*\*Total\*\* \| \| \*\*(\d+)\*\*", title)
        assert total and int(total.group(1)) == sum(graded.values())
        auto = re.search(r"(\d+) points are graded automatically, (\d+) by hand", title)
        assert auto and int(auto.group(1)) == self.total
        assert int(auto.group(2)) == sum(graded.values()) - self.total

    def assert_cells_have_unique_ids_and_nbgrader_metadata(self) -> None:
        ids = [cell.id for cell in self.source.cells]
        grade_ids = [nbgrader_meta(cell).get("grade_id") for cell in self.source.cells]
        assert len(set(ids)) == len(ids) and len(set(grade_ids)) == len(grade_ids)
        for cell in self.source.cells:
            meta = nbgrader_meta(cell)
            assert meta.get("schema_version") == 3 and meta.get("task") is False, cell.id
            assert cell.id == meta["grade_id"].replace("_", "-")
            if meta["solution"]:
                assert not meta["locked"]
                if cell.cell_type == "code":
                    assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
            else:
                assert meta["locked"], f"{cell.id}: instructions and tests are read-only"
            if meta["grade"] and cell.cell_type == "code":
                assert cell.source.startswith('"""') and "### BEGIN HIDDEN TESTS" in cell.source, (
                    cell.id
                )
            if meta["grade"]:
                assert meta["points"] > 0
            else:
                assert "points" not in meta

    def assert_clean_with_the_setup_cell(self) -> None:
        assert volatile_parts(self.source) == []
        assert self.source.metadata.kernelspec.name == "python3"
        assert dict(self.source.metadata.language_info) == {"name": "python"}
        first_code = next(c for c in self.source.cells if c.cell_type == "code")
        # the course's imports (guarded: a laptop without the package gets one install line),
        # then the device and the seed
        lines = [line.strip() for line in first_code.source.splitlines()]
        for needed in SETUP_CELL.split("\n"):
            assert not needed or needed in lines, f"the set-up cell lacks {needed!r}"
        assert first_code.source.rstrip().endswith("device = cu.setup(seed=0)")
        nbformat.validate(self.source)

    def written_answers(self) -> list:
        return [
            c
            for c in self.source.cells
            if nbgrader_meta(c).get("grade") and nbgrader_meta(c).get("solution")
        ]


# Top-level statements a cell may hold and still only define names (no effect on other cells).
_DEFINING = (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)


def _defined(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _used(tree: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def affected_tests(notebook, sources: dict[str, str], skip: frozenset[str]) -> set[str] | None:
    """The grade ids of the test cells that can see a change of the cells in ``sources``.

    A test cell sees a name it uses, and through it every name that name's defining cells use
    (transitively). ``None`` (run every test) when a changed cell does more than define names
    (a top-level call could change shared state) or a test cell reaches the namespace itself
    (``globals``, ``exec``, ``eval``, ``vars``).
    """
    code = [c for c in notebook.cells if c.cell_type == "code" and c.id not in skip]
    defines: dict[str, set[str]] = {}  # name -> names used by the cells that define it
    changed: set[str] = set()
    for cell in code:
        for source in {cell.source, sources.get(cell.id, cell.source)}:
            tree = ast.parse(source)
            names, used = _defined(tree), _used(tree)
            for name in names:
                defines.setdefault(name, set()).update(used)
            if cell.id in sources:
                if not all(isinstance(node, _DEFINING) for node in tree.body):
                    return None
                changed |= names
    affected = set()
    for cell in code:
        meta = nbgrader_meta(cell)
        if not meta.get("grade") or meta.get("solution"):
            continue
        seen, todo = set(), list(_used(ast.parse(cell.source)))
        if seen.union(todo) & {"globals", "exec", "eval", "vars", "locals"}:
            return None
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(defines.get(name, ()))
        if seen & changed:
            affected.add(meta["grade_id"])
    return affected


def _plain_raises(source: str, mode: str) -> str:
    """``source`` with each ``raise ValueError(...)``/``raise TypeError(...)`` made plain or removed."""
    if mode not in ("plain", "none"):
        raise ValueError(f"mode must be 'plain' or 'none', got {mode!r}")
    spans = [
        (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, node.exc.func.id)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id in ("ValueError", "TypeError")
    ]
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    for first, col, last, end_col, name in sorted(spans, reverse=True):
        begin, end = starts[first - 1] + col, starts[last - 1] + end_col
        new = f'raise {name}("bad input")' if mode == "plain" else "pass"
        source = source[:begin] + new + source[end:]
    return source


def scored_notebook(assignment: str) -> ScoredNotebook:
    """The solution notebook of ``assignment`` (one notebook per assignment), ready to score."""
    (path,) = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    return ScoredNotebook(path, skip=UNGRADED_SKIPS.get(assignment, frozenset()))


def solution_namespace(assignment: str) -> dict:
    """Run a solution notebook's set-up cell and its answer cells; return the namespace (the solutions)."""
    (path,) = sorted((SOLUTIONS / assignment).glob("*.ipynb"))
    code = [cell for cell in read_notebook(path).cells if cell.cell_type == "code"]
    cells = [code[0]] + [c for c in code if c.metadata.get("nbgrader", {}).get("solution")]
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in cells:
            exec(compile(cell.source, f"<{cell.id}>", "exec"), namespace)
    return namespace


def variant(solutions: dict, source: str):
    """Define a (buggy) function in a copy of ``solutions``; ``_sol`` holds the correct ones."""
    source = textwrap.dedent(source)
    namespace = {**solutions, "_sol": dict(solutions)}
    exec(compile(source, "<variant>", "exec"), namespace)
    return namespace[re.findall(r"^def (\w+)", source, re.M)[-1]]


def run_quietly(check) -> str:
    """Run ``check()`` and return what it printed."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        check()
    return out.getvalue()
