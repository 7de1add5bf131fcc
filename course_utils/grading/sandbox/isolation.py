"""Walls for one forked process: new namespaces, a private view of the files, no privileges.

The grading process's shared fork server (course_utils.grading.sandbox.zygote) runs as root in one bubblewrap
sandbox and forks every student's kernel and worker. Before any student code runs, the fork
calls :func:`enter_private_namespaces` and then, in the new PID namespace's first process,
:func:`finish_in_new_pid_namespace` and :func:`drop_privileges`, so that each student ends up with
what a bubblewrap sandbox of their own gives:

* new mount, PID, network, IPC and UTS namespaces: no process, socket or shared memory of
  another student or of the server can be seen or reached;
* of the shared folder of student homes, only their own home is left visible; a fresh ``/tmp``
  (what the server's sandbox had mounted under ``/tmp``, e.g. a virtual environment, is kept);
  a fresh ``/proc`` for the new PID namespace;
* the grading process's own unprivileged uid (``nobody``'s by default, see
  :func:`course_utils.grading.sandbox.bubblewrap.sandbox_user`), no capabilities (bounding set emptied),
  ``no_new_privs``, and the :class:`course_utils.grading.sandbox.bubblewrap.Limits` as resource limits; dies with
  its parent.

Every forked kernel and worker, in either kind of fork server, also gets
:func:`deny_risky_syscalls`: a seccomp filter that refuses the kernel keyring (shared by all
processes of one uid on the machine) and new user namespaces.

Linux only; every call raises :class:`OSError` naming the step that failed, and the caller
never runs student code after a failure.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from pathlib import Path

from course_utils.grading.sandbox.bubblewrap import STAGE

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 4096, 8192, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, step: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{step}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    encode = lambda text: None if text is None else text.encode()  # noqa: E731
    step = f"mount {fstype or source} on {target}"
    _check(_libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), step)


mount = _mount  # for the grader (a tmpfs of a given size for the students' homes)


def unmount(target: str) -> None:
    """Detach the mount at ``target``."""
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"unmount {target}")


def join_cgroup(folder: str) -> None:
    """Move this process into the cgroup ``folder`` (before it starts anything: see accounting)."""
    try:
        with open(os.path.join(folder, "cgroup.procs"), "w") as procs:
            procs.write("0")
    except OSError as exc:
        raise OSError(exc.errno, f"join the cgroup {folder}: {exc.strerror}") from None


def _mounts_under(folder: str) -> list[str]:
    """The outermost mount points strictly below ``folder`` in this mount namespace."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(folder.rstrip("/") + "/"):
            points.append(point)
    points.sort(key=len)
    outer: list[str] = []
    for point in points:
        if point not in outer and not any(point.startswith(kept + "/") for kept in outer):
            outer.append(point)
    return outer


def _fresh_tmpfs_keeping(folder: str, keep: list[str], options: str) -> None:
    """Mount an empty tmpfs on ``folder``, moving the mounts at ``keep`` (all below it) back on top."""
    staged = []
    for index, point in enumerate(keep):
        stage = f"{STAGE}/{index}"
        os.makedirs(stage, exist_ok=True)
        _mount(point, stage, None, MS_MOVE)
        staged.append((stage, point))
    _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for stage, point in staged:
        os.makedirs(point, mode=0o755, exist_ok=True)
        _mount(stage, point, None, MS_MOVE)


def enter_private_namespaces(homes: str, home: str, hidden: list[str], tmp_mb: int) -> None:
    """In a fork of the server: new namespaces; of ``homes`` only ``home``; ``hidden`` emptied;
    a fresh ``/tmp`` of ``tmp_mb`` MB.

    The new PID namespace takes effect for this process's next child (see
    :func:`finish_in_new_pid_namespace`).
    """
    flags = (
        CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
    )
    _check(_libc.unshare(flags), "unshare namespaces")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here reaches the server
    _fresh_tmpfs_keeping("/tmp", _mounts_under("/tmp"), f"mode=1777,size={tmp_mb}m")
    own = f"{STAGE}/home"
    os.makedirs(own, exist_ok=True)
    _mount(home, own, None, MS_BIND | MS_REC)
    for folder in [homes, *hidden]:
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    os.makedirs(home, mode=0o755, exist_ok=True)
    _mount(own, home, None, MS_MOVE)
    if sorted(os.listdir(homes)) != [os.path.basename(home)]:
        raise OSError(f"{homes} still shows other homes")


