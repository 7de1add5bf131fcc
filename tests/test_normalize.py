"""course_utils.grading.normalize: an honest student's copied, renamed or retyped cells are graded as meant."""

from __future__ import annotations

import copy

import nbformat

from course_utils.grading.normalize import normalize_submission


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _source_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np", metadata=_meta("setup", locked=True)),
        nbformat.v4.new_code_cell("def f(x):\n    return x", metadata=_meta("f", solution=True)),
        nbformat.v4.new_code_cell(
            "assert f(1) == 1", metadata=_meta("test_f", grade=True, locked=True, points=1)
        ),
        nbformat.v4.new_markdown_cell(
            "YOUR ANSWER HERE", metadata=_meta("why", grade=True, solution=True, points=2)
        ),
    ]
    return nb


def _ids(nb):
    return [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb["cells"]]


def test_a_copied_test_cell_is_dropped_and_ids_made_unique():
    source = _source_notebook()
    submitted = copy.deepcopy(source)
    twin = copy.deepcopy(submitted.cells[2])
    submitted.cells.insert(3, twin)
    tidy, changes = normalize_submission(submitted, source)
    assert _ids(tidy).count("test_f") == 1
    assert len({c["id"] for c in tidy["cells"]}) == len(tidy["cells"])
    assert any("copies" in c for c in changes)


def test_the_last_copy_of_an_answer_is_graded_and_earlier_ones_run_as_plain_cells():
    source = _source_notebook()
    submitted = copy.deepcopy(source)
    answer = copy.deepcopy(submitted.cells[1])
    answer.source = "def f(x):\n    return x  # my answer"
    submitted.cells.insert(2, answer)
    tidy, _ = normalize_submission(submitted, source)
    assert _ids(tidy).count("f") == 1
    graded = next(c for c in tidy["cells"] if _ids({"cells": [c]})[0] == "f")
    assert "my answer" in graded["source"]
    assert len(tidy["cells"]) == 5  # the first copy stays, as a plain cell


def test_copies_of_a_written_answer_are_merged():
    source = _source_notebook()
    submitted = copy.deepcopy(source)
    submitted.cells[3].source = "First thought."
    extra = copy.deepcopy(submitted.cells[3])
    extra.source = "Second thought."
    submitted.cells.append(extra)
    tidy, _ = normalize_submission(submitted, source)
    answers = [c for c in tidy["cells"] if _ids({"cells": [c]})[0] == "why"]
    assert (
        len(answers) == 1 and "First" in answers[0]["source"] and "Second" in answers[0]["source"]
    )


def test_metadata_and_type_are_restored_and_unknown_ids_made_plain():
    source = _source_notebook()
    submitted = copy.deepcopy(source)
    submitted.cells[2].metadata["nbgrader"]["points"] = 100  # an extension (or a student) edits
    submitted.cells[1]["cell_type"] = "markdown"
    submitted.cells[1].pop("outputs")
    submitted.cells[1].pop("execution_count")
    submitted.cells.append(
        nbformat.v4.new_code_cell("x = 1", metadata=_meta("mine", solution=True))
    )
    tidy, changes = normalize_submission(submitted, source)
    assert tidy["cells"][2]["metadata"]["nbgrader"]["points"] == 1
    assert tidy["cells"][1]["cell_type"] == "code" and tidy["cells"][1]["outputs"] == []
    assert "nbgrader" not in tidy["cells"][-1]["metadata"]
    nbformat.validate(nbformat.from_dict(tidy))
    assert len(changes) == 3


def test_an_untouched_notebook_is_left_alone():
    source = _source_notebook()
    tidy, changes = normalize_submission(copy.deepcopy(source), source)
    assert changes == [] and tidy == source
