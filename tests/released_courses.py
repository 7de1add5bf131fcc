"""A scratch course with one assignment released, made once per test run and copied where needed.

Releasing an assignment (``nbgrader generate_assignment`` and its gradebook) costs seconds; the
repository, nbgrader-cycle, grader and tamper tests each need a course with one released
assignment. The first test that asks releases it into ``_build/test-cache/`` (keyed by the
assignment's sources, ``nbgrader_config.py`` and ``course_utils``; under a lock, so xdist workers
release it once); every test gets its own copy of that folder, gradebook included.

Not a test file itself (no ``test_`` prefix): the test files import it.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
from pathlib import Path

from course_utils.grading import gradebook

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "_build" / "test-cache"


def _key(assignment: str) -> str:
    digest = hashlib.sha256()
    sources = [REPO / "nbgrader_config.py", *sorted((REPO / "solutions" / assignment).rglob("*"))]
    sources += sorted((REPO / "course_utils").rglob("*.py"))
    for path in sources:
        if path.is_file():
            digest.update(path.relative_to(REPO).as_posix().encode())
            digest.update(path.read_bytes())
    return f"released-{assignment}-{digest.hexdigest()[:16]}"


def released_course(assignment: str, target: Path) -> Path:
    """Copy a course with ``assignment`` released (config, solutions, release, gradebook) to ``target``."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = _key(assignment)
    ready = CACHE / key
    with open(CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ready.is_dir():
            building = CACHE / f"{key}.building"
            shutil.rmtree(building, ignore_errors=True)
            building.mkdir()
            shutil.copy(REPO / "nbgrader_config.py", building)
            shutil.copytree(REPO / "solutions" / assignment, building / "solutions" / assignment)
            gradebook.release(building, [assignment], progress=lambda _: None)
            building.rename(ready)
    shutil.copytree(ready, target, dirs_exist_ok=True)
    return target
