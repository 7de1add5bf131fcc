"""Re-run a submission's tests outside the student's process: the verdict that becomes the grade.

After nbgrader has run a student's notebook (in the sandbox), every test cell that passed there
is run again *here*, in the grader's process, from its trusted source in ``solutions/``: the
student's functions are :class:`RemoteFunction` proxies that forward each call to a fresh
sandboxed worker (:mod:`course_utils.grading.worker`) holding only the student's answer cells, and get
plain arrays back (:mod:`course_utils.grading.wire`). The checkers, the reference results and the
comparison all live in this process, so nothing the student's code patches, reads from stack
frames or prints can change the verdict; and the hidden cases use a seed drawn per grading run
(:func:`course_utils.checks.secret_seed`), so they cannot be memoized from the notebook.

A cell that passed in the notebook but fails here scores 0 in the gradebook and is flagged;
the answer cells are also read for code no honest answer needs (:mod:`course_utils.grading.integrity`).
Run as ``python -m course_utils.grading.verify ROOT ASSIGNMENT STUDENT --seed N`` by the pipeline.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from course_utils.checks.toolkit import InPlaceChange, LibraryShortcutError, StudentProxy, TorchCall
from course_utils.grading import wire
from course_utils.grading.records import report_path
from course_utils.grading.sandbox import accounting
from course_utils.grading.sandbox.bubblewrap import (
    Limits,
    end_process_group,
    give_to_sandbox,
    sandbox_command,
    sandbox_env,
)
from course_utils.grading.sandbox.kernel import GRADER_ENVIRONMENT

TRUSTED_NAMES = {"cu": "course_utils", "np": "numpy", "math": "math"}
_ERRORS = {
    cls.__name__: cls
    for cls in (
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        LookupError,
        AssertionError,
        NotImplementedError,
        ZeroDivisionError,
        ArithmeticError,
        OverflowError,
        FloatingPointError,
        RuntimeError,
        RecursionError,
        AttributeError,
        NameError,
        UnboundLocalError,
        MemoryError,
        TimeoutError,
        LibraryShortcutError,
        InPlaceChange,
    )
}


class StudentProcessError(RuntimeError):
    """The student's worker raised something that is not an ordinary exception (SystemExit, ...)."""


class GraderEnvironmentError(RuntimeError):
    """Code that is not the student's failed (the source's set-up cell): the grader is broken."""


def _rebuild(error: dict[str, Any]) -> Exception:
    """Return an exception of the first known class in the student's exception's MRO."""
    message = str(error.get("message", ""))[:4000]
    mro = error.get("mro", [])
    for name in mro if isinstance(mro, list) else []:
        if isinstance(name, str) and name in _ERRORS:
            return _ERRORS[name](message)
    return StudentProcessError(f"{error.get('type', 'an exception')}: {message}")


