"""A long-lived grading process: nbgrader's autograde and the verification in one process.

``pipeline._grade_one`` starts a new ``nbgrader autograde`` process per student and then a new
``python -m course_utils.grading.verify`` process; each one imports nbgrader, SQLAlchemy, torch and the
course again (most of the per-submission time on a small machine). Here one process does the
imports once and then grades student after student:

* :func:`grade_in_process` runs nbgrader's ``Autograde`` app in this process (through
  ``NbGraderAPI``, reading ``nbgrader_config.py`` as the command does), then the verification
  (:func:`course_utils.grading.verify.verify_submission`) and the gradebook read-back, and returns the
  same :class:`~course_utils.grading.records.GradeResult` as the one-process-per-student path. Every
  student still gets a fresh sandboxed kernel and a fresh sandboxed worker: nothing of one
  student's run reaches the next.
* ``python -m course_utils.grading.pool serve`` is that process: it reads one request per line on its
  standard input and answers one JSON line; the student's kernel inherits neither channel (they
  move to private descriptors; fd 0 becomes /dev/null, fd 1 the log), and the process dies with
  its parent (``PR_SET_PDEATHSIG``), so a killed Dask worker cannot leave a grader behind.
* :class:`GraderProcess` is the parent's handle: start ahead of need, send a student, wait with a
  time limit, kill and restart when the limit passes or the process dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import IO, Any

from course_utils.grading.sandbox import zygote
from course_utils.grading.sandbox.bubblewrap import Limits, end_process_group, use_own_sandbox_uid
from course_utils.grading.submission import _nbgrader_api

READY = "course-grader-ready"


def _setup_from_dict(data: dict[str, Any]):
    from course_utils.grading.records import GradingSetup

    return GradingSetup(
        sandbox=bool(data["sandbox"]),
        limits=Limits(**data["limits"]),
        seed=int(data["seed"]),
        verify=bool(data["verify"]),
    )


def setup_to_dict(setup) -> dict[str, Any]:
    """Return a :class:`~course_utils.grading.records.GradingSetup` as plain JSON data."""
    return {
        "sandbox": setup.sandbox,
        "limits": asdict(setup.limits),
        "seed": setup.seed,
        "verify": setup.verify,
    }


def grade_in_process(
    root: Path,
    assignment: str,
    student: str,
    setup,
    cell_timeout: int | None = None,
    timings: dict[str, float] | None = None,
):
    """Autograde and verify one submission in this process; return its GradeResult.

    The same steps and the same result as ``pipeline._grade_one``, without its two processes.
    ``timings``, when given, receives the seconds of each step (nbgrader, then the rest).
    """
    from course_utils.grading import gradebook

    root = Path(root).resolve()
    os.environ.update(gradebook._nbgrader_env(setup.env()))
    cpu_start = _cpu_seconds()
    session = _take_session(setup)
    if PRESTART:  # the next student's imports overlap this student's grading
        prepare_next_session(setup)
    zygote.CURRENT = session
    try:
        return _grade_in_session(root, assignment, student, setup, cell_timeout, timings, cpu_start)
    finally:
        zygote.CURRENT = None
        if session is not None:
            session.close()


def _take_session(setup) -> zygote.SandboxSession | zygote.SharedSession | None:
    """The student's sandbox session: in this process's shared fork server when it works here,
    else a sandbox of the student's own (the one started ahead of need when it fits)."""
    global _spare
    if not setup.sandbox or zygote.fork_server_mode() == "off":
        return None
    server = shared_server()
    if server is not None:
        return server.session(setup.limits)
    spare, _spare = _spare, None
    if spare is not None and spare.limits == setup.limits and spare.alive():
        return spare
    if spare is not None:
        spare.close()
    return zygote.SandboxSession(setup.limits).start()


def prepare_next_session(setup) -> None:
    """Start the next student's session now (a spare), so that its imports overlap this one's grading."""
    global _spare
    mode = zygote.fork_server_mode()
    per_student = mode == "per-student" or (mode == "shared" and _shared_failed)
    if not setup.sandbox or not per_student or _spare is not None:
        return
    with contextlib.suppress(Exception):  # only a head start: grading never depends on it
        _spare = zygote.SandboxSession(setup.limits).start()


def shared_server(wait: bool = True) -> zygote.SharedForkServer | None:
    """This process's shared fork server (started on first use, again if it died); None if it
    cannot work here (not root, or its walls fail), and then never tried again."""
    global _shared, _shared_failed
    if _shared_failed or zygote.fork_server_mode() != "shared":
        return None
    if _shared is not None and _shared.process is not None and not _shared.alive():
        _shared.close()
        _shared = None
    if _shared is None:
        try:
            _shared = zygote.SharedForkServer().start()
        except Exception:  # noqa: BLE001 (sandbox unavailable: per-student sessions say why)
            _shared_failed = True
            return None
    if not wait:
        return _shared
    if not _shared.ready():
        _shared.close()
        _shared, _shared_failed = None, True
        return None
    return _shared


_spare: zygote.SandboxSession | None = None


