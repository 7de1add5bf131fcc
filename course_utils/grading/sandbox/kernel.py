"""nbgrader's side of the sandbox: the kernel manager that starts a kernel in it, and the executor.

:class:`SandboxedKernelManager` starts the notebook's Jupyter kernel in the sandbox (nbgrader's
``Execute.kernel_manager_class``); it talks to the kernel over Unix sockets in a private folder,
since the sandbox has no network, and never hands it the grader's own streams (a log file).
:class:`GuardedExecute` is nbgrader's ``Execute`` with budgets counted in the grader: CPU
seconds of the sandbox's processes per cell (``Execute.timeout``) and per notebook
(``Limits.notebook_seconds``), wall-clock time only as a backstop (``Limits.wall_factor`` times
those), and output bytes of every kind (``Limits.output_kb``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from course_utils.grading.sandbox import accounting
from course_utils.grading.sandbox.bubblewrap import (
    INCIDENT_MARKER,
    Limits,
    give_to_sandbox,
    sandbox_command,
    sandbox_enabled,
    sandbox_env,
)

try:  # nbgrader is a dependency of the course, but the sandbox itself does not need it
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbclient.util import ensure_async, run_sync
    from nbformat.notebooknode import NotebookNode
    from nbgrader.preprocessors import Execute
except ImportError:  # pragma: no cover
    AsyncKernelManager = object  # type: ignore[assignment,misc]
    Execute = object  # type: ignore[assignment,misc]
    run_sync = lambda function: function  # noqa: E731


# A notebook whose kernel dies more often than this is not graded further.
MAX_KERNEL_RESTARTS = 3
CPU_POLL_SECONDS = 0.2  # how often a running cell's CPU time is read
# After a cell used its CPU budget and was interrupted: what it may still use before the kernel
# is given up as unresponsive (and replaced).
INTERRUPT_GRACE_CPU_SECONDS = 5
INTERRUPT_GRACE_WALL_SECONDS = 60


class SandboxedKernelManager(AsyncKernelManager):  # type: ignore[misc,valid-type]
    """A Jupyter kernel manager whose kernels run in :func:`sandbox_command`'s sandbox.

    The kernel's working directory is a scratch copy of the notebook's folder (the student's
    writes never reach the real one); the connection file and the kernel's Unix sockets live in
    a private folder shared with the sandbox.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        from course_utils.grading.sandbox.zygote import current

        # Inside the student's session (course_utils.grading.sandbox.zygote) when the grader started one:
        # the kernel is forked there with its imports done; else in a sandbox of its own.
        self._session = current()
        self._scratch: Path | None = None
        self._watchdog: accounting.Watchdog | None = None
        self.transport = "ipc"
        self.cache_ports = False
        self._use_folder(Path(tempfile.mkdtemp(prefix="course-kernel-")))

    def _use_folder(self, folder: Path) -> None:
        self._private = folder
        self.ip = str(folder / "kernel")
        self.connection_file = str(folder / "connection.json")

    async def _async_pre_start_kernel(self, **kw):
        # Every start in a session gets a fresh folder, made after the session's processes
        # ended: the connection file and the scratch copy are written where no student
        # process can have planted a link (see SandboxSession.new_folder).
        if self._session is not None and self._session.alive():
            if self._private.parent != self._session.private:  # the stand-in of __init__
                shutil.rmtree(self._private, ignore_errors=True)
            self._use_folder(self._session.new_folder("kernel-"))
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd([*(extra_arguments or []), *self._kernel_arguments()])
        # A signal to the process group would reach bubblewrap itself and kill the sandbox:
        # interrupt through the kernel's control channel instead (ipykernel signals itself).
        self.kernel_spec.interrupt_mode = "message"
        launch = getattr(self, "_launch_args", {}) or {}
        folder = Path(launch.get("cwd") or os.getcwd())
        env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
        session = self._session if self._session is not None and self._session.alive() else None
        if session is not None:
            self._scratch = session.scratch  # a fresh copy of the submission for every kernel
            for entry in list(self._scratch.iterdir()):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
        else:
            self._scratch = Path(tempfile.mkdtemp(prefix="course-scratch-"))
        shutil.copytree(folder, self._scratch, dirs_exist_ok=True, symlinks=False)
        give_to_sandbox(self._scratch)
        give_to_sandbox(self._private)
        launch["cwd"] = str(self._scratch)
        if session is not None and "ipykernel_launcher" in command:
            program = command[command.index("ipykernel_launcher") :]
            return session.command("kernel", program, self._scratch, sandbox_env(env))
        limits = Limits.from_env()
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog.meter.close()
        meter = accounting.new_meter(memory_bytes=limits.memory_mb << 20)
        self._watchdog = accounting.Watchdog(meter, limits, [self._private, self._scratch])
        return meter.wrap(
            sandbox_command(
                command,
                writable=[self._private, self._scratch],
                cwd=self._scratch,
                env=env,
            )
        )

    @property
    def course_watchdog(self) -> accounting.Watchdog | None:
        """The watchdog (and meter) of the sandbox this kernel runs in, once it is started."""
        if self._session is not None and self._session.alive():
            return getattr(self._session, "watchdog", None)
        return self._watchdog

    def _kernel_arguments(self) -> list[str]:
        limit = Limits.from_env().output_kb * 1024
        return [
            f"--IPKernelApp.exec_lines=import course_utils.grading.sandbox.outputcap as _s; _s.cap_output({limit}); del _s",
            # Plain tracebacks: the frames and their lines, without the source context that
            # IPython's default mode reads and parses for every frame. That context cost about
            # 1 CPU s per blank Assignment 1 notebook (14 failing tests, frames deep in the
            # checkers), and feedback keeps only the student's own frames and the message.
            "--InteractiveShell.xmode=Plain",
        ]

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if self._scratch is not None:
            kw["cwd"] = str(self._scratch)
        kw.pop("env", None)  # the sandbox sets its own environment (--clearenv)
        # The kernel's streams are its own: never the grader's (a log a student could forge).
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        await super()._async_launch_kernel(kernel_cmd, **kw)
        watchdog = self._watchdog
        if watchdog is not None and not watchdog.started():
            process = getattr(self.provisioner, "process", None)
            if isinstance(watchdog.meter, accounting.ProcessMeter) and process is not None:
                watchdog.meter.add_root(process.pid)
            watchdog.start()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog.meter.close()
            self._watchdog = None
        if restart:
            return
        session = self._session
        owned = set() if session is None else {session.private, session.scratch}
        for folder in (self._private, self._scratch):  # a session removes its own folders
            if folder is not None and folder not in owned and folder.parent not in owned:
                shutil.rmtree(folder, ignore_errors=True)


