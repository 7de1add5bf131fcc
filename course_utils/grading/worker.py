"""The student's side of verification: run the answer cells, then call their functions on request.

Started by :mod:`course_utils.grading.verify` inside the sandbox as ``python -m course_utils.grading.worker
PROGRAM.json``. Everything here runs in a process that the student's code controls, so nothing
here decides a grade: it only computes the student's answers to the grader's inputs and sends
them back as plain data (:mod:`course_utils.grading.wire`). Requests arrive on stdin; answers leave on a
private copy of stdout, and what the student's code prints goes to stderr.

The program holds the source notebook's set-up cells (run first, before anything of the
student's: a failure there is the grader's environment, reported as ``setup_error``) and the
student's cells. The guard against library shortcuts is taken from
:mod:`course_utils.checks.toolkit` before the student's cells run, and every call checks that
their code has not replaced a piece of it (a call then fails with :class:`GuardChanged`).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from course_utils.checks import toolkit as _toolkit
from course_utils.checks.assignment2.helpers import COURSE_HELPERS
from course_utils.grading import wire

# The guard's pieces as they are before any student code runs: the worker calls these, never
# whatever the names point to later.
_GUARDED = (
    "_invoke",
    "_private_copies",
    "check_inputs_unchanged",
    "describe_call",
    "no_library_shortcuts",
    "quiet",
    "run_torch_call",
    "_GUARD",
    "_Guard",
    "_BlockTorchShortcuts",
    "_BlockNativeKernels",
    "native_kernel_kind",
    "_NATIVE_KERNELS",
    "_already_loaded",
    "_PYTHON_SHORTCUTS",
    "_TORCH_SHORTCUTS",
    "_TORCH_NAMESPACES",
    "_reference_shortcuts",
    "_find_reference_shortcuts",
    "_REFERENCE_KEYS",
    "_shortcut_message",
    "is_library_shortcut",
    "LibraryShortcutError",
)
_PIECES = {name: getattr(_toolkit, name) for name in _GUARDED if hasattr(_toolkit, name)}
# The course's shared helpers (Assignment 2), taken before any student code runs: the only
# names, and the only values, a "helpers" request may put into the student's namespace.
_COURSE_HELPERS = dict(COURSE_HELPERS)


def _fingerprint(keys: list[tuple[str, str]] | None = None) -> dict[str, object]:
    """What the guard is made of: its module-level objects, their code, the classes' methods, the
    attributes of its state, and the answer keys it blocks (``keys``: (module, name) pairs)."""
    seen: dict[str, object] = {}
    for name, value in _PIECES.items():
        seen[name] = getattr(_toolkit, name, None)
        seen[f"{name}.__code__"] = getattr(value, "__code__", None)
        if isinstance(value, type):
            for attribute, member in list(vars(value).items()):
                seen[f"{name}.{attribute}"] = member
                seen[f"{name}.{attribute}.__code__"] = getattr(member, "__code__", None)
        elif hasattr(value, "__dict__") and not callable(value):
            seen[f"{name}.__dict__"] = ",".join(sorted(vars(value)))
    for name in ("_PYTHON_SHORTCUTS", "_TORCH_SHORTCUTS", "_TORCH_NAMESPACES"):
        seen[f"{name}=="] = repr(getattr(_toolkit, name, None))
    for module_name, attribute in keys or []:
        module = sys.modules.get(module_name)
        seen[f"{module_name}.{attribute}"] = None if module is None else vars(module).get(attribute)
    return seen


def _same(now: object, before: object) -> bool:
    return now == before if isinstance(before, str) else now is before


def _answer_keys() -> list[tuple[str, str]]:
    """(module, name) of every shortcut the guard blocks whose module is loaded now."""
    shortcuts = (*_toolkit._PYTHON_SHORTCUTS, *_toolkit._reference_shortcuts())
    return [(module, name) for module, name, *_ in shortcuts if module in sys.modules]


class GuardChanged(AssertionError):
    """The student's code replaced a piece of the guard against library shortcuts."""


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "mro": [cls.__name__ for cls in type(exc).__mro__],
        "message": str(exc)[:4000],
    }


