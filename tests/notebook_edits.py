"""Edits the grading tests make to a course notebook to build a student's submission.

Not a test file (no ``test_`` prefix): the test files import it, as they import
``notebook_scoring`` and ``released_courses``.
"""

from __future__ import annotations

import copy

import nbformat

# The cheat every grading test knows: each checker replaced by a no-op in the student's kernel.
PATCH_CHECKERS = (
    "for _name in dir(cu.checks):\n"
    "    if _name.startswith('check_'):\n"
    "        setattr(cu.checks, _name, lambda *a, **k: None)\n"
)


def with_cell(notebook, source: str, where: str = "after-setup"):
    """A copy of ``notebook`` with a plain code cell ``source`` added: above the set-up cell
    (``"top"``), right after it (``"after-setup"``) or at the end (``"end"``)."""
    changed = copy.deepcopy(notebook)
    first = next(i for i, c in enumerate(changed.cells) if c.cell_type == "code")
    at = {"top": first, "after-setup": first + 1, "end": len(changed.cells)}[where]
    changed.cells.insert(at, nbformat.v4.new_code_cell(source))
    return changed
