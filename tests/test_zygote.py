"""The fork servers (course_utils.grading.sandbox.zygote): imports done once, nothing shared, nothing leaked.

A per-student server runs in that student's own sandbox; a shared one (a root grader's
default) serves every student of a grading process and walls each fork in on its own
(course_utils.grading.sandbox.isolation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from course_utils.grading import wire
from course_utils.grading.sandbox.bubblewrap import (
    SandboxUnavailable,
    check_sandbox,
    give_to_sandbox,
    sandbox_env,
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


def _worker(session: SandboxSession, cells: list[str]) -> subprocess.Popen:
    folder = session.new_folder("worker-")
    program = folder / "program.json"
    program.write_text(json.dumps({"cells": cells}), encoding="utf-8")
    give_to_sandbox(folder)
    command = session.command(
        "worker",
        ["course_utils.grading.worker", str(program)],
        folder,
        sandbox_env({"MPLBACKEND": "Agg"}),
    )
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _call(process: subprocess.Popen, path: str, *args):
    message = {"op": "call", "path": path, "exercise": "x", "args": wire.encode(list(args))}
    wire.send(process.stdin.fileno(), {**message, "kwargs": wire.encode({})})
    answer = wire.receive(process.stdout.fileno(), time.monotonic() + 60)
    assert answer["ok"], answer
    return wire.decode(answer["value"])


def _ready(process: subprocess.Popen) -> dict:
    return wire.receive(process.stdout.fileno(), time.monotonic() + 120)


def test_forked_processes_start_warm_isolated_and_clean(sandboxed):
    setup_cell = "import numpy as np\nimport course_utils as cu\ndevice = cu.setup(seed=0)"
    leave_behind = (
        "import os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "def left():\n    return child.pid\n"
        "def me():\n    return [os.getpid(), os.getuid(), os.getppid()]\n"
        "def peek(pid):\n"
        "    try:\n        open(f'/proc/{pid}/mem', 'rb').read(1)\n    except OSError as exc:\n"
        "        return type(exc).__name__\n    return 'read'\n"
        "def warm():\n    return 'torch' in sys.modules and 'IPython' in sys.modules\n"
    )
    probe = (
        "import os\n"
        "def alive(pid):\n    try:\n        os.kill(pid, 0)\n    except ProcessLookupError:\n"
        "        return False\n    return True\n"
    )
    with SandboxSession() as session:
        session.start()
        assert session.ready(), "the fork server did not start"
        first = _worker(session, [setup_cell, leave_behind])
        assert _ready(first)["problems"] == []
        assert _call(first, "warm") is True  # forked with the imports done
        pid, uid, parent = _call(first, "me")
        assert pid < 100  # its own PID namespace
        if os.geteuid() == 0:
            assert uid != 0  # never root
        assert _call(first, "peek", parent) in ("PermissionError", "OSError")  # not dumpable
        leftover = _call(first, "left")
        first.stdin.close()
        assert first.wait(timeout=60) == 0
        second = _worker(session, [probe])
        assert _ready(second)["problems"] == []
        assert _call(second, "alive", leftover) is False  # killed before the next fork
        second.stdin.close()
        assert second.wait(timeout=60) == 0


def test_the_stand_in_takes_its_child_along_and_the_server_survives_its_children(sandboxed):
    with SandboxSession() as session:
        session.start()
        assert session.ready()
        worker = _worker(session, ["import os\ndef me():\n    return os.getpid()"])
        _ready(worker)
        worker.kill()  # as a kernel manager or the worker client kills it
        worker.wait(timeout=30)
        probe = _worker(
            session,
            [
                "import os\n"
                "def count():\n"
                "    return sum(1 for p in os.listdir('/proc') if p.isdigit())\n"
                "def end_server():\n    os.kill(os.getppid(), 9)\n    return os.getppid()\n",
            ],
        )
        _ready(probe)
        assert _call(probe, "count") <= 2  # the fork server (PID 1) and this worker
        assert (
            _call(probe, "end_server") == 1
        )  # the fork server is init: a kill from inside is void
        assert session.alive()
        probe.stdin.close()
        assert probe.wait(timeout=30) == 0
        command = session.command("worker", ["course_utils.grading.worker", "-"], "/", {})
        session.close()  # no server any more: the caller falls back to a plain sandbox
        late = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert late.wait(timeout=30) == 111  # no server: the caller falls back to a plain sandbox


@pytest.mark.parametrize("kind", ["SandboxSession", "SharedForkServer"])
def test_the_sandbox_ends_when_its_grader_dies_without_closing_it(sandboxed, kind):
    if kind == "SharedForkServer" and os.geteuid() != 0:
        pytest.skip("a shared fork server needs a root grader")
    owner = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import os\nfrom course_utils.grading.sandbox.zygote import {kind}\n"
            f"s = {kind}().start()\nassert s.ready()\nprint(s.socket_path, flush=True)\n"
            "os._exit(0)  # no close(): as a grading process killed mid-run\n",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    socket_path = owner.stdout.strip()
    assert socket_path.endswith("zygote.sock"), owner.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _running(socket_path):
        time.sleep(0.2)
    assert not _running(socket_path), "the fork server outlived its grader"


def _running(socket_path: str) -> bool:
    found = subprocess.run(["pgrep", "-f", socket_path], capture_output=True, text=True)
    return bool(found.stdout.strip())


PROBE = (
    "import os, socket, subprocess, sys\n"
    "def me():\n    return [os.getpid(), os.getuid(), os.getgid(), os.getppid()]\n"
    "def ls(path):\n    try:\n        return sorted(os.listdir(path))\n    except OSError as exc:\n"
    "        return type(exc).__name__\n"
    "def pids():\n    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
    "def write(path):\n    try:\n        open(path, 'w').write('x')\n    except OSError as exc:\n"
    "        return type(exc).__name__\n    return 'written'\n"
    "def net():\n    try:\n        socket.create_connection(('10.0.0.1', 53), timeout=2)\n"
    "    except OSError as exc:\n        return type(exc).__name__\n    return 'connected'\n"
    "def status():\n    return dict(line.split(':\\t', 1) for line in open('/proc/self/status')\n"
    "                if line.startswith(('Cap', 'NoNewPrivs')))\n"
    "def warm():\n    return 'torch' in sys.modules and 'IPython' in sys.modules\n"
    "def refused():\n"
    "    import ctypes\n"
    "    libc = ctypes.CDLL(None, use_errno=True)\n"
    "    key = libc.syscall(248, b'user', b'note', b'hi', 2, -4)  # add_key: x86_64 numbers\n"
    "    userns = subprocess.run(['unshare', '-Ur', 'true'], capture_output=True).returncode\n"
    "    return [key, userns]\n"
    "def tmp_mb():\n    st = os.statvfs('/tmp')\n    return st.f_blocks * st.f_frsize // 2**20\n"
    "def rename(path):\n    try:\n        os.rename(path, path + '-moved')\n"
    "    except OSError as exc:\n        return type(exc).__name__\n    return 'renamed'\n"
    "def user():\n    import getpass\n    return getpass.getuser()\n"
    "def sleeper(tag):\n"
    "    return subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', tag]).pid\n"
)


def test_a_shared_server_walls_every_student_in_on_their_own(sandboxed, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("a shared fork server needs a root grader")
    monkeypatch.setenv("COURSE_SANDBOX_UID", "2000000001")  # as a grading process sets its own
    server = SharedForkServer().start()
    try:
        assert server.ready(), "the shared fork server did not start (or its walls failed)"
        decoy = server.homes / "someone-else"  # a classmate's home, there at the same time
        decoy.mkdir()
        (decoy / "answers.py").write_text("secret", encoding="utf-8")
        with server.session() as first:
            worker = _worker(first, [PROBE])
            assert _ready(worker)["problems"] == []
            assert _call(worker, "warm") is True  # forked with the imports done
            pid, uid, gid, parent = _call(worker, "me")
            assert (pid, parent) == (2, 1)  # its own PID namespace, under its own init
            assert uid == 2000000001 and gid != 0  # the grading process's own uid, not root
            assert _call(worker, "user") == "student"
            assert _call(worker, "pids") == [1, 2]  # neither the server nor a classmate
            assert _call(worker, "ls", str(server.homes)) == [first.home.name]
            assert _call(worker, "ls", str(decoy)) == "FileNotFoundError"
            assert _call(worker, "ls", str(server.control)) == []  # no socket to the server
            assert _call(worker, "net") == "OSError"  # no network
            assert _call(worker, "write", "/tmp/left-by-first") == "written"
            assert _call(worker, "write", sys.prefix + "/planted.py") == "OSError"
            status = _call(worker, "status")
            assert int(status["CapEff"], 16) == int(status["CapBnd"], 16) == 0
            assert status["NoNewPrivs"].strip() == "1"
            # The home and private/ are the grader's: nothing there can be swapped for a link
            # that the grader (root) would follow when it prepares the next kernel or worker.
            assert _call(worker, "write", str(first.private / "planted")) == "PermissionError"
            assert _call(worker, "rename", str(first.scratch)) == "PermissionError"
            assert _call(worker, "write", str(first.scratch / "mine.txt")) == "written"
            if os.uname().machine == "x86_64":  # the keyring and new user namespaces: refused
                key, userns = _call(worker, "refused")
                assert key == -1 and userns != 0
            assert _call(worker, "tmp_mb") <= first.limits.tmp_mb
            _call(worker, "sleeper", "course-test-leftover")
            worker.stdin.close()
            assert worker.wait(timeout=60) == 0
        assert not _running("course-test-leftover"), "a process outlived its student's session"
        with server.session() as second:
            worker = _worker(second, [PROBE])
            assert _ready(worker)["problems"] == []
            assert _call(worker, "ls", "/tmp").count("left-by-first") == 0  # a fresh /tmp
            assert _call(worker, "ls", str(server.homes)) == [second.home.name]
            worker.stdin.close()
            assert worker.wait(timeout=60) == 0
    finally:
        server.close()


def test_a_shared_server_refuses_a_home_outside_its_folder(sandboxed):
    if os.geteuid() != 0:
        pytest.skip("a shared fork server needs a root grader")
    server = SharedForkServer().start()
    try:
        assert server.ready()
        with server.session() as session:
            command = session.command("worker", ["course_utils.grading.worker", "-"], "/", {})
            request = json.loads(command[-1])
            for home in ("/", str(server.control), str(server.homes / ".." / "x")):
                command[-1] = json.dumps({**request, "home": home})
                done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True)
                assert done.returncode != 0
                assert b"home must be a folder in" in done.stderr
    finally:
        server.close()