GRADER_FAILURE_MARKER = "COURSE-GRADER-FAILURE"  # the log line of a course cell that failed
GRADER_ENVIRONMENT = "grader environment"  # how the reason of a result the grader failed starts


class GraderEnvironmentError(RuntimeError):
    """A cell of the course's own (the set-up), run before anything of the student's, failed:
    the grader's environment is broken, and no grade may come out of this run."""


def _course_cell(cell: NotebookNode) -> bool:
    """A locked cell of the source (set-up, demo, test): nbgrader restored it by its grade_id."""
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade_id")) and bool(meta.get("locked")) and not meta.get("solution")


def _replayable(cell: NotebookNode) -> bool:
    """Whether a cell is re-run after a kernel restart: code that is not an autograded test."""
    meta = cell.metadata.get("nbgrader", {})
    is_test = meta.get("grade") and not meta.get("solution")
    return cell.cell_type == "code" and bool(cell.source.strip()) and not is_test


# Kernel messages that become outputs or stored state: every one counts against the output
# budget (an error's text, a display update, widget state as much as printed text).
COUNTED_MESSAGES = ("stream", "display_data", "execute_result", "update_display_data", "error")
TRIMMED_ERROR_CHARS = 2000


def _message_size(msg: dict) -> int:
    """Characters a kernel message adds to the notebook (content and binary buffers)."""
    size = len(json.dumps(msg.get("content", {}), default=str))
    return size + sum(len(buffer) for buffer in msg.get("buffers") or [])