class WorkerClient:
    """One sandboxed worker holding a student's answer cells; restarted after a timeout or a crash."""

    def __init__(
        self,
        cells: list[str],
        *,
        sandbox: bool,
        limits: Limits,
        startup_seconds: float,
        setup: list[str] | None = None,
    ) -> None:
        self.cells = cells
        self.setup = list(setup or [])
        self.setup_error = ""  # the source's set-up cells failed in the worker: the grader's fault
        self.start_failed = ""  # why the student's cells could not start (not tried again)
        self.sandbox = sandbox
        self.limits = limits
        self.startup_seconds = startup_seconds
        self.process: subprocess.Popen | None = None
        self.folder: Path | None = None
        self.deadline: float | None = None
        self.problems: list[dict[str, Any]] = []
        self.dead_reason = ""
        self.starts = 0
        # Time is the CPU time of the worker's sandbox (accounting): the same on a busy machine.
        self.meter: accounting.Meter | None = None
        self.cpu_deadline: float | None = None
        self.cpu_spent = 0.0  # CPU seconds of the workers stopped so far

    def start(self) -> None:
        from course_utils.grading.sandbox.zygote import current

        # In the student's session (course_utils.grading.sandbox.zygote), forked with its imports done, when
        # the grader started one and it still runs; else in a sandbox of its own.
        session = current() if self.sandbox else None
        if session is not None:
            self.folder = session.new_folder("worker-")
        else:
            self.folder = Path(tempfile.mkdtemp(prefix="course-worker-"))
        program = self.folder / "program.json"
        program.write_text(json.dumps({"setup": self.setup, "cells": self.cells}), encoding="utf-8")
        give_to_sandbox(self.folder)
        command = [sys.executable, "-m", "course_utils.grading.worker", str(program)]
        env = None
        if session is not None:
            command = session.command(
                "worker",
                ["course_utils.grading.worker", str(program)],
                self.folder,
                sandbox_env({"MPLBACKEND": "Agg"}),
            )
        elif self.sandbox:
            command = sandbox_command(
                command,
                writable=[self.folder],
                cwd=self.folder,
                limits=self.limits,
                env={"MPLBACKEND": "Agg"},
            )
        else:
            env = {**os.environ, "MPLBACKEND": "Agg"}
        watchdog = getattr(session, "watchdog", None)
        self.meter = watchdog.meter if watchdog is not None else accounting.new_meter()
        if session is None:
            command = self.meter.wrap(command)
        log = (self.folder / "stderr.log").open("wb")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=self.folder,
            env=env,
            start_new_session=True,
        )
        log.close()
        if isinstance(self.meter, accounting.ProcessMeter):
            self.meter.add_root(self.process.pid)
        self._meter_start = self.meter.cpu_seconds()
        self.starts += 1
        self.begin_budget(self.startup_seconds)  # the start-up has its own budget
        try:
            ready = self._receive(self.deadline, "running the answer cells")
        except TimeoutError as exc:  # the same cells would fail the same way: no second start
            self.start_failed = str(exc)
            raise
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            self.stop()
            self.dead_reason = "the process running your code did not start as expected"
            raise TimeoutError(self.dead_reason)
        problems = ready.get("problems", [])
        self.problems = problems if isinstance(problems, list) else []
        failed = ready.get("setup_error")
        if failed:  # nothing of the student's ran before the set-up cells
            failed = failed if isinstance(failed, dict) else {}
            self.setup_error = (
                f"the set-up cell failed in the re-run ({failed.get('type', 'an error')}: "
                f"{str(failed.get('message', ''))[:300]})"
            )
            self.stop()
            raise GraderEnvironmentError(self.setup_error)

    def stop(self) -> None:
        if self.process is not None:
            self.cpu_spent = self.cpu_seconds()
            end_process_group(self.process)
            self.process = None
            if self.meter is not None and not isinstance(self.meter, accounting.CgroupMeter):
                self.meter = None  # a session's meter, or a /proc one of an ended process
            elif self.meter is not None:
                self.meter.close()
                self.meter = None
        if self.folder is not None:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def cpu_seconds(self) -> float:
        """CPU seconds the workers of this client used (the student's code, not the grader's)."""
        if self.meter is None or self.process is None:
            return self.cpu_spent
        return self.cpu_spent + self.meter.cpu_seconds() - self._meter_start

    def begin_budget(self, seconds: float) -> None:
        """From now, ``seconds`` of the worker's CPU time; wall-clock ``wall_factor`` times that."""
        self.cpu_deadline = self.cpu_seconds() + seconds
        self.deadline = time.monotonic() + seconds * self.limits.wall_factor

    def begin_cell(self, seconds: float) -> None:
        """Give the next test cell ``seconds`` of CPU time; start the worker again if it died in an earlier one."""
        self.dead_reason = ""
        if self.process is None and self.start_failed:
            raise TimeoutError(self.start_failed)
        if self.process is None:
            self.start()
        self.begin_budget(seconds)

    def _wait(self, fd: int, deadline: float) -> None:
        """Until ``fd`` has data: TimeoutError once the CPU budget or the wall-clock backstop is used."""
        import select

        while not select.select([fd], [], [], 0.2)[0]:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer in time")
            if self.cpu_deadline is not None and self.cpu_seconds() > self.cpu_deadline:
                raise TimeoutError("the CPU budget is used")

    def _receive(self, deadline: float, doing: str) -> Any:
        assert self.process is not None and self.process.stdout is not None
        try:
            self._wait(self.process.stdout.fileno(), deadline)
            return wire.receive(self.process.stdout.fileno(), deadline)
        except TimeoutError:
            self.stop()
            self.dead_reason = f"your code took too long ({doing}) and was stopped"
        except (EOFError, OSError):
            self.stop()
            self.dead_reason = f"the process running your code ended while {doing}"
        except wire.WireError as exc:
            self.stop()
            self.dead_reason = f"your code's answer could not be read ({exc})"
        raise TimeoutError(self.dead_reason)

    def request(self, message: dict[str, Any]) -> Any:
        if self.process is None:
            raise TimeoutError(self.dead_reason or "the process running your code is not running")
        assert self.process.stdin is not None
        try:
            wire.send(self.process.stdin.fileno(), message)
        except OSError:
            self.stop()
            self.dead_reason = "the process running your code ended"
            raise TimeoutError(self.dead_reason) from None
        deadline = self.deadline or time.monotonic() + 60
        answer = self._receive(deadline, f"in {message.get('path', 'a call')}")
        if not isinstance(answer, dict) or "ok" not in answer:
            raise wire.WireError("malformed answer")
        if not answer["ok"]:
            error = answer.get("error")
            raise _rebuild(error if isinstance(error, dict) else {})
        return wire.decode(answer.get("value"))


