"""Fork servers: the kernel's and the worker's imports done once, not once per process.

Grading one submission starts two sandboxed Python processes, the notebook's kernel and then the
verification worker, and each imports numpy, torch and the course (about 3 s of CPU each on a
small machine). ``python -m course_utils.grading.sandbox.zygote serve SOCKET`` imports all of that once and then
forks, on request, the kernel and later the worker, which start with the imports already done.
It runs in one of two ways:

* **Shared** (:class:`SharedForkServer`, the default when the grader runs as root): one server
  per grading process, as root in one bubblewrap sandbox that sees a folder of student homes.
  It runs no student code; every fork is walled in before any student code runs
  (course_utils.grading.sandbox.isolation): new mount, PID, network, IPC and UTS namespaces, only that
  student's home visible, a fresh ``/tmp`` and ``/proc``, the user ``nobody`` with no
  capabilities and ``no_new_privs``, the limits. The server checks once, when it starts, that
  all of this works here; if it does not, grading falls back to per-student sessions.
* **Per student** (:class:`SandboxSession`): a sandbox of the student's own with a server in
  it, started ahead of need, for graders that are not root (no way to become ``nobody``).

In both, nothing of one student's run reaches the next, the server is not dumpable (the
student's processes cannot trace it or read its memory), and before each fork it kills every
other process of its sandbox, so what the kernel left running never meets the worker. A server
that is gone makes the kernel and the worker fall back to plain sandboxes: slower, never a
grade that depends on it.

Outside the sandbox, ``python -m course_utils.grading.sandbox.zygote run SOCKET KIND -- ARGS`` stands in for the
process that a kernel manager or the worker client would start: it hands its standard streams
to the fork server (``SCM_RIGHTS``), waits, and exits with the child's status; killed, it takes
the child with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
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

from course_utils.grading.sandbox import accounting
from course_utils.grading.sandbox.accounting import Watchdog

FORK_SERVER_ENV_VAR = "COURSE_FORK_SERVER"  # "0", "per-student" (see fork_server_mode)
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
    "course_utils.checks.toolkit",
    "course_utils.checks",
    "course_utils.reference",
    "course_utils.grading.sandbox.bubblewrap",
    "course_utils.grading.sandbox.outputcap",
    "course_utils.grading.wire",
    "course_utils.grading.worker",
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


def _child(request: dict[str, Any], fds: list[int], shared: Shared | None) -> None:
    """In the forked child: become the kernel or the worker; never returns."""
    code = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        # Nothing of the server's reaches student code: its socket, its connections, whatever
        # an import opened; only the three streams the grader handed over stay.
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        _enclose(request, shared)
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
            from course_utils.grading import worker

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


class Shared:
    """What a shared fork server knows: the folder of student homes, folders to hide, and the
    cgroup folder whose sub-folders its forks join (course_utils.grading.sandbox.accounting)."""

    def __init__(self, homes: str, hidden: list[str], cgroups: str | None = None) -> None:
        self.homes = os.path.realpath(homes)
        self.cgroups = os.path.realpath(cgroups) if cgroups else None
        self.hidden = [*hidden, *([self.cgroups] if self.cgroups else [])]

    def cgroup_of(self, request: dict[str, Any]) -> str | None:
        if request.get("cgroup") is None:
            return None
        cgroup = os.path.realpath(str(request["cgroup"]))
        if self.cgroups is None or os.path.dirname(cgroup) != self.cgroups:
            raise ValueError(
                f"cgroup must be a folder in {self.cgroups}, got {request['cgroup']!r}"
            )
        return cgroup

    @staticmethod
    def user_of(request: dict[str, Any]) -> tuple[int, int]:
        user = request.get("user")
        if (
            not isinstance(user, list)
            or len(user) != 2
            or not all(isinstance(n, int) and n > 0 for n in user)
        ):
            raise ValueError(f"user must be [uid, gid], never root, got {user!r}")
        return user[0], user[1]

    def home_of(self, request: dict[str, Any]) -> str:
        home = os.path.realpath(str(request.get("home", "")))
        if os.path.dirname(home) != self.homes or not os.path.isdir(home):
            raise ValueError(f"home must be a folder in {self.homes}, got {request.get('home')!r}")
        return home


def _wait_and_exit(pid: int) -> None:
    """Wait for ``pid`` (reaping any other child meanwhile) and exit with its status."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)  # the streams are the child's: their end-of-file is its end
    while True:
        ended, raw = os.waitpid(-1, 0)
        if ended == pid:
            os._exit(_status(raw))


