"""The shape of the code (docs/architecture.md): imports run one way, operations knows
nothing of generations, no module shadows the standard library, and the architecture page
names every module."""

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("banana_site", "generations", "operations")


def _modules():
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name, path, modules):
    """Every module of ours that `name` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _graph():
    modules = _modules()
    return {name: set(_imports(name, path, modules)) for name, path in modules.items()}


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function():
    graph = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert _cycles(graph) == [["a", "b", "c"]]


def test_operations_never_imports_generations():
    graph = _graph()
    leaks = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("operations")
        for target in targets
        if target.startswith("generations")
    }
    assert leaks == set()


def test_no_module_is_named_like_a_standard_library_one():
    clashes = {name for name in _modules() if name.rpartition(".")[2] in sys.stdlib_module_names}
    assert clashes == set()


def test_the_architecture_page_names_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = {
        str(path.relative_to(ROOT))
        for name, path in _modules().items()
        if path.name != "__init__.py"
        and str(path.relative_to(ROOT)) not in page
        and f"`{path.relative_to(ROOT).parent}/`" not in page
        and path.name not in page
    }
    assert missing == set()