class RemoteFunction(StudentProxy):
    """A student's function (or class, or ``Class.method``) living in a :class:`WorkerClient`."""

    def __init__(self, client: WorkerClient, path: str) -> None:
        self._client = client
        self._path = path
        self.__name__ = path.rsplit(".", 1)[-1]
        self.__qualname__ = path

    def __getattr__(self, name: str) -> RemoteFunction:
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteFunction(self._client, f"{self._path}.{name}")

    def __repr__(self) -> str:
        return f"<student's {self._path}>"

    def call(self, exercise: str, args: tuple, kwargs: dict) -> Any:
        return self._client.request(
            {
                "op": "call",
                "path": self._path,
                "exercise": exercise,
                "args": wire.encode(list(args)),
                "kwargs": wire.encode(dict(kwargs)),
            }
        )

    def cpu_seconds(self) -> float:
        """CPU seconds the student's worker used so far (measured by the grader, not reported)."""
        return self._client.cpu_seconds()

    def call_torch(
        self, exercise: str, arrays: tuple, options: dict, dout: Any, device: str
    ) -> TorchCall:
        done = self._client.request(
            {
                "op": "torch",
                "path": self._path,
                "exercise": exercise,
                "arrays": wire.encode(list(arrays)),
                "options": wire.encode(dict(options)),
                "dout": wire.encode(dout),
                "device": device,
            }
        )
        return TorchCall(done["output"], done["device"], done["dtype"], tuple(done["grads"]))

    def sibling(self, name: str) -> RemoteFunction:
        return RemoteFunction(self._client, name)

    def use_course_helpers(self, names: list[str]) -> list[str]:
        """Swap the course's shared helpers ``names`` in for the student's in the worker (``[]``:
        put theirs back); the worker refuses any name not on its list. Returns the helpers the
        student defined (as the worker says: it only decides which checks run again)."""
        return self._client.request({"op": "helpers", "names": wire.encode(list(names))})


# --------------------------------------------------------------------------------------------
# Which cells are what
# --------------------------------------------------------------------------------------------


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def test_cells(source_notebook: dict[str, Any]) -> dict[str, str]:
    """Return grade_id -> trusted source of every autograded test cell of a source notebook."""
    return {
        _nbgrader(c)["grade_id"]: _source(c)
        for c in source_notebook["cells"]
        if c.get("cell_type") == "code"
        and _nbgrader(c).get("grade")
        and not _nbgrader(c).get("solution")
    }


# Errors the executor (course_utils.grading.sandbox.kernel.GuardedExecute) writes into cells it lost.
LOST_CELL_ERRORS = ("KernelDiedError", "CellTimeoutError")


