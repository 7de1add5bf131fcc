"""Grading speed, side by side in one run: nbgrader's own serial autograde against ours.

Builds a scratch course with Assignment 1 and a class of submissions (half full solutions, a
quarter untouched releases, the rest cheats: patched checkers, a print flood), then grades the
same class once per run below, each time in a fresh course and gradebook:

* ``nbgrader``: ``nbgrader autograde assignment1`` on the whole class, one process, nbgrader's
  own executor (no sandbox, no re-run): what nbgrader alone does;
* ``ours``: ``course autograde --jobs J`` (the default): long-lived grading processes
  (course_utils.grading.pool), the kernel in the bubblewrap sandbox, every passed test re-run outside
  it with a secret seed, the integrity report;
  every student's kernel and worker are forked from the grading process's fork server, which
  did the imports once (course_utils.grading.sandbox.zygote), each fork walled in on its own before the
  student's code runs (course_utils.grading.sandbox.isolation; a root grader; otherwise as ``ours-per-student``);
* ``ours-1``: the same with one grading process (``--jobs 1``), for the scaling from 1 to 2;
* ``ours-no-canary``: ``ours`` without the canary (the solution and the blank release graded
  first): the canary's cost per run is ``ours`` minus this;
* ``ours-unsandboxed``: ``ours`` with kernel and worker outside bubblewrap (the re-run kept): the
  sandbox's cost per submission is ``ours`` minus this, divided by the class size;
* ``ours-per-student``: ``ours`` with a sandbox and a fork server of each student's own
  (``COURSE_FORK_SERVER=per-student``), started while the previous student is graded;
* ``ours-cold``: ``ours`` without the fork server (``COURSE_FORK_SERVER=0``): kernel and
  worker each start a new sandboxed Python and import everything (before the fork server);
* ``before``: the same protection with a new nbgrader process and a new verify process per
  student (how ``course autograde`` graded before the grading processes);
* ``unprotected``: one nbgrader process per student, no sandbox, no re-run.

It prints each run's wall time, time per submission, what it gave the honest students and the
cheats, and the ratio of each run to ``nbgrader``; ``--single`` also times one submission alone
(``before`` against ``ours``, start-up included). Run from the repository root:

    .venv/bin/python benchmarks/benchmark_grading.py                      # 40 submissions
    .venv/bin/python benchmarks/benchmark_grading.py --students 8 --runs nbgrader ours
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from course_utils.grading import autograde, gradebook, intake, records, submission
from course_utils.grading.sandbox.bubblewrap import Limits

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
    gradebook.release(folder, [ASSIGNMENT], progress=lambda _: None)
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


def stock_nbgrader_config(folder: Path) -> None:
    """Make the scratch course's nbgrader_config.py use nbgrader's own executor (no sandbox)."""
    config = (folder / "nbgrader_config.py").read_text(encoding="utf-8")
    config = re.sub(r"c\.Autograde\.autograde_preprocessors = \[.*?\]\n", "", config, flags=re.S)
    (folder / "nbgrader_config.py").write_text(config, encoding="utf-8")


def grade(folder: Path, run: str, jobs: int, seed: int) -> tuple[float, list]:
    """Grade the class of the scratch course ``folder`` the way ``run`` says; (seconds, results)."""
    students, failures = intake.collect_submissions(
        folder, ASSIGNMENT, folder / "subs", progress=lambda _: None
    )
    assert not failures, failures
    if run == "nbgrader":
        stock_nbgrader_config(folder)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
            cwd=folder,
            env=gradebook._nbgrader_env({"COURSE_SANDBOX": "0"}),
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        results = []
        for student in students:
            try:
                score, maximum, _ = gradebook.read_scores(folder, ASSIGNMENT, student)
                results.append(records.GradeResult(student, ASSIGNMENT, "graded", score, maximum))
            except records.CourseError:
                results.append(records.GradeResult(student, ASSIGNMENT, "failed"))
        if done.returncode != 0:
            print(f"  (nbgrader exited {done.returncode})")
        return seconds, results
    protected = run != "unprotected"
    sandboxed = protected and run != "ours-unsandboxed"
    setup = records.GradingSetup(sandbox=sandboxed, verify=protected, seed=seed, limits=Limits())
    mode = {"ours-cold": "0", "before": "0", "ours-per-student": "per-student"}.get(run, "1")
    os.environ["COURSE_FORK_SERVER"] = mode
    start = time.perf_counter()
    try:
        results = autograde.autograde(
            folder,
            ASSIGNMENT,
            students,
            jobs=1 if run == "ours-1" else jobs,
            progress=lambda _: None,
            setup=setup,
            persistent=run.startswith("ours"),
            canary=run != "ours-no-canary",
        )
    finally:
        os.environ.pop("COURSE_FORK_SERVER")
    return time.perf_counter() - start, results


def single(run: str, seed: int) -> float:
    """Seconds to grade one honest submission alone, start-up included."""
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        make_course(Path(scratch), 1)
        return grade(Path(scratch), run, 1, seed)[0]


def _children_cpu() -> float:
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _all_cpu() -> float:
    """CPU seconds of this process and of its finished children (their own children included)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime + _children_cpu()


def _timed(step: str, table: dict, function, *args, **kwargs):
    """Run ``function``, adding its wall and child-process CPU seconds to ``table[step]``."""
    wall, cpu = time.perf_counter(), _children_cpu()
    value = function(*args, **kwargs)
    spent = table.setdefault(step, [0.0, 0.0])
    spent[0] += time.perf_counter() - wall
    spent[1] += _children_cpu() - cpu
    print(f"  ... {step}: {time.perf_counter() - wall:.2f} s", flush=True)
    return value


