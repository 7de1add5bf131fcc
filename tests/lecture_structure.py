"""Structure checks shared by the lecture tests (``tests/test_lecture_0N.py``).

Each function takes a loaded notebook (``course_utils.publish.notebooks.read_notebook``) and raises
``AssertionError`` with a message naming the cell when the notebook breaks the course's rules.
The per-lecture differences are parameters, so a test file shows its allowance where it calls.
Not a test file itself (no ``test_`` prefix): the test files import it, as they import
``notebook_scoring``, because pytest puts ``tests/`` on ``sys.path``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from course_utils.publish.notebooks import volatile_parts

SLIDE_STARTS = ("slide", "subslide")
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}
SETUP_LINES = ["import numpy as np", "import course_utils as cu", "device = cu.setup(seed=0)"]
ANSWER = "<details><summary>Answer</summary>"  # a closed <details>: the answer starts folded
MAX_CODE_LINES = 18  # the strictest length any lecture had; longer cells need an allowance


def _slide_type(cell: nbformat.NotebookNode) -> str | None:
    return cell.metadata.get("slideshow", {}).get("slide_type")


def slide_headings(notebook: nbformat.NotebookNode) -> list[str]:
    """The first level 1-3 heading line of every markdown cell that starts a slide or subslide."""
    found = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and _slide_type(cell) in SLIDE_STARTS:
            match = re.search(r"^#{1,3} (.+)$", cell.source, flags=re.MULTILINE)
            if match:
                found.append(match.group(1).strip())
    return found


def check_slide_metadata_and_unique_ids(notebook: nbformat.NotebookNode, path: str | Path) -> None:
    """Every cell has a valid ``slideshow.slide_type``; the first cell opens a slide; ids are unique.

    The ids are read from the file at ``path``: ``nbformat.read`` (hence ``read_notebook``)
    silently replaces a duplicated id with a random one, so ``notebook`` cannot show duplicates.
    """
    for index, cell in enumerate(notebook.cells):
        kind = _slide_type(cell)
        assert kind in SLIDE_TYPES, f"cell {index} has no valid slideshow.slide_type ({kind!r})"
    assert _slide_type(notebook.cells[0]) == "slide", "the first cell must open a slide"
    ids = [cell.get("id") for cell in json.loads(Path(path).read_text(encoding="utf-8"))["cells"]]
    assert None not in ids, "every cell needs an id"
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"cell ids used twice: {duplicates}"


def check_setup_cell_first(notebook: nbformat.NotebookNode) -> None:
    """The first code cell opens with the course's set-up lines and is skipped in the slides."""
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    lines = [line for line in first_code.source.splitlines() if line.strip()]
    assert lines[: len(SETUP_LINES)] == SETUP_LINES, f"the first code cell must start {SETUP_LINES}"
    assert _slide_type(first_code) == "skip", "the set-up cell must be skipped in the slides"


def check_code_cells_slide_sized(
    notebook: nbformat.NotebookNode,
    max_lines: int = MAX_CODE_LINES,
    exempt: tuple[str, ...] = (),
) -> None:
    """No code cell is longer than ``max_lines`` lines (it has to fit on a slide).

    A cell whose source starts with one of ``exempt`` (a data table, say) may be longer.
    """
    too_long = [
        (index, len(cell.source.splitlines()), cell.source[:60])
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and len(cell.source.splitlines()) > max_lines
        and not (exempt and cell.source.startswith(exempt))
    ]
    assert not too_long, f"code cells over {max_lines} lines (index, lines, start): {too_long}"


