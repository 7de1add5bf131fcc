"""Grading on a real Dask cluster with a real PostgreSQL gradebook, a worker killed mid-run.

The scheduler and the workers are separate processes (``python -m dask scheduler`` / ``worker``),
the gradebook a PostgreSQL server started here in a temporary folder (Debian's ``postgresql``;
``.ci/run`` installs it). Every student must end with exactly one grade, equal to what a serial
run gives. Submissions of the same kind are byte-identical, so the serial reference grades one
of each kind (same secret seed).

``COURSE_CLUSTER_CLASS`` sets the class size: 6 by default (two of each kind, enough for a worker
to be killed while it grades); a class of 40 is a benchmark (benchmarks/README.md: 444 s on
2 idle cores).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
import nbformat  # noqa: E402
from notebook_edits import PATCH_CHECKERS, with_cell  # noqa: E402

from course_utils.grading import (
    autograde,  # noqa: E402
    gradebook,
    intake,
    records,
)
from course_utils.grading.sandbox.bubblewrap import Limits, SandboxUnavailable, check_sandbox  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "assignment1"
NOTEBOOK = "conv1d.ipynb"
CLASS_SIZE = int(os.environ.get("COURSE_CLUSTER_CLASS", "6"))
KINDS = ("honest", "blank", "patched")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server in a temporary folder, as a non-root user; its SQLAlchemy URL."""
    pytest.importorskip("psycopg2", reason="psycopg2 (psycopg2-binary) is not installed")
    initdb, pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)")
    folder = Path(tempfile.mkdtemp(prefix="course-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as `nobody`
        try:
            user = pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("running as root and there is no `nobody` user to run PostgreSQL as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        setpriv = shutil.which("setpriv")
        if not setpriv:
            pytest.skip("running as root without setpriv to drop to `nobody` for PostgreSQL")
        prefix = [setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
    port = _free_port()
    data = folder / "data"
    env = {**os.environ, "LC_ALL": "C", "HOME": str(folder)}
    done = subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "course", "--auth=trust", "-E", "UTF8"],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
    )
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed here: {done.stderr.strip()[-300:]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    done = subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
        capture_output=True,
        text=True,
        env=env,
        cwd=folder,
    )
    if done.returncode != 0:
        log = (folder / "log").read_text() if (folder / "log").exists() else done.stderr
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL did not start here: {log.strip()[-300:]}")
    try:
        yield f"postgresql+psycopg2://course@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            cwd=folder,
        )
        shutil.rmtree(folder, ignore_errors=True)


class LocalDaskCluster:
    """A scheduler and ``workers`` workers, each its own process group (to kill one for real)."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        self.file = folder / "scheduler.json"
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        self.scheduler = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "scheduler",
                "--host=127.0.0.1",
                "--port=0",
                "--dashboard-address=127.0.0.1:0",
                f"--scheduler-file={self.file}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "scheduler.log").open("wb"),
            start_new_session=True,
            env=env,
        )
        deadline = time.monotonic() + 120
        while not self.file.exists():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.2)
        self.workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dask",
                    "worker",
                    f"--scheduler-file={self.file}",
                    "--nworkers=1",
                    "--nthreads=1",
                    "--no-dashboard",
                    "--host=127.0.0.1",
                    f"--name=w{index}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(folder / f"worker{index}.log").open("wb"),
                start_new_session=True,
                env=env,
            )
            for index in range(workers)
        ]

    @property
    def address(self) -> str:
        import json

        return json.loads(self.file.read_text())["address"]

    def kill_worker(self, index: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait()

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _make_class(folder: Path, size: int) -> dict[str, str]:
    """A scratch course with ``size`` submissions cycling through KINDS; student -> kind."""
    shutil.copy(REPO / "nbgrader_config.py", folder)
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, folder / "solutions" / ASSIGNMENT)
    gradebook.release(folder, [ASSIGNMENT], progress=lambda _: None)
    solution = nbformat.read(folder / "solutions" / ASSIGNMENT / NOTEBOOK, as_version=4)
    released = nbformat.read(folder / "assignments" / ASSIGNMENT / NOTEBOOK, as_version=4)
    patched = with_cell(released, PATCH_CHECKERS)
    notebooks = {"honest": solution, "blank": released, "patched": patched}
    kinds = {}
    for index in range(size):
        kind = KINDS[index % len(KINDS)]
        student = f"s{index:03d}-{kind}"
        target = folder / "subs" / student
        target.mkdir(parents=True)
        nbformat.write(notebooks[kind], target / NOTEBOOK)
        kinds[student] = kind
    students, failures = intake.collect_submissions(
        folder, ASSIGNMENT, folder / "subs", progress=lambda _: None
    )
    assert not failures and sorted(students) == sorted(kinds)
    return kinds


def _outcome(result) -> tuple:
    return (result.status, result.score, result.max_score, len(result.flags) > 0)


@pytest.fixture(scope="module")
def sandboxed() -> bool:
    try:
        check_sandbox()
        return True
    except SandboxUnavailable as exc:
        if os.environ.get("COURSE_REQUIRE_SANDBOX"):
            pytest.fail(f"the sandbox is required here but cannot start: {exc}")
        return False


def test_cluster_with_postgres_and_a_killed_worker(tmp_path, postgres_url, sandboxed, monkeypatch):
    setup = records.GradingSetup(sandbox=sandboxed, seed=7, limits=Limits())

    # the serial reference: one submission of each kind, one at a time, SQLite gradebook
    serial_root = tmp_path / "serial"
    serial_root.mkdir()
    monkeypatch.delenv("COURSE_DB_URL", raising=False)
    kinds = _make_class(serial_root, len(KINDS))
    serial = autograde.autograde(
        serial_root, ASSIGNMENT, list(kinds), jobs=1, progress=lambda _: None, setup=setup
    )
    reference = {kinds[r.student]: _outcome(r) for r in serial}
    assert reference["honest"][0] == "graded" and reference["honest"][1] > 0
    assert reference["blank"][1] == 0 and reference["patched"][1] == 0

    # the cluster run: PostgreSQL gradebook, two workers, one killed while it grades
    root = tmp_path / "course"
    root.mkdir()
    monkeypatch.setenv("COURSE_DB_URL", postgres_url)
    kinds = _make_class(root, CLASS_SIZE)
    cluster = LocalDaskCluster(tmp_path, workers=2)
    lines: list[str] = []
    outcome: dict[str, object] = {}
    try:
        from distributed import Client

        with Client(cluster.address, timeout="60s") as watcher:
            watcher.wait_for_workers(2, timeout=180)

            def run() -> None:
                try:
                    outcome["results"] = autograde.autograde(
                        root,
                        ASSIGNMENT,
                        sorted(kinds),
                        progress=lines.append,
                        setup=setup,
                        cluster=cluster.address,
                    )
                except BaseException as exc:  # noqa: BLE001 (re-raised below)
                    outcome["error"] = exc

            thread = threading.Thread(target=run)
            thread.start()
            # kill worker w0 once it has graded one submission and is busy with another
            deadline = time.monotonic() + 600
            killed = False
            while thread.is_alive() and time.monotonic() < deadline and not killed:
                time.sleep(1)
                graded = sum(line.startswith("[") for line in lines)
                busy = {
                    info["name"]: len(watcher.processing().get(address, ()))
                    for address, info in watcher.scheduler_info()["workers"].items()
                }
                if graded >= 1 and busy.get("w0", 0) > 0:
                    cluster.kill_worker(0)
                    killed = True
            thread.join(timeout=1800)
        assert killed, "the run ended before a worker could be killed mid-run"
        assert "error" not in outcome, outcome.get("error")
        results = outcome["results"]
    finally:
        cluster.close()

    assert any("dashboard" in line for line in lines)
    assert sorted(r.student for r in results) == sorted(kinds)  # each student once
    for result in results:
        assert _outcome(result) == reference[kinds[result.student]], result

    from nbgrader.api import Gradebook

    with Gradebook(postgres_url) as gradebook:  # exactly one grade per student in the gradebook
        submissions = gradebook.find_assignment(ASSIGNMENT).submissions
        assert sorted(s.student_id for s in submissions) == sorted(kinds)
        for submission in submissions:
            expected = reference[kinds[submission.student_id]]
            assert submission.score == pytest.approx(expected[1]), submission.student_id
