"""The package's structure stays as designed: no import circle inside densekit.collection, and no
module imports another module's private (underscore) names. Both are read from the source (AST), so
the check needs nothing imported and fails on the line that breaks it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "densekit"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in the file, wherever it
    stands (functions included), except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
               for node in ast.walk(block)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names], node.lineno))
    return found


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_imports_another_modules_private_names():
    offences = []
    for path in _sources():
        for module, names, line in _imports(path):
            if not module.startswith("densekit"):
                continue
            private = [name for name in names if name.startswith("_") and not name.startswith("__")]
            if private and module != _module_name(path):
                offences.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {', '.join(private)} from {module}")
    assert not offences, "\n".join(offences)


def test_no_import_circle_in_the_collection_package():
    graph: dict[str, set[str]] = {}
    for path in (PACKAGE / "collection").rglob("*.py"):
        module = _module_name(path)
        targets = set()
        for imported, names, _ in _imports(path):
            if not imported.startswith("densekit.collection"):
                continue
            # "from . import rows" names a module; "from .rows import x" names the module itself.
            candidates = [f"{imported}.{name}" for name in names] + [imported]
            for candidate in candidates:
                if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).is_file() or \
                        (PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").is_file():
                    targets.add(candidate)
                    break
        graph[module] = targets - {module}
    # A package's __init__ re-exporting its own modules is not a circle through them.
    for module in graph:
        graph[module] = {target for target in graph[module] if not module.startswith(target + ".")}
    circle = _find_circle(graph)
    assert circle is None, " -> ".join(circle)


def _find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if state.get(target) is None:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def test_the_checks_catch_what_they_look_for():
    assert _find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_circle({"a": {"b"}, "b": set()}) is None
