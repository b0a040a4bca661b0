"""The package's shape: no import cycle, the runtime apart from the tools, modules of a size a
reader takes in, and no competition named outside its task folder.

Every check reads the source with :mod:`ast` or as text; nothing is imported.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "devtools")
MAX_LINES = 400

# Runtime modules over MAX_LINES, each with the reason. Only files that are over belong here:
# the test fails on an entry that is back under the limit, so the list shrinks as modules split.
OVERSIZED: dict[str, str] = {}

# Import cycles known today, each as its set of modules with the reason; the same rule as
# OVERSIZED: the test fails on a new cycle and on an entry that is no longer a cycle.
KNOWN_CYCLES: dict[frozenset[str], str] = {}

# Where the second competition may be named in the runtime package: its own folder, the task
# registry, and the front door of its synthetic generator.
MASHUP_HOMES = ("common/tasks/mashup/", "common/tasks/__init__.py", "common/synthetic_mashup.py")
# The switches stages branched on before tasks were objects; a stage now calls the task.
TASK_SWITCHES = ("whole_clip", ".multilabel", "classes_source", ".windowing", "label_mode")


def module_name(path: Path) -> str:
    """``common/core/config.py`` -> ``common.core.config``; a package's ``__init__`` -> the
    package."""
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> dict[str, Path]:
    """Every module of the packages: ``{dotted name: path}``."""
    return {module_name(path): path for package in PACKAGES
            for path in sorted((REPO_ROOT / package).rglob("*.py"))
            if "__pycache__" not in path.parts}


MODULES = source_files()
def is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Dotted names a module imports, at module level and inside functions, leaving out
    ``if TYPE_CHECKING:`` blocks. Relative imports are resolved; ``from pkg import name`` gives
    ``pkg.name`` when that is a module, else ``pkg``."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in MODULES else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def known(name: str) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (``None`` for third party)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in MODULES:
            return prefix
    return None


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of ours it imports}`` over common and devtools."""
    graph = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = {known(t) for t in imported_names(tree, name, path.name == "__init__.py")}
        graph[name] = {t for t in targets if t and t != name}
    return graph


GRAPH = import_graph()
# The ``python -m common.<command>`` front doors: top-level modules of ``common`` that import
# devtools (the rule of devtools.code_dataset.front_doors, read here without importing).
FRONT_DOORS = {name for name, targets in GRAPH.items()
               if name.startswith("common.") and name.count(".") == 1
               and any(t.split(".")[0] == "devtools" for t in targets)}


def strong_components(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan): the modules that
    import each other, directly or around a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component, each as ``[a, b, ..., a]``."""
    return [cycle_in(graph, component) for component in strong_components(graph)]


def cycle_in(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first)."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & component):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    raise AssertionError(f"no cycle through {start}")


def test_the_import_walker_sees_what_it_must():
    """The walker's rules on a made-up module: function-level and relative imports count,
    ``from pkg import submodule`` names the submodule, TYPE_CHECKING imports do not."""
    source = ("from typing import TYPE_CHECKING\nfrom . import config\nfrom .paths import x\n"
              "if TYPE_CHECKING:\n    from common.stages.train import run\n"
              "def f():\n    import common.tasks\n    from ..tasks import base\n")
    names = imported_names(ast.parse(source), "common.core.example", is_package=False)
    assert {"common.core.config", "common.core.paths", "common.tasks",
            "common.tasks.base"} <= names
    assert "common.stages.train.run" not in names
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycle_in_common():
    runtime = {name: {t for t in targets if t.startswith("common")}
               for name, targets in GRAPH.items() if name.startswith("common")}
    components = strong_components(runtime)
    cycles = [cycle_in(runtime, c) for c in components if c not in KNOWN_CYCLES]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
    stale = [sorted(c) for c in KNOWN_CYCLES if c not in components]
    assert not stale, f"no longer a cycle: drop from KNOWN_CYCLES: {stale}"


def test_runtime_never_imports_devtools():
    """Only the front doors reach into devtools; the code dataset ships without it."""
    assert {"common.pipeline", "common.kaggle_push", "common.notebooks", "common.sweep",
            "common.ablate", "common.synthetic", "common.synthetic_mashup"} <= FRONT_DOORS
    offenders = sorted(name for name, targets in GRAPH.items()
                       if name.startswith("common") and name not in FRONT_DOORS
                       and any(t.startswith("devtools") for t in targets))
    assert not offenders, f"runtime modules importing devtools: {offenders}"


def runtime_files() -> dict[str, Path]:
    """``{repo-relative path: path}`` of the runtime modules (common/ minus the front doors)."""
    return {str(path.relative_to(REPO_ROOT)): path for name, path in MODULES.items()
            if name.startswith("common") and name not in FRONT_DOORS}


def test_runtime_modules_are_short():
    lines = {rel: len(path.read_text().splitlines()) for rel, path in runtime_files().items()}
    over = {rel: n for rel, n in lines.items() if n > MAX_LINES and rel not in OVERSIZED}
    assert not over, f"modules over {MAX_LINES} lines (split them): {over}"
    stale = {rel: lines.get(rel) for rel in OVERSIZED if lines.get(rel, 0) <= MAX_LINES}
    assert not stale, f"no longer over {MAX_LINES} lines (or gone): drop from OVERSIZED: {stale}"


def files_mentioning(pattern: re.Pattern[str], under: str = "common/") -> list[str]:
    """``path:line`` of every line of a module under ``under`` that matches ``pattern``."""
    hits = []
    for path in MODULES.values():
        rel = str(path.relative_to(REPO_ROOT))
        if not rel.startswith(under):
            continue
        hits += [f"{rel}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    return hits


def test_the_second_competition_is_named_only_in_its_folder():
    hits = [hit for hit in files_mentioning(re.compile("mashup", re.IGNORECASE))
            if not hit.startswith(MASHUP_HOMES)]
    assert not hits, "'mashup' outside its task folder:\n" + "\n".join(hits)


def test_stages_do_not_switch_on_the_task():
    pattern = re.compile("|".join(re.escape(word) for word in TASK_SWITCHES))
    hits = files_mentioning(pattern, under="common/stages/")
    assert not hits, "task switches in stage modules (call a task hook):\n" + "\n".join(hits)


def test_every_package_docstring_names_its_modules():
    # A newcomer reads the module map where the code is: each package's docstring names every
    # module and sub-package in it (``synthetic*`` style patterns count for a family).
    import fnmatch

    missing = []
    for init in sorted((REPO_ROOT / "common").rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        named = set(re.findall(r"``([\w*]+)``", doc)) | set(re.findall(r"(\w+)/", doc))
        for entry in sorted(init.parent.iterdir()):
            name = entry.stem if entry.suffix == ".py" else entry.name
            if (entry.name == "__init__.py" or entry.name.startswith(("_", "."))
                    or not (entry.suffix == ".py" or (entry / "__init__.py").is_file())):
                continue
            if not any(fnmatch.fnmatch(name, pattern) for pattern in named):
                missing.append(f"{init.relative_to(REPO_ROOT)}: {name}")
    assert not missing, "modules missing from their package docstring:\n" + "\n".join(missing)
