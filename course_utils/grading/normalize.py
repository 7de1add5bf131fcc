"""Tidy a submitted notebook before nbgrader sees it, so an honest student is graded as they meant.

JupyterLab makes it easy to copy a cell (the copy keeps the original's nbgrader ``grade_id``), to
rename or retype one, or to let an extension rewrite cell metadata; nbgrader then fails or
drops points. :func:`normalize_submission` fixes what it can, using the instructor's source
notebook as the authority, and reports each change:

* duplicate cell ids get fresh ones;
* a cell whose ``grade_id`` the assignment does not have becomes a plain cell;
* copies of one graded cell: the last copy keeps the grading role (it is the one that runs
  last, so its definitions are the ones the tests see); earlier copies become plain cells, and
  copies of a written answer are merged into the last one;
* the nbgrader metadata and the cell type of every known cell are restored from the source.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

NBGRADER_KEYS = ("grade", "grade_id", "locked", "points", "schema_version", "solution", "task")


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata", {})
    found = meta.get("nbgrader") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def _text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _make_plain(cell: dict[str, Any]) -> None:
    cell.setdefault("metadata", {}).pop("nbgrader", None)


def _set_type(cell: dict[str, Any], cell_type: str) -> None:
    cell["cell_type"] = cell_type
    if cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def normalize_submission(
    notebook: dict[str, Any], source: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Return a tidied copy of ``notebook`` (a submitted .ipynb as a dict) and what was changed."""
    notebook = copy.deepcopy(notebook)
    cells = [c for c in notebook.get("cells", []) if isinstance(c, dict)]
    notebook["cells"] = cells
    known = {
        _nbgrader(c)["grade_id"]: c for c in source.get("cells", []) if _nbgrader(c).get("grade_id")
    }
    changes: list[str] = []

    ids: set[str] = set()
    for cell in cells:
        if "id" in cell and (not isinstance(cell["id"], str) or cell["id"] in ids):
            cell["id"] = uuid.uuid4().hex[:12]
            changes.append("gave a copied cell a fresh id")
        if "id" in cell:
            ids.add(cell["id"])

    copies: dict[str, list[dict[str, Any]]] = {}
    for cell in cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if not _nbgrader(cell):
            continue
        if grade_id not in known:
            _make_plain(cell)
            changes.append(f"cell with unknown grade_id {grade_id!r} kept as a plain cell")
            continue
        copies.setdefault(grade_id, []).append(cell)

    for grade_id, group in copies.items():
        original = known[grade_id]
        keeper = group[-1]
        if len(group) > 1:
            changes.append(f"{len(group)} copies of cell {grade_id!r}: the last one is graded")
            if original.get("cell_type") == "markdown":  # a written answer: keep every copy's text
                keeper["source"] = "\n\n".join(_text(c) for c in group if _text(c).strip())
                for extra in group[:-1]:
                    cells.remove(extra)
            elif _nbgrader(original).get("locked") or not _nbgrader(original).get("solution"):
                for extra in group[:-1]:  # a copy of a test or instructor cell: the original runs
                    cells.remove(extra)
            else:
                for extra in group[:-1]:
                    _make_plain(extra)
        wanted = {k: v for k, v in _nbgrader(original).items() if k in NBGRADER_KEYS}
        have = _nbgrader(keeper)
        if any(have.get(k) != v for k, v in wanted.items()):
            keeper.setdefault("metadata", {})["nbgrader"] = {**have, **wanted}
            changes.append(f"restored the nbgrader metadata of cell {grade_id!r}")
        if keeper.get("cell_type") != original.get("cell_type"):
            _set_type(keeper, original["cell_type"])
            changes.append(f"cell {grade_id!r} is a {original['cell_type']} cell again")
    return notebook, list(dict.fromkeys(changes))
