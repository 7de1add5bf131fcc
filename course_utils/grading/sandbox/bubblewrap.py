"""The sandbox that a student's code runs in while it is graded: bubblewrap plus resource limits.

:func:`sandbox_command` wraps a command so that it runs

* in its own user, PID, IPC, UTS, cgroup and network namespaces (no network; it cannot see or
  signal the grader; every process it starts dies with it: ``--die-with-parent``);
* on a read-only view of the system and the Python environment (``course_utils`` included) and
  nothing else of the course: the gradebook, ``solutions/``, other students' files and the
  source tree are simply not there; only the folders passed as ``writable`` can be written;
* with a clean environment (no inherited secrets such as ``COURSE_DB_URL``);
* as the unprivileged user ``nobody`` when the grader runs as root, under limits on memory,
  CPU time, processes and file size (:class:`Limits`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

SANDBOX_ENV_VAR = "COURSE_SANDBOX"  # "0" turns the sandbox off (trusted notebooks only)


SANDBOX_UID_ENV_VAR = "COURSE_SANDBOX_UID"  # the uid student code runs as (a root grader)


SANDBOX_UID_BASE = 2_000_000_000  # + a grading process's PID: a uid no account uses


LIMIT_ENV_PREFIX = "COURSE_LIMIT_"  # e.g. COURSE_LIMIT_MEMORY_MB=4096


INSTALL_HINT = (
    "bubblewrap (bwrap) is needed to grade untrusted notebooks in a sandbox: install it with "
    "`sudo apt-get install bubblewrap` (Debian/Ubuntu) or `sudo dnf install bubblewrap` "
    "(Fedora), or pass --no-sandbox to grade without one (only for notebooks you trust)"
)


SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/opt")


KEPT_ENV = ("LANG", "LC_ALL", "TZ", "COURSE_DEVICE", "PYTHONWARNINGS", "CUDA_VISIBLE_DEVICES")


THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


STAGE = "/.course-stage"  # an empty folder for course_utils.grading.sandbox.isolation's mount moves


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student's sandbox (their kernel, its re-run, all they start).

    Time is CPU time of the sandbox's own processes (course_utils.grading.sandbox.accounting),
    so a grade does not change with the machine's load; wall-clock time only backs it up, at
    ``wall_factor`` times each CPU budget.

    ``memory_mb`` is the memory of all the sandbox's processes together (cgroup v2
    ``memory.max`` where the grader can set it, else a watchdog over their PSS) and the address
    space of each (a 10 GiB allocation fails with MemoryError); ``cpu_seconds`` the CPU time of
    each process; ``processes`` the processes and threads of the sandbox user (enforced when the
    grader runs as root, which runs student code as ``nobody``); ``file_size_mb`` the largest
    file it may write; ``output_kb`` the output a whole notebook may produce, every kind counted
    (the rest is dropped); ``notebook_seconds`` the CPU seconds of a whole notebook run (cells
    after it are not run); ``student_seconds`` the CPU seconds of everything one submission
    runs (notebook and re-run of its tests: past it, the sandbox is ended); ``home_mb`` the files
    the student's code may write in its home (a tmpfs of that size under a root grader's shared
    fork server, else a watchdog); ``tmp_mb`` the size of the private ``/tmp`` of each process
    forked by a shared fork server (course_utils.grading.sandbox.isolation); ``wall_factor``
    how many times a CPU budget a cell, notebook or re-run may take in wall-clock time.
    """

    memory_mb: int = 3072
    cpu_seconds: int = 900
    processes: int = 256
    file_size_mb: int = 64
    output_kb: int = 1024
    notebook_seconds: int = 300
    student_seconds: int = 600
    home_mb: int = 512
    tmp_mb: int = 256
    wall_factor: int = 10

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{item.name} must be a positive int, got {value!r}")

    @classmethod
    def from_env(cls, **overrides: int | None) -> Limits:
        """Return the defaults, overridden by ``COURSE_LIMIT_<NAME>`` variables, then by ``overrides``."""
        values = {}
        for item in fields(cls):
            raw = os.environ.get(LIMIT_ENV_PREFIX + item.name.upper())
            if raw is not None:
                try:
                    values[item.name] = int(raw)
                except ValueError:
                    raise ValueError(
                        f"{LIMIT_ENV_PREFIX + item.name.upper()} must be an int, got {raw!r}"
                    ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {item.name for item in fields(cls)}
        if unknown:
            raise ValueError(f"unknown limit(s) {sorted(unknown)}")
        return cls(**values)

    def as_env(self) -> dict[str, str]:
        """Return these limits as ``COURSE_LIMIT_*`` variables (how nbgrader's process receives them)."""
        return {LIMIT_ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}


def sandbox_enabled() -> bool:
    """Return False only when ``COURSE_SANDBOX=0`` (grading trusted notebooks without a sandbox)."""
    return os.environ.get(SANDBOX_ENV_VAR, "1").strip() not in ("0", "false", "no", "off")


def _bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(INSTALL_HINT)
    return found


def _runs_as_root() -> bool:
    return os.geteuid() == 0


def sandbox_user() -> tuple[int, int] | None:
    """Return (uid, gid) that student code runs as when the grader is root, else None.

    ``nobody``'s, unless ``COURSE_SANDBOX_UID`` names another unprivileged uid: each grading
    process sets one of its own (:func:`use_own_sandbox_uid`), so that students graded at
    the same time never share a process limit.
    """
    if not _runs_as_root():
        return None
    try:
        entry = pwd.getpwnam("nobody")
        nobody = entry.pw_uid, entry.pw_gid
    except KeyError:
        nobody = (65534, 65534)
    raw = os.environ.get(SANDBOX_UID_ENV_VAR, "").strip()
    if not raw:
        return nobody
    if not raw.isdigit() or int(raw) == 0:
        raise ValueError(f"{SANDBOX_UID_ENV_VAR} must be a uid other than 0 (root), got {raw!r}")
    return int(raw), nobody[1]


def use_own_sandbox_uid() -> None:
    """In a root grading process: run its students as a uid no other process uses (see sandbox_user)."""
    if _runs_as_root():
        os.environ[SANDBOX_UID_ENV_VAR] = str(SANDBOX_UID_BASE + os.getpid())


def give_to_sandbox(path: Path) -> None:
    """Make ``path`` (a scratch folder, recursively) writable by the sandbox's user."""
    user = sandbox_user()
    if user is None:
        return
    for folder, dirs, files in os.walk(path):  # never into a link, never to a link's target
        for name in [folder, *(os.path.join(folder, d) for d in dirs)]:
            os.chown(name, *user, follow_symlinks=False)
        for name in files:
            os.chown(os.path.join(folder, name), *user, follow_symlinks=False)


def _readable_roots() -> list[Path]:
    """The folders the sandbox sees read-only: the system, Python, the environment, course_utils."""
    package = Path(__file__).resolve().parents[2]  # course_utils/, from grading/sandbox/
    roots = [Path(p) for p in SYSTEM_DIRS if Path(p).exists()]
    for path in (sys.base_prefix, sys.prefix, sys.exec_prefix, package):
        roots.append(Path(path).resolve())
    roots.append(Path(sys.executable).parent)  # the venv's bin/ (symlinks resolve into roots)
    kept: list[Path] = []
    for root in sorted(set(roots), key=lambda p: len(p.parts)):
        if not any(root == k or k in root.parents for k in kept):
            kept.append(root)
    return kept


def _limit_args(limits: Limits) -> list[str]:
    args = [
        "prlimit",
        f"--as={limits.memory_mb * 1024 * 1024}",
        f"--cpu={limits.cpu_seconds}",
        f"--fsize={limits.file_size_mb * 1024 * 1024}",
        "--core=0",
    ]
    if _runs_as_root():
        args.append(f"--nproc={limits.processes}")
    return [*args, "--"]


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment a sandboxed process gets: a fixed minimum, never the grader's secrets."""
    env = {
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "IPYTHONDIR": "/tmp/ipython",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter",
        "PYTHONDONTWRITEBYTECODE": "1",
        "USER": "student",  # getpass.getuser() without an account to look up
        "LOGNAME": "student",
    }
    for name in KEPT_ENV:
        if name in os.environ:
            env[name] = os.environ[name]
    for name in THREAD_ENV:
        env[name] = os.environ.get(name, "1")
    env.update(extra or {})
    return env


def sandbox_command(
    command: Sequence[str],
    *,
    writable: Sequence[str | Path] = (),
    limits: Limits | None = None,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    as_init: bool = False,
    keep_root: bool = False,
) -> list[str]:
    """Return ``command`` wrapped in bubblewrap and prlimit (see the module docstring).

    ``writable`` folders are bound read-write at the same paths; ``cwd`` (one of them, or a
    read-only folder) is the working directory inside. ``as_init`` makes ``command`` the
    sandbox's PID 1, which no process inside can kill (course_utils.grading.sandbox.zygote's fork server).
    ``keep_root`` (only for a root grader's shared fork server, which runs no student code and
    drops to ``nobody`` in each fork, see course_utils.grading.sandbox.isolation) keeps root and sets no limits.
    Raises :class:`SandboxUnavailable` without bubblewrap.
    """
    limits = limits or Limits.from_env()
    user = sandbox_user()
    # As root, bubblewrap needs no user namespace; the command drops to `nobody` inside it.
    # Otherwise a user namespace gives an unprivileged user the same walls.
    namespaces = (
        ["--unshare-all"]
        if user is None
        else [
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            # a shared fork server moves its forks into cgroups of the grader's (accounting);
            # each fork gets a cgroup namespace of its own (isolation)
            *([] if keep_root else ["--unshare-cgroup-try"]),
        ]
    )
    if keep_root and user is None:
        raise SandboxUnavailable("keep_root needs a grader running as root")
    args = [_bwrap(), *namespaces, "--die-with-parent", *(["--as-pid-1"] if as_init else [])]
    readable = _readable_roots()
    writable = [Path(folder).resolve() for folder in writable]
    # a fresh /tmp first: the environment itself may live under /tmp (a CI checkout)
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    # bubblewrap makes missing parents of a mount point private (0700): open them to `nobody`
    parents = {p for root in [*readable, *writable] for p in root.parents if p != Path("/")}
    for parent in sorted(parents, key=lambda p: len(p.parts)):
        if parent != Path("/tmp"):
            args += ["--perms", "0755", "--dir", str(parent)]
    for root in readable:
        args += ["--ro-bind", str(root), str(root)]
    for device in sorted(Path("/dev").glob("nvidia*")):  # the GPU, when there is one
        args += ["--dev-bind", str(device), str(device)]
    for folder in writable:
        args += ["--bind", str(folder), str(folder)]
    if keep_root:
        args += ["--perms", "0700", "--dir", STAGE]
    if cwd is not None:
        args += ["--chdir", str(Path(cwd).resolve())]
    args.append("--clearenv")
    for name, value in sandbox_env(env).items():
        args += ["--setenv", name, value]
    if keep_root:
        return [*args, "--", *command]
    drop = []
    if user is not None:
        drop = [
            "setpriv",
            f"--reuid={user[0]}",
            f"--regid={user[1]}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
            "--",
        ]
    return [*args, "--", *drop, *_limit_args(limits), *command]


def end_process_group(process: subprocess.Popen) -> None:
    """SIGKILL ``process`` and its process group (started with ``start_new_session``), reap it, close its pipes."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError, AttributeError):
            stream.close()


def check_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` with the reason and how to fix it unless a sandbox can start here."""
    try:
        command = sandbox_command([sys.executable, "-c", "import course_utils"])
    except SandboxUnavailable:
        raise
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap could not start: {exc}. {INSTALL_HINT}") from None
    if done.returncode != 0:
        raise SandboxUnavailable(
            "bubblewrap is installed but could not start a sandbox here "
            f"({done.stderr.strip()[-300:] or 'exit status ' + str(done.returncode)}); user "
            "namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or "
            "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04), or pass --no-sandbox"
        )


# The log line the executor writes for each cell lost to a dead or unresponsive kernel.
INCIDENT_MARKER = "COURSE-INCIDENT"
