"""The shape of the code (docs/architecture.md): imports run one way, operations knows
nothing of generations, no module shadows the standard library, and the architecture page
names every module."""

import ast
import functools
import re
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


# --- Public Django APIs only -----------------------------------------------------------------

# The one module that may use Django's internals: prepared reads (docs/architecture.md), in
# pyproject's strict mypy list, every read compared with the plain ORM's
# (tests/test_prepared_reads.py) and run against the newest Django release in CI.
INTERNALS_ALLOWED_IN = {"generations/prepared.py"}
# Underscored names Django documents as public: Model._meta (the Model _meta API),
# Model._state ("adding", "db"), the managers Django itself falls back on.
DOCUMENTED = {"_meta", "_state", "_default_manager", "_base_manager"}
# Internals without an underscore: the query compiler, converters, related-object caches.
INTERNAL_NAMES = {
    "get_compiler",
    "sql_with_params",
    "col_count",
    "get_converters",
    "apply_converters",
    "get_db_converters",
    "set_cached_value",
    "get_cached_value",
    "delete_cached_value",
    "is_cached",
    "integer_field_range",
}
OUR_FILES = [
    path
    for package in (*PACKAGES, "bench")
    for path in sorted((ROOT / package).rglob("*.py"))
    if "migrations" not in path.parts
]


@functools.cache
def _django_private_names():
    """Every underscored name Django's own source defines or reaches for: an attribute of
    an instance or class, a method, function or class, a module-level name."""
    import django

    defined = re.compile(r"(?:\.|def |class |^[ \t]*)(_[a-z]\w*)", re.M)
    names = set()
    for path in Path(django.__file__).parent.rglob("*.py"):
        # Locale formats, migrations and GeoDjango define nothing this app could reach for.
        if not {"locale", "migrations", "gis"} & set(path.parts):
            names.update(defined.findall(path.read_text(encoding="utf-8")))
    return frozenset(names)


def _uses_of_internals(source, private_names):
    """(line, what) for each use of a Django internal in this source: an attribute with one
    of Django's private names or an internal's name, such a name given to getattr and
    friends or looked up in vars(), and `.as_sql()` called on anything but super() (a
    custom expression's documented hook) or `.select` read off a compiler."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            if _is_internal(node, private_names):
                found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in NAME_TAKERS:
            found += _private_strings(node.args[1:2], private_names)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value).startswith("vars("):
            found += _private_strings([node.slice], private_names)
    return found


NAME_TAKERS = {"getattr", "setattr", "hasattr", "delattr"}


def _is_internal(node, private_names):
    name = node.attr
    if ast.unparse(node.value) in sys.stdlib_module_names:
        # `os._exit` is the standard library's documented API, not Django's internal.
        return False
    if name in INTERNAL_NAMES or (name in private_names and name not in DOCUMENTED):
        return True
    if name == "as_sql":
        called_on = node.value
        return not (isinstance(called_on, ast.Call) and ast.unparse(called_on.func) == "super")
    return name == "select" and "compiler" in ast.unparse(node.value)


def _private_strings(nodes, private_names):
    return [
        (node.lineno, node.value)
        for node in nodes
        if isinstance(node, ast.Constant)
        and node.value in private_names
        and node.value not in DOCUMENTED
    ]


def test_no_module_but_one_uses_djangos_internals():
    private_names = _django_private_names()
    ours = set()
    for path in OUR_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                ours.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                ours.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                ours.add(node.id)
    # A private name of our own (a module's `_compiled`, a thread's `_lock`) is ours to use,
    # even where Django happens to use the same one.
    django_only = private_names - ours
    uses = {
        f"{path.relative_to(ROOT)}:{line} {name}"
        for path in OUR_FILES
        if str(path.relative_to(ROOT)) not in INTERNALS_ALLOWED_IN
        for line, name in _uses_of_internals(path.read_text(), django_only)
    }
    assert uses == set()


def test_the_internals_check_finds_what_prepared_reads_used_to_spread():
    private_names = _django_private_names()
    source = "\n".join(
        [
            "sql, params = queryset.query.get_compiler(using=using).as_sql()",
            "names = queryset._fields",
            "Generation.owner.field.set_cached_value(generation, owner)",
            "cached._result_cache = []",
            'vars(generation)["_prefetched_objects_cache"] = {}',
            "response._has_been_logged = True",
            "columns = compiler.select[: compiler.col_count]",
            "catalogue = dict(translations._catalog)",
        ]
    )

    found = {name for _line, name in _uses_of_internals(source, private_names)}

    assert found == {
        "get_compiler",
        "as_sql",
        "_fields",
        "set_cached_value",
        "_result_cache",
        "_prefetched_objects_cache",
        "_has_been_logged",
        "select",
        "col_count",
        "_catalog",
    }


def test_a_custom_expressions_as_sql_and_model_meta_are_public():
    source = "return super().as_sql(compiler, connection)\nfields = Model._meta.get_fields()"
    assert _uses_of_internals(source, _django_private_names()) == []
