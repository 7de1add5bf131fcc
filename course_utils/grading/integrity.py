"""Read a student's answer cells for code that no honest answer to these exercises needs.

Every cell the student wrote or added is read, wherever it stands in the notebook (a cell
above the set-up cell too). A finding changes no grade: it becomes a line in the grades'
``review`` column ("flagged for review"), and a person decides. A cell this reader cannot read
(nested too deeply for Python's parser, say) is :class:`UnreadableCell`: the re-run
(:mod:`course_utils.grading.verify`) then scores its notebook's tests 0 until a person looks.
The exercises need numpy, loops and arithmetic; they never need the grader's internals, stack
frames, the interpreter's module table, process control, private torch or numpy entry points
(by name or by ``getattr``), dynamic code, or writing files.
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
PRIVATE_OWNERS = ("numpy", "torch")  # their private parts are never an answer's business


class UnreadableCell(ValueError):
    """A cell the integrity check could not read (e.g. nested too deeply for Python's parser)."""


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
                top, *rest = module.split(".")
                if top in SUSPICIOUS_MODULES:
                    yield node.lineno, f"imports {module} ({SUSPICIOUS_MODULES[top]})"
                elif (
                    top == "course_utils"
                    or module.startswith("numpy.core")
                    or (top in PRIVATE_OWNERS and any(part.startswith("_") for part in rest))
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
            why = _attribute_finding(node.value, node.attr, aliases)
            if why:
                yield node.lineno, f"uses .{node.attr} ({why})"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in SUSPICIOUS_CALLS:
                yield node.lineno, f"calls {name}() ({SUSPICIOUS_CALLS[name]})"
            elif name in NAME_ATTRIBUTES and len(node.args) >= 2:
                attribute = node.args[1]
                if not (isinstance(attribute, ast.Constant) and isinstance(attribute.value, str)):
                    yield node.lineno, f"calls {name}() with a computed name"
                elif name != "getattr":
                    yield node.lineno, f"calls {name}() (changes an attribute by name)"
                else:  # getattr(torch, "_convolution_mode") is torch._convolution_mode
                    why = _attribute_finding(node.args[0], attribute.value, aliases)
                    if why:
                        yield node.lineno, f"uses .{attribute.value} by getattr ({why})"
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and any(
            n in ("cu", "np", "torch") for n in node.names
        ):
            yield node.lineno, "rebinds a module the tests use"


def _attribute_finding(value: ast.AST, attribute: str, aliases: dict[str, str]) -> str | None:
    """Why reading ``attribute`` of the expression ``value`` is suspicious, or None."""
    owner = _root_name(value)
    owner = aliases.get(owner, owner) if owner else None
    parent = value.attr if isinstance(value, ast.Attribute) else owner
    why = QUALIFIED.get((parent or "", attribute)) or QUALIFIED.get((owner or "", attribute))
    if why is None:
        why = SUSPICIOUS_ATTRIBUTES.get(attribute)
    if why is None and owner == "course_utils" and attribute in COURSE_INTERNALS:
        why = "reaches the grader's own code"
    if why is None and owner in PRIVATE_OWNERS and attribute.startswith("_"):
        why = f"uses a private part of {owner}"
    return why


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Map local names to the modules they stand for (``import numpy as np`` -> np: numpy)."""
    aliases = {"np": "numpy", "cu": "course_utils", "F": "torch"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0]
    return aliases


def scan_source(source: str) -> list[str]:
    """Return one line per suspicious construct in ``source`` (``"line N: ..."``); empty if none.

    Raises :class:`UnreadableCell` for a cell that cannot be read (nested too deeply, too large).
    """
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
        findings = list(_findings(tree, _aliases(tree)))
    except SyntaxError:
        return []  # it cannot run either; the tests say so
    except (RecursionError, MemoryError, ValueError) as exc:
        raise UnreadableCell(
            f"the integrity check could not read it ({type(exc).__name__}: "
            f"{str(exc)[:120] or 'no message'})"
        ) from None
    seen = []
    for line, what in findings:
        if "get_ipython" in what and "get_ipython" not in source:
            continue  # a %magic, which IPython turns into get_ipython() calls: honest
        entry = f"line {line}: {what}"
        if entry not in seen:
            seen.append(entry)
    return seen


def read_cells(
    sources: Iterable[str], label: str = "", names: Iterable[str] | None = None
) -> tuple[list[str], list[str]]:
    """Read every cell: (findings, the cells that could not be read), each line naming its cell.

    ``names`` says what each cell is ("conv1d", "a cell you added"); default "cell N".
    """
    prefix = f"{label}: " if label else ""
    sources = list(sources)
    names = list(names) if names is not None else [f"cell {i}" for i in range(len(sources))]
    flags, unreadable = [], []
    for name, source in zip(names, sources, strict=True):
        try:
            flags += [f"{prefix}{name}, {found}" for found in scan_source(source)]
        except UnreadableCell as exc:
            unreadable.append(f"{prefix}{name}: {exc}")
    return flags, unreadable


def scan_cells(
    sources: Iterable[str], label: str = "", names: Iterable[str] | None = None
) -> list[str]:
    """Return the findings of every cell (an unreadable cell is one finding too), each naming its cell."""
    flags, unreadable = read_cells(sources, label, names)
    return flags + unreadable