def _wall_in(request: dict[str, Any], shared: Shared) -> None:
    """Between fork and student code, in a shared server: the walls of a sandbox of one's own.

    This process (root) enters new namespaces and waits; its child is the new PID namespace's
    init (root, reaps, ends the namespace when the student's process ends); that one's child
    drops to ``nobody`` under the limits and becomes the kernel or the worker.
    """
    from course_utils.grading.sandbox import isolation
    from course_utils.grading.sandbox.bubblewrap import Limits

    limits = Limits(**request["limits"])
    cgroup = shared.cgroup_of(request)
    if cgroup is not None:  # first: everything this fork starts is counted and capped there
        isolation.join_cgroup(cgroup)
    isolation.enter_private_namespaces(
        shared.homes, shared.home_of(request), shared.hidden, limits.tmp_mb
    )
    init = os.fork()
    if init:
        _wait_and_exit(init)
    isolation.set_parent_death_signal()
    isolation.finish_in_new_pid_namespace()
    student = os.fork()
    if student:
        _wait_and_exit(student)
    isolation.drop_privileges(shared.user_of(request), limits)


def _enclose(request: dict[str, Any], shared: Shared | None) -> None:
    """The last steps before student code: the walls (a shared server) and the seccomp filter."""
    from course_utils.grading.sandbox.isolation import deny_risky_syscalls

    if shared is not None:
        _wall_in(request, shared)
    deny_risky_syscalls()


def _walls_work(shared: Shared) -> bool:
    """Fork once, wall the fork in and drop to ``nobody``: True if every step worked."""
    from course_utils.grading.sandbox.bubblewrap import Limits

    probe = os.path.join(shared.homes, "probe")
    os.makedirs(probe, exist_ok=True)
    request = {"home": probe, "limits": dataclasses.asdict(Limits()), "user": [65534, 65534]}
    pid = os.fork()
    if pid == 0:
        try:
            _enclose(request, shared)
            os._exit(0 if os.listdir(shared.homes) == ["probe"] and os.getuid() != 0 else 3)
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            os._exit(1)
    _, raw = os.waitpid(pid, 0)
    os.rmdir(probe)
    if _status(raw) != 0:
        print(
            f"course_utils.grading.sandbox.zygote: a fork cannot be walled in here (status {_status(raw)})"
        )
        return False
    return True


def _status(raw: int) -> int:
    return os.waitstatus_to_exitcode(raw)


def serve(socket_path: str, homes: str | None = None, cgroups: str | None = None) -> int:
    """Import what kernels and workers need, then fork one per request on ``socket_path``.

    With ``homes`` (a shared server: one for all the students of a grading process), every
    fork is walled in first (see :func:`_wall_in`); the server checks once that this works here
    before it says it is ready, and exits if it does not.
    """
    import importlib

    global _START_DIR
    shared = Shared(homes, [os.path.dirname(socket_path)], cgroups) if homes else None
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
    if shared is not None and not _walls_work(shared):
        return 1
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
                if request.get("kind") == "end" and not fds:  # the student is done: clear up
                    _kill_others()
                    _reap(children, selector, wait_seconds=2.0)
                    connection.sendall((json.dumps({"exit": 0}) + "\n").encode())
                    continue
                if request.get("kind") not in KINDS or len(fds) != 3:
                    raise ValueError("a request is a kind, argv, cwd, env and three streams")
                if shared is not None:
                    shared.home_of(request)
                    shared.user_of(request)
                    shared.cgroup_of(request)
            except ValueError as exc:
                connection.sendall((json.dumps({"error": str(exc)}) + "\n").encode())
                for fd in fds:
                    os.close(fd)
                continue
            _kill_others()  # what an earlier child left behind never meets the next one
            _reap(children, selector, wait_seconds=2.0)
            pid = os.fork()
            if pid == 0:
                _child(request, fds, shared)
            for fd in fds:
                os.close(fd)
            children[pid] = connection
            connection.sendall((json.dumps({"pid": pid}) + "\n").encode())
        _reap(children, selector)


# --------------------------------------------------------------------------------------------
# Outside the sandbox: the stand-in process, and the session
# --------------------------------------------------------------------------------------------


