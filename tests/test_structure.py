"""The structure the docs describe, checked: no import cycles between modules.

An import cycle (a -> b -> a) makes two modules one piece that can only be understood, tested
and changed together. Imports inside functions and under TYPE_CHECKING count: they are the
usual way a cycle hides. The layering itself (core never imports Qt, layers inside core) is
checked by import-linter's contracts in pyproject.toml (`lint-imports`, run by scripts/test.sh).
"""

from __future__ import annotations

import pytest

try:
    import grimp
except ImportError:  # each test fails, naming it (the `requires` mark, tests/conftest.py)
    grimp = None

#: fails, naming it, when grimp is missing (tests/conftest.py)
needs_grimp = pytest.mark.requires("grimp", "grimp (with import-linter, requirements.lock)")


def import_cycles(*packages: str) -> list[list[str]]:
    """Strongly connected groups (of two or more modules) of the import graph of `packages`."""
    graph = grimp.build_graph(*packages, include_external_packages=False)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in modules:  # Tarjan's algorithm, iterative (no recursion limit)
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            children = edges[node]
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            for child in children:
                if child in on_stack:
                    low[node] = min(low[node], low[child])
            if low[node] == index[node]:
                group = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    group.append(m)
                    if m == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def _describe(graph_packages: tuple[str, ...], groups: list[list[str]]) -> str:
    graph = grimp.build_graph(*graph_packages, include_external_packages=False)
    lines = []
    for group in groups:
        lines.append(" <-> ".join(group))
        for a in group:
            for b in group:
                for d in graph.get_import_details(importer=a, imported=b):
                    lines.append(f"    {a}:{d['line_number']}  {d['line_contents']}")
    return "\n".join(lines)


@needs_grimp
@pytest.mark.parametrize("package", ["core", "app"])
def test_no_import_cycles(package: str) -> None:
    groups = import_cycles(package)
    assert not groups, "import cycles:\n" + _describe((package,), groups)


@needs_grimp
def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch) -> None:
    """A cycle through a function-level import is found (so the test above can fail)."""
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclepkg import a\n    return a\n")
    (pkg / "c.py").write_text("from cyclepkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclepkg") == [["cyclepkg.a", "cyclepkg.b"]]


def test_review_finds_the_app_through_its_entry_point() -> None:
    """`vidihand review` loads the GUI by entry point (core never imports app); a missing one
    is a clear error, not an ImportError."""
    from core.cli.cmd_review import load_app
    from core.errors import VidihandError

    assert callable(load_app("review"))
    with pytest.raises(VidihandError, match="not installed"):
        load_app("no-such-app")


def class_sizes(*folders: str) -> list[tuple[int, str]]:
    """(lines, "path:line Class") of every class in the Python files under `folders`, largest
    first; a class's lines run from its `class` line to its last line (docstrings included)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sizes = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                    where = f"{path.relative_to(root)}:{node.lineno} {node.name}"
                    sizes.append((node.end_lineno - node.lineno + 1, where))
    return sorted(sizes, reverse=True)


def test_no_class_over_400_lines() -> None:
    """A class past 400 lines does too many things: split it (docs/architecture.md)."""
    sizes = class_sizes("core", "app")
    assert len(sizes) > 100 and sizes[0][0] > 300  # the walk found the code
    big = [f"{n} lines  {where}" for n, where in sizes if n > 400]
    assert not big, "classes over 400 lines:\n" + "\n".join(big)


def test_extras_and_history_change_only_through_the_write_path() -> None:
    """A document's `extras` and `history` change through `set_extra` / `set_history` only
    (undoable, journaled, counted as unsaved: issue 15), except where a new document is being
    built before anyone sees it (the sample, a HOT3D import, a batch's summary document)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    building = {"core/sample/generate.py", "core/io/hot3d.py", "core/batch/runner.py"}
    owner = "core/labels/document.py"
    found: list[str] = []
    for folder in ("core", "app"):
        for path in sorted((root / folder).rglob("*.py")):
            rel = str(path.relative_to(root))
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                target = None
                if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                    targets = (
                        node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
                    )
                    subs = [t for t in targets if isinstance(t, ast.Subscript)]
                    target = subs[0].value if subs else None
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    if node.func.attr in {
                        "update",
                        "pop",
                        "append",
                        "extend",
                        "clear",
                        "setdefault",
                    }:
                        target = node.func.value
                if isinstance(target, ast.Attribute) and target.attr in {"extras", "history"}:
                    if (
                        isinstance(target.value, ast.Name)
                        and target.value.id == "doc"
                        or rel == owner
                    ):
                        if rel not in building and rel != owner:
                            found.append(f"{rel}:{node.lineno}")
    assert not found, "extras/history changed outside the write path:\n" + "\n".join(found)