def finish_in_new_pid_namespace() -> None:
    """In the first process of the new PID namespace: a /proc that shows only this namespace."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def set_parent_death_signal() -> None:
    """Have this process killed when its parent ends."""
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "set parent-death signal")


def drop_privileges(user: tuple[int, int], limits) -> None:
    """Become ``user`` (uid, gid) with no capabilities, under ``limits``; die with the parent."""
    for name, value in (
        ("RLIMIT_AS", limits.memory_mb * 1024 * 1024),
        ("RLIMIT_CPU", limits.cpu_seconds),
        ("RLIMIT_FSIZE", limits.file_size_mb * 1024 * 1024),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NPROC", limits.processes),
    ):
        resource.setrlimit(getattr(resource, name), (value, value))
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for capability in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), "drop capabilities")
    os.setgroups([])
    os.setresgid(user[1], user[1], user[1])
    os.setresuid(user[0], user[0], user[0])
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")
    _check(_libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "set not dumpable")
    set_parent_death_signal()  # after the change of user, which cleared it
    if os.getuid() != user[0] or os.geteuid() != user[0] or os.getegid() != user[1]:
        raise OSError(f"could not become uid {user[0]}")


# --------------------------------------------------------------------------------------------
# A seccomp filter for student processes
# --------------------------------------------------------------------------------------------

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
SYSCALLS = {  # the calls the filter looks at, by architecture
    "x86_64": {"clone": 56, "unshare": 272, "add_key": 248, "request_key": 249, "keyctl": 250},
    "aarch64": {"clone": 220, "unshare": 97, "add_key": 217, "request_key": 218, "keyctl": 219},
}
CLONE3 = 435  # the same number on both
CLONE_NEWUSER = 0x10000000
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO, _KILL = 0x7FFF0000, 0x00050000, 0x80000000
EPERM, ENOSYS = 1, 38


class _Instruction(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Instruction))]


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) for ``machine`` (``os.uname().machine``).

    Refused with EPERM: the kernel keyring (``add_key``, ``request_key``, ``keyctl``: shared by
    every process of one user on the machine, so a channel between students) and new user
    namespaces (``clone``/``unshare`` with ``CLONE_NEWUSER``: capabilities there open much of
    the kernel to attack). ``clone3`` gets ENOSYS, so the C library falls back to ``clone``,
    whose flags a filter can read. Another architecture (e.g. 32-bit calls) kills the process.
    """
    numbers = SYSCALLS[machine]
    refused = [numbers["add_key"], numbers["request_key"], numbers["keyctl"]]
    checked = [numbers["unshare"], numbers["clone"]]
    # Labels are resolved below: ("jump", code, k, label_if_true, label_if_false).
    lines: list[tuple] = [
        (_LD_ABS, 0, 0, 4),  # arch
        ("jump", _JEQ, AUDIT_ARCH[machine], None, "kill"),
        (_LD_ABS, 0, 0, 0),  # syscall number
    ]
    if machine == "x86_64":
        lines.append(("jump", _JGE, 0x40000000, "eperm", None))  # the x32 ABI
    lines += [("jump", _JEQ, number, "eperm", None) for number in refused]
    lines.append(("jump", _JEQ, CLONE3, "enosys", None))
    lines += [("jump", _JEQ, number, "flags", None) for number in checked]
    lines.append((_RET, 0, 0, _ALLOW))
    labels = {"flags": len(lines)}  # BPF jumps only forward
    lines += [
        (_LD_ABS, 0, 0, 16),  # the low half of the first argument: the flags
        ("jump", _JSET, CLONE_NEWUSER, "eperm", "allow"),
    ]
    for label, result in (
        ("eperm", _ERRNO | EPERM),
        ("enosys", _ERRNO | ENOSYS),
        ("kill", _KILL),
        ("allow", _ALLOW),
    ):
        labels[label] = len(lines)
        lines.append((_RET, 0, 0, result))

    def offset(label: str | None, index: int) -> int:
        return 0 if label is None else labels[label] - index - 1

    program = []
    for index, line in enumerate(lines):
        if line[0] == "jump":
            _, code, k, if_true, if_false = line
            line = (code, offset(if_true, index), offset(if_false, index), k)
        program.append(line)
    return program


def deny_risky_syscalls() -> None:
    """Install :func:`seccomp_program`'s filter on this process and all it starts (sets no_new_privs)."""
    machine = os.uname().machine
    if machine not in SYSCALLS:  # another architecture: the namespaces and limits only
        return
    program = seccomp_program(machine)
    instructions = (_Instruction * len(program))(*[_Instruction(*line) for line in program])
    fprog = _Program(len(program), instructions)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")
    _check(
        _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0),
        "install the seccomp filter",
    )
