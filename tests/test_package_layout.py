"""The house of ``course_utils``: rooms by audience, imports that point down only, small modules.

* the teaching library (the top of ``course_utils``, with ``viz`` and ``checks``) never imports the
  grading engine (``course_utils.grading``) or publishing (``course_utils.publish``);
* the grading engine never imports publishing, and its layers point down only;
* no import circle anywhere (imports inside functions count: they run too);
* no module over 1,500 lines;
* what a grading kernel imports stays headless and light; ``course --help`` does not import torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_utils"
MAX_MODULE_LINES = 1500
# The grading engine's layers, bottom first: a module may import from its own layer or below.
ENGINE_LAYERS = [
    # records, and the sandbox with what runs inside it (the worker and its wire format)
    {"records", "roster", "sandbox", "wire", "worker"},
    {"normalize", "integrity", "feedback", "sanitize", "metadata_schema"},
    {"verify", "gradebook"},
    # what the class got wrong, from the gradebook and the records (checks.diagnoses, the
    # catalogue of mistakes, is the teaching library's: the engine reads it, checks never
    # import the engine)
    {"report"},
    {"intake"},
    {"lms"},
    {"submission"},
    {"pool"},
    {"cluster"},
    {"autograde"},
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:]) if "." in name else Path()
    target = PACKAGE / relative
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


def import_graph() -> dict[str, set[str]]:
    """Module -> the course_utils modules it imports anywhere (top level or inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = _resolve(name, path, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if _is_module(full) else base)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m.startswith("course_utils") and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            visit(node)
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("grading", "publish"):
        return parts[1]
    return "cli" if module in ("course_utils.cli", "course_utils.__main__") else "teaching"


def test_no_import_circle():
    cycles = _cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_can_fail():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_teaching_library_never_imports_the_engine_or_publishing():
    wrong = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if _room(module) == "teaching"
        for target in targets
        if _room(target) in ("grading", "publish", "cli")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_grading_engine_never_imports_publishing():
    wrong = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if _room(module) == "grading"
        for target in targets
        if _room(target) in ("publish", "cli")
    ]
    assert not wrong, "\n".join(wrong)


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "grading":
        return None
    return next((i for i, names in enumerate(ENGINE_LAYERS) if parts[2] in names), None)


def test_every_engine_module_has_a_layer():
    modules = [m for m in import_graph() if m.startswith("course_utils.grading.")]
    assert modules and all(_layer(m) is not None for m in modules), [
        m for m in modules if _layer(m) is None
    ]


def test_engine_imports_point_down():
    wrong = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in import_graph().items()
        if _layer(module) is not None
        for target in targets
        if _layer(target) is not None and _layer(target) > _layer(module)
    ]
    assert not wrong, "\n".join(wrong)


def test_no_module_over_the_size_limit():
    sizes = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    big = {path: n for path, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not big, f"modules over {MAX_MODULE_LINES} lines (split them by part): {big}"


def _imported_by(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import course_utils as cu\ncu.checks.check_conv1d\ncu.reference.conv2d\ncu.setup(seed=0)",
        "import course_utils.grading.worker",
    ],
)
def test_what_a_grading_kernel_imports_stays_headless(code):
    loaded = _imported_by(code)
    heavy = {m.split(".")[0] for m in loaded} & {"matplotlib", "ipywidgets", "nbgrader", "dask"}
    assert not heavy, f"{code!r} loads {sorted(heavy)}"
    if "worker" not in code:
        engine = sorted(
            m for m in loaded if m.startswith(("course_utils.grading", "course_utils.publish"))
        )
        assert not engine, f"a notebook's imports load the grading engine or publishing: {engine}"


def test_the_command_line_help_does_not_import_torch():
    loaded = _imported_by("import course_utils.cli\ncourse_utils.cli.make_parser()")
    assert "torch" not in loaded


def test_notebooks_keep_their_one_import():
    """``import course_utils as cu`` and ``cu.checks.check_...`` work; the old module names are gone."""
    import course_utils as cu

    assert callable(cu.checks.check_conv1d) and callable(cu.checks.check_conv2d_backward)
    assert callable(cu.setup)
    assert "grading" not in cu.SUBMODULES and "pipeline" not in dir(cu)