_shared: zygote.SharedForkServer | None = None


_shared_failed = False


# Whether grade_in_process starts the next student's session ahead of need (the serving process).
PRESTART = False


def _grade_in_session(root, assignment, student, setup, cell_timeout, timings, cpu_start):
    from course_utils.grading import gradebook, records, submission

    log_path = root / records.LOG_DIR / f"autograde-{assignment}-{student}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start, machine_start = time.perf_counter(), _machine_cpu_seconds()
    result = records.GradeResult(student, assignment, "failed", log=str(log_path))
    graded_by_hand = gradebook._graded_answers(root, assignment, student)
    api = _nbgrader_api(root, cell_timeout)
    with _captured("traitlets") as executor_log:  # the executor logs there, not to the app's log
        done = api.autograde(assignment, student, force=True, create=True)
    output = (done.get("log") or "") + executor_log.getvalue() + (done.get("error") or "")
    nbgrader_done, cpu_nbgrader = time.perf_counter(), _cpu_seconds()
    machine_nbgrader = _machine_cpu_seconds()
    log_path.write_text(output, encoding="utf-8")
    graded = list((root / records.AUTOGRADED_DIR / student / assignment).glob("*.ipynb"))
    if not done.get("success") or not graded:
        result.reason = gradebook._failure_reason(output)
    else:
        submission.finish_graded(root, result, output, setup, cell_timeout, graded_by_hand)
    result.seconds = time.perf_counter() - start
    if timings is not None:
        timings["nbgrader"] = nbgrader_done - start
        timings["verify and scores"] = time.perf_counter() - nbgrader_done
        timings["nbgrader cpu"] = cpu_nbgrader - cpu_start
        timings["verify and scores cpu"] = _cpu_seconds() - cpu_nbgrader
        # every process of the machine (sandboxed kernels and workers too): read on a quiet one
        timings["nbgrader machine cpu"] = machine_nbgrader - machine_start
        timings["verify and scores machine cpu"] = _machine_cpu_seconds() - machine_nbgrader
    return result


@contextlib.contextmanager
def _captured(name: str):
    """Collect what logger ``name`` logs meanwhile, as nbgrader's command prints it on stderr."""
    import io
    import logging

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)


def _machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent (Linux ``/proc/stat``; NaN elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds() -> float:
    """CPU seconds used by this process and its finished children (kernels, sandboxed workers)."""
    import resource

    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no-op elsewhere)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _warm_up() -> None:
    """Import what every submission needs, once, before the first request."""
    import nbgrader.api  # noqa: F401
    import nbgrader.apps  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401

    from course_utils import checks  # noqa: F401
    from course_utils.grading.metadata_schema import check_schemas_once
    from course_utils.grading.sandbox.kernel import GuardedExecute  # noqa: F401

    check_schemas_once()


def serve(parent: int | None = None) -> int:
    """Grade one request per line from stdin, answer one JSON line each (``GraderProcess``'s peer)."""
    _die_with_parent()
    if parent is not None and os.getppid() != parent:
        return 1  # the parent died before we could ask to die with it
    channel_in = os.fdopen(os.dup(0), "r", encoding="utf-8")  # private (non-inheritable) copies
    channel_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # what kernels inherit: no requests to read,
    os.dup2(2, 1)  # and no channel to write a forged answer into
    sys.stdout = sys.stderr
    _warm_up()
    from course_utils.grading import submission

    submission.VERIFY_IN_PROCESS = True
    use_own_sandbox_uid()
    global PRESTART
    PRESTART = True
    shared_server(wait=False)  # its imports overlap the wait for the first request
    channel_out.write(json.dumps({"ready": READY, "pid": os.getpid()}) + "\n")
    channel_out.flush()
    for line in channel_in:
        request = json.loads(line)
        os.environ.update(request.get("env") or {})  # e.g. COURSE_DB_URL, sent by a cluster client
        timings: dict[str, float] = {}
        try:
            result = grade_in_process(
                Path(request["root"]),
                request["assignment"],
                request["student"],
                _setup_from_dict(request["setup"]),
                request.get("cell_timeout"),
                timings,
            )
            answer = {"ok": True, "result": asdict(result), "timings": timings}
        except Exception as exc:  # noqa: BLE001 (the parent turns it into a failed grade)
            answer = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}"}
        channel_out.write(json.dumps(answer) + "\n")
        channel_out.flush()
    return 0


class GraderUnavailable(RuntimeError):
    """The grading process could not start or did not answer."""


