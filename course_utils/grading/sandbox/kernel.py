"""nbgrader's side of the sandbox: the kernel manager that starts a kernel in it, and the executor.

:class:`SandboxedKernelManager` starts the notebook's Jupyter kernel in the sandbox (nbgrader's
``Execute.kernel_manager_class``); it talks to the kernel over Unix sockets in a private folder,
since the sandbox has no network. :class:`GuardedExecute` is nbgrader's ``Execute`` with a budget
of output bytes and of wall-clock time for the whole notebook, counted in the grader.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

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
    from nbformat.notebooknode import NotebookNode
    from nbgrader.preprocessors import Execute
except ImportError:  # pragma: no cover
    AsyncKernelManager = object  # type: ignore[assignment,misc]
    Execute = object  # type: ignore[assignment,misc]


# A notebook whose kernel dies more often than this is not graded further.
MAX_KERNEL_RESTARTS = 3


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
        return sandbox_command(
            command,
            writable=[self._private, self._scratch],
            cwd=self._scratch,
            env=env,
        )

    def _kernel_arguments(self) -> list[str]:
        limit = Limits.from_env().output_kb * 1024
        return [
            f"--IPKernelApp.exec_lines=import course_utils.grading.sandbox.outputcap as _s; _s.cap_output({limit}); del _s"
        ]

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        if self._scratch is not None:
            kw["cwd"] = str(self._scratch)
        kw.pop("env", None)  # the sandbox sets its own environment (--clearenv)
        await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
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


def _text_size(output: NotebookNode) -> int:
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    data = output.get("data") or {}
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values())


class GuardedExecute(Execute):  # type: ignore[misc,valid-type]
    """nbgrader's Execute in the sandbox (unless ``COURSE_SANDBOX=0``), with budgets for the whole notebook.

    Output past ``Limits.output_kb`` is dropped (one note says so); a cell that starts after
    ``Limits.notebook_seconds`` is not run and shows an error saying why. Both budgets are
    counted here, in the grader, not in the student's kernel.
    """

    def __init__(self, *args, **kwargs) -> None:
        if sandbox_enabled():
            kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self._limits = Limits.from_env()
        self._started: float | None = None
        self._printed = 0
        self._truncated = False

    def preprocess(self, nb, resources=None, km=None):
        """Execute every cell; when the kernel dies or ignores an interrupt, lose only that cell.

        The kernel is replaced by a fresh one, the earlier answer cells are re-run in it (their
        outputs are kept from the first run), the lost cell gets an error saying what happened,
        and execution goes on, so the rest of the notebook is graded. Each loss is logged on a
        line starting with ``INCIDENT_MARKER`` for the pipeline to report.
        """
        from nbclient.client import NotebookClient

        self._started, self._printed, self._truncated = time.monotonic(), 0, False
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        cells, ran, start, restarts = self.nb.cells, [], 0, 0
        while start < len(cells):
            with self.setup_kernel():
                info = self.wait_for_reply(self.kc.kernel_info())
                self.nb.metadata["language_info"] = info["content"]["language_info"]
                index = start
                try:
                    for index in ran:
                        self.execute_cell(copy.deepcopy(cells[index]), index, store_history=True)
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
        dead = isinstance(exc, DeadKernelError)
        what = (
            "the kernel died (a crash, os._exit, or more memory than allowed)"
            if dead
            else f"the cell ran past {self.timeout} s and ignored the interrupt"
        )
        give_up = replaying or restarts > MAX_KERNEL_RESTARTS
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

    def output(self, outs, msg, display_id, cell_index):
        if self._truncated:
            return None
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or out.get("output_type") == "error":
            return out
        self._printed += _text_size(out)
        if self._printed > self._limits.output_kb * 1024:
            self._truncated = True
            outs.remove(out)
            note = NotebookNode(
                output_type="stream",
                name="stdout",
                text=f"\n[output truncated: the notebook printed more than {self._limits.output_kb} KB]\n",
            )
            outs.append(note)
            return note
        return out

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        elapsed = time.monotonic() - (self._started or time.monotonic())
        if cell.cell_type == "code" and elapsed > self._limits.notebook_seconds:
            cell.outputs = [
                NotebookNode(
                    output_type="error",
                    ename="NotebookTimeBudgetError",
                    evalue=f"not run: the notebook used its {self._limits.notebook_seconds} s budget",
                    traceback=[
                        f"NotebookTimeBudgetError: not run: the whole notebook may take "
                        f"{self._limits.notebook_seconds} s and earlier cells used it up"
                    ],
                )
            ]
            return cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
