"""The package's import graph, read from the source (nothing is imported): no import cycles among module-level
imports, no module outside `ganalyze_mem.cli` importing the CLI (anywhere, imports inside functions included), and
the bottom layer (`ganalyze_mem.core` and `ganalyze_mem.errors`) importing nothing of ours above it.

Module-level means run when the module is imported: the module body, class bodies, ``if``/``try`` blocks, but not
function bodies and not ``if TYPE_CHECKING:`` blocks. Importing ``ganalyze_mem.a.b`` also runs the ``__init__`` of
``ganalyze_mem.a``, so that package counts as imported too, except where it is a package of the importing module
itself (already being imported when the module runs).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "ganalyze_mem"
SOURCE = Path(__file__).resolve().parent.parent / PACKAGE
BOTTOM = (f"{PACKAGE}.core", f"{PACKAGE}.errors")  # the bottom layer: it may import only itself
CLI = f"{PACKAGE}.cli"


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # a module of the package
    line: int
    module_level: bool


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by the name of its ``__init__``)."""
    out = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, module_level: bool):
    """(import node, module_level) for every import under `node`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, module_level
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(child, False)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), False)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), module_level)
        else:
            yield from _walk(child, module_level)


def imports(modules: dict[str, Path]) -> list[Import]:
    """Every import of a module of the package, resolved to the modules it runs."""
    out = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, module_level in _walk(tree, True):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = name.split(".")
                    base = base[:len(base) - node.level + (1 if is_package else 0)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                # `from pkg import sub` runs pkg.sub when sub is a module; else it takes a name from pkg
                subs = [f"{stem}.{a.name}" for a in node.names if f"{stem}.{a.name}" in modules]
                targets = [stem] + subs
            for target in targets:
                if not within(target, PACKAGE):
                    continue
                # the target's packages run first, except those the importer is already inside
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    t = ".".join(parts[:i])
                    if t in modules and t != name and not within(name, t):
                        out.append(Import(name, t, node.lineno, module_level))
    return out


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], list[Import]]:
    modules = module_names()
    return modules, imports(modules)


def cycles(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _where(found: list[Import], modules: dict[str, Path]) -> str:
    return "\n".join(f"  {modules[i.source].relative_to(SOURCE.parent)}:{i.line}: {i.source} imports {i.target}"
                     for i in found)


def test_the_walk_sees_the_package(graph):
    """The walk finds the modules and the imports that these rules are about (so that it cannot pass by seeing
    nothing): the CLI imports the bottom layer, and a function-level import is seen as one."""
    modules, found = graph
    assert len(modules) > 100 and CLI in modules and f"{PACKAGE}.core.devices" in modules
    assert any(i.source == f"{CLI}.common" and i.target == f"{PACKAGE}.core.devices" and i.module_level
               for i in found)
    assert any(not i.module_level for i in found) and any(i.module_level for i in found)


def test_walk_resolves_relative_and_function_level_imports(tmp_path, monkeypatch):
    """The resolution on a small made-up package: relative imports from a module and from a package, submodules
    named in ``from pkg import sub``, the packages a target runs, function-level and TYPE_CHECKING imports."""
    root = tmp_path / PACKAGE
    (root / "a").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "a" / "__init__.py").write_text("from . import x\n")
    (root / "a" / "x.py").write_text("from ..b import thing\n\ndef f():\n    from . import y\n")
    (root / "a" / "y.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..b import T\n")
    (root / "b.py").write_text("class C:\n    from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "SOURCE", root)
    modules = module_names()
    got = {(i.source, i.target, i.module_level) for i in imports(modules)}
    assert got == {(f"{PACKAGE}.a", f"{PACKAGE}.a.x", True),
                   (f"{PACKAGE}.a.x", f"{PACKAGE}.b", True),
                   (f"{PACKAGE}.a.x", f"{PACKAGE}.a.y", False),
                   (f"{PACKAGE}.a.y", f"{PACKAGE}.b", False),
                   (f"{PACKAGE}.b", f"{PACKAGE}.a", True), (f"{PACKAGE}.b", f"{PACKAGE}.a.x", True)}
    edges: dict[str, set[str]] = {}
    for source, target, module_level in got:
        if module_level:
            edges.setdefault(source, set()).add(target)
    assert cycles(sorted(modules), edges) == [[f"{PACKAGE}.a", f"{PACKAGE}.a.x", f"{PACKAGE}.b"]]


def test_no_import_cycles(graph):
    modules, found = graph
    edges: dict[str, set[str]] = {}
    for i in found:
        if i.module_level:
            edges.setdefault(i.source, set()).add(i.target)
    problems = []
    for component in cycles(sorted(modules), edges):
        inside = [i for i in found if i.module_level and i.source in component and i.target in component]
        problems.append(f"import cycle among {', '.join(component)}:\n{_where(inside, modules)}")
    assert not problems, "\n".join(problems)


# Two modules that import each other, one of them inside a function: the report of a run folder draws the demo's page
# (reports -> demo.page), and the demo's page is built from the report parts (demo.page -> reports).
MUTUAL_KNOWN = {(f"{PACKAGE}.demo.page", f"{PACKAGE}.reports")}


def test_no_two_modules_import_each_other(graph):
    """A circle hidden by moving one import into a function is still a circle (rundir <-> weights and
    visualise.train <-> visualise.heldout were): no two modules import each other, at any level."""
    modules, found = graph
    edges: dict[str, set[str]] = {}
    for i in found:
        edges.setdefault(i.source, set()).add(i.target)
    pairs = {tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())}
    bad = sorted(pairs - MUTUAL_KNOWN)
    where = [i for i in found if tuple(sorted((i.source, i.target))) in bad]
    assert not bad, "modules that import each other:\n" + _where(where, modules)
    assert MUTUAL_KNOWN <= pairs, "a known circle is gone: drop it from MUTUAL_KNOWN"


def test_only_the_cli_imports_the_cli(graph):
    """The CLI (click types and commands) is the top layer: the library, the API and the tools never import it,
    not even inside a function; what they share with it (devices, files) lives in `ganalyze_mem.core`."""
    modules, found = graph
    bad = [i for i in found if within(i.target, CLI) and not within(i.source, CLI)]
    assert not bad, "modules outside the CLI import it:\n" + _where(bad, modules)


def test_bottom_layer_imports_only_itself(graph):
    modules, found = graph
    assert f"{PACKAGE}.core" in modules and f"{PACKAGE}.errors" in modules
    bad = [i for i in found if any(within(i.source, b) for b in BOTTOM)
           and not any(within(i.target, b) for b in BOTTOM) and i.target != PACKAGE]
    assert not bad, "the bottom layer imports modules above it:\n" + _where(bad, modules)


def test_bottom_layer_imports_without_torch_or_the_rest():
    """Run for real: importing the bottom layer loads neither torch nor any other module of ours."""
    code = ("import sys, ganalyze_mem.core.devices, ganalyze_mem.core.files, ganalyze_mem.core.paths\n"
            "print(' '.join(sorted(m for m in sys.modules if m == 'torch' or m.startswith('ganalyze_mem'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=SOURCE.parent).stdout.split()
    assert "torch" not in out
    assert set(out) <= {PACKAGE, f"{PACKAGE}.errors", f"{PACKAGE}.core", f"{PACKAGE}.core.devices",
                        f"{PACKAGE}.core.files", f"{PACKAGE}.core.paths"}, out
