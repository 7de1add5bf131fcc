"""The student's side of verification: run the answer cells, then call their functions on request.

Started by :mod:`course_utils.grading.verify` inside the sandbox as ``python -m course_utils.grading.worker
PROGRAM.json``. Everything here runs in a process that the student's code controls, so nothing
here decides a grade: it only computes the student's answers to the grader's inputs and sends
them back as plain data (:mod:`course_utils.grading.wire`). Requests arrive on stdin; answers leave on a
private copy of stdout, and what the student's code prints goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from course_utils.grading import wire


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "type": type(exc).__name__,
        "mro": [cls.__name__ for cls in type(exc).__mro__],
        "message": str(exc)[:4000],
    }


class Worker:
    """The namespace of the student's answer cells, and the objects kept for the grader (handles)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.kept: dict[int, Any] = {}

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

    def handle(self, request: dict[str, Any]) -> Any:
        from course_utils.checks import toolkit as grading

        fn = self.resolve(request["path"])
        exercise = request["exercise"]
        if request["op"] == "call":
            args = tuple(self.decode(request["args"]))
            kwargs = self.decode(request["kwargs"])
            given_args, given_kwargs = grading._private_copies(args, kwargs)
            result = grading._invoke(fn, exercise, given_args, given_kwargs)
            call = grading.describe_call(request["path"], *args, **kwargs)
            grading.check_inputs_unchanged(call, args, kwargs, given_args, given_kwargs)
            return wire.encode(result, self.keep)
        if request["op"] == "torch":
            namespaces = [getattr(fn, "__globals__", None) or self.namespace]
            with grading.quiet(), grading.no_library_shortcuts(exercise, namespaces):
                done = grading.run_torch_call(
                    fn,
                    self.decode(request["arrays"]),
                    self.decode(request["options"]),
                    self.decode(request["dout"]),
                    request["device"],
                )
            return wire.encode(
                {
                    "output": done.output,
                    "device": done.device,
                    "dtype": done.dtype,
                    "grads": tuple(done.grads),
                }
            )
        raise ValueError(f"unknown request {request['op']!r}")


def _run_cells(cells: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    problems = []
    for index, source in enumerate(cells):
        result = shell.run_cell(source, silent=True, store_history=False)
        error = result.error_in_exec or result.error_before_exec
        if error is not None:
            problems.append({"cell": index, **_error(error)})
    return shell.user_ns, problems


def main(argv: list[str]) -> int:
    channel_in, channel_out = 0, os.dup(1)
    os.dup2(2, 1)  # the student's prints go to stderr, never into the answers
    sys.stdout = sys.stderr
    with open(argv[1], encoding="utf-8") as handle:
        program = json.load(handle)
    namespace, problems = _run_cells(program["cells"])
    worker = Worker(namespace)
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
