"""Feedback a student reads: each failed test's name, points and teaching message; no grader
frames; a cell that ran out of time says so (course_utils.grading.feedback)."""

from __future__ import annotations

import copy
import html
import re

import nbformat
from nbconvert import HTMLExporter

from course_utils.grading.feedback import StudentFacingOutputs, summary_cell, teaching_message

# What a graded test cell's error looks like: IPython's frames through the checkers, with the
# teaching message last (46 lines in a real Assignment 1 notebook).
GRADER_FRAMES = [
    "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
    "\x1b[31mAssertionError\x1b[39m                            Traceback (most recent call last)",
    'Cell \x1b[32mIn[5]\x1b[39m, line 2\n      1 """conv_output_size: the slides\' sizes."""\n'
    "----> 2 cu.checks.check_conv_output_size(conv_output_size)",
    *[
        f"File \x1b[32m/srv/course/.venv/lib/python3.11/site-packages/course_utils/checks/"
        f"toolkit.py:{n}\x1b[39m, in \x1b[36mcheck_{n}\x1b[39m\n    {n} seed = 807  # hidden\n"
        for n in range(140, 160)
    ],
]
MESSAGE = (
    "conv_output_size(7, 3) (Lecture 1: 7 inputs, 3 taps, stride 1) is 6 but should be 5.\n"
    "Likely mistake: one added twice (the formula is floor((n + 2p - span) / s) + 1)."
)


def _cell(grade_id: str, points: float, score: float, outputs: list, solution=False):
    cell = nbformat.v4.new_code_cell(f'"""{grade_id}: what it checks."""\ncheck({grade_id})')
    cell.metadata["nbgrader"] = {
        "grade": not solution,
        "solution": solution,
        "grade_id": grade_id,
        "points": points,
        "score": score,
        "locked": not solution,
        "schema_version": 3,
    }
    cell.outputs = [nbformat.NotebookNode(o) for o in outputs]
    return cell


def _error(ename: str, evalue: str, traceback: list[str]) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}


def _graded_notebook() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Assignment 1"),
        _cell("test_passes", 2, 2, []),
        _cell(
            "test_conv_output_size",
            2,
            0,
            [_error("AssertionError", MESSAGE, [*GRADER_FRAMES, f"AssertionError: {MESSAGE}"])],
        ),
        _cell(
            "test_rerun",
            3,
            0,
            [
                _error(
                    "VerificationError",
                    "this test failed when the grader re-ran it outside your notebook: "
                    "Traceback (most recent call last):\n"
                    '  File "/srv/course/course_utils/grading/worker.py", line 88, in run\n'
                    "    exec(code, namespace)\n"
                    "AssertionError: conv1d(x, w, stride=2) has shape (1, 1, 3), expected (1, 1, 2)",
                    ["VerificationError: ..."],
                )
            ],
        ),
        _cell(
            "train",
            0,
            0,
            [
                _error(
                    "KeyboardInterrupt",
                    "",
                    ["Cell In[9], line 3\n    while True:", "KeyboardInterrupt: "],
                )
            ],
            solution=True,
        ),
        _cell("test_after_timeout", 1, 0, [_error("CellTimeoutError", "", ["CellTimeoutError: "])]),
    ]
    return notebook


def test_a_failed_test_shows_its_message_not_the_grader_frames():
    notebook = _graded_notebook()
    StudentFacingOutputs().preprocess(notebook, {})
    summary, *cells = notebook.cells
    [failed] = cells[2].outputs
    assert failed["traceback"] == [f"AssertionError: {MESSAGE}"]
    [rerun] = cells[3].outputs
    assert "Traceback" not in rerun["traceback"][0] and "worker.py" not in rerun["traceback"][0]
    assert "has shape (1, 1, 3), expected (1, 1, 2)" in rerun["traceback"][0]
    [timeout] = cells[5].outputs
    assert timeout["traceback"] == ["This cell ran out of time and was stopped."]
    interrupted = cells[4].outputs[0]["traceback"]
    assert interrupted[0].startswith("Cell In[9]")  # the student's own line stays
    assert interrupted[-1] == "This cell ran out of time and was stopped."

    page = html.unescape(HTMLExporter().from_notebook_node(notebook)[0])
    text = re.sub(r"<[^>]+>", "", page)
    assert "The tests gave 2 of 8 points." in text
    assert "test_conv_output_size (0 of 2 points): test_conv_output_size: what it checks." in text
    assert "Likely mistake: one added twice" in text
    assert "test_after_timeout (0 of 1 points)" in text
    assert "code cell 5 (train)" in text
    assert "test_passes" not in summary.source  # only what did not pass
    for internal in ("toolkit.py", "site-packages", "seed = 807", "worker.py", "/srv/"):
        assert internal not in text


def test_messages_are_short_and_cannot_break_out_of_the_summary():
    long = "\n".join(f"line {n}" for n in range(40))
    assert teaching_message("AssertionError", long).count("\n") == 15
    hostile = "```\n<script>alert(1)</script>\n``````"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        _cell("test_x", 1, 0, [_error("AssertionError", hostile, ["AssertionError: "])])
    ]
    StudentFacingOutputs().preprocess(notebook, {})
    summary = notebook.cells[0].source
    assert "<script>" not in summary
    page = HTMLExporter().from_notebook_node(notebook)[0]
    assert "<script>alert(1)" not in page


def test_no_summary_when_everything_passed():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [_cell("test_ok", 2, 2, [])]
    assert summary_cell(copy.deepcopy(notebook).cells) is None
    StudentFacingOutputs().preprocess(notebook, {})
    assert len(notebook.cells) == 1
