"""What a student's sandbox uses, counted by the grader: CPU seconds, memory, disk; and a watchdog.

A grade must not depend on how busy the machine is, so the time budgets of grading count the
CPU seconds of the student's own processes, not wall-clock time: a correct but slow answer gets
the same CPU seconds on an idle machine and on a loaded one; only the wall-clock backstops
(``Limits.wall_factor`` times the CPU budgets) stretch with the load.

A :class:`Meter` is one sandbox's processes, seen from outside:

* :class:`CgroupMeter`: a cgroup v2 folder the sandbox's first process joins before it starts
  anything (``cpu.stat``: every process that ever ran in it, exited ones included;
  ``cgroup.kill``; ``memory.max`` for one memory cap over all its processes where the memory
  controller can be enabled). The grader makes ``course-grading/g-<pid>`` under the cgroup v2
  mount (or under ``COURSE_CGROUP``), one folder per sandbox in it; ``COURSE_CGROUP=0`` turns
  this off;
* :class:`ProcessMeter` where no cgroup can be made (a grader that is not root): the processes
  of a uid, or the descendants of given processes, read from ``/proc`` (CPU of exited processes
  is counted once their parent, also in the sandbox, has reaped them).

:class:`Watchdog` is a thread of the grader that watches one meter: more memory than
``Limits.memory_mb`` over all the processes together (where no cgroup enforces it), more CPU
than ``Limits.student_seconds`` since the student's grading began, or a home folder larger than
``Limits.home_mb`` (where it is not a tmpfs of that size): it kills every process of the sandbox
and keeps the reason, which the executor and the re-run report instead of a bare "died".
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

CGROUP_ENV_VAR = "COURSE_CGROUP"  # a cgroup v2 folder to use, or "0" for none
CGROUP_TOP = "course-grading"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
WATCH_SECONDS = 0.25  # how often a watchdog looks
MAX_HOME_ENTRIES = 50_000  # a home with more files than this counts as over its size


# --------------------------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children), or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return int(fields[1]), ticks / CLOCK_TICKS


def _uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_memory(pid: int) -> int:
    """Bytes of memory of ``pid``: its proportional share (PSS; pages shared after a fork count
    once over all the processes), or its resident size where PSS cannot be read."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    return 0


