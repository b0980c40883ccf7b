"""The modules of ``lineage`` import each other without a cycle, lazy imports inside functions included.

A lazy import hides a cycle from the interpreter but not from a reader: the two modules still need each
other. The graph is read from the source with ``ast`` (nothing is imported): an edge for every ``import``
and ``from ... import`` anywhere in a module (top level, functions, ``TYPE_CHECKING`` blocks) that names
another ``lineage`` module. ``from lineage.x import y`` is an edge to ``lineage.x.y`` when ``y`` is a
submodule, else to ``lineage.x``; an edge to a package is an edge to its ``__init__``.

Packages may still use each other's modules both ways (``lineage.labels`` builds on
``lineage.datasets.catalog`` and ``states``; ``lineage.datasets.versions`` builds on ``lineage.labels``), which
works only while each package's ``__init__`` imports in an order that never needs a half-imported module:
each such package is imported first, on its own, in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "lineage"

Graph = dict[str, set[str]]


def _module_names(root: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module under ``root/lineage`` (a package is its ``__init__``)."""
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` lands in: itself, or its nearest enclosing package (``lineage.x.func`` → ``lineage.x``)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = importer if is_package else importer.rpartition(".")[0]
            for _ in range(node.level - 1):
                anchor = anchor.rpartition(".")[0]
            base = f"{anchor}.{base}" if base else anchor
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    return {t for t in (_resolve(n, modules) for n in names if n.split(".")[0] == PACKAGE) if t is not None}


def import_graph(root: Path = ROOT) -> Graph:
    """``{module: the lineage modules it imports}`` for every module of ``lineage``."""
    modules = _module_names(root)
    graph: Graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(node, name, path.name == "__init__.py", modules)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None`` when it has none (iterative depth-first)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        stack = [iter(sorted(graph.get(start, ())))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_find_cycle_names_a_cycle_and_accepts_a_dag() -> None:
    assert find_cycle({}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"b", "c"}}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y2"}, "y2": {"y"}}) == ["y", "y2", "y"]


def test_graph_counts_lazy_and_package_imports(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from lineage.sub import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("def f():\n    from lineage.top import g\n")
    (pkg / "top.py").write_text("from lineage import sub\nfrom . import other\nimport lineage.sub.leaf as lf\n")
    (pkg / "other.py").write_text("from lineage.sub.leaf import f\nimport json\n")
    graph = import_graph(tmp_path)
    assert graph == {
        "lineage": set(),
        "lineage.sub": {"lineage.sub.leaf"},
        "lineage.sub.leaf": {"lineage.top"},
        "lineage.top": {"lineage.sub", "lineage.other", "lineage.sub.leaf"},
        "lineage.other": {"lineage.sub.leaf"},
    }
    assert find_cycle(graph) == ["lineage.other", "lineage.sub.leaf", "lineage.top", "lineage.other"]


def test_lineage_has_no_import_cycle() -> None:
    graph = import_graph()
    # The graph is read at all: a module that imports others is found with its edges.
    assert "lineage.audit.chain" in graph["lineage.audit.verify"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in lineage: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", ["lineage.datasets", "lineage.labels"])
def test_package_imports_first_in_a_fresh_interpreter(package: str) -> None:
    proc = subprocess.run([sys.executable, "-c", f"import {package}"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