def setup_cells(source_notebook: dict[str, Any]) -> list[str]:
    """Return the source notebook's set-up: its locked code cells before the first answer or test
    (else its first code cell, when that is neither: a set-up cell someone forgot to lock).

    The worker runs these first, from the source, wherever (or whether) the submission has them.
    """
    found, first = [], None
    for cell in source_notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = _nbgrader(cell)
        if meta.get("solution") or meta.get("grade"):
            break
        first = _source(cell) if first is None else first
        if meta.get("locked"):
            found.append(_source(cell))
    return found or ([first] if first is not None else [])


def student_cells(
    graded_notebook: dict[str, Any], source_notebook: dict[str, Any], lost: bool = False
) -> list[tuple[str, str]]:
    """Return (name, source) of every cell of the submission that is the student's, in its order.

    The source notebook says which cells are the course's: its test cells and its other locked
    cells (the set-up, demos, timings) are left out, wherever they stand in the submission; its
    answer cells (by ``grade_id``) and every cell the student added are kept, a cell above the
    set-up cell too. The cells the notebook run lost to a dead or unresponsive kernel (or stopped
    for time) are kept only with ``lost=True`` (the integrity report reads them; the worker does
    not run them again: they are graded as lost).
    """
    course = {
        _nbgrader(c).get("grade_id")
        for c in source_notebook.get("cells", [])
        if _nbgrader(c).get("grade_id")
        and (_nbgrader(c).get("locked") or _nbgrader(c).get("grade"))
        and not _nbgrader(c).get("solution")
    }
    cells = []
    code_cells = [c for c in graded_notebook.get("cells", []) if c.get("cell_type") == "code"]
    for number, cell in enumerate(code_cells, start=1):
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in course:
            continue
        outputs = cell.get("outputs", [])
        if not lost and any(
            isinstance(o, dict) and o.get("ename") in LOST_CELL_ERRORS for o in outputs
        ):
            continue
        if grade_id and _nbgrader(cell).get("solution"):
            name = f"answer cell {grade_id}"
        else:
            name = f"code cell {number} (added)"
        cells.append((name, _source(cell)))
    return cells


def trusted_imports(setup_source: str) -> dict[str, str]:
    """Return name -> module for the imports of the source notebook's set-up cell (and cu, np, math)."""
    found = dict(TRUSTED_NAMES)
    with contextlib.suppress(SyntaxError):
        for node in ast.walk(ast.parse(setup_source)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        found[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        found[top] = top
    return found


def student_names(test_source: str, trusted: dict[str, str] | None = None) -> list[str]:
    """Return the names a test cell reads that are neither trusted modules nor builtins: the student's."""
    trusted = trusted or TRUSTED_NAMES
    tree = ast.parse(test_source)
    names = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id not in trusted
            and not hasattr(builtins, node.id)
        ):
            names.append(node.id)
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------------------------
# Verifying one submission
# --------------------------------------------------------------------------------------------


@dataclass
class CellVerdict:
    """One test cell: its points, whether it passed in the notebook, and here (None: not re-run)."""

    notebook: str
    grade_id: str
    points: float
    in_notebook: float
    verified: bool | None = None
    message: str = ""
    seconds: float = 0.0
    # the mistakes the checkers named here (course_utils.checks.diagnoses), and which of the test
    # cell's cases failed ("visible", "hidden"); a cell that failed in the notebook is re-run
    # here only to name its mistake (explained: how that re-run ended: "failed", "passed",
    # "stopped"), and its grade stays nbgrader's
    diagnoses: list[str] = field(default_factory=list)
    failed_cases: str = ""
    explained: str = ""


@dataclass
class VerifyReport:
    """What verifying one submission found; written to logs/verify-<assignment>-<student>.json."""

    student: str
    assignment: str
    seed: int
    sandbox: bool
    cells: list[CellVerdict] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    worker_problems: list[dict[str, Any]] = field(default_factory=list)
    worker_starts: int = 0
    seconds: float = 0.0
    grader_error: str = ""  # the grader's own cells failed: no grade is given (status "failed")

    @property
    def points_removed(self) -> float:
        return sum(c.in_notebook for c in self.cells if c.verified is False)


def _run_test_cell(
    source: str, client: WorkerClient, seed: int, trusted: dict[str, str]
) -> tuple[bool, str, list[str], str]:
    """(passed, message, the mistakes the checkers named, the cases that failed) of one test cell."""
    import importlib

    from course_utils.checks import secret_seed
    from course_utils.checks.diagnoses import cases_of, diagnoses_of

    namespace: dict[str, Any] = {
        name: importlib.import_module(module) for name, module in trusted.items()
    }
    for name in student_names(source, trusted):
        namespace[name] = RemoteFunction(client, name)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), secret_seed(seed):
            exec(compile(source, "<test cell>", "exec"), namespace)  # noqa: S102 (our own source)
    except Exception as exc:  # the test failed: its message is the verdict
        message = f"{type(exc).__name__}: {exc}"[:3000]
        return False, message, list(diagnoses_of(exc)), cases_of(exc) or ""
    return True, printed.getvalue()[-500:], [], ""


