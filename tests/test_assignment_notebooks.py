"""Every assignment's solution notebook: full marks in-process, a release worth nothing, a sound structure.

Scored in this process as nbgrader scores (``notebook_scoring.py``); each assignment's injected
bugs are in ``test_assignment<N>_bugs.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from notebook_scoring import nbgrader_meta, scored_notebook

from course_utils.grading import records

ASSIGNMENTS = records.assignment_names(Path(__file__).resolve().parents[1])


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_correct_solutions_earn_every_point_without_stderr(assignment):
    notebook = scored_notebook(assignment)
    result = notebook.run()
    assert result.failed == {}
    assert result.score == notebook.total > 0


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_version_earns_no_points(assignment):
    """What `nbgrader generate_assignment` gives students: every test cell fails (validate --invert)."""
    notebook = scored_notebook(assignment)
    release = notebook.release()
    assert "BEGIN HIDDEN TESTS" not in "".join(c.source for c in release.cells)
    result = notebook.run(release)
    assert result.score == 0
    assert set(result.failed) == set(notebook.points)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_table_matches_the_nbgrader_metadata(assignment):
    scored_notebook(assignment).assert_points_table_matches_metadata()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_cells_have_unique_ids_and_nbgrader_metadata(assignment):
    scored_notebook(assignment).assert_cells_have_unique_ids_and_nbgrader_metadata()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_is_clean_and_starts_with_the_setup_cell(assignment):
    scored_notebook(assignment).assert_clean_with_the_setup_cell()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_written_answers_are_markdown_worth_two_points(assignment):
    answers = scored_notebook(assignment).written_answers()
    assert 2 <= len(answers) <= 3
    assert all(c.cell_type == "markdown" and nbgrader_meta(c)["points"] == 2 for c in answers)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_links_to_the_lectures_resolve(assignment):
    """Every part links the lecture sections it builds on: ../../lectures/0N_name.ipynb[#anchor], all existing."""
    notebook = scored_notebook(assignment)
    text = "\n".join(c.source for c in notebook.source.cells if c.cell_type == "markdown")
    links = re.findall(r"\]\((\.\./\.\./lectures/[^)#\s]+)(?:#([\w-]+))?\)", text)
    assert len(links) >= 5
    for target, anchor in links:
        path = (notebook.path.parent / target).resolve()
        assert path.is_file(), target
        if anchor:
            lecture = path.read_text(encoding="utf-8")
            assert f'<a id=\\"{anchor}\\"></a>' in lecture, f"{target}#{anchor}"
    parts = re.findall(r"^## Part [A-Z]: .*$", text, re.M)
    builds_on = text.count("Builds on: ")
    assert builds_on >= len(parts) - 2  # every part but the written answers (and ungraded timing)
