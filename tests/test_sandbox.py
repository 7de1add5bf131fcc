"""course_utils.grading.sandbox: what a sandboxed process can see, write, reach and use."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.grading.sandbox import bubblewrap
from course_utils.grading.sandbox.bubblewrap import Limits, SandboxUnavailable, sandbox_command
from course_utils.grading.sandbox.outputcap import cap_output

REPO = Path(__file__).resolve().parents[1]


needs_sandbox = pytest.mark.usefixtures("sandbox_available")


def test_limits_validate_and_read_the_environment(monkeypatch):
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=0)
    monkeypatch.setenv("COURSE_LIMIT_NOTEBOOK_SECONDS", "42")
    assert Limits.from_env().notebook_seconds == 42
    assert Limits.from_env(notebook_seconds=7).notebook_seconds == 7
    monkeypatch.setenv("COURSE_LIMIT_MEMORY_MB", "lots")
    with pytest.raises(ValueError, match="COURSE_LIMIT_MEMORY_MB"):
        Limits.from_env()
    assert Limits().as_env()["COURSE_LIMIT_OUTPUT_KB"] == "1024"


def test_a_missing_bubblewrap_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(bubblewrap.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        bubblewrap.check_sandbox()


def test_the_command_isolates_and_clears_the_environment(monkeypatch):
    if bubblewrap.shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed")
    monkeypatch.setenv("COURSE_DB_URL", "postgresql://secret@host/db")
    command = sandbox_command(["true"], writable=["/tmp"], limits=Limits(memory_mb=100))
    assert "--die-with-parent" in command and "--clearenv" in command
    assert "--unshare-pid" in command or "--unshare-all" in command
    assert not any("secret" in part for part in command)
    assert f"--as={100 * 1024 * 1024}" in command
    assert command[-1] == "true"


def _run(code: str, **kwargs) -> subprocess.CompletedProcess:
    command = sandbox_command([sys.executable, "-c", code], **kwargs)
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@needs_sandbox
def test_the_course_is_invisible_and_the_package_read_only():
    done = _run(
        "import os, course_utils\n"
        f"print(os.path.exists({str(REPO / 'solutions')!r}), os.path.exists({str(REPO / 'tests')!r}))\n"
        "try:\n"
        "    open(course_utils.__file__, 'a')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "PermissionError"] or done.stdout.split() == [
        "False",
        "False",
        "OSError",
    ]


@needs_sandbox
def test_no_network_no_grader_processes_no_root():
    done = _run(
        "import os, socket\n"
        "s = socket.socket()\n"
        "try:\n"
        "    s.connect(('1.1.1.1', 80)); print('network')\n"
        "except OSError:\n"
        "    print('offline')\n"
        "print(len([p for p in os.listdir('/proc') if p.isdigit()]) < 6)\n"
        "print(os.getuid() != 0 or os.geteuid() != 0)\n"
    )
    assert done.stdout.split() == ["offline", "True", "True"], done.stderr


@needs_sandbox
def test_memory_is_limited_and_writes_stay_in_the_scratch_folder(tmp_path):
    done = _run(
        "try:\n    b = bytearray(4 * 1024**3)\nexcept MemoryError:\n    print('refused')\n"
        f"open({str(tmp_path / 'ok.txt')!r}, 'w').write('x')\n",
        writable=[tmp_path],
        limits=Limits(memory_mb=1024),
    )
    bubblewrap.give_to_sandbox(tmp_path)
    assert "refused" in done.stdout, done.stderr
    assert done.returncode in (0, 1)


@needs_sandbox
def test_children_die_with_the_sandbox():
    marker = f"course-sandbox-child-{os.getpid()}"
    done = _run(
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', {marker!r}],"
        " start_new_session=True)\n"
    )
    assert done.returncode == 0, done.stderr
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert not left.strip()


def test_cap_output_cuts_a_flood(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    cap_output(10)
    print("x" * 100)
    print("more")
    text = buffer.getvalue()
    assert text.startswith("x" * 10) and "truncated after 10" in text and "more" not in text
