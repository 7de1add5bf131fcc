"""Limits that are the same on every machine and have no holes (issue 22, items 3 and 12).

Time is CPU time of the student's sandbox (waiting costs nothing, a busy machine costs nothing),
one memory cap covers all of a sandbox's processes, the home has a size, every kind of output
counts, a submission has a total CPU budget, and the kernel cannot write into the grader's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.grading import wire
from course_utils.grading.sandbox import accounting
from course_utils.grading.sandbox.bubblewrap import (
    Limits,
    SandboxUnavailable,
    check_sandbox,
    give_to_sandbox,
    sandbox_env,
    use_own_sandbox_uid,
)
from course_utils.grading.sandbox.zygote import SandboxSession, SharedForkServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandboxed() -> None:
    try:
        check_sandbox()
    except SandboxUnavailable as exc:
        if os.environ.get("COURSE_REQUIRE_SANDBOX"):
            pytest.fail(f"the sandbox is required here but cannot start: {exc}")
        pytest.skip(f"no sandbox here: {exc}")


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def _execute(nb, tmp_path: Path, monkeypatch, cell_seconds: int, **limits: int):
    """Run ``nb`` as nbgrader autograde does (GuardedExecute, sandboxed); return the executor."""
    from course_utils.grading.sandbox.kernel import GuardedExecute

    for name, value in limits.items():
        monkeypatch.setenv(f"COURSE_LIMIT_{name.upper()}", str(value))
    folder = tmp_path / "notebook"
    folder.mkdir(exist_ok=True)
    executor = GuardedExecute(timeout=cell_seconds)
    executor.preprocess(nb, {"metadata": {"path": str(folder)}})
    return executor


def _errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


# --------------------------------------------------------------------------------------------
# Time is CPU time
# --------------------------------------------------------------------------------------------

BURN = "import time\n_t = time.process_time()\nwhile time.process_time() - _t < {s}:\n    pass\n"


def test_a_cell_is_stopped_by_cpu_time_not_by_waiting(sandboxed, tmp_path, monkeypatch):
    nb = _notebook(
        "import time\n_t = time.monotonic()\ntime.sleep(4)\nprint('slept', time.monotonic() - _t > 3.9)",
        "while True:\n    pass",
        "print('next cell runs')",
    )
    executor = _execute(nb, tmp_path, monkeypatch, cell_seconds=2)
    assert _errors(nb.cells[0]) == [] and "slept True" in _text(nb.cells[0])  # 4 s wall, 0 CPU
    errors = _errors(nb.cells[1])
    assert any("CellTimeoutError" in e and "2 s of CPU time" in e for e in errors), errors
    assert _text(nb.cells[2]) == "next cell runs\n"
    assert 2 <= executor.notebook_cpu_seconds() < 2 + 3  # the loop, interrupted in time


def test_the_notebook_budget_is_cpu_time_too(sandboxed, tmp_path, monkeypatch):
    nb = _notebook(BURN.format(s=1.5), BURN.format(s=1.5), "print('too late')")
    _execute(nb, tmp_path, monkeypatch, cell_seconds=10, notebook_seconds=2)
    assert _errors(nb.cells[0]) == []
    assert any("notebook used its 2 s of CPU time" in e for e in _errors(nb.cells[1]))
    assert any("NotebookTimeBudgetError" in e for e in _errors(nb.cells[2]))


def test_meters_count_cpu_of_a_process_tree():
    """A process's own CPU and that of the children it reaped; nothing of other processes."""
    code = (
        BURN.format(s=1.0)
        + "import subprocess, sys\n"
        + f"subprocess.run([sys.executable, '-c', {BURN.format(s=1.0)!r}])\n"
        + "print('done', flush=True)\ntime.sleep(60)\n"
    )
    burner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        meter = accounting.ProcessMeter(roots=[burner.pid])
        assert burner.stdout.readline().strip() == "done"
        assert 1.8 < meter.cpu_seconds() < 3.0
        assert meter.pids() == [burner.pid]
    finally:
        burner.kill()
        burner.wait()


# --------------------------------------------------------------------------------------------
# Output of every kind counts
# --------------------------------------------------------------------------------------------


