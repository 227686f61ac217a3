"""The core's dependency rules, checked on the source: it imports no plugin and has no cycle.

Both tests read every module under ``ispengine/`` with :mod:`ast` (nothing is
imported), so they see imports inside functions too. Imports under
``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "ispengine"
ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("plugins_builtin", "contrib")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    return {_module_name(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements of ``tree`` at any depth, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a ``from ... import`` reads from, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imported_modules(name: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every module an import statement of module ``name`` names.

    ``import a.b`` names ``a.b``; ``from a import b`` names ``a.b`` when that is a
    module of the package, else ``a``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    known = _modules()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
            continue
        source = _absolute(node, name, path.name == "__init__.py")
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            yield node.lineno, submodule if submodule in known else source


def _owner(module: str, known: dict[str, Path]) -> str | None:
    """The longest prefix of ``module`` that is a module of the package, if any."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    """Edges ``importer -> imported`` between the package's own modules.

    Only the module an import names counts: the parent packages Python imports
    implicitly on the way are left out.
    """
    known = _modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for _, module in _imported_modules(name, path):
            target = _owner(module, known)
            if target is not None and target != name:
                graph[name].add(target)
    return graph


def tangles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (each has a cycle).

    Tarjan's algorithm (Tarjan 1972, "Depth-first search and linear graph
    algorithms", SIAM J. Comput. 1(2)).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted((c for c in components if len(c) > 1), key=min)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per tangle (:func:`tangles`): a shortest one through its first module
    in sorted order, found by breadth-first search inside the tangle."""
    found = []
    for component in tangles(graph):
        start = min(component)
        parents: dict[str, str] = {}
        frontier = [start]
        while start not in parents:
            step = []
            for node in frontier:
                for succ in sorted(graph[node] & component):
                    if succ not in parents:
                        parents[succ] = node
                        step.append(succ)
            frontier = step
        path = [start]
        while parents[path[-1]] != start:
            path.append(parents[path[-1]])
        found.append([start, *reversed(path[1:]), start])
    return sorted(found)


def test_the_core_imports_no_plugin():
    offending = sorted(
        {
            (str(path.relative_to(ROOT)), line, module)
            for name, path in _modules().items()
            for line, module in _imported_modules(name, path)
            if module.split(".")[0] in FORBIDDEN
        }
    )
    assert not offending, "the core imports plugins:\n" + "\n".join(
        f"{path}:{line}: imports {module}" for path, line, module in offending
    )


def test_the_core_has_no_import_cycle():
    graph = import_graph()
    found = [
        f"{' -> '.join(cycle)} (tangle: {', '.join(sorted(tangle))})"
        for cycle, tangle in zip(cycles(graph), tangles(graph), strict=True)
    ]
    assert not found, "import cycles in the core:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c", "a"]]),
        (
            {"a": {"b", "d"}, "b": {"a"}, "c": {"d"}, "d": {"c"}},
            [["a", "b", "a"], ["c", "d", "c"]],
        ),
        ({"a": {"b"}, "b": {"c", "a"}, "c": {"a"}}, [["a", "b", "a"]]),
    ],
)
def test_cycles_finds_one_cycle_per_tangle(graph, expected):
    assert cycles(graph) == expected


def test_the_scan_sees_function_level_relative_and_submodule_imports(tmp_path, monkeypatch):
    package = tmp_path / PACKAGE
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import leaf\n")
    (package / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ispengine import top\n"
        "def f():\n"
        "    from ..top import thing\n"
        "    import plugins_builtin.x\n"
    )
    (package / "top.py").write_text("from ispengine.sub import leaf\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    graph = import_graph()
    assert graph == {
        PACKAGE: set(),
        f"{PACKAGE}.sub": {f"{PACKAGE}.sub.leaf"},
        f"{PACKAGE}.sub.leaf": {f"{PACKAGE}.top"},
        f"{PACKAGE}.top": {f"{PACKAGE}.sub.leaf"},
    }
    assert cycles(graph) == [[f"{PACKAGE}.sub.leaf", f"{PACKAGE}.top", f"{PACKAGE}.sub.leaf"]]
    leaf = package / "sub" / "leaf.py"
    imported = [m for _, m in _imported_modules(f"{PACKAGE}.sub.leaf", leaf)]
    assert "plugins_builtin.x" in imported