class Worker:
    """The namespace of the student's answer cells, and the objects kept for the grader (handles)."""

    def __init__(
        self,
        namespace: dict[str, Any],
        guard: dict[str, object] | None = None,
        keys: list[tuple[str, str]] | None = None,
    ) -> None:
        self.namespace = namespace
        self.kept: dict[int, Any] = {}
        self.guard = guard
        self.keys = keys
        self.replaced: dict[str, Any] = {}  # the student's helpers the course's stand in for
        self.reference_keys: tuple[Any, tuple] | None = None  # the cache as this worker found it
        self.checked = False  # whether the guard was checked before a request yet

    def check_guard(self) -> None:
        """Raise :class:`GuardChanged` if the student's code replaced a piece of the guard."""
        if self.guard is None:
            return
        self.check_reference_keys()
        now = _fingerprint(self.keys)
        changed = [k for k in self.guard if not _same(now.get(k, self), self.guard[k])]
        changed += [k for k in now if k not in self.guard]
        if changed:
            names = ", ".join(k.removesuffix(".__code__") for k in changed[:3])
            raise GuardChanged(
                f"your code changed the grader's guard against library shortcuts ({names}); "
                "nothing it computes can be graded"
            )

    def check_reference_keys(self) -> None:
        """Keep the guard's cache of answer keys as this worker last found it, else find them again.

        The cache lives in the student's process: code that emptied or replaced it would unblock
        the course's answer keys for the next call. Only a cache equal to the one this worker
        found is used; anything else (a changed list, or modules loaded since) is found afresh.
        """
        state = _toolkit._REFERENCE_KEYS
        if (
            self.reference_keys is not None
            and len(state) == 2
            and state[0] is self.reference_keys[0]
            and isinstance(state[1], list)
            and tuple(state[1]) == self.reference_keys[1]
        ):
            return
        state[:] = [None, []]
        keys = _PIECES["_reference_shortcuts"]()
        self.reference_keys = (state[0], tuple(keys))

    def keep(self, value: Any) -> int:
        self.kept[len(self.kept) + 1] = value
        return len(self.kept)

    def resolve(self, path: str) -> Any:
        head, *rest = path.split(".")
        if head not in self.namespace:
            raise NameError(f"name {head!r} is not defined: did its cell run without errors?")
        value = self.namespace[head]
        for name in rest:
            value = getattr(value, name)
        return value

    def decode(self, obj: Any) -> Any:
        return wire.decode(obj, self.kept.__getitem__, functions=True)

    def use_course_helpers(self, names: Any) -> list[str]:
        """Put the student's replaced helpers back, then the course's ``names`` in place of theirs
        (those their namespace defines); return the shared helpers it defines.

        ``names``: distinct names of :data:`COURSE_HELPERS` only; anything else is refused.
        """
        if not (
            isinstance(names, list)
            and all(isinstance(name, str) and name in _COURSE_HELPERS for name in names)
            and len(set(names)) == len(names)
        ):
            raise ValueError(f"helpers: a list of distinct names of {sorted(_COURSE_HELPERS)}")
        self.namespace.update(self.replaced)
        self.replaced = {}
        defined = [name for name in _COURSE_HELPERS if name in self.namespace]
        for name in names:
            if name in self.namespace:
                self.replaced[name] = self.namespace[name]
                self.namespace[name] = _COURSE_HELPERS[name]
        return defined

    def handle(self, request: dict[str, Any]) -> Any:
        grading = _PIECES
        # The guard may reuse how it blocked the shortcuts last time (toolkit._Guard.reuse_plan);
        # here the student's code shares the process and could have edited that plan: never reused.
        grading["_GUARD"].plan = None
        # Every call and torch request checks the guard after the student's code ran; a change
        # made earlier persists until then (only the student's own code runs in this process,
        # and only inside requests), so a second check before each request found nothing more.
        # The first request and "helpers" requests check before they run as well.
        if request["op"] == "helpers" or not self.checked:
            self.check_guard()
            self.checked = True
        if request["op"] == "helpers":
            return wire.encode(self.use_course_helpers(self.decode(request["names"])))
        fn = self.resolve(request["path"])
        exercise = request["exercise"]
        if request["op"] == "call":
            args = tuple(self.decode(request["args"]))
            kwargs = self.decode(request["kwargs"])
            given_args, given_kwargs = grading["_private_copies"](args, kwargs)
            result = grading["_invoke"](fn, exercise, given_args, given_kwargs)
            self.check_guard()

            def call() -> str:  # described only for a message
                return grading["describe_call"](request["path"], *args, **kwargs)

            grading["check_inputs_unchanged"](call, args, kwargs, given_args, given_kwargs)
            return wire.encode(result, self.keep)
        if request["op"] == "torch":
            namespaces = [getattr(fn, "__globals__", None) or self.namespace]
            with grading["quiet"](), grading["no_library_shortcuts"](exercise, namespaces):
                done = grading["run_torch_call"](
                    fn,
                    self.decode(request["arrays"]),
                    self.decode(request["options"]),
                    self.decode(request["dout"]),
                    request["device"],
                )
            self.check_guard()
            return wire.encode(
                {
                    "output": done.output,
                    "device": done.device,
                    "dtype": done.dtype,
                    "grads": tuple(done.grads),
                }
            )
        raise ValueError(f"unknown request {request['op']!r}")


def _run_cells(shell: Any, cells: list[str]) -> list[dict[str, Any]]:
    problems = []
    for index, source in enumerate(cells):
        result = shell.run_cell(source, silent=True, store_history=False)
        error = result.error_in_exec or result.error_before_exec
        if error is not None:
            problems.append({"cell": index, **_error(error)})
    return problems


def main(argv: list[str]) -> int:
    channel_in, channel_out = 0, os.dup(1)
    os.dup2(2, 1)  # the student's prints go to stderr, never into the answers
    sys.stdout = sys.stderr
    with open(argv[1], encoding="utf-8") as handle:
        program = json.load(handle)
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    setup_problems = _run_cells(shell, program.get("setup", []))
    if setup_problems:  # nothing of the student's has run yet: the grader's environment is broken
        wire.send(channel_out, {"ready": True, "setup_error": setup_problems[0], "problems": []})
        return 0
    keys = _answer_keys()
    guard = _fingerprint(keys)
    problems = _run_cells(shell, program["cells"])
    worker = Worker(shell.user_ns, guard, keys)
    wire.send(channel_out, {"ready": True, "problems": problems})
    while True:
        try:
            request = wire.receive(channel_in)
        except EOFError:
            return 0
        try:
            answer = {"ok": True, "value": worker.handle(request)}
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
            answer = {"ok": False, "error": _error(exc)}
        try:
            wire.send(channel_out, answer)
        except wire.WireError as exc:
            wire.send(channel_out, {"ok": False, "error": _error(exc)})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
