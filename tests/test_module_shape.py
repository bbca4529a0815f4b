"""The domain's modules import one another one way only: no module imports another that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

SYNC = Path(__file__).resolve().parent.parent / "sync"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The sync modules `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [alias.name for alias in node.names]
        elif node.module == "sync":
            names = [alias.name for alias in node.names]
        elif (node.module or "").startswith("sync."):
            names = [node.module.split(".")[1]]
        else:
            continue
        found.update(name for name in names if name in modules and name != path.stem)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            if cycle := visit(imported, [*path, module]):
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        if cycle := visit(module, []):
            return cycle
    return None


def test_no_sync_module_imports_one_that_imports_it_back():
    files = {path.stem: path for path in SYNC.glob("*.py")}
    graph = {name: _imports(path, set(files)) for name, path in files.items()}

    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    assert _cycle({"jobs": {"pull"}, "pull": {"queue", "jobs"}, "queue": set()}) == ["jobs", "pull", "jobs"]


def test_the_runner_knows_no_handler_module():
    graph = _imports(SYNC / "jobs.py", {path.stem for path in SYNC.glob("*.py")})

    assert not graph & {"outbound", "writeback", "pull", "inbound"}
