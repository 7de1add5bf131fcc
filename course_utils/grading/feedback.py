"""What a student sees in feedback: each failed test's message, never the grader's internals.

nbgrader's feedback keeps every output of the graded notebook, and a failing test cell's
traceback prints the lines around the failure (hidden tests and their seeds included), the
grader's file paths and the checkers' source. :class:`StudentFacingOutputs` runs in
``nbgrader generate_feedback`` (see nbgrader_config.py) and rewrites the outputs first:

- an error in a test cell keeps only ``ErrorName: message``; the checkers' messages are written
  to teach, so that is what the student needs;
- an error in the student's own cell keeps the frames of the student's own code (``Cell In[..]``)
  and the message, not frames from installed files;
- a cell that ran out of time says so, in words;
- any text that still names a path of the grading machine has it replaced by ``<grader>``.

Then a summary opens the page (:func:`summary_cell`): the score, and for each test that did not
pass its name, its points and its message; the cells that ran out of time.
"""

from __future__ import annotations

import re

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from course_utils.grading.sanitize import sanitize_cell

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PATH = re.compile(r"(?<![\w)\]])(?:/[\w.@+-]+){2,}/?")
HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)
# A traceback printed into a message (a re-run's report, a checker quoting an exception): its
# frames are the grader's, never the student's lesson.
TRACEBACK_BLOCK = re.compile(r"Traceback \(most recent call last\):\n(?:(?:[ \t]+.*|\s*)\n)*", re.M)
# Errors that mean "this cell used up its time" (the executor's, and the interrupt it sends).
TIMEOUT_ERRORS = {
    "CellTimeoutError",
    "NotebookTimeBudgetError",
    "KeyboardInterrupt",
    "TimeoutError",
}
MAX_MESSAGE_LINES = 15


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


def teaching_message(ename: str, evalue: str) -> str:
    """The line a student reads for an error: the message without tracebacks printed into it,
    paths or hidden tests, at most ``MAX_MESSAGE_LINES`` lines; a timeout in words."""
    text = scrub(TRACEBACK_BLOCK.sub("", ANSI.sub("", evalue or ""))).strip()
    lines = text.splitlines()
    if len(lines) > MAX_MESSAGE_LINES:
        lines = [*lines[:MAX_MESSAGE_LINES], f"... ({len(lines) - MAX_MESSAGE_LINES} more lines)"]
    text = "\n".join(lines)
    if ename in TIMEOUT_ERRORS:
        return "This cell ran out of time and was stopped" + (f": {text}" if text else ".")
    if not text:
        return f"{ename}: a check in this cell failed (its visible part shows what is checked)"
    return f"{ename}: {text}"


def student_facing(output, test_cell: bool):
    """Return ``output`` (one nbformat output) as a student may see it."""
    kind = output.get("output_type")
    if kind == "error":
        ename, evalue = output.get("ename", "Error"), output.get("evalue", "")
        message = teaching_message(ename, evalue)
        output["evalue"] = scrub(output.get("evalue", ""))
        if test_cell:
            output["traceback"] = [message]
        else:
            frames = _own_frames(output.get("traceback", []))
            output["traceback"] = [*frames[:-1], message]
    elif kind == "stream":
        output["text"] = scrub(output.get("text", ""))
    else:
        data = output.get("data", {})
        for mime in ("text/plain", "text/html", "text/markdown"):
            if isinstance(data.get(mime), str):
                data[mime] = scrub(data[mime])
    return output


def _fenced(text: str) -> str:
    """``text`` as a fenced code block no backticks inside it can close (shown as written)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _first_docstring_line(source: str) -> str:
    match = re.match(r'\s*(?:"""|\'\'\')\s*(.+?)\s*(?:"""|\'\'\'|$)', source, re.M)
    return match.group(1).strip() if match else ""


def summary_cell(cells: list) -> nbformat.NotebookNode | None:
    """A markdown cell that opens the feedback: each test that did not pass (name, points,
    message) and each cell that ran out of time; None when there is nothing to say."""
    failed, slow, total, maximum = [], [], 0.0, 0.0
    for number, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if any(o.get("ename") in TIMEOUT_ERRORS for o in errors) and not is_test_cell(cell):
            slow.append(f"- code cell {number} (`{meta.get('grade_id') or 'yours'}`)")
        if not is_test_cell(cell) or "points" not in meta:
            continue
        points, score = float(meta.get("points") or 0), float(meta.get("score") or 0)
        total, maximum = total + score, maximum + points
        if score >= points:
            continue
        name = meta.get("grade_id", f"cell {number}")
        about = _first_docstring_line("".join(cell.get("source", "")))
        messages = [
            o["traceback"][-1] if o.get("traceback") else teaching_message(o.get("ename", ""), "")
            for o in errors
        ] or ["this test did not pass (see the cell below)"]
        failed.append(
            f"- **{name}** ({score:g} of {points:g} points)"
            + (f": {about}" if about else "")
            + "\n\n"
            + "\n".join("  " + line for line in _fenced("\n\n".join(messages)).splitlines())
        )
    if not failed and not slow:
        return None
    parts = ["## What to look at", ""]
    if maximum:
        parts.append(f"The tests gave **{total:g} of {maximum:g}** points.")
    if failed:
        parts += ["", "Tests that did not pass:", "", *failed]
    if slow:
        parts += ["", "Cells that ran out of time (a loop that never ends, or far too slow):"]
        parts += ["", *slow]
    cell = nbformat.v4.new_markdown_cell("\n".join(parts))
    cell.metadata["course"] = {"feedback_summary": True}
    return cell


class StudentFacingOutputs(Preprocessor):
    """nbconvert preprocessor: make every output of a graded notebook fit to show a student."""

    enabled = Bool(True, help="on unless switched off explicitly").tag(config=True)
    summary = Bool(True, help="open the feedback with the tests that did not pass").tag(config=True)

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        summary = summary_cell(nb.cells) if self.summary else None
        if summary is not None:
            nb.cells.insert(0, sanitize_cell(summary))
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") == "code":
            test_cell = is_test_cell(cell)
            cell["outputs"] = [student_facing(out, test_cell) for out in cell.get("outputs", [])]
        sanitize_cell(cell)  # nothing the student wrote runs in the feedback page
        return cell, resources
