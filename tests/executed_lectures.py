"""Each lecture executed once per test run, shared by every test that needs its outputs.

``tests/test_notebooks.py`` (does it run cleanly, in budget?), ``tests/test_browser.py`` (do its
page and deck work offline?) and ``tests/test_slide_style.py`` (figure text, numbers; hence
``record_figures``) all need a lecture's outputs; executing a lecture is the most
expensive thing the suite does, so it happens once. The executed copy is kept in
``_build/test-cache/`` under a key made of the lecture's bytes and every source file of
``course_utils`` (a change to either executes it again), with a lock so that two xdist workers
asking at once run it once. An execution that failed is remembered for the rest of the run (its
error is reported by every test that asks), so a broken lecture costs one run, not one per test.

Not a test file itself (no ``test_`` prefix): the test files import it, as they import
``notebook_scoring``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.publish import notebooks

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "_build" / "test-cache"
LECTURES = sorted(REPO.glob("lectures/*.ipynb"))
EXECUTION_TIMEOUT_S = 600  # a backstop per cell; tests/test_notebooks.py holds the real budget


@dataclass(frozen=True)
class Execution:
    """One lecture's run: the executed notebook's path, its seconds, or the error that stopped it."""

    path: Path
    seconds: float
    error: str = ""

    def notebook(self) -> nbformat.NotebookNode:
        return notebooks.read_notebook(self.path)


def _library_digest() -> str:
    digest = hashlib.sha256()
    for source in sorted((REPO / "course_utils").rglob("*.py")):
        digest.update(source.relative_to(REPO).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


_LIBRARY = _library_digest()


def cache_key(path: Path) -> str:
    """The lecture's name and a digest of its bytes and of the library it runs on."""
    digest = hashlib.sha256(path.read_bytes())
    digest.update(_LIBRARY.encode())
    digest.update(b"record_figures")  # how it is executed is part of the key
    return f"{path.stem}-{digest.hexdigest()[:16]}"


# One id per test run, the same in every xdist worker: a failure is retried by the next run.
RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())


def _usable(record: Path) -> bool:
    """A success from any run with the same key, or a failure from this run."""
    if not record.is_file():
        return False
    outcome = json.loads(record.read_text(encoding="utf-8"))
    return not outcome["error"] or outcome.get("run") == RUN


def execute_once(path: Path) -> Execution:
    """Return lecture ``path`` executed: from this run's cache, else run now (once, under a lock)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = cache_key(path)
    executed, record = CACHE / f"{key}.ipynb", CACHE / f"{key}.json"
    with open(CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _usable(record):
            try:
                _, seconds = notebooks.execute_notebook(
                    path, executed, EXECUTION_TIMEOUT_S, record_figures=True
                )
                outcome = {"seconds": seconds, "error": "", "run": RUN}
            except Exception as exc:  # remembered: every test of this lecture reports it
                message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                outcome = {"seconds": 0.0, "error": message[-3000:], "run": RUN}
            temporary = record.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(outcome), encoding="utf-8")
            temporary.replace(record)
        outcome = json.loads(record.read_text(encoding="utf-8"))
    return Execution(executed, outcome["seconds"], outcome["error"])
