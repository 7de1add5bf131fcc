"""One sandbox per student, its imports done once: a fork server for the kernel and the worker.

Grading one submission starts two sandboxed Python processes, the notebook's kernel and then the
verification worker, and each imports numpy, torch and the course (about 3 s of CPU each on a
small machine). A :class:`SandboxSession` starts one sandbox per student instead, ahead of need,
with ``python -m course_utils.zygote serve SOCKET`` inside: it imports all of that once and then
forks, on request, the kernel and later the worker, which start with the imports already done.

* Nothing of one student's run reaches the next: every student gets a new session (a new
  sandbox, new namespaces, new scratch folders), and the session dies with the student.
* Inside a session, the fork server runs no student code, is not dumpable (the student's
  processes cannot trace it or read its memory), and before each fork it kills every other
  process of the sandbox, so what the kernel left running never meets the worker.
* A student's code can still kill the fork server (same user); then the kernel dies (it is
  restarted in a plain sandbox) or the worker starts in a plain sandbox: slower, never a grade
  that depends on it.

Outside the sandbox, ``python -m course_utils.zygote run SOCKET KIND -- ARGS`` stands in for the
process that a kernel manager or the worker client would start: it hands its standard streams
to the fork server (``SCM_RIGHTS``), waits, and exits with the child's status; killed, it takes
the child with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FORK_SERVER_ENV_VAR = "COURSE_FORK_SERVER"  # "0": a sandbox of its own for every process
KINDS = ("kernel", "worker")
_START_DIR = ""  # the fork server's working directory, first on its sys.path
READY = "course-zygote-ready"
# What the kernel and the worker would import first; done once, before any fork.
PRELOAD = (
    "numpy",
    "torch",
    "IPython.core.interactiveshell",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "course_utils.device",
    "course_utils.grading",
    "course_utils.checks",
    "course_utils.reference",
    "course_utils.sandbox",
    "course_utils.wire",
    "course_utils.worker",
)


# --------------------------------------------------------------------------------------------
# Inside the sandbox: the fork server
# --------------------------------------------------------------------------------------------


def _not_dumpable() -> None:
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0)  # PR_SET_DUMPABLE = 0


def _kill_others() -> None:
    """Kill every process of the sandbox but this one (its init: signals from inside cannot kill it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(-1, signal.SIGKILL)


def _reap(children: dict[int, socket.socket], selector, wait_seconds: float = 0.0) -> None:
    """Collect ended processes (orphans too: this is init); tell each one's waiting side its status."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            pid, raw = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)
            continue
        connection = children.pop(pid, None)
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.sendall((json.dumps({"exit": _status(raw)}) + "\n").encode())
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(connection)
            connection.close()


def _child(request: dict[str, Any], fds: list[int], keep: set[int]) -> None:
    """In the forked child: become the kernel or the worker; never returns."""
    code = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        for fd in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        if sys.path and sys.path[0] == _START_DIR:
            sys.path[0] = request["cwd"]  # as `python -m` started in ``cwd`` would have it
        if request["kind"] == "kernel":
            from ipykernel import kernelapp

            kernelapp.launch_new_instance()
            code = 0
        else:
            from course_utils import worker

            code = worker.main(sys.argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 (the status tells the waiting side)
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _status(raw: int) -> int:
    return os.waitstatus_to_exitcode(raw)


def serve(socket_path: str) -> int:
    """Import what kernels and workers need, then fork one per request on ``socket_path``."""
    import importlib

    global _START_DIR
    _START_DIR = os.getcwd()
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _not_dumpable()
    with contextlib.suppress(
        Exception
    ):  # and die with bubblewrap (dropping to `nobody` cleared it)
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(8)
    print(READY, flush=True)
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    selector.register(0, selectors.EVENT_READ)  # the session's pipe: closed when the grader ends
    children: dict[int, socket.socket] = {}  # pid -> the connection waiting for it
    while True:
        for key, _ in selector.select(timeout=0.05):
            if key.fileobj == 0:
                if not os.read(0, 4096):  # the grader is gone: so is this sandbox
                    _kill_others()
                    os._exit(0)
                continue
            if key.fileobj is server:
                connection, _ = server.accept()
                selector.register(connection, selectors.EVENT_READ)
                continue
            connection = key.fileobj
            pid = next((p for p, c in children.items() if c is connection), None)
            try:
                message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
            except OSError:
                message, fds = b"", []
            if pid is not None or not message:  # the waiting side went away: so does its child
                selector.unregister(connection)
                connection.close()
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                for fd in fds:
                    os.close(fd)
                continue
            try:
                request = json.loads(message)
                if request.get("kind") not in KINDS or len(fds) != 3:
                    raise ValueError("a request is a kind, argv, cwd, env and three streams")
            except ValueError as exc:
                connection.sendall((json.dumps({"error": str(exc)}) + "\n").encode())
                for fd in fds:
                    os.close(fd)
                continue
            _kill_others()  # what an earlier child left behind never meets the next one
            _reap(children, selector, wait_seconds=2.0)
            keep = {server.fileno(), *(c.fileno() for c in children.values())}
            keep.add(connection.fileno())
            pid = os.fork()
            if pid == 0:
                selector.close()
                _child(request, fds, keep)
            for fd in fds:
                os.close(fd)
            children[pid] = connection
            connection.sendall((json.dumps({"pid": pid}) + "\n").encode())
        _reap(children, selector)


# --------------------------------------------------------------------------------------------
# Outside the sandbox: the stand-in process, and the session
# --------------------------------------------------------------------------------------------


def run(socket_path: str, kind: str, argv: list[str], cwd: str, env: dict[str, str]) -> int:
    """Have the fork server start ``kind`` with this process's streams; return its exit status."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(socket_path)
        request = {"kind": kind, "argv": argv, "cwd": cwd, "env": env}
        socket.send_fds(client, [json.dumps(request).encode()], [0, 1, 2])
    except OSError as exc:
        print(f"course_utils.zygote: no fork server at {socket_path}: {exc}", file=sys.stderr)
        return 111
    child: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGINT:
            return  # interrupts travel as kernel messages, never as signals
        client.close()  # the fork server kills the child when this connection closes
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    buffer = b""
    while True:
        chunk = client.recv(4096)
        if not chunk:
            return 112  # the fork server died (a student's process killed it)
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            answer = json.loads(line)
            if "error" in answer:
                print(f"course_utils.zygote: {answer['error']}", file=sys.stderr)
                return 113
            if "pid" in answer:
                child.append(answer["pid"])
            if "exit" in answer:
                return int(answer["exit"])


class SandboxSession:
    """One student's sandbox with a fork server in it; ``kernel_command``/``worker_command`` use it.

    ``private`` holds the socket, connection files and the worker's folder; ``scratch`` is the
    kernel's working directory (a copy of the submission). Both are visible inside, read-write.
    """

    def __init__(self, limits=None) -> None:
        from .sandbox import Limits

        self.limits = limits or Limits.from_env()
        self.private = Path(tempfile.mkdtemp(prefix="course-session-"))
        self.scratch = Path(tempfile.mkdtemp(prefix="course-scratch-"))
        self.socket_path = str(self.private / "zygote.sock")
        self.process: subprocess.Popen | None = None
        self._ready = False
        self._count = 0

    def start(self) -> SandboxSession:
        """Start the sandbox and its imports (returns at once)."""
        from .sandbox import give_to_sandbox, sandbox_command, sandbox_env

        give_to_sandbox(self.private)
        give_to_sandbox(self.scratch)
        command = sandbox_command(
            [sys.executable, "-m", "course_utils.zygote", "serve", self.socket_path],
            writable=[self.private, self.scratch],
            cwd=self.scratch,
            limits=self.limits,
            env=sandbox_env(),
            as_init=True,
        )
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # its end of the pipe closes with this process: so does the server
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def ready(self, seconds: float = 120) -> bool:
        """Wait until the fork server listens; False if it died or did not start in time."""
        if self._ready:
            return self.alive()
        if self.process is None or self.process.stdout is None:
            return False
        import select

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if select.select([self.process.stdout], [], [], 0.5)[0]:
                line = self.process.stdout.readline()
                if not line:
                    return False
                if line.decode(errors="replace").strip() == READY:
                    self._ready = True
                    return self.alive()
            elif self.process.poll() is not None:
                return False
        return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(
        self, kind: str, argv: list[str], cwd: str | Path, env: dict[str, str]
    ) -> list[str]:
        """The command line of the stand-in process that runs ``argv``'s program as ``kind`` inside."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        request = json.dumps({"argv": list(argv), "cwd": str(cwd), "env": env})
        return [sys.executable, "-m", "course_utils.zygote", "run", self.socket_path, kind, request]

    def new_folder(self, prefix: str) -> Path:
        """A fresh folder inside ``private``, writable inside the sandbox."""
        from .sandbox import give_to_sandbox

        self._count += 1
        folder = self.private / f"{prefix}{self._count}"
        folder.mkdir()
        give_to_sandbox(folder)
        return folder

    def close(self) -> None:
        """End the sandbox and everything in it; remove its folders."""
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # the server ends itself and its sandbox
            from .sandbox import end_process_group

            end_process_group(self.process)
            self.process = None
        for folder in (self.private, self.scratch):
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> SandboxSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fork_server_enabled() -> bool:
    """Return False only when ``COURSE_FORK_SERVER=0`` (then kernel and worker start cold)."""
    return os.environ.get(FORK_SERVER_ENV_VAR, "1").strip() not in ("0", "false", "no", "off")


# The session of the submission being graded in this process, if any (see course_utils.grader).
CURRENT: SandboxSession | None = None


def current() -> SandboxSession | None:
    """The session to start kernels and workers in, when one is set and still running."""
    if CURRENT is not None and CURRENT.ready():
        return CURRENT
    return None


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "serve":
        return serve(argv[2])
    if len(argv) == 5 and argv[1] == "run":
        request = json.loads(argv[4])
        return run(argv[2], argv[3], request["argv"], request["cwd"], request["env"])
    print("usage: python -m course_utils.zygote serve SOCKET | run SOCKET KIND REQUEST")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