def explainable(
    graded_notebook: dict[str, Any], tests: dict[str, str], todo: list[str]
) -> list[str]:
    """The test cells that failed in the notebook and are re-run only to name the mistake.

    Not those the notebook run lost to a dead or unresponsive kernel (they would only be lost
    again). Best effort: a notebook it cannot read has none, and verification goes on.
    """
    try:
        lost = {
            _nbgrader(c).get("grade_id")
            for c in graded_notebook.get("cells", [])
            if any(o.get("ename") in LOST_CELL_ERRORS for o in c.get("outputs", []))
        }
    except (AttributeError, TypeError):
        return []
    return [gid for gid in tests if gid not in todo and gid not in lost]


def _explain(
    verdict: CellVerdict,
    source: str,
    client: WorkerClient,
    seed: int,
    trusted: dict[str, str],
    seconds: float,
) -> None:
    """Re-run a test cell that failed in the notebook to name the mistake; the grade does not change."""
    start = time.monotonic()
    verdict.explained = "stopped"
    try:
        client.begin_cell(seconds)
        passed, verdict.message, verdict.diagnoses, verdict.failed_cases = _run_test_cell(
            source, client, seed, trusted
        )
        verdict.explained = "passed" if passed else "failed"
    except TimeoutError as exc:
        verdict.message = str(exc)
    except wire.WireError as exc:
        client.stop()
        verdict.message = f"your code's answer could not be read ({exc})"
    verdict.seconds = round(time.monotonic() - start, 2)


def verify_notebooks(
    pairs: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, float], dict[str, float]]],
    *,
    student: str,
    assignment: str,
    seed: int,
    sandbox: bool,
    limits: Limits,
    cell_seconds: float,
) -> VerifyReport:
    """Verify each (name, source notebook, graded notebook, points, scores in the notebook) of a submission.

    Fails closed: a test cell that passed in the notebook and could not be re-run, for whatever
    reason (a cell the integrity check cannot read, a crash of the re-run itself, a worker
    that sends what cannot be read), is ``verified=False`` with a plain message, so it scores 0
    until a person looks. A failure of the source's set-up cell in the worker, before anything of
    the student's ran, is the grader's: ``grader_error`` says so and no cell is judged.
    """
    started = time.monotonic()
    report = VerifyReport(student, assignment, seed, sandbox)
    for name, source_nb, graded_nb, points, scores in pairs:
        tests = test_cells(source_nb)
        todo = [gid for gid in tests if scores.get(gid, 0) > 0]
        verdicts = {
            gid: CellVerdict(name, gid, points.get(gid, 0), scores.get(gid, 0)) for gid in tests
        }
        report.cells += verdicts.values()
        try:
            _verify_notebook(
                name,
                source_nb,
                graded_nb,
                tests,
                todo,
                verdicts,
                report,
                seed=seed,
                sandbox=sandbox,
                limits=limits,
                cell_seconds=cell_seconds,
                started=started,
            )
        except GraderEnvironmentError as exc:
            report.grader_error = f"{GRADER_ENVIRONMENT}: {exc}"
            break
        except Exception as exc:  # noqa: BLE001 (whatever stops the re-run, nothing stays unverified)
            problem = f"the re-run failed ({type(exc).__name__}: {str(exc)[:200] or 'no message'})"
            for gid in todo:
                if verdicts[gid].verified is None:
                    verdicts[gid].verified, verdicts[gid].message = False, problem
    for cell in report.cells:
        if cell.verified is False and not report.grader_error:
            report.flags.append(
                f"{cell.grade_id} passed in the notebook but failed when re-run outside it "
                f"({cell.message.splitlines()[0][:200] if cell.message else 'no message'})"
            )
    report.seconds = round(time.monotonic() - started, 2)
    return report