def test_every_kind_of_output_counts_and_errors_are_kept(sandboxed, tmp_path, monkeypatch):
    nb = _notebook(
        "raise ValueError('e' * 500_000)",
        "from IPython.display import HTML, display\n"
        "handles = [display(HTML('x'), display_id='same') for _ in range(50)]\n"
        "for _ in range(20):\n    handles[0].update(HTML('u' * 100_000))",
        "import json\nfrom IPython.display import display\n"
        "display({'application/json': {'k': 'j' * 400_000}}, raw=True)",
        "print('p' * 400_000)",
        "raise KeyError('a failed test after the budget')",
    )
    _execute(nb, tmp_path, monkeypatch, cell_seconds=30, output_kb=64)
    size = len(nbformat.writes(nb))
    assert size < 64 * 1024 + 20_000, size  # the whole notebook, not only printed text
    first = _errors(nb.cells[0])
    assert len(first) == 1 and first[0].startswith("ValueError: eee") and len(first[0]) < 3000
    assert _errors(nb.cells[4]) == ["KeyError: 'a failed test after the budget'"]
    assert "output truncated" in "".join(_text(c) for c in nb.cells)


# --------------------------------------------------------------------------------------------
# The kernel and the grader's streams
# --------------------------------------------------------------------------------------------

# Every descriptor the kernel holds that is not one of its own channels (sockets, event fds).
FORGE = (
    "import os, sys\n"
    "for _fd in range(256):\n"
    "    try:\n"
    "        if not os.readlink(f'/proc/self/fd/{_fd}').startswith(('socket:', 'anon_inode:')):\n"
    "            os.write(_fd, b'FORGED-LINE\\n')\n"
    "    except OSError:\n"
    "        pass\n"
    "for _stream in (sys.__stdout__, sys.__stderr__):\n"
    "    _stream.write('FORGED-LINE\\n')\n"
    "    _stream.flush()\n"
)


@pytest.mark.parametrize("fork_server", ["shared", "per-student", "off"])
def test_the_kernel_cannot_write_into_the_graders_log(sandboxed, tmp_path, fork_server):
    """A grading process writes its log on its own stdout/stderr; the kernel gets neither."""
    if fork_server == "shared" and os.geteuid() != 0:
        pytest.skip("a shared fork server needs a root grader")
    script = tmp_path / "grade.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import nbformat, sys
            from course_utils.grading.sandbox import zygote
            from course_utils.grading.sandbox.bubblewrap import Limits, use_own_sandbox_uid
            from course_utils.grading.sandbox.kernel import GuardedExecute
            use_own_sandbox_uid()
            mode, session, server = {fork_server!r}, None, None
            if mode == "shared":
                server = zygote.SharedForkServer().start()
                assert server.ready()
                session = server.session(Limits())
            elif mode == "per-student":
                session = zygote.SandboxSession(Limits()).start()
                assert session.ready()
            zygote.CURRENT = session
            nb = nbformat.read(sys.argv[1], as_version=4)
            GuardedExecute(timeout=10).preprocess(nb, {{"metadata": {{"path": sys.argv[2]}}}})
            print("graded:", len(nb.cells[0].outputs), "outputs")  # the notebook's, not the log's
            if session is not None:
                session.close()
            if server is not None:
                server.close()
            """
        )
    )
    nbformat.write(_notebook(FORGE, "print('done')"), tmp_path / "forge.ipynb")
    (tmp_path / "nb").mkdir()
    log = tmp_path / "grader.log"
    with log.open("wb") as stream:
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "forge.ipynb"), str(tmp_path / "nb")],
            stdout=stream,
            stderr=stream,
            env={**os.environ, "COURSE_FORK_SERVER": "0" if fork_server == "off" else "1"},
            timeout=300,
        )
    text = log.read_text(errors="replace")
    assert done.returncode == 0, text[-3000:]
    assert "graded:" in text and "FORGED-LINE" not in text


# --------------------------------------------------------------------------------------------
# One sandbox, one memory cap, one home size, one CPU budget
# --------------------------------------------------------------------------------------------

HOLDERS = (
    "import os, subprocess, sys, time\n"
    "def hold(processes, mb):\n"
    "    code = f'x = bytearray({mb} << 20)\\nfor i in range(0, len(x), 4096): x[i] = 1\\n'\n"
    "    code += 'import time\\ntime.sleep(120)'\n"
    "    global _kids\n"
    "    _kids = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(processes)]\n"
    "    return len(_kids)\n"
    "def burn(seconds):\n"
    "    t = time.process_time()\n"
    "    while time.process_time() - t < seconds:\n"
    "        pass\n"
    "    return seconds\n"
    "def write(files, mb):\n"
    "    for i in range(files):\n"
    "        with open(f'big-{i}', 'wb') as out:\n"
    "            out.write(b'w' * (mb << 20))\n"
    "    return files\n"
    "def descriptors():\n"
    "    found = {}\n"
    "    for fd in os.listdir('/proc/self/fd'):\n"
    "        try:\n"
    "            found[fd] = os.readlink('/proc/self/fd/' + fd)\n"
    "        except OSError:\n"
    "            pass\n"
    "    return found\n"
)


def _session(kind: str, limits: Limits):
    """A student's session: (session, server or None)."""
    if kind == "shared":
        if os.geteuid() != 0:
            pytest.skip("a shared fork server needs a root grader")
        use_own_sandbox_uid()
        server = SharedForkServer(limits).start()
        assert server.ready(), "the shared fork server did not start"
        return server.session(limits), server
    session = SandboxSession(limits).start()
    assert session.ready(), "the fork server did not start"
    return session, None