def breakdown(seed: int, students: int = 2) -> None:
    """Where one submission's seconds go, before and after (wall and CPU seconds per submission)."""
    from course_utils.grading.pool import GraderProcess
    from course_utils.grading.sandbox.bubblewrap import sandbox_command

    setup = records.GradingSetup(sandbox=True, verify=True, seed=seed, limits=Limits())
    python = [sys.executable, "-c"]
    env = gradebook._nbgrader_env()
    before: dict[str, list[float]] = {}
    for _ in range(students):  # what a new process pays before it grades anything
        _timed(
            "new nbgrader process: start + imports",
            before,
            subprocess.run,
            [*python, "import nbgrader.apps"],
            env=env,
        )
        _timed(
            "new verify process: start + imports",
            before,
            subprocess.run,
            [*python, "import nbgrader.api, course_utils.grading.verify, course_utils.checks"],
            env=env,
        )
        _timed(
            "a sandboxed python importing the course (kernel or worker start)",
            before,
            subprocess.run,
            sandbox_command([sys.executable, "-c", "import numpy, torch, course_utils"]),
        )
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        folder = Path(scratch)
        make_course(folder, students)
        names, _ = intake.collect_submissions(
            folder, ASSIGNMENT, folder / "subs", progress=lambda _: None
        )
        for student in names:
            args = ["autograde", ASSIGNMENT, "--student", student, "--force"]
            _timed(
                "nbgrader autograde process (all of it)",
                before,
                gradebook.run_nbgrader,
                folder,
                args,
                env=setup.env(),
            )
            result = records.GradeResult(student, ASSIGNMENT, "graded", log=str(folder / "v.log"))
            _timed(
                "verify process (all of it)",
                before,
                submission._verify,
                folder,
                ASSIGNMENT,
                student,
                setup,
                None,
                result,
            )
    after: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        folder = Path(scratch)
        make_course(folder, students)
        names, _ = intake.collect_submissions(
            folder, ASSIGNMENT, folder / "subs", progress=lambda _: None
        )
        with GraderProcess(folder) as grader:
            _timed("grading process start + imports (once per worker)", after, grader.wait_ready)
            for student in names:
                _, timings = grader.grade(ASSIGNMENT, student, setup, None, 900)
                print(f"  ... in-process {timings}", flush=True)
                for step in ("nbgrader", "verify and scores"):
                    spent = after.setdefault(f"in-process {step}", [0.0, 0.0])
                    spent[0] += timings[step]
                    spent[1] += timings[f"{step} cpu"]
                    machine = after.setdefault(
                        f"in-process {step}: the whole machine's CPU", [0.0, 0.0]
                    )
                    machine[0] += timings[step]
                    machine[1] += timings[f"{step} machine cpu"]
    print(
        f"per-submission breakdown ({students} submissions; wall s / CPU s, load "
        f"{os.getloadavg()[0]:.1f}):"
    )
    for title, table in (("before", before), ("after", after)):
        print(f"  {title}:")
        for step, (wall, cpu) in table.items():
            print(f"    {step:66s} {wall / students:6.2f} / {cpu / students:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--runs",
        nargs="+",
        default=["nbgrader", "ours"],
        choices=[
            "nbgrader",
            "ours",
            "ours-1",
            "ours-per-student",
            "ours-cold",
            "ours-no-canary",
            "ours-unsandboxed",
            "before",
            "unprotected",
        ],
    )
    parser.add_argument("--single", action="store_true", help="also time one submission alone")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--breakdown", action="store_true", help="only where one submission's seconds go"
    )
    args = parser.parse_args()
    if args.breakdown:
        breakdown(args.seed, min(args.students, 4))  # 4 unless --students is smaller
        return
    load = os.getloadavg()[0]
    print(
        f"{args.students} submissions of {ASSIGNMENT}, --jobs {args.jobs}, {os.cpu_count()} "
        f"cores, load average {load:.1f} at the start"
    )
    seconds = {}
    for run in args.runs:
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
            kinds = make_course(Path(scratch), args.students)
            cpu = _all_cpu()
            seconds[run], results = grade(Path(scratch), run, args.jobs, args.seed)
            cpu = _all_cpu() - cpu
        cheats = [r for r, k in zip(results, kinds, strict=True) if k == "patch-checkers"]
        honest = [r for r, k in zip(results, kinds, strict=True) if k == "honest"]
        print(
            f"{run:16s} {seconds[run]:7.1f} s in all, {seconds[run] / args.students:5.2f} s per "
            f"submission ({cpu / args.students:5.2f} CPU s); honest {sorted({r.score for r in honest})}, patched checkers "
            f"{sorted({r.score for r in cheats})}, flagged {sum(bool(r.flags) for r in results)}, "
            f"failed {sum(not r.ok for r in results)}",
            flush=True,
        )
    if "nbgrader" in seconds:
        for run in seconds:
            if run != "nbgrader":
                print(
                    f"{run:16s} {seconds['nbgrader'] / seconds[run]:.2f}x nbgrader's serial speed"
                )
    if "ours" in seconds and "ours-1" in seconds:
        print(f"1 -> {args.jobs} grading processes: {seconds['ours-1'] / seconds['ours']:.2f}x")
    if args.single:
        alone = {run: single(run, args.seed) for run in ("before", "ours")}
        print(f"one submission alone: before {alone['before']:.1f} s, ours {alone['ours']:.1f} s")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (timings are inflated by other load)")


if __name__ == "__main__":
    main()
