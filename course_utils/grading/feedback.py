"""What a student sees in feedback: each failed test's message, never the grader's internals.

nbgrader's feedback keeps every output of the graded notebook, and a failing test cell's
traceback prints the lines around the failure (hidden tests and their seeds included), the
grader's file paths and the checkers' source. :class:`StudentFacingOutputs` runs in
``nbgrader generate_feedback`` (see nbgrader_config.py) and rewrites the outputs first:

- an error in a test cell keeps only ``ErrorName: message``; the checkers' messages are written
  to teach, so that is what the student needs;
- an error in the student's own cell keeps the frames of the student's own code (``Cell In[..]``)
  and the message, not frames from installed files;
- any text that still names a path of the grading machine has it replaced by ``<grader>``.
"""

from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from course_utils.grading.sanitize import sanitize_cell

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PATH = re.compile(r"(?<![\w)\]])(?:/[\w.@+-]+){2,}/?")
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)


def is_test_cell(cell) -> bool:
    """Whether ``cell`` is an autograded test (a graded cell that is not an answer)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def scrub(text: str) -> str:
    """Return ``text`` without colour codes, hidden-test blocks or file-system paths."""
    text = HIDDEN_BLOCK.sub("", ANSI.sub("", text))
    return PATH.sub("<grader>", text)


def _own_frames(traceback: list[str]) -> list[str]:
    """Keep the frames of code the student wrote in the notebook, then the final message."""
    frames = [ANSI.sub("", entry) for entry in traceback]
    own = [frame for frame in frames[:-1] if frame.lstrip().startswith("Cell In[")]
    return [scrub(frame) for frame in [*own, *frames[-1:]]]


def student_facing(output, test_cell: bool):
    """Return ``output`` (one nbformat output) as a student may see it."""
    kind = output.get("output_type")
    if kind == "error":
        ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
        message = scrub(
            f"{ename}: {evalue}"
            if evalue.strip()
            else f"{ename}: a check in this cell failed (its visible part shows what is checked)"
        )
        output["evalue"] = scrub(output.get("evalue", ""))
        output["traceback"] = [message] if test_cell else _own_frames(output.get("traceback", []))
    elif kind == "stream":
        output["text"] = scrub(output.get("text", ""))
    else:
        data = output.get("data", {})
        for mime in ("text/plain", "text/html", "text/markdown"):
            if isinstance(data.get(mime), str):
                data[mime] = scrub(data[mime])
    return output


class StudentFacingOutputs(Preprocessor):
    """nbconvert preprocessor: make every output of a graded notebook fit to show a student."""

    enabled = Bool(True, help="on unless switched off explicitly").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code":
            test_cell = is_test_cell(cell)
            cell["outputs"] = [student_facing(out, test_cell) for out in cell.get("outputs", [])]
        sanitize_cell(cell)  # nothing the student wrote runs in the feedback page
        return cell, resources