class GraderProcess:
    """A long-lived ``python -m course_utils.grading.pool serve`` process, restarted when it fails.

    ``start()`` launches it ahead of need (its imports then overlap other work); ``grade()``
    sends one submission and waits at most ``timeout`` seconds; past that, or if the process
    dies, it is killed (with the student's kernel and worker) and the next call starts a new one.
    """

    def __init__(self, root: Path, log_path: Path | None = None) -> None:
        self.root = Path(root).resolve()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._ready = False
        self.starts = 0

    def start(self) -> None:
        """Launch the process (returns at once; the first ``grade`` waits until it is ready)."""
        if self.process is not None:
            return
        from course_utils.grading.gradebook import _nbgrader_env

        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "course_utils.grading.pool", "serve", f"--parent={os.getpid()}"],
            cwd=self.root,
            env=_nbgrader_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log if self._log is not None else subprocess.DEVNULL,
            start_new_session=True,
        )
        self._ready = False
        self.starts += 1

    def _read_line(self, deadline: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([stream], [], [], min(left, 5.0))
            if ready:
                line = stream.readline()
                if not line:
                    raise GraderUnavailable("the grading process ended")
                try:
                    return json.loads(line)
                except ValueError:
                    continue  # not ours (cannot happen: the kernel has no access to this pipe)
            if self.process.poll() is not None:
                raise GraderUnavailable(
                    f"the grading process ended (exit status {self.process.returncode})"
                )

    def wait_ready(self, seconds: float = 600) -> None:
        """Start the process if needed and wait until its imports are done."""
        self.start()
        if not self._ready:
            try:
                hello = self._read_line(time.monotonic() + seconds)
            except TimeoutError:
                self.stop()
                raise GraderUnavailable(
                    f"the grading process did not start in {seconds:.0f} s"
                ) from None
            except GraderUnavailable:
                self.stop()
                raise
            if hello.get("ready") != READY:
                self.stop()
                raise GraderUnavailable(f"unexpected first answer {hello!r}")
            self._ready = True

    def grade(
        self,
        assignment: str,
        student: str,
        setup,
        cell_timeout: int | None,
        timeout: float,
        env: dict[str, str] | None = None,
    ) -> tuple[Any, dict[str, float]]:
        """Grade one submission; return (GradeResult, step timings). Never raises for the student.

        ``env`` is set in the grading process before grading (e.g. ``COURSE_DB_URL``).
        """
        from course_utils.grading.records import GradeResult

        started = time.perf_counter()
        if self.process is not None and self.process.poll() is not None:
            self.stop()  # it died between two students (its parent thread ended): start a new one
        try:
            self.wait_ready()
            assert self.process is not None and self.process.stdin is not None
            request = {
                "root": str(self.root),
                "assignment": assignment,
                "student": student,
                "setup": setup_to_dict(setup),
                "cell_timeout": cell_timeout,
                "env": env or {},
            }
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            answer = self._read_line(time.monotonic() + timeout)
        except TimeoutError:
            self.stop()
            result = GradeResult(
                student,
                assignment,
                "failed",
                reason=f"grading took longer than {timeout:.0f} s and was stopped",
            )
            result.seconds = time.perf_counter() - started
            return result, {}
        except (GraderUnavailable, OSError) as exc:
            self.stop()
            result = GradeResult(
                student, assignment, "failed", reason=f"the grading process failed: {exc}"
            )
            result.seconds = time.perf_counter() - started
            return result, {}
        if not answer.get("ok"):
            result = GradeResult(
                student, assignment, "failed", reason=f"grading failed: {answer.get('error')}"
            )
            result.seconds = time.perf_counter() - started
            return result, {}
        names = {f.name for f in fields(GradeResult)}
        return GradeResult(**{k: v for k, v in answer["result"].items() if k in names}), answer.get(
            "timings", {}
        )

    def stop(self) -> None:
        """Kill the process and everything it started (the sandboxes die with it)."""
        if self.process is not None:
            end_process_group(self.process)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._ready = False

    def __enter__(self) -> GraderProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class GraderPool:
    """``jobs`` long-lived grading processes, all started at once; each grades one student at a time.

    Used from ``jobs`` threads (``autograde.autograde``): ``grade`` takes a free process, grades,
    and gives it back. Close it (or use ``with``) to end the processes.
    """

    def __init__(self, root: Path, jobs: int, log_folder: Path | None = None) -> None:
        import queue

        if jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {jobs}")
        self.free: queue.Queue[GraderProcess] = queue.Queue()
        self.all = []
        for index in range(jobs):
            log = None if log_folder is None else Path(log_folder) / f"grader-{index}.log"
            process = GraderProcess(root, log)
            process.start()  # the imports of every process overlap from here on
            self.all.append(process)
            self.free.put(process)

    def grade(self, assignment: str, student: str, setup, cell_timeout: int | None, timeout: float):
        """Grade one submission in a free grading process; return its GradeResult."""
        process = self.free.get()
        try:
            return process.grade(assignment, student, setup, cell_timeout, timeout)[0]
        finally:
            self.free.put(process)

    def close(self) -> None:
        for process in self.all:
            process.stop()

    def __enter__(self) -> GraderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int, description: str):
    """Return a tqdm bar for a grading run: count, rate, elapsed and time left (on stderr)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit="submission",
        dynamic_ncols=True,
        mininterval=1.0,
        smoothing=0.1,
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_utils.grading.pool")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--parent", type=int, default=None)
    args = parser.parse_args(argv)
    return serve(args.parent)


if __name__ == "__main__":
    sys.exit(main())
