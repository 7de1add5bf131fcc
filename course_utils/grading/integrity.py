"""Read a student's answer cells for code that no honest answer to these exercises needs.

Nothing here changes a grade: each finding becomes a line in the grades' ``review`` column
("flagged for review"), and a person decides. The exercises need numpy, loops and arithmetic;
they never need the grader's internals, stack frames, the interpreter's module table, process
control, private torch or numpy entry points, dynamic code, or writing files.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

SUSPICIOUS_MODULES = {
    "ctypes": "loads native code",
    "subprocess": "starts other programs",
    "multiprocessing": "starts other processes",
    "concurrent": "runs code in other threads or processes",
    "threading": "runs code in other threads",
    "_thread": "runs code in other threads",
    "signal": "handles process signals",
    "socket": "opens network connections",
    "inspect": "reads stack frames or source",
    "importlib": "imports modules dynamically",
    "builtins": "changes Python's builtins",
    "gc": "reaches objects through the garbage collector",
    "IPython": "reaches the notebook's shell",
    "pickle": "deserialises code",
    "marshal": "deserialises code",
    "shutil": "copies or deletes files",
    "sqlite3": "opens databases (the gradebook is one)",
    "scipy": "a library routine may compute the answer",
}
SUSPICIOUS_ATTRIBUTES = {
    "_getframe": "reads the grader's stack frames",
    "f_back": "reads the caller's stack frame",
    "f_locals": "reads another frame's variables",
    "f_globals": "reads another frame's globals",
    "tb_frame": "reads stack frames",
    "gi_frame": "reads stack frames",
    "modules": None,  # only as sys.modules (below)
    "settrace": "traces the grader's code",
    "setprofile": "traces the grader's code",
    "__globals__": "reaches another function's globals",
    "__code__": "rewrites a function's code",
    "__builtins__": "changes Python's builtins",
    "__subclasses__": "walks the class hierarchy",
    "__dict__": "edits a module's or object's namespace",
    "__library_shortcut__": "reaches past the guard against library shortcuts",
    "__wrapped__": "reaches past a wrapper of the grader's",
    "ops": None,  # only as torch.ops
    "_C": "uses torch's private C entry points",
    "jit": None,  # only as torch.jit
    "kill": None,  # only as os.kill / os.killpg
    "killpg": None,
    "system": None,  # only as os.system
    "fork": None,
    "_exit": None,
    "remove": None,
    "unlink": None,
    "popen": None,
    "execv": None,
    "execvp": None,
    "spawnv": None,
    "conv1d": "a library convolution computes the answer",
    "conv2d": "a library convolution computes the answer",
    "conv_transpose1d": "a library convolution computes the answer",
    "conv_transpose2d": "a library convolution computes the answer",
    "convolution": "a library convolution computes the answer",
    "max_pool2d": "a library pooling computes the answer",
    "avg_pool2d": "a library pooling computes the answer",
    "convolve": "a library convolution computes the answer",
    "correlate": "a library correlation computes the answer",
    "correlate2": "numpy's private correlation computes the answer",
    "multiarray": "numpy's private modules",
    "_core": "numpy's private modules",
}
QUALIFIED = {
    ("sys", "modules"): "edits the interpreter's module table",
    ("torch", "ops"): "calls torch operators directly, past the guard",
    ("torch", "jit"): "compiles code past the guard",
    ("os", "kill"): "signals other processes",
    ("os", "killpg"): "signals other processes",
    ("os", "system"): "runs shell commands",
    ("os", "fork"): "starts other processes",
    ("os", "_exit"): "ends the process",
    ("os", "remove"): "deletes files",
    ("os", "unlink"): "deletes files",
    ("os", "popen"): "runs shell commands",
    ("os", "execv"): "runs other programs",
    ("os", "execvp"): "runs other programs",
    ("os", "spawnv"): "runs other programs",
}
COURSE_INTERNALS = {"checks", "grading", "reference", "verify", "worker", "wire", "sandbox"}
SUSPICIOUS_CALLS = {
    "exec": "runs code built at run time",
    "eval": "runs code built at run time",
    "compile": "builds code at run time",
    "__import__": "imports modules dynamically",
    "globals": "edits the notebook's global namespace",
    "vars": "edits a namespace",
    "get_ipython": "reaches the notebook's shell",
    "open": "reads or writes files",
    "breakpoint": "enters the debugger",
}
NAME_ATTRIBUTES = {"getattr", "setattr", "delattr"}


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _findings(tree: ast.AST, aliases: dict[str, str]) -> Iterable[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                top = module.split(".")[0]
                if top in SUSPICIOUS_MODULES:
                    yield node.lineno, f"imports {module} ({SUSPICIOUS_MODULES[top]})"
                elif top == "course_utils" or module.startswith(
                    ("numpy._", "numpy.core", "torch._")
                ):
                    yield node.lineno, f"imports {module} (the grader's or a library's internals)"
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in SUSPICIOUS_ATTRIBUTES and SUSPICIOUS_ATTRIBUTES[alias.name]:
                        yield (
                            node.lineno,
                            f"imports {alias.name} ({SUSPICIOUS_ATTRIBUTES[alias.name]})",
                        )
        elif isinstance(node, ast.Attribute):
            owner = _root_name(node.value)
            owner = aliases.get(owner, owner) if owner else None
            parent = node.value.attr if isinstance(node.value, ast.Attribute) else owner
            why = QUALIFIED.get((parent or "", node.attr)) or QUALIFIED.get(
                (owner or "", node.attr)
            )
            if why is None:
                why = SUSPICIOUS_ATTRIBUTES.get(node.attr)
            if why is None and owner == "course_utils" and node.attr in COURSE_INTERNALS:
                why = "reaches the grader's own code"
            if why is None and owner in ("numpy", "torch") and node.attr.startswith("_"):
                why = f"uses a private part of {owner}"
            if why:
                yield node.lineno, f"uses .{node.attr} ({why})"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in SUSPICIOUS_CALLS:
                yield node.lineno, f"calls {name}() ({SUSPICIOUS_CALLS[name]})"
            elif name in NAME_ATTRIBUTES and len(node.args) >= 2:
                if not isinstance(node.args[1], ast.Constant):
                    yield node.lineno, f"calls {name}() with a computed name"
                elif name != "getattr":
                    yield node.lineno, f"calls {name}() (changes an attribute by name)"
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and any(
            n in ("cu", "np", "torch") for n in node.names
        ):
            yield node.lineno, "rebinds a module the tests use"


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Map local names to the modules they stand for (``import numpy as np`` -> np: numpy)."""
    aliases = {"np": "numpy", "cu": "course_utils", "F": "torch"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0]
    return aliases


def scan_source(source: str) -> list[str]:
    """Return one line per suspicious construct in ``source`` (``"line N: ..."``); empty if none."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return []  # it cannot run either; the tests say so
    seen = []
    for line, what in _findings(tree, _aliases(tree)):
        if "get_ipython" in what and "get_ipython" not in source:
            continue  # a %magic, which IPython turns into get_ipython() calls: honest
        entry = f"line {line}: {what}"
        if entry not in seen:
            seen.append(entry)
    return seen


def scan_cells(sources: Iterable[str], label: str = "") -> list[str]:
    """Return the findings of every cell, each prefixed with the notebook and cell number."""
    flags = []
    prefix = f"{label}: " if label else ""
    for index, source in enumerate(sources):
        if index == 0:
            continue  # the set-up cell is the course's own (restored by nbgrader)
        flags += [f"{prefix}answer cell {index}, {found}" for found in scan_source(source)]
    return flags
