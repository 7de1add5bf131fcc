"""Shared pytest set-up: headless plotting, the ``gpu`` marker, the repository root, the sandbox."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# `course autograde` grades the solution and the blank release before every class (the canary,
# course_utils.grading.autograde.run_canary); tests/test_canary.py tests it, other tests would
# only pay for two more nbgrader runs per class: they skip it.
os.environ.setdefault("COURSE_CANARY", "0")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _group_names(item) -> list[str]:
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers("xdist_group")
    }
    return sorted(names)


def pytest_configure(config):
    """Keep the order below: xdist would otherwise order its work by the number of tests per group."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def _slow_modules_first(items) -> None:
    """Put every module that holds a ``slow`` test first (their order otherwise kept).

    xdist hands out work in this order: started first, the minute-long tests (grading runs,
    lectures executed) overlap the thousand quick ones, instead of one of them starting last
    while the other worker has nothing left to do. Whole modules move, so a module's fixtures
    are still set up once per worker.
    """
    slow = {item.module.__name__ for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.module.__name__ not in slow)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under ``--dist loadgroup``, give each test of an ``xdist_group`` its group's suffix.

    pytest-xdist 3.8 does this by setting ``item._nodeid``, which pytest 9.2 no longer reads (a
    node's id is ``item._id``, a ``NodeId``): the groups were silently ignored, so a module's
    class, graded in a module fixture, was graded again on the other worker. Here the suffix is
    put where pytest 9.2 reads it; on an older pytest xdist's own suffix is already there.
    """
    if getattr(config.option, "loadgroup", False):
        for item in items:
            names = _group_names(item)
            suffix = "@" + "_".join(names)
            if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
                from _pytest.nodeid import NodeId

                item._id = NodeId.parse(item.nodeid + suffix)
    _slow_modules_first(items)
    _skip_gpu_tests_without_a_gpu(items)


def _skip_gpu_tests_without_a_gpu(items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gpu_items and not _cuda_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU; none is present")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top folder."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium (a Playwright ``Browser``) for every browser test of this process.

    Playwright's sync API runs its event loop in the calling thread for as long as it is open, so
    a second ``open_browser()`` in the same test process would find that loop and refuse to start
    ("Sync API inside the asyncio loop"): every browser test shares this one. Skips where
    Chromium or Playwright is missing; fails instead with ``COURSE_REQUIRE_BROWSER=1``.
    """
    from course_utils.publish import browser

    reason = browser.unavailable_reason()
    if reason:
        if os.environ.get("COURSE_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    with browser.open_browser() as instance:
        yield instance


@pytest.fixture(scope="session")
def sandbox_available() -> None:
    """Skip a test that needs the bubblewrap sandbox where it cannot run; fail instead in CI.

    ``.ci/run`` installs bubblewrap and sets ``COURSE_REQUIRE_SANDBOX=1``, so there a broken
    sandbox fails the tamper suite instead of skipping it.
    """
    from course_utils.grading.sandbox.bubblewrap import SandboxUnavailable, check_sandbox

    try:
        check_sandbox()
    except SandboxUnavailable as exc:
        if os.environ.get("COURSE_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"the sandbox is required here (COURSE_REQUIRE_SANDBOX=1): {exc}")
        pytest.skip(str(exc))