def _trimmed_error(msg: dict) -> dict:
    """An error message cut to a short text: kept past the output budget, since it is what
    marks a failed test."""
    content = msg.get("content", {})
    ename = str(content.get("ename", "Error"))[:200]
    evalue = str(content.get("evalue", ""))[:TRIMMED_ERROR_CHARS]
    trimmed = {**content, "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}
    return {**msg, "content": trimmed, "buffers": []}


class GuardedExecute(Execute):  # type: ignore[misc,valid-type]
    """nbgrader's Execute in the sandbox (unless ``COURSE_SANDBOX=0``), with budgets counted here.

    Time is CPU time of the sandbox's processes (course_utils.grading.sandbox.accounting), so it
    does not depend on the machine's load: a cell that uses ``Execute.timeout`` CPU seconds, or
    the rest of ``Limits.notebook_seconds``, is interrupted and shows an error saying so; a cell
    that starts after the notebook's budget is used is not run. Wall-clock time is only a
    backstop, ``Limits.wall_factor`` times each budget. Output of every kind (text, displays and
    their updates, errors, widget messages) past ``Limits.output_kb`` is dropped, one note says
    so; an error past it is kept, cut short, since it marks a failed test. A sandbox the
    watchdog ended (memory, disk, the submission's CPU) is not restarted: the reason is shown.
    """

    def __init__(self, *args, **kwargs) -> None:
        if sandbox_enabled():
            kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self._limits = Limits.from_env()
        self._started: float | None = None
        self._printed = 0
        self._truncated = False
        self._replaying = False
        self._meter: accounting.Meter | None = None
        self._watchdog: accounting.Watchdog | None = None
        self._cpu_before = 0.0  # CPU seconds of the notebook's earlier kernels (a restart)
        self._meter_start = 0.0
        # After a cell's reply, the wait for its last output is wall-clock time too: stretch it
        # as the other backstops, so a busy machine does not lose a cell that had finished.
        self.iopub_timeout = max(self.iopub_timeout, 4 * self._limits.wall_factor)
        wall = self._wall_backstop()
        if wall is not None:
            text = (
                f"this cell ran past the wall-clock backstop of {wall} s (the grader's machine "
                "was overloaded, or the cell waited without computing) and was stopped"
            )
            self.error_on_timeout = {
                "ename": "CellTimeoutError",
                "evalue": text,
                "traceback": [f"CellTimeoutError: {text}"],
            }

    def _wall_backstop(self) -> int | None:
        return self.timeout * self._limits.wall_factor if self.timeout else None

    def _get_timeout(self, cell):
        return self._wall_backstop()  # nbclient's own (wall-clock) timeout: only a backstop

    def _watch_kernel(self) -> None:
        """After a kernel started: the meter of its sandbox (a /proc one without a sandbox)."""
        if self._meter is not None:
            self._cpu_before += self._meter.cpu_seconds() - self._meter_start
        watchdog = getattr(self.km, "course_watchdog", None)
        self._watchdog = watchdog
        if watchdog is not None:
            self._meter = watchdog.meter
        else:
            process = getattr(getattr(self.km, "provisioner", None), "process", None)
            self._meter = accounting.ProcessMeter(roots=[process.pid] if process else [])
        self._meter_start = self._meter.cpu_seconds()
        session = getattr(self.km, "_session", None)
        where = getattr(session, "home", None) or getattr(session, "private", None)
        self.log.warning(  # a fact for the student's autograde log (traitlets shows warnings)
            "kernel started %s; its CPU time is read from %s",
            f"by the fork server of {where}" if where else "in a sandbox of its own",
            getattr(self._meter, "path", None) or type(self._meter).__name__,
        )

    def notebook_cpu_seconds(self) -> float:
        """CPU seconds the notebook's kernels used so far."""
        if self._meter is None:
            return self._cpu_before
        return self._cpu_before + self._meter.cpu_seconds() - self._meter_start

    def preprocess(self, nb, resources=None, km=None):
        """Execute every cell; when the kernel dies or ignores an interrupt, lose only that cell.

        The kernel is replaced by a fresh one, the earlier answer cells are re-run in it (their
        outputs are kept from the first run), the lost cell gets an error saying what happened,
        and execution goes on, so the rest of the notebook is graded. Each loss is logged on a
        line starting with ``INCIDENT_MARKER`` for the pipeline to report.
        """
        from nbclient.client import NotebookClient

        self._started, self._printed, self._truncated = time.monotonic(), 0, False
        self._meter, self._cpu_before = None, 0.0
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        cells, ran, start, restarts = self.nb.cells, [], 0, 0
        while start < len(cells):
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                self._watch_kernel()
                index = start
                try:
                    self._replaying = True  # the replay's output was counted the first time
                    for index in ran:
                        self.execute_cell(copy.deepcopy(cells[index]), index, store_history=True)
                    self._replaying = False
                    for index in range(start, len(cells)):
                        self.preprocess_cell(cells[index], resources, index)
                        self._check_course_cell(index)
                        if _replayable(cells[index]):
                            ran.append(index)
                    start = len(cells)
                except (DeadKernelError, CellTimeoutError) as exc:
                    restarts += 1
                    replaying = index < start
                    start = self._lose_cell(index, exc, replaying, restarts)
                    self._check_course_cell(index)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _check_course_cell(self, index: int) -> None:
        """Raise :class:`GraderEnvironmentError` (nbgrader then fails loudly, no score is saved)
        when cell ``index`` is the course's set-up, failed, and nothing of the student's ran before
        it: a broken grader must never turn into a student's 0."""
        cells = self.nb.cells
        cell = cells[index]
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not _course_cell(cell) or meta.get("grade"):
            return
        before = [c for c in cells[:index] if c.cell_type == "code" and c.source.strip()]
        if not all(_course_cell(c) for c in before):
            return  # the student's code ran first: a failure here may be theirs
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            return
        what = f"{errors[0].get('ename', 'Error')}: {errors[0].get('evalue', '')}"[:500]
        grade_id = meta.get("grade_id")
        self.log.error(
            "%s %s",
            GRADER_FAILURE_MARKER,
            json.dumps({"cell": index, "grade_id": grade_id, "error": what}),
        )
        raise GraderEnvironmentError(
            f"the course's own cell {grade_id!r}, run before any of the student's, failed "
            f"({what}): the grading environment is broken, so nothing was scored"
        )

    def _lose_cell(self, index: int, exc: Exception, replaying: bool, restarts: int) -> int:
        """Mark cell ``index`` (or, past the restart limit, every later cell) lost; return where to resume."""
        cells = self.nb.cells
        self._replaying = False
        dead = isinstance(exc, DeadKernelError)
        what = (
            "the kernel died (a crash, os._exit, or more memory than allowed)"
            if dead
            else f"the cell ran past {self.timeout} s and ignored the interrupt"
        )
        ended = self._watchdog.reason if self._watchdog is not None else ""
        if ended:  # the sandbox was ended for a limit: a new kernel would meet the same end
            what = ended
        give_up = replaying or restarts > MAX_KERNEL_RESTARTS or bool(ended)
        lost = [i for i in range(index, len(cells)) if cells[i].cell_type == "code"]
        lost = lost if give_up else [index]
        for i in lost:
            if i != index and not cells[i].source.strip():
                continue
            text = (
                f"{what} while this cell ran; the grader started a fresh kernel, re-ran the "
                "earlier cells and went on, so only this cell's work is lost"
                if i == index and not give_up
                else f"not run: {what} {'again while the earlier cells were re-run' if replaying else f'{restarts} times'}; "
                "grading stopped here"
            )
            cells[i].outputs = [
                NotebookNode(
                    output_type="error",
                    ename="KernelDiedError" if dead else "CellTimeoutError",
                    evalue=text,
                    traceback=[f"{'KernelDiedError' if dead else 'CellTimeoutError'}: {text}"],
                )
            ]
        grade_id = cells[index].metadata.get("nbgrader", {}).get("grade_id", "")
        self.log.warning(
            "%s %s",
            INCIDENT_MARKER,
            json.dumps(
                {
                    "kind": "kernel died" if dead else "uninterruptible timeout",
                    "cell": index,
                    "grade_id": grade_id,
                    "gave_up": give_up,
                }
            ),
        )
        return len(cells) if give_up else index + 1

    def process_message(self, msg, cell, cell_index):
        """Count every message that adds to the notebook against the output budget."""
        kind = msg.get("msg_type", "")
        if self._replaying or not (kind in COUNTED_MESSAGES or kind.startswith("comm")):
            return super().process_message(msg, cell, cell_index)
        size = _message_size(msg)
        display_id = (msg.get("content", {}).get("transient") or {}).get("display_id")
        if display_id and kind != "stream":  # an update rewrites every output showing that id
            shown = self._display_id_map.get(display_id, {})
            size *= 1 + sum(len(indices) for indices in shown.values())
        self._printed += size
        if self._printed <= self._limits.output_kb * 1024:
            return super().process_message(msg, cell, cell_index)
        if kind == "error":
            return super().process_message(_trimmed_error(msg), cell, cell_index)
        if not self._truncated:
            self._truncated = True
            cell.outputs.append(
                NotebookNode(
                    output_type="stream",
                    name="stdout",
                    text=f"\n[output truncated: the notebook's output passed "
                    f"{self._limits.output_kb} KB]\n",
                )
            )
        return None

    def _cell_budget(self) -> tuple[float, str]:
        """CPU seconds the next cell may use, and what stops it there."""
        left = self._limits.notebook_seconds - self.notebook_cpu_seconds()
        if self.timeout and self.timeout <= left:
            return float(self.timeout), f"this cell used its {self.timeout} s of CPU time"
        return max(left, 0.0), (
            f"the notebook used its {self._limits.notebook_seconds} s of CPU time in this cell"
        )

    async def _async_poll_for_reply(
        self, msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive
    ):
        """nbclient's wait for a cell's reply, watching the cell's CPU time as it runs.

        Past the cell's budget the kernel is interrupted (a message, as a timeout does) and the
        cell gets a ``CellTimeoutError`` saying which budget it used; a kernel that does not go
        idle after that is replaced (``CellTimeoutError`` raised: see :meth:`preprocess`).
        """
        meter = self._meter
        waiting = asyncio.ensure_future(
            super()._async_poll_for_reply(
                msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive
            )
        )
        if meter is None:
            return await waiting
        budget, what = self._cell_budget()
        start = meter.cpu_seconds()
        try:
            while True:
                done, _ = await asyncio.wait({waiting}, timeout=CPU_POLL_SECONDS)
                if waiting in done:
                    return waiting.result()
                if meter.cpu_seconds() - start > budget:
                    break
        finally:
            if not waiting.done():
                waiting.cancel()
        await ensure_async(self.km.interrupt_kernel())
        wall_end = time.monotonic() + INTERRUPT_GRACE_WALL_SECONDS
        while not task_poll_output_msg.done():  # the interrupted cell reports idle
            await asyncio.wait({task_poll_output_msg}, timeout=CPU_POLL_SECONDS)
            used = meter.cpu_seconds() - start
            if used > budget + INTERRUPT_GRACE_CPU_SECONDS or time.monotonic() > wall_end:
                task_poll_kernel_alive.cancel()
                raise CellTimeoutError(f"{what} and ignored the interrupt")
        task_poll_kernel_alive.cancel()
        text = f"{what} and was stopped (CPU time counts, not waiting)"
        return {
            "parent_header": {"msg_id": msg_id},
            "content": {
                "status": "error",
                "ename": "CellTimeoutError",
                "evalue": text,
                "traceback": [f"CellTimeoutError: {text}"],
            },
        }

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        elapsed = time.monotonic() - (self._started or time.monotonic())
        used = self.notebook_cpu_seconds()
        wall = self._limits.notebook_seconds * self._limits.wall_factor
        if cell.cell_type == "code" and (used >= self._limits.notebook_seconds or elapsed > wall):
            budget = (
                f"{self._limits.notebook_seconds} s of CPU time"
                if used >= self._limits.notebook_seconds
                else f"wall-clock backstop of {wall} s"
            )
            cell.outputs = [
                NotebookNode(
                    output_type="error",
                    ename="NotebookTimeBudgetError",
                    evalue=f"not run: the notebook used its {budget}",
                    traceback=[
                        f"NotebookTimeBudgetError: not run: the whole notebook may use "
                        f"{budget} and earlier cells used it up"
                    ],
                )
            ]
            return cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    # nbclient binds execute_cell to its own async_execute_cell: bind it to the one above
    execute_cell = run_sync(async_execute_cell)
