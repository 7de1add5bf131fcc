"""Cut a student's kernel's output at its source: imported at kernel start-up, so it stays light."""

from __future__ import annotations

import sys


def cap_output(limit_bytes: int) -> None:
    """Cut this process's stdout and stderr after ``limit_bytes`` characters each (one note says so).

    Run in a student's kernel at start-up, so that a print flood stops at its source instead of
    stalling the grader; the grader's own output budget (:class:`GuardedExecute`) still holds if
    the student undoes it.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        original = stream.write
        state = {"left": int(limit_bytes), "noted": False}

        def write(text, original=original, state=state):
            if state["left"] <= 0:
                if not state["noted"]:
                    state["noted"] = True
                    original(f"\n[output truncated after {limit_bytes} characters]\n")
                return len(text)
            original(text[: state["left"]])
            state["left"] -= len(text)
            return len(text)

        stream.write = write