def _verify_notebook(
    name: str,
    source_nb: dict[str, Any],
    graded_nb: dict[str, Any],
    tests: dict[str, str],
    todo: list[str],
    verdicts: dict[str, CellVerdict],
    report: VerifyReport,
    *,
    seed: int,
    sandbox: bool,
    limits: Limits,
    cell_seconds: float,
    started: float,
) -> None:
    """Read the student's cells of one notebook and re-run its passed tests (see verify_notebooks)."""
    from course_utils.grading.integrity import read_cells

    setup = setup_cells(source_nb)
    theirs = student_cells(graded_nb, source_nb)
    read = student_cells(graded_nb, source_nb, lost=True)  # every one is read, run or not
    flags, unreadable = read_cells(
        [source for _, source in read], label=name, names=[n for n, _ in read]
    )
    report.flags += flags + unreadable
    if unreadable:  # what cannot be read cannot be trusted: its notebook's tests score 0
        for gid in todo:
            verdicts[gid].verified = False
            verdicts[
                gid
            ].message = (
                f"not re-run: {unreadable[0]}; this notebook's tests score 0 until a person looks"
            )
        return
    failed = explainable(graded_nb, tests, todo)
    if not todo and not failed:
        return
    trusted = trusted_imports("\n".join(setup))
    client = WorkerClient(
        [source for _, source in theirs],
        sandbox=sandbox,
        limits=limits,
        startup_seconds=limits.notebook_seconds,
        setup=setup,
    )
    wall = limits.notebook_seconds * limits.wall_factor  # a backstop: the budget is CPU time

    def budget_used() -> bool:
        used = client.cpu_seconds() > limits.notebook_seconds
        return used or time.monotonic() - started > wall

    try:
        for gid in todo:
            cell_start = time.monotonic()
            verdict = verdicts[gid]
            if budget_used():
                verdict.verified = False
                verdict.message = (
                    f"not re-run: verification used its {limits.notebook_seconds} s of CPU time"
                )
            else:
                try:
                    client.begin_cell(cell_seconds)
                    found = _run_test_cell(tests[gid], client, seed, trusted)
                    verdict.verified, verdict.message = found[:2]
                    verdict.diagnoses, verdict.failed_cases = found[2:]
                except TimeoutError as exc:
                    verdict.verified, verdict.message = False, str(exc)
                except wire.WireError as exc:
                    client.stop()
                    verdict.verified = False
                    verdict.message = f"your code's answer could not be read ({exc})"
            verdict.seconds = round(time.monotonic() - cell_start, 2)
        for gid in failed:  # after every verdict: naming a mistake never takes a verdict's time
            if not budget_used():
                _explain(verdicts[gid], tests[gid], client, seed, trusted, min(cell_seconds, 60))
    finally:
        report.worker_problems += client.problems
        report.worker_starts += client.starts
        client.stop()


