"""Importing in the judge: the stdlib first, then the hidden files, then the workspace's modules
as proxy modules; ``from <workspace module> import *`` made safe."""

import ast
import builtins
import importlib
import importlib.abc
import importlib.machinery
import sys
import types

from .proxies import guard_numeric_assertions
from .remote import Session


class ProxyModule(types.ModuleType):
    """A workspace module as the tests see it: attribute access goes to the solution."""

    def __getattr__(self, name):
        if name.startswith("__") or name.startswith("_qd_"):
            raise AttributeError(name)
        return self.__dict__["_qd_session"].getattr_path(tuple(self.__name__.split(".")), name)

    def __setattr__(self, name, value):
        if name.startswith("__") or name.startswith("_qd_"):
            super().__setattr__(name, value)
        else:
            session = self.__dict__["_qd_session"]
            session.call("setattr", session.named_proxy(tuple(self.__name__.split(".")),
                                                        "module"), name, value)

    def __dir__(self):
        session = self.__dict__["_qd_session"]
        names = session.call("names", session.named_proxy(tuple(self.__name__.split(".")),
                                                          "module"))
        return list(names) if type(names) is list else []


class WorkspaceLoader(importlib.abc.Loader):
    def __init__(self, session: Session):
        self.session = session

    def create_module(self, spec):
        module = ProxyModule(spec.name)
        module.__dict__["_qd_session"] = self.session
        return module

    def exec_module(self, module):
        self.session.resolve_path(tuple(module.__name__.split(".")))  # import errors show now


class WorkspaceFinder(importlib.abc.MetaPathFinder):
    """Finds the workspace's modules (after the stdlib and the hidden files): proxy modules."""

    def __init__(self, session: Session):
        self.session = session
        self.loader = WorkspaceLoader(session)

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in self.session.workspace_modules:
            return None
        package = self.session.workspace_modules[top] if name == top else True
        spec = importlib.machinery.ModuleSpec(name, self.loader, is_package=package)
        if package:
            spec.submodule_search_locations = []
        return spec


class HiddenLoader(importlib.machinery.SourceFileLoader):
    """Loads hidden test files with ``from <workspace module> import *`` made safe (see
    :func:`star_import`)."""

    workspace: dict = {}

    def source_to_code(self, data, path, *, _optimize=-1):
        tree = ast.parse(data, filename=path)
        tree = StarImports(self.workspace).visit(tree)
        ast.fix_missing_locations(tree)
        return compile(tree, path, "exec", dont_inherit=True, optimize=_optimize)

    def get_code(self, fullname):  # no bytecode cache: always from the (rewritten) source
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


class HiddenFinder(importlib.abc.MetaPathFinder):
    """Finds hidden test modules and helpers in the tests folder (loaded by
    :class:`HiddenLoader`)."""

    def __init__(self, folder: str):
        self.folder = folder

    def find_spec(self, name, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(name, path or [self.folder])
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = HiddenLoader(name, spec.origin)
        return spec


class StarImports(ast.NodeTransformer):
    def __init__(self, workspace: dict):
        self.workspace = workspace

    def visit_ImportFrom(self, node):
        if node.level == 0 and node.module and node.module.split(".")[0] in self.workspace \
                and any(alias.name == "*" for alias in node.names):
            call = ast.Call(func=ast.Name("__qd_star_import__", ast.Load()),
                            args=[ast.Call(ast.Name("globals", ast.Load()), [], []),
                                  ast.Constant(node.module)], keywords=[])
            return ast.copy_location(ast.Expr(call), node)
        return node


def star_import(namespace: dict, name: str) -> None:
    """``from <workspace module> import *``, without rebinding a name the test module already
    has or shadowing a builtin (a solution exporting ``abs`` or ``isclose`` cannot replace them)."""
    module = importlib.import_module(name)
    for attribute in dir(module)[:10_000]:
        if attribute.startswith("_") or attribute in namespace or hasattr(builtins, attribute):
            continue
        namespace[attribute] = getattr(module, attribute)


def install(session: Session, tests_folder: str) -> None:
    """Sets up importing for the judge: stdlib, then the hidden files, then the workspace."""
    HiddenLoader.workspace = session.workspace_modules
    builtins.__qd_star_import__ = star_import
    sys.meta_path.append(HiddenFinder(tests_folder))
    sys.meta_path.append(WorkspaceFinder(session))
    guard_numeric_assertions()