def run(socket_path: str, kind: str, request: dict[str, Any]) -> int:
    """Have the fork server start ``kind`` with this process's streams; return its exit status.

    ``request`` has the program's ``argv``, ``cwd`` and ``env`` (and, for a shared server, the
    student's ``home`` and ``limits``).
    """
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(socket_path)
        request = {**request, "kind": kind}
        socket.send_fds(client, [json.dumps(request).encode()], [0, 1, 2])
    except OSError as exc:
        print(
            f"course_utils.grading.sandbox.zygote: no fork server at {socket_path}: {exc}",
            file=sys.stderr,
        )
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
                print(f"course_utils.grading.sandbox.zygote: {answer['error']}", file=sys.stderr)
                return 113
            if "pid" in answer:
                child.append(answer["pid"])
            if "exit" in answer:
                return int(answer["exit"])


class _ServerProcess:
    """A fork server's sandboxed process: started at once, ready when it says so."""

    process: subprocess.Popen | None = None
    _ready = False
    _begun = False

    def _launch(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # its end of the pipe closes with this process: so does the server
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def ready(self, seconds: float = 120) -> bool:
        """Wait until the server listens; False if it died, failed its check, or is late."""
        if not self._ready:
            self._ready = _wait_ready(self.process, seconds)
        return self._ready and self.alive()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _end_process(self) -> None:
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()  # the server ends itself and its sandbox
            from course_utils.grading.sandbox.bubblewrap import end_process_group

            end_process_group(self.process)
            self.process = None


class SandboxSession(_ServerProcess):
    """One student's sandbox with a fork server in it; ``kernel_command``/``worker_command`` use it.

    ``private`` holds the socket, connection files and the worker's folder; ``scratch`` is the
    kernel's working directory (a copy of the submission). Both are visible inside, read-write.
    """

    def __init__(self, limits=None) -> None:
        from course_utils.grading.sandbox.bubblewrap import Limits

        self.limits = limits or Limits.from_env()
        self.private = Path(tempfile.mkdtemp(prefix="course-session-"))
        self.scratch = Path(tempfile.mkdtemp(prefix="course-scratch-"))
        self.socket_path = str(self.private / "zygote.sock")
        self.process: subprocess.Popen | None = None
        self._ready = False
        self._count = 0
        self.watchdog: Watchdog | None = None

    def start(self) -> SandboxSession:
        """Start the sandbox and its imports (returns at once)."""
        from course_utils.grading.sandbox.bubblewrap import (
            give_to_sandbox,
            sandbox_command,
            sandbox_env,
        )

        give_to_sandbox(self.private)
        give_to_sandbox(self.scratch)
        command = sandbox_command(
            [
                sys.executable,
                "-m",
                "course_utils.grading.sandbox.zygote",
                "serve",
                self.socket_path,
            ],
            writable=[self.private, self.scratch],
            cwd=self.scratch,
            limits=self.limits,
            env=sandbox_env(),
            as_init=True,
        )
        meter = accounting.new_meter(memory_bytes=self.limits.memory_mb << 20)
        self._launch(meter.wrap(command))
        if isinstance(meter, accounting.ProcessMeter):
            meter.add_root(self.process.pid)
        folders = [self.private, self.scratch]
        self.watchdog = Watchdog(meter, self.limits, folders, count_cpu=False).start()
        return self

    def command(
        self, kind: str, argv: list[str], cwd: str | Path, env: dict[str, str]
    ) -> list[str]:
        """The command line of the stand-in process that runs ``argv``'s program as ``kind`` inside."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if self.watchdog is not None and not self._begun:
            self._begun = True
            self.watchdog.count_cpu_from_now()
        request = json.dumps({"argv": list(argv), "cwd": str(cwd), "env": env})
        return [
            sys.executable,
            "-m",
            "course_utils.grading.sandbox.zygote",
            "run",
            self.socket_path,
            kind,
            request,
        ]

    def new_folder(self, prefix: str) -> Path:
        """A fresh folder inside ``private``, writable inside the sandbox, for the next fork.

        Every process of this session ends first: what the grader then writes there (as root)
        meets no student process that could swap a path for a link to a file of the grader's.
        """
        from course_utils.grading.sandbox.bubblewrap import give_to_sandbox

        self.end()
        self._count += 1
        folder = self.private / f"{prefix}{self._count}"
        folder.mkdir()
        give_to_sandbox(folder)
        return folder

    def end(self) -> None:
        """Kill every process of this session and wait until they are gone (the server stays)."""
        if self.alive():
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as client:
                client.settimeout(10)
                client.connect(self.socket_path)
                client.sendall(json.dumps({"kind": "end"}).encode())
                client.recv(4096)

    def close(self) -> None:
        """End the sandbox and everything in it; remove its folders."""
        if self.watchdog is not None:
            self.watchdog.stop()
        self._end_process()
        if self.watchdog is not None:
            self.watchdog.meter.close()
        for folder in (self.private, self.scratch):
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> SandboxSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SharedForkServer(_ServerProcess):
    """One fork server for all the students of a grading process (a root grader only).

    It runs as root in one bubblewrap sandbox that sees ``homes`` (one folder per student) and
    its own ``control`` folder (the socket); it imports once, and every fork it makes is walled
    in before any student code runs (course_utils.grading.sandbox.isolation): new namespaces, only that
    student's home visible, ``nobody``, the limits. :meth:`session` gives a student's session;
    one student at a time (closing a session ends every process the server has forked).
    """

    def __init__(self, limits=None) -> None:
        from course_utils.grading.sandbox.bubblewrap import Limits

        _remove_stale_homes()
        self.homes = Path(tempfile.mkdtemp(prefix=f"{HOMES_PREFIX}{os.getpid()}-"))
        self.control = Path(tempfile.mkdtemp(prefix="course-zygote-"))
        self.homes.chmod(0o755)
        self.socket_path = str(self.control / "zygote.sock")
        self.process: subprocess.Popen | None = None
        self._ready = False
        self._count = 0
        # One student at a time: one tmpfs of ``home_mb`` for the homes is the student's quota.
        self.homes_limited = _mount_tmpfs(self.homes, (limits or Limits.from_env()).home_mb)
        self.cgroups = accounting.cgroup_tree()

    def start(self) -> SharedForkServer:
        """Start the sandbox and its imports (returns at once)."""
        from course_utils.grading.sandbox.bubblewrap import sandbox_command, sandbox_env

        serve = ["--homes", str(self.homes)]
        writable = [self.homes, self.control]
        if self.cgroups is not None:  # its forks join their student's cgroup (see _wall_in)
            serve += ["--cgroups", str(self.cgroups)]
            writable.append(self.cgroups)
        command = sandbox_command(
            [sys.executable, "-m", "course_utils.grading.sandbox.zygote", "serve", self.socket_path]
            + serve,
            writable=writable,
            cwd=self.control,
            env=sandbox_env(),
            as_init=True,
            keep_root=True,
        )
        self._launch(command)
        return self

    def session(self, limits=None) -> SharedSession:
        """A new student's session: a fresh home, forks of this server."""
        self._count += 1
        return SharedSession(self, self.homes / f"student-{self._count}", limits)

    def close(self) -> None:
        """End the server, its sandbox and every student process; remove its folders."""
        self._end_process()
        if self.homes_limited:
            _unmount(self.homes)
        for folder in (self.homes, self.control):
            shutil.rmtree(folder, ignore_errors=True)


HOMES_PREFIX = "course-homes-"  # + the grading process's pid: a shared server's homes folder


def _remove_stale_homes() -> None:
    """Unmount and remove the homes of shared servers whose grading process has ended (killed:
    it could not close its server), so that no tmpfs is left behind."""
    from course_utils.grading.sandbox.accounting import mount_points

    for point in mount_points():
        name = os.path.basename(point)
        if os.path.dirname(point) != tempfile.gettempdir() or not name.startswith(HOMES_PREFIX):
            continue
        owner = name[len(HOMES_PREFIX) :].split("-")[0]
        if owner.isdigit() and os.path.exists(f"/proc/{owner}"):
            continue  # its grading process is still there (or a pid reused: left alone)
        if not owner.isdigit() and _serving(point):
            continue  # an older name: its server still serves it
        _unmount(Path(point))
        shutil.rmtree(point, ignore_errors=True)


def _serving(homes: str) -> bool:
    """Whether a running fork server was started with ``--homes homes``."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"--homes" in argv and homes.encode() in argv:
                return True
    return False


def _mount_tmpfs(folder: Path, size_mb: int) -> bool:
    """Mount a tmpfs of ``size_mb`` MB on ``folder`` (a root grader); False where that fails."""
    from course_utils.grading.sandbox.isolation import MS_NODEV, MS_NOSUID, mount

    try:
        mount("tmpfs", str(folder), "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0755,size={size_mb}m")
    except OSError:
        return False
    return True


def _unmount(folder: Path) -> None:
    from course_utils.grading.sandbox.isolation import unmount

    with contextlib.suppress(OSError):
        unmount(str(folder))


class SharedSession:
    """One student's session in a :class:`SharedForkServer`: the interface of :class:`SandboxSession`."""

    def __init__(self, server: SharedForkServer, home: Path, limits=None) -> None:
        from course_utils.grading.sandbox.bubblewrap import Limits, give_to_sandbox, sandbox_user

        self.server = server
        self.limits = limits or Limits.from_env()
        self.home = home
        self.private = home / "private"
        self.scratch = home / "scratch"
        for folder in (home, self.private, self.scratch):
            folder.mkdir(mode=0o755)
        # The home and ``private`` stay the grader's: a student can neither replace
        # ``scratch`` nor plant a name in ``private`` (see new_folder).
        give_to_sandbox(self.scratch)
        self.socket_path = server.socket_path
        self._count = 0
        self._begun = False
        uid = (sandbox_user() or (65534, 65534))[0]
        meter = accounting.new_meter(memory_bytes=self.limits.memory_mb << 20, uid=uid)
        if isinstance(meter, accounting.CgroupMeter) and server.cgroups is None:
            meter.close()  # the server cannot put its forks there: count by uid
            meter = accounting.ProcessMeter(uid=uid)
        folders = None if server.homes_limited else [home]
        self.watchdog = Watchdog(meter, self.limits, folders).start()

    def start(self) -> SharedSession:
        return self

    def ready(self, seconds: float = 120) -> bool:
        return self.server.ready(seconds)

    def alive(self) -> bool:
        return self.server.alive()

    def command(
        self, kind: str, argv: list[str], cwd: str | Path, env: dict[str, str]
    ) -> list[str]:
        """The command line of the stand-in process that runs ``argv``'s program as ``kind`` inside."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        from course_utils.grading.sandbox.bubblewrap import sandbox_user

        if not self._begun:
            self._begun = True
            self.watchdog.count_cpu_from_now()
        request = {"argv": list(argv), "cwd": str(cwd), "env": env, "home": str(self.home)}
        request["limits"] = dataclasses.asdict(self.limits)
        if isinstance(self.watchdog.meter, accounting.CgroupMeter):
            request["cgroup"] = str(self.watchdog.meter.path)
        request["user"] = list(sandbox_user() or (65534, 65534))
        return [
            sys.executable,
            "-m",
            "course_utils.grading.sandbox.zygote",
            "run",
            self.socket_path,
            kind,
            json.dumps(request),
        ]

    new_folder = SandboxSession.new_folder
    end = SandboxSession.end

    def close(self) -> None:
        """End every process of this student; remove the home."""
        self.watchdog.stop()
        self.end()
        self.watchdog.meter.close()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> SharedSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_ready(process: subprocess.Popen | None, seconds: float) -> bool:
    """Wait until ``process`` prints READY on its stdout; False if it ends first or is late."""
    if process is None or process.stdout is None:
        return False
    import select

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 0.5)[0]:
            line = process.stdout.readline()
            if not line:
                return False
            if line.decode(errors="replace").strip() == READY:
                return process.poll() is None
        elif process.poll() is not None:
            return False
    return False


def fork_server_mode() -> str:
    """How kernels and workers start: ``shared``, ``per-student`` or ``off`` (see FORK_SERVER_ENV_VAR).

    ``shared`` (the default when the grader runs as root): one fork server per grading
    process, every fork walled in on its own. ``per-student`` (the default otherwise, or
    ``COURSE_FORK_SERVER=per-student``): a sandbox and a fork server for each student.
    ``off`` (``COURSE_FORK_SERVER=0``): kernel and worker each start a new sandboxed Python.
    """
    from course_utils.grading.sandbox.bubblewrap import sandbox_user

    value = os.environ.get(FORK_SERVER_ENV_VAR, "1").strip().lower()
    if value in ("0", "false", "no", "off"):
        return "off"
    if value == "per-student" or sandbox_user() is None:
        return "per-student"
    return "shared"


# The session of the submission being graded in this process, if any (see course_utils.grading.pool).
CURRENT: SandboxSession | SharedSession | None = None


def current() -> SandboxSession | SharedSession | None:
    """The session to start kernels and workers in, when one is set and still running."""
    if CURRENT is not None and CURRENT.ready():
        return CURRENT
    return None


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "serve":
        return serve(argv[2])
    if len(argv) == 5 and argv[1] == "serve" and argv[3] == "--homes":
        return serve(argv[2], homes=argv[4])
    if len(argv) == 7 and argv[1] == "serve" and argv[3] == "--homes" and argv[5] == "--cgroups":
        return serve(argv[2], homes=argv[4], cgroups=argv[6])
    if len(argv) == 5 and argv[1] == "run":
        return run(argv[2], argv[3], json.loads(argv[4]))
    print(
        "usage: python -m course_utils.grading.sandbox.zygote serve SOCKET [--homes FOLDER "
        "[--cgroups FOLDER]] | run SOCKET KIND REQUEST"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