def verify_submission(
    root: Path,
    assignment: str,
    student: str,
    *,
    seed: int,
    sandbox: bool = True,
    limits: Limits | None = None,
    cell_seconds: float = 60,
    db_url: str | None = None,
) -> VerifyReport:
    """Verify a graded submission, set failed cells to 0 in the gradebook, annotate the graded notebook."""
    from nbgrader.api import Gradebook

    from course_utils.grading.records import AUTOGRADED_DIR, SOURCE_DIR, gradebook_url

    limits = limits or Limits.from_env()
    db_url = db_url or gradebook_url(root)
    pairs = []
    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        for notebook in submission.notebooks:
            source_path = root / SOURCE_DIR / assignment / f"{notebook.name}.ipynb"
            graded_path = root / AUTOGRADED_DIR / student / assignment / f"{notebook.name}.ipynb"
            points = {g.name: g.max_score for g in notebook.grades}
            scores = {
                g.name: g.auto_score or 0 for g in notebook.grades if not g.needs_manual_grade
            }
            pairs.append(
                (
                    notebook.name,
                    json.loads(source_path.read_text(encoding="utf-8")),
                    json.loads(graded_path.read_text(encoding="utf-8")),
                    points,
                    scores,
                )
            )
    report = verify_notebooks(
        pairs,
        student=student,
        assignment=assignment,
        seed=seed,
        sandbox=sandbox,
        limits=limits,
        cell_seconds=cell_seconds,
    )
    failed = [c for c in report.cells if c.verified is False]
    if failed and not report.grader_error:
        with Gradebook(db_url) as gradebook:
            for cell in failed:
                grade = gradebook.find_grade(cell.grade_id, cell.notebook, assignment, student)
                grade.auto_score = 0.0
            gradebook.db.commit()
        _annotate(root, assignment, student, failed)
    return report


def zero_unverified(
    root: Path, assignment: str, student: str, reason: str, db_url: str | None = None
) -> float:
    """Score 0 every autograded test of a submission that earned points in the notebook, since
    its re-run could not be done (``reason`` says why); note it in the graded notebook. Returns
    the points taken away."""
    from nbgrader.api import Gradebook

    from course_utils.grading.records import gradebook_url

    removed, failed = 0.0, []
    with Gradebook(db_url or gradebook_url(root)) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.needs_manual_grade or not grade.auto_score:
                    continue
                if grade.cell_type != "code" or grade.name in {
                    c.name for c in notebook.notebook.solution_cells
                }:
                    continue
                removed += grade.auto_score
                failed.append(
                    CellVerdict(notebook.name, grade.name, grade.max_score, grade.auto_score, False)
                )
                failed[-1].message = reason
                grade.auto_score = 0.0
        gradebook.db.commit()
    if failed:
        _annotate(root, assignment, student, failed, NOT_RERUN)
    return removed


RERUN_FAILED = (
    "this test failed when the grader re-ran it outside your notebook, with new random cases:"
)
NOT_RERUN = "the grader could not re-run this test outside your notebook, so it scores 0 until a person looks:"


def _annotate(
    root: Path, assignment: str, student: str, failed: list[CellVerdict], lead: str = RERUN_FAILED
) -> None:
    """Add the re-run's message to each failed test cell of the graded notebook (feedback shows it)."""
    from course_utils.grading.records import AUTOGRADED_DIR

    for notebook in {c.notebook for c in failed}:
        path = root / AUTOGRADED_DIR / student / assignment / f"{notebook}.ipynb"
        data = json.loads(path.read_text(encoding="utf-8"))
        messages = {c.grade_id: c.message for c in failed if c.notebook == notebook}
        for cell in data.get("cells", []):
            gid = _nbgrader(cell).get("grade_id")
            if gid in messages:
                unrun = messages[gid].startswith(("not re-run", "the re-run failed"))
                shown = NOT_RERUN if unrun else lead
                cell.setdefault("outputs", []).append(
                    {
                        "output_type": "error",
                        "ename": "VerificationError",
                        "evalue": f"{shown} {messages[gid][:2000]}",
                        "traceback": [f"VerificationError: {shown}", messages[gid][:2000]],
                    }
                )
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.grading.verify", description=__doc__
    )
    parser.add_argument("root", type=Path)
    parser.add_argument("assignment")
    parser.add_argument("student")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--cell-timeout", type=float, default=60)
    args = parser.parse_args(argv)
    report = verify_submission(
        args.root.resolve(),
        args.assignment,
        args.student,
        seed=args.seed,
        sandbox=not args.no_sandbox,
        cell_seconds=args.cell_timeout,
    )
    path = report_path(args.root.resolve(), args.assignment, args.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"flags": report.flags, "points_removed": report.points_removed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
