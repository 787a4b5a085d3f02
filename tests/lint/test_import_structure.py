"""The package structure holds: no import cycle inside harness/ (a function-level import
counts too: it only hides a cycle), and the mock backends stand alone, importing nothing
from harness/ (they are usable without it)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "mock_backends")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports, anywhere in the file (TYPE_CHECKING aside)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []  # annotations only: no import at run time
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    return {name: imports_of(path, set(modules)) - {name} for name, path in modules.items()}


def test_the_mock_backends_import_nothing_from_harness():
    leaks = {
        name: sorted(i for i in imported if i.startswith("harness"))
        for name, imported in graph().items()
        if name.startswith("mock_backends")
    }
    assert {name: found for name, found in leaks.items() if found} == {}


def test_harness_has_no_import_cycle():
    edges = graph()
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    for name in edges:
        edges[name] = {i for i in edges[name] if not i.startswith(name + ".")}
    cycles = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(" -> ".join(cycle) for cycle in cycles)