def check_self_check(
    notebook: nbformat.NotebookNode, min_questions: int = 4, max_questions: int = 6
) -> None:
    """A ``## Self-check`` section asks ``min_questions``-``max_questions`` questions.

    Every answer in the notebook is folded (a closed ``<details>``) on a (sub)slide of its own,
    and the next cell is code that checks it with ``assert``, skipped in the slides and with
    its input folded (tag ``hide-input``), so no answer shows on a question's slide.
    """
    cells = notebook.cells
    start = next(
        (
            i
            for i, c in enumerate(cells)
            if c.cell_type == "markdown" and c.source.startswith("## Self-check")
        ),
        None,
    )
    assert start is not None, "no markdown cell starts with '## Self-check'"
    answers = [i for i, cell in enumerate(cells) if ANSWER in cell.source]
    questions = [i for i in answers if i >= start]
    assert min_questions <= len(questions) <= max_questions, (
        f"{len(questions)} self-check answers, expected {min_questions}-{max_questions}"
    )
    for index in answers:
        assert _slide_type(cells[index]) in SLIDE_STARTS, (
            f"cell {index}: one question per (sub)slide"
        )
        assert index + 1 < len(cells), f"cell {index}: its answer has no checking cell"
        check = cells[index + 1]
        assert check.cell_type == "code" and "assert" in check.source, (
            f"cell {index + 1} must check the answer of cell {index} with assert"
        )
        assert _slide_type(check) == "skip", f"cell {index + 1}: the check must be skipped"
        assert "hide-input" in check.metadata.get("tags", []), (
            f"cell {index + 1}: the check needs the hide-input tag"
        )


def check_committed_clean(notebook: nbformat.NotebookNode) -> None:
    """Committed without outputs, execution counts or volatile metadata."""
    assert volatile_parts(notebook) == []


# ------------------------------------------------------------------ slide style (issue 25)

HIDDEN_INPUT_TAGS = {"hide-input", "remove-input", "remove-cell"}
HEADING = re.compile(r"#{1,3} \S")
MAX_VISIBLE_CODE_LINES = 14  # per slide or sub-slide: code the reader must read there
# Notes about how the lecture was made or run, not about its subject.
MAKING_OF = re.compile(
    r"\bruntime\b|\brun time\b|load average|build-up|not on the page|the slide shows|the deck shows",
    re.IGNORECASE,
)


def input_hidden(cell: nbformat.NotebookNode) -> bool:
    """True when the slides do not show the cell's source: skipped, or tagged to hide it."""
    tags = set(cell.metadata.get("tags", []))
    return _slide_type(cell) in ("skip", "notes") or bool(tags & HIDDEN_INPUT_TAGS)


def slides(notebook: nbformat.NotebookNode) -> list[list[int]]:
    """The cell indices of every slide and sub-slide, in order (cells before the first go first)."""
    found: list[list[int]] = []
    for index, cell in enumerate(notebook.cells):
        if _slide_type(cell) in SLIDE_STARTS or not found:
            found.append([])
        found[-1].append(index)
    return found


def visible_code_lines(cell: nbformat.NotebookNode) -> int:
    """Non-blank source lines a slide shows of ``cell`` (0 for markdown and hidden cells)."""
    if cell.cell_type != "code" or input_hidden(cell):
        return 0
    return sum(1 for line in cell.source.splitlines() if line.strip())


def check_no_visible_assert(notebook: nbformat.NotebookNode) -> None:
    """Every code cell with an ``assert`` hides its input on the slides or is skipped."""
    shown = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and re.search(r"\bassert\b", cell.source)
        and not input_hidden(cell)
    ]
    assert not shown, f"cells that show an assert on a slide (tag them hide-input): {shown}"


def check_every_slide_has_heading(notebook: nbformat.NotebookNode) -> None:
    """Every slide and sub-slide opens with a markdown cell whose first line is a #-### heading."""
    missing = [
        (index, cell.source[:50])
        for index, cell in enumerate(notebook.cells)
        if _slide_type(cell) in SLIDE_STARTS
        and not (cell.cell_type == "markdown" and HEADING.match(cell.source.lstrip()))
    ]
    assert not missing, f"(sub)slides that do not open with a heading (index, start): {missing}"


def check_no_making_of_notes(notebook: nbformat.NotebookNode) -> None:
    """No text about how the lecture was made or run (markdown, or code a slide shows)."""
    found = [
        (index, match.group(0))
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "markdown" or not input_hidden(cell)
        for match in MAKING_OF.finditer(cell.source)
    ]
    assert not found, f"notes about how the lecture was made or run (index, words): {found}"


def check_visible_code_per_slide(
    notebook: nbformat.NotebookNode, max_lines: int = MAX_VISIBLE_CODE_LINES
) -> None:
    """No slide or sub-slide shows more than ``max_lines`` lines of code."""
    too_much = [
        (cells[0], lines)
        for cells in slides(notebook)
        if (lines := sum(visible_code_lines(notebook.cells[i]) for i in cells)) > max_lines
    ]
    assert not too_much, (
        f"slides with over {max_lines} visible code lines (first cell, lines): {too_much}"
    )
