"""Every lecture and every solution notebook runs headless, cleanly, within its time budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from executed_lectures import LECTURES, execute_once

from course_utils.publish import notebooks

REPO = Path(__file__).resolve().parents[1]
LECTURE_BUDGET_S = 240  # a lecture runs in under 3 min alone; room for the other xdist worker
SOLUTION_BUDGET_S = 120

pytestmark = pytest.mark.slow


def _check(name: str, executed, seconds: float, budget: float) -> None:
    errors = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors, f"{name}: {errors[0].ename}: {errors[0].evalue}"
    stderr = notebooks.stderr_outputs(executed)
    assert not stderr, f"{name} wrote to stderr (a warning?): {stderr[0][:500]}"
    assert seconds < budget, f"{name} took {seconds:.0f} s (budget {budget} s)"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_runs(path):
    """Executed once per run (tests/executed_lectures.py); the browser tests reuse the outputs."""
    run = execute_once(path)
    assert not run.error, f"{path.name} did not execute: {run.error}"
    _check(path.name, run.notebook(), run.seconds, LECTURE_BUDGET_S)


@pytest.mark.parametrize(
    "path", sorted(REPO.glob("solutions/*/*.ipynb")), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_solution_runs(path, tmp_path):
    executed, seconds = notebooks.execute_notebook(
        path, tmp_path / path.name, timeout=SOLUTION_BUDGET_S
    )
    _check(path.name, executed, seconds, SOLUTION_BUDGET_S)


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_converts_to_slides(path, tmp_path):
    notebook = notebooks.read_notebook(path)
    slide_cells = [
        c for c in notebook.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide"
    ]
    assert len(slide_cells) >= 10, f"{path.name}: only {len(slide_cells)} cells start a slide"
    html = notebooks.export_slides(notebook, tmp_path / f"{path.stem}.slides.html").read_text()
    assert "reveal" in html.lower()
    assert html.count("<section") >= len(slide_cells)
