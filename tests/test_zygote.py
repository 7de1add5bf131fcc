"""The per-student fork server (course_utils.zygote): imports done once, nothing shared, nothing leaked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from course_utils import wire
from course_utils.sandbox import SandboxUnavailable, check_sandbox, give_to_sandbox, sandbox_env
from course_utils.zygote import SandboxSession

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
        "worker", ["course_utils.worker", str(program)], folder, sandbox_env({"MPLBACKEND": "Agg"})
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
        command = session.command("worker", ["course_utils.worker", "-"], "/", {})
        session.close()  # no server any more: the caller falls back to a plain sandbox
        late = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert late.wait(timeout=30) == 111  # no server: the caller falls back to a plain sandbox


def test_the_sandbox_ends_when_its_grader_dies_without_closing_it(sandboxed):
    owner = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os\nfrom course_utils.zygote import SandboxSession\n"
            "s = SandboxSession().start()\nassert s.ready()\nprint(s.socket_path, flush=True)\n"
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
