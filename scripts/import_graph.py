"""Check the package's import graph: no cycles between modules, and nothing below the CLI imports `ragroute/`.

Run from the project root: `python -m scripts.import_graph`. Prints the graph's size, or each problem and exits 1.
Every import counts: inside functions, and under `if TYPE_CHECKING:` (a cycle that only type checking sees
is still a cycle between ideas, and a later runtime import would make it real).
"""

from __future__ import annotations

import ast
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ragroute", "flows", "tasks", "schemas", "warehouse")
BELOW_THE_CLI = ("flows", "tasks", "schemas", "warehouse")  # none of these may import `ragroute`


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules that `path` imports (`from package import module` resolves to the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    paths = [path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]
    modules = {module_name(path) for path in paths}
    graph = {module_name(path): imports_of(path, modules) for path in paths}
    for module, imported in graph.items():  # a module itself and its package's __init__ are no edges to keep
        imported -= {module, module.rpartition(".")[0]}
    return graph


def problems(graph: dict[str, set[str]]) -> list[str]:
    found = [
        f"{module} imports {target}: only the CLI and the API may import ragroute/"
        for module, imported in sorted(graph.items())
        if module.split(".")[0] in BELOW_THE_CLI
        for target in sorted(imported)
        if target.split(".")[0] == "ragroute"
    ]
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        found.append("import cycle: " + " -> ".join(error.args[1]))
    return found


def main() -> int:
    graph = import_graph()
    found = problems(graph)
    for problem in found:
        print(problem)
    if not found:
        edges = sum(len(imported) for imported in graph.values())
        print(f"{len(graph)} modules, {edges} imports: no cycle, nothing below the CLI imports ragroute/")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