def _worker(session, cells: list[str]) -> subprocess.Popen:
    folder = session.new_folder("worker-")
    program = folder / "program.json"
    program.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    give_to_sandbox(folder)
    command = session.command(
        "worker",
        ["course_utils.grading.worker", str(program)],
        session.scratch,
        sandbox_env({"MPLBACKEND": "Agg"}),
    )
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert wire.receive(process.stdout.fileno(), time.monotonic() + 120)["problems"] == []
    return process


def _call(process, path: str, *args, seconds: float = 120):
    message = {"op": "call", "path": path, "exercise": "x", "args": wire.encode(list(args))}
    wire.send(process.stdin.fileno(), {**message, "kwargs": wire.encode({})})
    try:
        answer = wire.receive(process.stdout.fileno(), time.monotonic() + seconds)
    except (EOFError, OSError, TimeoutError) as exc:
        return exc
    return wire.decode(answer["value"]) if answer.get("ok") else answer.get("error")


def _ended(session, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not session.watchdog.reason:
        time.sleep(0.1)
    return session.watchdog.reason


@pytest.mark.parametrize("kind", ["shared", "per-student"])
def test_one_memory_cap_for_all_the_processes_of_a_sandbox(sandboxed, kind):
    """Four processes of 400 MB each stay under a 1 GiB per-process cap, not under the total."""
    session, server = _session(kind, Limits(memory_mb=1024))
    try:
        worker = _worker(session, [HOLDERS])
        assert _call(worker, "hold", 4, 400) == 4
        reason = _ended(session)
        assert "1024 MB of memory" in reason, reason
        assert session.watchdog.meter.pids() == [] or worker.wait(timeout=30) is not None
    finally:
        session.close()
        if server is not None:
            server.close()


@pytest.mark.parametrize("kind", ["shared", "per-student"])
def test_the_home_has_a_size(sandboxed, kind):
    session, server = _session(kind, Limits(home_mb=64))
    try:
        worker = _worker(session, [HOLDERS])
        result = _call(worker, "write", 8, 16)  # 128 MB in files of 16 MB (each under 64 MB)
        if kind == "shared" and server.homes_limited:
            assert isinstance(result, dict) and result.get("type") == "OSError", result
            assert "No space left" in result.get("message", "")
        else:
            assert "64 MB of files" in _ended(session), result
    finally:
        session.close()
        if server is not None:
            server.close()


@pytest.mark.parametrize("kind", ["shared", "per-student"])
def test_a_submission_has_a_total_cpu_budget(sandboxed, kind):
    session, server = _session(kind, Limits(student_seconds=3))
    try:
        worker = _worker(session, [HOLDERS])
        assert _call(worker, "burn", 1) == 1  # within the budget
        outcome = _call(worker, "burn", 10)
        assert not isinstance(outcome, int), outcome
        assert "3 s of CPU time" in session.watchdog.reason
        assert 3 < session.watchdog.used_cpu() < 6
    finally:
        session.close()
        if server is not None:
            server.close()


def test_the_fork_servers_own_start_is_not_the_students_cpu(sandboxed):
    """A per-student fork server imports torch before any student code runs: the grader's CPU.

    With a budget smaller than that import, the server still starts and the student still runs.
    """
    session = SandboxSession(Limits(student_seconds=1)).start()
    try:
        assert session.ready(), f"the fork server did not start: {session.watchdog.reason}"
        assert not session.watchdog.reason and session.watchdog.used_cpu() == 0.0
        worker = _worker(session, [HOLDERS])
        assert _call(worker, "burn", 0.25) == 0.25
        assert session.watchdog.used_cpu() < 1
    finally:
        session.close()


@pytest.mark.parametrize("kind", ["shared", "per-student"])
def test_forked_processes_inherit_only_their_own_streams(sandboxed, kind):
    session, server = _session(kind, Limits())
    try:
        worker = _worker(session, [HOLDERS])
        found = _call(worker, "descriptors")
        # 0-2 are what the grader handed over; past them only the worker's own: its channel
        # (a pipe), IPython's history database, and the listing itself
        foreign = {
            fd: target
            for fd, target in found.items()
            if int(fd) > 2 and not target.startswith("pipe:")
        }
        assert all("history.sqlite" in t or t.startswith("/proc/") for t in foreign.values()), found
    finally:
        session.close()
        if server is not None:
            server.close()


def test_limits_have_the_new_budgets(monkeypatch):
    monkeypatch.setenv("COURSE_LIMIT_STUDENT_SECONDS", "77")
    limits = Limits.from_env(home_mb=9)
    assert (limits.student_seconds, limits.home_mb, limits.wall_factor) == (77, 9, 10)
    with pytest.raises(ValueError, match="wall_factor"):
        Limits(wall_factor=0)


# --------------------------------------------------------------------------------------------
# The re-run of the tests and the checkers count CPU time too
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fork_server", ["per-student", "off"])
def test_the_rerun_gives_a_test_cell_cpu_seconds(sandboxed, fork_server):
    from course_utils.grading.sandbox import zygote
    from course_utils.grading.verify import WorkerClient

    cells = [
        "import time\n"
        "def nap(seconds):\n    time.sleep(seconds)\n    return seconds\n"
        "def spin():\n    while True:\n        pass\n"
    ]
    session = SandboxSession(Limits()).start() if fork_server == "per-student" else None
    zygote.CURRENT = session
    client = WorkerClient(cells, sandbox=True, limits=Limits(), startup_seconds=60)
    try:
        client.begin_cell(2)
        assert client.request({"op": "call", "path": "nap", "exercise": "x",
                               "args": wire.encode([3]), "kwargs": wire.encode({})}) == 3  # fmt: skip
        client.begin_cell(2)
        before = client.cpu_seconds()  # the start-up's imports (a worker of its own) and the nap
        with pytest.raises(TimeoutError, match="took too long"):
            client.request({"op": "call", "path": "spin", "exercise": "x",
                            "args": wire.encode([]), "kwargs": wire.encode({})})  # fmt: skip
        assert 2 <= client.cpu_seconds() - before < 3.5  # stopped at its CPU budget
    finally:
        client.stop()
        zygote.CURRENT = None
        if session is not None:
            session.close()


def test_a_checkers_time_limit_counts_cpu_time():
    from course_utils.checks.toolkit import StudentProxy, student_cpu_seconds

    def nap():
        time.sleep(1.0)

    start = student_cpu_seconds(nap)
    nap()
    assert student_cpu_seconds(nap) - start < 0.5  # waiting is free

    class Remote(StudentProxy):
        def cpu_seconds(self) -> float:
            return 42.0  # as the grader measured the student's worker

    assert student_cpu_seconds(Remote()) == 42.0


def test_a_killed_grader_leaves_no_home_mounted(sandboxed, tmp_path):
    """A grading process killed with its shared server still running: the next one unmounts
    and removes that server's tmpfs of homes."""
    if os.geteuid() != 0:
        pytest.skip("a shared fork server needs a root grader")
    code = (
        "from course_utils.grading.sandbox.zygote import SharedForkServer\n"
        "server = SharedForkServer()\n"
        "print(server.homes, server.homes_limited, flush=True)\n"
        "import time\ntime.sleep(600)\n"
    )
    grader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    homes, limited = grader.stdout.readline().split()
    grader.kill()
    grader.wait()
    assert limited == "True" and homes in accounting.mount_points()
    server = SharedForkServer()
    try:
        assert homes not in accounting.mount_points() and not Path(homes).exists()
    finally:
        server.close()
    assert str(server.homes) not in accounting.mount_points()
