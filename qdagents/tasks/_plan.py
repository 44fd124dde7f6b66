"""What the trusted side knows from source alone: the tests a task's hidden files define, the
workspace's modules, and the classes the tests *declare* (use as the solution's API).

All of it is read with :mod:`ast` from the task's text on the controller; nothing here imports or
runs a file. The judge's own test loader (in its sandbox) finds the tests that run; this static
plan is the floor the verdict is checked against: a test the source defines that never reports
is a failure.
"""

from __future__ import annotations

import ast
import functools
import keyword
import os
import sys
from pathlib import Path

from qdagents._syntax import parse

__all__ = ["declared_classes", "planned_tests", "workspace_modules"]

#: Decorators whose only effect on a class is to add ordering methods.
ORDERING = frozenset({"__lt__", "__le__", "__gt__", "__ge__"})


@functools.lru_cache(maxsize=1024)
def _parse(source: str, path: str = "<hidden>") -> ast.Module | None:
    """The syntax tree of a task file (cached: a task's files are parsed once per process; the
    trees are only read)."""
    try:
        return parse(source, filename=path)
    except (SyntaxError, ValueError):
        return None


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _name(node.func)
    return None


def _skipped(decorators: list[ast.expr]) -> bool:
    """``@unittest.skip(...)`` / ``@skip(...)``: unconditional (``skipIf`` and friends are not)."""
    return any(isinstance(d, ast.Call) and _name(d) == "skip" for d in decorators)


def planned_tests(source: str, path: str = "<hidden>") -> dict[str, bool] | None:
    """Test name (``Class.method`` or ``function``) -> whether the file skips it unconditionally,
    for one hidden test module; None when it does not parse.

    A class is a test case when one of its bases is named ``TestCase`` (or
    ``IsolatedAsyncioTestCase``), directly or through another class of the file; its tests are the
    ``test*`` methods it and its in-file bases define.
    """
    tree = _parse(source, path)
    if tree is None:
        return None
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

    def is_case(node: ast.ClassDef, depth: int = 0) -> bool:
        for base in node.bases:
            name = _name(base)
            if name in ("TestCase", "IsolatedAsyncioTestCase"):
                return True
            if name in classes and classes[name] is not node and depth < 20 \
                    and is_case(classes[name], depth + 1):
                return True
        return False

    def methods(node: ast.ClassDef, depth: int = 0) -> dict[str, bool]:
        found: dict[str, bool] = {}
        for base in reversed(node.bases):  # the MRO's later bases first, overridden by earlier
            name = _name(base)
            if name in classes and classes[name] is not node and depth < 20:
                found.update(methods(classes[name], depth + 1))
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and item.name.startswith("test"):
                found[item.name] = _skipped(item.decorator_list)
        return found

    plan: dict[str, bool] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and is_case(node):
            class_skipped = _skipped(node.decorator_list)
            for method, skipped in methods(node).items():
                plan[f"{node.name}.{method}"] = class_skipped or skipped
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            plan[node.name] = _skipped(node.decorator_list)
    return plan


def workspace_modules(folder: Path, exclude: set[str]) -> dict[str, bool]:
    """Top-level modules of a workspace copy: name -> whether it is a package.

    Names of stdlib modules (which the solution cannot shadow) and of hidden files (restored from
    the task) are left out, so the judge imports those itself.
    """
    found: dict[str, bool] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return found
    for entry in entries:
        name = entry.name
        if entry.is_file(follow_symlinks=False) and name.endswith(".py"):
            stem, package = name[:-3], False
        elif entry.is_dir(follow_symlinks=False):
            stem, package = name, True
        else:
            continue
        if stem.isidentifier() and not keyword.iskeyword(stem) \
                and stem not in sys.stdlib_module_names and stem not in exclude \
                and stem != "qdverdict":
            found[stem] = package or found.get(stem, False)
    return found


def _taken_names(tree: ast.Module, modules: dict[str, bool]) -> set[tuple[str, str]]:
    """(module, name) for every name the file takes from a workspace module by name."""
    taken, aliases = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] in modules:
            taken.update((node.module, a.name) for a in node.names if a.name != "*")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in modules:
                    local = alias.asname or alias.name.split(".")[0]
                    aliases[local] = alias.name if alias.asname else alias.name.split(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases:
            taken.add((aliases[node.value.id], node.attr))
    return taken


def _class_operators(node: ast.ClassDef, classes: dict, depth: int = 0) -> set[str] | str:
    """Dunder methods a class of the reference defines (with its in-file bases), or ``"*"``
    when something outside the file may add more (an unknown base, decorator or metaclass)."""
    if node.keywords or depth > 20:
        return "*"
    found: set[str] = set()
    for base in node.bases:
        name = _name(base)
        if name == "object":
            continue
        if name in classes and classes[name] is not node:
            inherited = _class_operators(classes[name], classes, depth + 1)
            if inherited == "*":
                return "*"
            found |= inherited
        else:
            return "*"
    for decorator in node.decorator_list:
        name = _name(decorator)
        if name == "total_ordering":
            found |= ORDERING
        elif name == "dataclass":
            order = isinstance(decorator, ast.Call) and any(
                k.arg == "order" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in decorator.keywords)
            found |= ORDERING if order else set()
        else:
            return "*"
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [item.name]
        elif isinstance(item, ast.Assign):
            names = [t.id for t in item.targets if isinstance(t, ast.Name)]
        else:
            continue
        found.update(n for n in names if n.startswith("__") and n.endswith("__"))
    return found


def _module_source(sources: dict[str, str], module: str) -> str | None:
    path = module.replace(".", "/")
    return sources.get(f"{path}.py", sources.get(f"{path}/__init__.py"))


def declared_classes(hidden: dict[str, str], sources: dict[str, str],
                     modules: dict[str, bool]) -> dict[str, list[str] | str]:
    """``"module.Class"`` -> the dunder methods (sorted, or ``"*"``) of each class the hidden
    tests take from a workspace module by name and the task's own source defines as a class.

    ``sources`` are the task's files with its reference on top: what a class *should* support is
    read from the reference, never from the agent's workspace.
    """
    taken: set[tuple[str, str]] = set()
    for path, text in hidden.items():
        if path.endswith(".py"):
            tree = _parse(text, path)
            if tree is not None:
                taken |= _taken_names(tree, modules)
    declared: dict[str, list[str] | str] = {}
    for module, name in sorted(taken):
        source = _module_source(sources, module)
        tree = _parse(source) if source is not None else None
        if tree is None:
            continue
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        if name in classes:
            operators = _class_operators(classes[name], classes)
            declared[f"{module}.{name}"] = operators if operators == "*" else sorted(operators)
    return declared
