"""The package's shape, checked from its source: imports run one way (core ← training ← model ←
files ← leaves), no import cycle, and no module named like a standard-library module. Imports
inside functions count too; see docs/architecture.md."""

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "nnzero"

# The layers, from the bottom. A module may import its own layer or one below it, never above.
LAYERS = {
    "core": {"errors", "_version", "_atomic", "initializers", "layers", "losses", "optimizers",
             "metrics", "preprocessing", "rows", "safety", "budget", "console"},
    "training": {"callbacks", "diagnostics", "divergence", "gradcheck", "engine", "training"},
    "model": {"model"},
    "files": {"modelfile", "serialization"},
}
ORDER = ["core", "training", "model", "files", "leaves", "package"]


def module_names():
    for path in sorted(PKG.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), path, is_pkg


MODULES = {name: (path, is_pkg) for name, path, is_pkg in module_names()}


def layer_of(module):
    if module == "nnzero":
        return "package"                      # nnzero/__init__.py: the public API, on top of all
    top = module.split(".")[1]
    for layer, names in LAYERS.items():
        if top in names:
            return layer
    return "leaves"


def imports_of(module, source=None):
    """The nnzero modules ``module`` imports, anywhere in its source (functions included)."""
    path, is_pkg = MODULES[module]
    package = module if is_pkg else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source if source is not None else path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "nnzero")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "nnzero":
                continue
            for a in node.names:               # `from . import common` imports nnzero.cli.common
                sub = f"{target}.{a.name}"
                found.add(sub if sub in MODULES else target)
    found.discard(module)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer_and_the_layer_sets_are_real():
    tops = {m.split(".")[1] for m in MODULES if m != "nnzero"}
    for names in LAYERS.values():
        assert names - {"engine"} <= tops, names - tops


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_one_way(module):
    here = ORDER.index(layer_of(module))
    upward = sorted(t for t in GRAPH[module] if ORDER.index(layer_of(t)) > here)
    assert not upward, f"{module} ({layer_of(module)}) imports a layer above it: {upward}"


def test_no_import_cycle():
    state, path = {}, []

    def visit(m):
        state[m] = "open"
        path.append(m)
        for t in sorted(GRAPH.get(m, ())):
            if t not in MODULES:
                continue
            if state.get(t) == "open":
                raise AssertionError("import cycle: " + " → ".join(path[path.index(t):] + [t]))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = "done"

    for m in sorted(MODULES):
        if m not in state:
            visit(m)


def test_no_module_is_named_like_the_standard_library():
    clash = sorted(m for m in MODULES if m.rpartition(".")[2] in sys.stdlib_module_names)
    assert not clash, f"modules named like standard-library ones: {clash}"


def test_the_checker_sees_function_level_imports():
    # Negative control: an upward import hidden in a function body is found.
    source = "import numpy\n\ndef save(self):\n    from .serialization import save\n"
    assert "nnzero.serialization" in imports_of("nnzero.model", source)
    assert "nnzero.training" in GRAPH["nnzero.model"]


FUNCTION_LINES = 60     # the style guide: "functions < ~60 lines"


def test_no_function_is_too_long_to_read():
    long = []
    for module, (path, _) in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    long.append(f"{module}.{node.name} ({lines} lines)")
    assert not long, f"split these along a concept: {long}"


def test_the_package_has_no_attribute_named_like_a_standard_library_module():
    import nnzero

    shadowing = sorted(n for n in dir(nnzero) if n in sys.stdlib_module_names)
    assert not shadowing, f"nnzero attributes named like standard-library modules: {shadowing}"
