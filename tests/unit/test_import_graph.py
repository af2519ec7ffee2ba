"""The package's import graph has no cycle, and nothing below the CLI imports `ragroute/`."""

from scripts.import_graph import import_graph, imports_of, problems


def test_no_cycles_and_no_upward_imports():
    graph = import_graph()
    assert "tasks.routing.self_route" in graph and graph["tasks.routing.ask"] >= {"tasks.routing.self_route"}
    assert problems(graph) == []


def test_a_cycle_and_an_upward_import_are_reported():
    graph = {"tasks.a": {"tasks.b"}, "tasks.b": {"tasks.a", "ragroute.cli"}, "ragroute.cli": set()}
    found = problems(graph)
    assert any(line.startswith("import cycle: tasks.") for line in found)
    assert "tasks.b imports ragroute.cli: only the CLI and the API may import ragroute/" in found


def test_an_import_under_type_checking_is_an_edge(tmp_path):
    """A cycle that only `if TYPE_CHECKING:` hides is still reported."""
    module = tmp_path / "a.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from tasks.b import B\n\n\n"
        "def f():\n    import tasks.c\n"
    )
    assert imports_of(module, {"tasks.b", "tasks.c", "tasks.d"}) == {"tasks.b", "tasks.c"}
