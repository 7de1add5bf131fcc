"""What safe grading costs: one class graded without and with the sandbox and the re-run tests.

Builds a scratch course with Assignment 1 and a class of submissions (half full solutions, a
quarter untouched releases, the rest cheats: patched checkers, stolen stack frames, a print
flood), then grades the same class twice, each time in a fresh gradebook:

* ``unprotected``: the kernel runs as the grader, no re-run of the tests (how it was before);
* ``protected``: the kernel in the bubblewrap sandbox, every passed test re-run outside it with
  a secret seed, the integrity report (the default of ``course autograde``).

It prints the wall time of each run, the time per submission, the sandbox's overhead per
submission, and what each run gave the cheats. Run from the repository root:

    .venv/bin/python benchmarks/benchmark_grading.py              # 40 submissions, about 10 min on 2 cores
    .venv/bin/python benchmarks/benchmark_grading.py --students 8 # a quick look
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from course_utils import pipeline
from course_utils.sandbox import Limits

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "assignment1"
NOTEBOOK = "conv1d.ipynb"
CHEATS = {
    "patch-checkers": "for _n in dir(cu.checks):\n"
    "    if _n.startswith('check_'):\n"
    "        setattr(cu.checks, _n, lambda *a, **k: None)\n",
    "print-flood": "print('x' * 20_000_000)\n",
}


def _after_setup(notebook, source: str):
    changed = copy.deepcopy(notebook)
    first = next(i for i, c in enumerate(changed.cells) if c.cell_type == "code")
    changed.cells.insert(first + 1, nbformat.v4.new_code_cell(source))
    return changed


def make_course(folder: Path, students: int) -> list[str]:
    """Write a scratch course with ``students`` submissions into ``folder``; return their kinds."""
    shutil.copy(REPO / "nbgrader_config.py", folder)
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, folder / "solutions" / ASSIGNMENT)
    pipeline.release(folder, [ASSIGNMENT], progress=lambda _: None)
    solution = nbformat.read(folder / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    release = nbformat.read(folder / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4)
    kinds = []
    for index in range(students):
        if index % 4 in (0, 1):
            kind, notebook = "honest", solution
        elif index % 4 == 2:
            kind, notebook = "blank", release
        else:
            kind = list(CHEATS)[index // 4 % len(CHEATS)]
            base = release if kind == "patch-checkers" else solution
            notebook = _after_setup(base, CHEATS[kind])
        student = f"s{index:03d}-{kind}"
        (folder / "subs" / student).mkdir(parents=True)
        nbformat.write(notebook, folder / "subs" / student / NOTEBOOK)
        kinds.append(kind)
    return kinds


def grade(folder: Path, setup: pipeline.GradingSetup, jobs: int) -> tuple[float, list]:
    students, failures = pipeline.collect_submissions(
        folder, ASSIGNMENT, folder / "subs", progress=lambda _: None
    )
    assert not failures, failures
    start = time.perf_counter()
    results = pipeline.autograde(
        folder, ASSIGNMENT, students, jobs=jobs, progress=lambda _: None, setup=setup
    )
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    runs = {
        "unprotected": pipeline.GradingSetup(sandbox=False, verify=False, seed=1),
        "protected": pipeline.GradingSetup(sandbox=True, verify=True, seed=1, limits=Limits()),
    }
    seconds = {}
    print(f"{args.students} submissions of {ASSIGNMENT}, --jobs {args.jobs}")
    for name, setup in runs.items():
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
            kinds = make_course(Path(scratch), args.students)
            seconds[name], results = grade(Path(scratch), setup, args.jobs)
        cheats = [r for r, k in zip(results, kinds, strict=True) if k == "patch-checkers"]
        honest = [r for r, k in zip(results, kinds, strict=True) if k == "honest"]
        print(
            f"{name:12s} {seconds[name]:7.1f} s in all, {seconds[name] / args.students:5.2f} s per "
            f"submission; honest {sorted({r.score for r in honest})}, patched checkers "
            f"{sorted({r.score for r in cheats})}, flagged {sum(bool(r.flags) for r in results)}, "
            f"failed {sum(not r.ok for r in results)}"
        )
    overhead = (seconds["protected"] - seconds["unprotected"]) / args.students
    ratio = seconds["protected"] / seconds["unprotected"]
    print(f"sandbox + re-run overhead: {overhead:+.2f} s per submission ({ratio:.2f}x the time)")


if __name__ == "__main__":
    main()
