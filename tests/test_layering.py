"""Imports run one way: every ``callemo`` import (module level or inside a function) must go to a
lower layer of the table below, or stay inside its own package.

The table (also in docs/CONTRACTS.md, "Layers"):

====  ==========================================  ============================================
 0    errors, utils, segments, io                 the data model and audio I/O (may share)
 1    prep, features, labels, corpora, text       independent of one another
 2    models                                      networks, predictors, model directories
 3    train, evaluate                             tasks and scores (may import each other)
 4    report, simulate                            independent of each other
 5    analyze                                     the call pipeline and batch runs
 6    service                                     HTTP API, streaming, storage
 7    cli                                         the ``callemo`` command
 8    callemo (the package root), __main__        the public API
====  ==========================================  ============================================

On top of the layers, no two modules may import each other, even through a chain of imports
deferred into functions (a cycle hidden by lazy imports is still a cycle), and no module imports a
private (``_name``) from another package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "callemo"

LAYERS: list[tuple[set[str], bool]] = [  # (packages, may they import one another)
    ({"errors", "utils", "segments", "io"}, True),
    ({"prep", "features", "labels", "corpora", "text"}, False),
    ({"models"}, False),
    ({"train", "evaluate"}, True),
    ({"report", "simulate"}, False),
    ({"analyze"}, False),
    ({"service"}, False),
    ({"cli"}, False),
    ({"", "__main__"}, False),  # "" = the package root, callemo/__init__.py
]
LAYER = {pkg: i for i, (pkgs, _) in enumerate(LAYERS) for pkg in pkgs}
SHARED = {pkg for pkgs, shared in LAYERS if shared for pkg in pkgs}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    """``callemo.models.svm`` -> ``models``; ``callemo`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every ``callemo`` module that ``path`` imports (absolute names), with the line."""
    module = _module_name(path)
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out += [(n, node.lineno) for n in names if n == "callemo" or n.startswith("callemo.")]
    return out


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def backward_imports() -> list[str]:
    problems = []
    for module, path in _modules().items():
        src = _package(module)
        seen = set()
        for target, line in _imports(path):
            dst = _package(target)
            if dst == src or (line, dst) in seen:
                continue
            seen.add((line, dst))
            if src not in LAYER or dst not in LAYER:
                problems.append(f"{path.relative_to(SRC.parent)}:{line}: {module} -> {target}: "
                                f"package {src if src not in LAYER else dst!r} is not in the layer table")
            elif LAYER[dst] > LAYER[src]:
                problems.append(f"{path.relative_to(SRC.parent)}:{line}: {module} (layer {LAYER[src]}) imports "
                                f"{target} (layer {LAYER[dst]}): backwards")
            elif LAYER[dst] == LAYER[src] and src not in SHARED:
                problems.append(f"{path.relative_to(SRC.parent)}:{line}: {module} imports {target}: "
                                f"{src} and {dst} share layer {LAYER[src]} and must stay independent")
    return problems


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan) in the graph of all imports, lazy ones included."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        graph[module] = {t for t, _ in _imports(path) if t in modules and t != module}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            # a package __init__ re-exporting its own modules is not a cycle between modules
            real = [m for m in group if not any(o != m and o.startswith(m + ".") for o in group)]
            if len(real) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def private_imports() -> list[str]:
    """``from callemo.x.y import _name`` from another package: a private name used across packages."""
    problems = []
    for module, path in _modules().items():
        for target, line in _imports(path):
            name = target.rsplit(".", 1)[-1]
            if name.startswith("_") and not name.startswith("__") and _package(target) != _package(module):
                problems.append(f"{path.relative_to(SRC.parent)}:{line}: {module} imports the private {target}")
    return problems


def test_no_private_names_cross_packages():
    problems = private_imports()
    assert not problems, "make these public or move them:\n" + "\n".join(problems)


def test_every_package_is_in_the_layer_table():
    packages = {_package(m) for m in _modules()}
    assert packages <= set(LAYER), f"add {sorted(packages - set(LAYER))} to LAYERS (and docs/CONTRACTS.md)"


def test_imports_run_one_way():
    problems = backward_imports()
    assert not problems, "imports against the layer table:\n" + "\n".join(problems)


def test_no_import_cycles_even_through_lazy_imports():
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("code, expect", [
    ("from ..train.manifest import write_manifest\n", "backwards"),     # labels -> train
    ("def f():\n    from ..prep import vad\n", "independent"),          # labels -> prep, hidden in a function
    ("from ..segments import set_index\n", None),                       # labels -> segments: allowed
])
def test_the_check_sees_module_level_and_lazy_imports(tmp_path, monkeypatch, code, expect):
    root = tmp_path / "callemo"
    (root / "labels").mkdir(parents=True)
    for pkg in ("train", "prep"):
        (root / pkg).mkdir()
        (root / pkg / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "labels" / "__init__.py").write_text("")
    (root / "labels" / "mod.py").write_text(code)
    monkeypatch.setitem(globals(), "SRC", root)
    problems = backward_imports()
    if expect is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expect in problems[0] and "labels/mod.py" in problems[0]