def _kill_all(pids: Iterable[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# Meters
# --------------------------------------------------------------------------------------------


class Meter:
    """One sandbox's processes, seen from the grader."""

    caps_memory = False  # whether the kernel itself holds the sandbox to Limits.memory_mb

    def pids(self) -> list[int]:
        raise NotImplementedError

    def _cpu(self) -> float:
        raise NotImplementedError

    def __init__(self) -> None:
        self._highest = 0.0

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the sandbox's processes (never decreases)."""
        self._highest = max(self._highest, self._cpu())
        return self._highest

    def memory_bytes(self) -> int:
        """Memory held now by the sandbox's processes together."""
        return sum(process_memory(pid) for pid in self.pids())

    def kill(self) -> None:
        """SIGKILL every process of the sandbox (a few rounds: a fork may be under way)."""
        for _ in range(5):
            pids = self.pids()
            if not pids:
                return
            _kill_all(pids)
            time.sleep(0.02)

    def wrap(self, command: Sequence[str]) -> list[str]:
        """``command`` made to start inside this meter (a cgroup's joins it first)."""
        return list(command)

    def close(self) -> None:
        """Forget the sandbox (a cgroup's folder is removed once its processes are gone)."""


class ProcessMeter(Meter):
    """The processes of ``uid``, and every descendant of ``roots`` (see :meth:`add_root`)."""

    def __init__(self, *, uid: int | None = None, roots: Iterable[int] = ()) -> None:
        super().__init__()
        self.uid = uid
        self.roots = set(roots)

    def add_root(self, pid: int) -> None:
        self.roots.add(pid)

    def _members(self) -> dict[int, float]:
        stats = {pid: _stat(pid) for pid in _all_pids()}
        stats = {pid: stat for pid, stat in stats.items() if stat is not None}
        members = {pid for pid in stats if pid in self.roots}
        if self.uid is not None:
            members |= {pid for pid in stats if _uid(pid) == self.uid}
        children: dict[int, list[int]] = {}
        for pid, (parent, _) in stats.items():
            children.setdefault(parent, []).append(pid)
        todo = list(members)
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in members:
                    members.add(child)
                    todo.append(child)
        return {pid: stats[pid][1] for pid in members}

    def pids(self) -> list[int]:
        return sorted(self._members())

    def _cpu(self) -> float:
        return sum(self._members().values())


class CgroupMeter(Meter):
    """A cgroup v2 folder holding the sandbox's processes."""

    def __init__(self, path: Path, memory_bytes: int | None = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.mkdir()
        self.caps_memory = False
        if memory_bytes is not None and (self.path / "memory.max").exists():
            with contextlib.suppress(OSError):
                (self.path / "memory.max").write_text(str(memory_bytes))
                if (self.path / "memory.swap.max").exists():
                    (self.path / "memory.swap.max").write_text("0")
                (self.path / "memory.oom.group").write_text("1")  # one process out: all out
                self.caps_memory = True

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in self.procs.read_text().split()]
        except (OSError, ValueError):
            return []

    def _cpu(self) -> float:
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
        return 0.0

    def memory_bytes(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            return int((self.path / "memory.current").read_text())
        return super().memory_bytes()

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of this cgroup for memory."""
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "memory.events").read_text().splitlines():
                if line.startswith("oom_kill ") and int(line.split()[1]) > 0:
                    return True
        return False

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            (self.path / "cgroup.kill").write_text("1")
        super().kill()

    def wrap(self, command: Sequence[str]) -> list[str]:
        # The shell moves itself into the cgroup, then becomes the command: nothing the
        # command starts can be outside it. If the move fails, nothing starts.
        join = 'echo 0 > "$0" && exec "$@"'
        return ["/bin/sh", "-c", join, str(self.procs), *command]

    def close(self) -> None:
        self.kill()
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # processes still leaving
                time.sleep(0.02)


_TREE: dict[int, Path | None] = {}  # this process's cgroup folder (per pid: forks make their own)
_TREE_LOCK = threading.Lock()
_COUNT = iter(range(1, 1 << 62))


def mount_points() -> list[str]:
    """The mount points of this process's mount namespace."""
    with contextlib.suppress(OSError):
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
        return [line.split()[4].encode().decode("unicode_escape") for line in lines]
    return []


def _cgroup2_mount() -> Path | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            before, _, after = line.partition(" - ")
            if after.split()[:1] == ["cgroup2"]:
                return Path(before.split()[4])
    return None


def cgroup_tree() -> Path | None:
    """This grading process's cgroup folder (made once), or None where no cgroup can be made."""
    pid = os.getpid()
    with _TREE_LOCK:
        if pid in _TREE:
            return _TREE[pid]
        _TREE[pid] = _make_tree(pid)
        return _TREE[pid]


def _make_tree(pid: int) -> Path | None:
    configured = os.environ.get(CGROUP_ENV_VAR, "").strip()
    if configured.lower() in ("0", "off", "no", "false"):
        return None
    base = Path(configured) if configured else None
    if base is None:
        mount = _cgroup2_mount()
        if mount is None:
            return None
        base = mount / CGROUP_TOP
    try:
        base.mkdir(exist_ok=True)
        _enable_controllers(base)
        _remove_stale(base)
        tree = base / f"g-{pid}"
        tree.mkdir(exist_ok=True)
        _enable_controllers(tree)
        probe = tree / "probe"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError:
        return None
    return tree


def _enable_controllers(folder: Path) -> None:
    """Pass the memory and pids controllers down where the parent has them (else: a watchdog)."""
    with contextlib.suppress(OSError):
        offered = set((folder / "cgroup.controllers").read_text().split())
        for name in ("memory", "pids"):
            if name in offered:
                with contextlib.suppress(OSError):
                    (folder / "cgroup.subtree_control").write_text(f"+{name}")


def _remove_stale(base: Path) -> None:
    """Remove the folders of grading processes that have ended (empty cgroups only)."""
    for folder in base.glob("g-*"):
        owner = folder.name[2:]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            for child in folder.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                folder.rmdir()


def new_meter(
    *, memory_bytes: int | None = None, uid: int | None = None, roots: Iterable[int] = ()
) -> Meter:
    """A cgroup for a new sandbox where one can be made, else a :class:`ProcessMeter` of
    ``uid``/``roots`` (a cgroup's processes join it through :meth:`Meter.wrap` or
    :func:`course_utils.grading.sandbox.isolation.join_cgroup`)."""
    tree = cgroup_tree()
    if tree is not None:
        with contextlib.suppress(OSError):
            return CgroupMeter(tree / f"s-{next(_COUNT)}", memory_bytes)
    return ProcessMeter(uid=uid, roots=roots)


# --------------------------------------------------------------------------------------------
# The watchdog
# --------------------------------------------------------------------------------------------


def folder_bytes(folders: Iterable[Path]) -> int:
    """Bytes on disk under ``folders`` (links not followed); past MAX_HOME_ENTRIES entries, huge."""
    total, entries = 0, 0
    todo = [str(f) for f in folders]
    while todo:
        with contextlib.suppress(OSError), os.scandir(todo.pop()) as scan:
            for entry in scan:
                entries += 1
                if entries > MAX_HOME_ENTRIES:
                    return 1 << 62
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    total += info.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        todo.append(entry.path)
    return total


class Watchdog:
    """A grader thread that ends a sandbox which passes its memory, CPU or disk limit.

    ``limits`` is the sandbox's :class:`~course_utils.grading.sandbox.bubblewrap.Limits`;
    ``folders`` the sandbox's writable folders on disk (``None``: already size-limited).
    :attr:`reason` says why it ended the sandbox (empty while it has not).
    """

    def __init__(
        self,
        meter: Meter,
        limits,
        folders: Sequence[Path] | None = None,
        *,
        count_cpu: bool = True,
    ) -> None:
        self.meter = meter
        self.limits = limits
        self.folders = list(folders) if folders else []
        self.reason = ""
        # False while the sandbox only starts (a fork server importing torch): its CPU is the
        # grader's, not the student's; :meth:`count_cpu_from_now` starts the student's budget.
        self.counting_cpu = count_cpu
        self.started_cpu = meter.cpu_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="course-watchdog", daemon=True)
        self._last_disk = 0.0

    def start(self) -> Watchdog:
        if self.counting_cpu:
            self.started_cpu = self.meter.cpu_seconds()
        self._thread.start()
        return self

    def started(self) -> bool:
        return self._thread.ident is not None

    def count_cpu_from_now(self) -> None:
        """Start the student's CPU budget here (their first process is about to run)."""
        self.started_cpu = self.meter.cpu_seconds()
        self.counting_cpu = True

    def used_cpu(self) -> float:
        """CPU seconds the sandbox used since the student's budget started (0 before)."""
        if not self.counting_cpu:
            return 0.0
        return self.meter.cpu_seconds() - self.started_cpu

    def check(self) -> str:
        """Look once; end the sandbox and return the reason if a limit is passed."""
        if self.reason:
            self.meter.kill()  # whatever starts later in an ended sandbox ends too
            return self.reason
        reason = ""
        limits = self.limits
        if self._over_memory():
            reason = f"used more than the {limits.memory_mb} MB of memory allowed"
        elif self.used_cpu() > limits.student_seconds:
            reason = (
                f"used more than the {limits.student_seconds} s of CPU time allowed "
                "for one submission"
            )
        elif self.folders and time.monotonic() - self._last_disk > 1.0:
            self._last_disk = time.monotonic()
            if folder_bytes(self.folders) > limits.home_mb << 20:
                reason = f"wrote more than the {limits.home_mb} MB of files allowed"
        if reason:
            self.reason = f"your code {reason}, so the grader stopped it"
            self.meter.kill()
        return self.reason

    def _over_memory(self) -> bool:
        meter = self.meter
        if isinstance(meter, CgroupMeter) and meter.out_of_memory():
            return True
        return not meter.caps_memory and meter.memory_bytes() > self.limits.memory_mb << 20

    def _run(self) -> None:
        while not self._stop.wait(WATCH_SECONDS):
            try:
                self.check()
            except Exception:  # noqa: BLE001 (a watchdog that fails must not end silently)
                import traceback

                traceback.print_exc()
                self.reason = self.reason or "the grader could not watch your code's resources"
                self.meter.kill()
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
