"""The judge's view of the solution: a session, proxies, exception mirrors and the import hook.

Everything here runs in the judge, which never executes solution code. What the solution sends
is rebuilt as plain data (exact builtin types), as a :class:`Proxy` (an object that stays in the
solution process; every use is a request to it), as a *hybrid* (an instance of a builtin
subclass, e.g. a ``namedtuple``, ``Counter`` or ``IntEnum`` member: its builtin value, compared by
the builtin's own methods, plus a reference for attribute access), or as an exception of a
builtin type or of a *mirror* class (a judge-side class with the same name whose bases are
mirrors or builtin exceptions, never a ``BaseException``-only type).

The semantics that matter for forgery (see docs/tasks.md):

- a proxy never equals a trusted value (``==`` with a non-proxy is identity), and ``!=`` is always
  ``not ==``, so ``assertEqual(solution_value, 3)`` passes only when the solution sent a real 3;
- ordering and arithmetic between a proxy and a trusted value are refused (:class:`BoundaryError`)
  unless the proxy is an instance of a *declared* class (one the hidden tests import from the
  solution and the reference solution defines with that operator); between two proxies they are
  the solution's to answer; ``in`` on a proxy iterates it here unless its class is declared with
  ``__contains__``; conversions (``bool``, ``len``, ``str``, ``int``, ``hash``, ...) are asked of
  the solution and must return the exact builtin type;
- ``unittest``'s numeric assertions (``assertAlmostEqual``, ``assertGreater``, ...) refuse a proxy
  compared with a plain value;
- the solution's context managers cannot swallow a test's ``AssertionError``; an assertion that
  fails inside a callback the solution called fails the test even if the solution catches it;
- objects of the tests the solution receives (callbacks) can be called; public attributes of
  instances of classes the hidden tests define can be read and set; nothing else (no frames, no
  globals, no modules, no ``TestCase``);
- a ``from solution import *`` binds only names that are neither builtins nor already bound, and a
  module the solution exports under a stdlib name is the judge's own stdlib module.

A :class:`BoundaryError` is a ``TypeError`` and fails the test it happens in even if the test
catches it; a timeout, the solution's death and a protocol violation are ``BaseException`` s
(nothing in a test can catch them) and fail the test too.
"""

import ast
import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import math
import os
import select
import socket
import stat
import sys
import time
import types
import unittest

from . import wire

NAME_CAP = 200
CONTAINS_CAP = 100_000
TRACE_CAP = 2000
BUILTIN_TYPES = {name: value for name, value in vars(builtins).items() if isinstance(value, type)}
#: Exception types the solution may not raise into the judge as themselves.
NOT_RAISABLE = (StopIteration, StopAsyncIteration)
#: stdlib modules whose functions only compute: a solution module exposing one under its own
#: name (``import math`` at its top, then ``from solution import *`` in a test) gives the judge's
#: own copy, so ``math.isclose`` is the stdlib's, not a function the solution planted. Any other
#: module it exposes stays a proxy (the judge never runs code the solution designates).
PURE_STDLIB = frozenset({"array", "base64", "binascii", "bisect", "calendar", "cmath",
                         "collections", "copy", "dataclasses", "datetime", "decimal", "difflib",
                         "enum", "fractions", "functools", "hashlib", "heapq", "itertools", "json",
                         "math", "numbers", "operator", "random", "re", "statistics", "string",
                         "struct", "textwrap", "typing", "unicodedata", "zlib"})
#: Attributes of the tests' objects any solution may read (strings only).
NAMES_SHOWN = frozenset({"__name__", "__qualname__", "__module__", "__doc__"})
HYBRID_BASES = {"int": int, "float": float, "complex": complex, "str": str, "bytes": bytes,
                "tuple": tuple, "list": list, "dict": dict, "set": set, "frozenset": frozenset}


class BoundaryError(TypeError):
    """Something the boundary does not carry (or refuses, because it could forge a verdict)."""


class TestTimeout(BaseException):
    """The test ran out of time (in the judge or waiting for the solution)."""


class SolutionGone(BaseException):
    """The solution process ended (or its server vanished) during the test."""


class Tampering(BaseException):
    """The solution's side broke the protocol in a way its own server never does."""


# --- incidents ----------------------------------------------------------------------------------


class Incidents:
    """What happened during the current test that fails it whatever the test's code caught,
    and the tampering detected over the whole run."""

    def __init__(self):
        self.sticky: list[tuple[str, str]] = []     # (kind, message) for the current test
        self.tampering: list[str] = []
        self.on_tamper = lambda reason: None

    def fail(self, kind: str, message: str) -> None:
        if len(self.sticky) < 20:
            self.sticky.append((kind, message[:TRACE_CAP]))

    def tamper(self, reason: str) -> None:
        reason = reason[:NAME_CAP * 2]
        if reason not in self.tampering and len(self.tampering) < 20:
            self.tampering.append(reason)
            self.on_tamper(reason)
        self.fail("tampering", f"tampering: {reason}")


# --- the session ----------------------------------------------------------------------------------


class Session:
    """The judge's connection to the solution server, across restarts of the solution process.

    A *generation* is one solution process (one connection). References to objects created in
    a generation die with it; objects reached from a workspace module by attribute names (a class,
    a function) are re-resolved by name in the next one. A generation ends when a test times out,
    the solution dies, or the protocol is broken; the next request starts a new one.

    Args:
        socket_path: The solution server's unix socket.
        workspace_modules: Top-level module name -> whether it is a package.
        declared: ``"module.Class"`` -> dunder names (or ``"*"``) the tests may use with plain
            operands on instances of that class.
        hidden_modules: Names of the hidden test modules and helpers (their classes' instances
            are the only test objects whose attributes the solution may use).
        connect_seconds: How long the first connection may wait for the server to listen.
    """

    def __init__(self, *, socket_path: str, workspace_modules: dict, declared: dict,
                 hidden_modules: set, connect_seconds: float = 30.0):
        self.socket_path = socket_path
        self.workspace_modules = dict(workspace_modules)
        self.declared = dict(declared)
        self.hidden_modules = set(hidden_modules)
        self.connect_deadline = time.monotonic() + connect_seconds
        self.incidents = Incidents()
        self.test_deadline: float | None = None
        self.generation = 0
        self.endpoint: wire.Endpoint | None = None
        self.sock: socket.socket | None = None
        self.ended: str | None = None           # how the last generation ended
        self.previous: str | None = None
        self.server_gone = False                # a reconnection found no server
        self.objects: dict[int, Proxy] = {}     # handle -> proxy, this generation
        self.paths: dict[tuple, object] = {}    # attribute path -> value, this generation
        self.named: dict[tuple, Proxy] = {}     # attribute path -> proxy, every generation
        self.exported: dict[int, object] = {}   # judge objects the solution holds, this gen.
        self.hybrids: dict[int, object] = {}    # immutable builtin-subclass values, this gen.
        self.export_ids: dict[int, int] = {}
        self.mirrors: dict[tuple, type] = {}
        self.codec = wire.Codec(export=self.export, resolve=self.resolve,
                                local_key=self.local_key)

    # generations -------------------------------------------------------------------------------
    def connect(self, deadline: float) -> None:
        """Starts a generation: connects (waiting for the server to listen) and reads the
        greeting, which says how the previous solution process ended and whether processes it
        started outlived it."""
        while True:
            try:
                info = os.lstat(self.socket_path)
            except FileNotFoundError:
                info = None
            if info is not None:
                if not stat.S_ISSOCK(info.st_mode):
                    what = "symlink" if stat.S_ISLNK(info.st_mode) else "file that is not a socket"
                    self.incidents.tamper(f"the solution's socket was replaced by a {what}")
                    raise Tampering("the solution's socket was replaced")
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(self.socket_path)
                    break
                except OSError:
                    sock.close()
            if time.monotonic() >= deadline:
                raise SolutionGone("the solution server is not answering")
            time.sleep(0.005)
        try:
            hello = wire.recv_frame(sock, deadline)
        except wire.WireError as error:
            sock.close()
            raise SolutionGone(f"the solution server did not answer ({type(error).__name__})")
        if set(hello) != {"hello", "previous", "left_behind"} or hello["hello"] != wire.PROTOCOL \
                or not isinstance(hello["previous"], (str, type(None))) \
                or type(hello["left_behind"]) is not int:
            sock.close()
            self.incidents.tamper("a malformed greeting from the solution server")
            raise Tampering("a malformed greeting")
        if hello["left_behind"] > 0:
            self.incidents.tamper(f"{hello['left_behind']} process(es) started by the solution "
                                  "outlived it (they left its process group)")
        self.previous = hello["previous"]
        self.sock = sock
        self.endpoint = wire.Endpoint(sock, self.codec, self.serve, deadline=self.deadline,
                                      passthrough=(TestTimeout, SolutionGone, Tampering))
        self.generation += 1
        self.objects, self.paths, self.exported, self.export_ids = {}, {}, {}, {}
        self.hybrids = {}

    def ensure(self) -> wire.Endpoint:
        if self.endpoint is None:
            first = self.generation == 0
            self.connect(self.connect_deadline if first else
                         min(self.deadline() or math.inf, time.monotonic() + 10))
        return self.endpoint

    def end_generation(self, why: str) -> None:
        """Drops the connection and at once opens the next one: the server then kills the old
        process (a spinning solution stops burning CPU) and says how it ended."""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = self.endpoint = None
        self.ended = why
        try:
            self.connect(time.monotonic() + 5)
        except (SolutionGone, Tampering):
            self.server_gone = True
            return
        if why == "ended" and self.previous:
            self.ended = self.previous[:NAME_CAP]

    def audit(self) -> None:
        """Between requests the solution has nothing to say: bytes waiting on a healthy
        connection are messages nobody asked for."""
        if self.sock is None or self.endpoint is None or self.endpoint.broken:
            return
        try:
            readable = select.select([self.sock], [], [], 0)[0]
            waiting = self.sock.recv(1, socket.MSG_PEEK) if readable else b""
        except OSError:
            return
        if waiting:
            self.incidents.tamper("the solution sent messages the judge did not ask for")
            self.end_generation("sent unasked messages")

    def finish(self, patience: float = 0.2) -> None:
        """Ends the last generation: says so to the server (whose worker then exits), listens
        until it has closed (a solution still sending is tampering), then reconnects once so the
        server reports processes left behind."""
        if self.sock is not None and self.endpoint is not None and not self.endpoint.broken:
            deadline = time.monotonic() + patience
            try:
                self.sock.shutdown(socket.SHUT_WR)
                while time.monotonic() < deadline:
                    self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                    data = self.sock.recv(65536)
                    if not data:
                        break
                    self.incidents.tamper("the solution sent messages the judge did not ask for")
                    break
            except OSError:
                pass
        self.end_generation("finished")
        if self.server_gone:
            self.incidents.tamper("the solution server was killed, so processes the solution "
                                  "left behind could not be counted")
        if self.sock is not None:
            self.sock.close()

    def deadline(self) -> float | None:
        return self.test_deadline

    # requests ------------------------------------------------------------------------------------
    def call(self, op: str, *args):
        endpoint = self.ensure()
        try:
            return endpoint.request(op, list(args))
        except wire.TimedOut:
            self.incidents.fail("timeout", "timed out")
            self.end_generation("timed out")
            raise TestTimeout("timed out waiting for the solution") from None
        except wire.PeerGone:
            self.end_generation("ended")
            message = f"the solution process {self.ended} during the test"
            self.incidents.fail("died", message)
            raise SolutionGone(message) from None
        except wire.ProtocolError as error:
            self.incidents.tamper(f"protocol violation: {error}")
            self.end_generation("broke the protocol")
            raise Tampering(str(error)) from None
        except wire.ValueTooLarge as error:
            raise self.boundary(f"a value too large to send to the solution: {error}") from None
        except BaseException as error:
            if endpoint.broken and self.endpoint is endpoint:  # e.g. the judge's own alarm
                if isinstance(error, TestTimeout):
                    self.incidents.fail("timeout", "timed out")
                self.end_generation("was interrupted")
            raise

    def boundary(self, message: str) -> BoundaryError:
        self.incidents.fail("boundary", f"boundary: {message}")
        return BoundaryError(f"boundary: {message}")

    def truth(self, op: str, *args) -> bool:
        return self.typed(self.call(op, *args), bool, op)

    def typed(self, value, kind: type, what: str):
        if type(value) is kind:
            return value
        if isinstance(value, kind) and not isinstance(value, Proxy):  # a hybrid
            return kind(value)
        if kind is int and type(value) is bool and what != "index":
            return int(value)
        raise self.boundary(f"{what} of a solution object gave {_kind(value)}, "
                            f"not {kind.__name__}")

    # references ----------------------------------------------------------------------------------
    def target(self, proxy: "Proxy") -> int:
        """The handle of a proxy's object in the current generation."""
        if proxy._qd_path is not None:
            return self.resolve_path(proxy._qd_path)
        if proxy._qd_generation != self.generation or self.endpoint is None:
            raise self.boundary(f"an object of the solution from before it was restarted "
                                f"(it {self.ended})")
        return proxy._qd_handle

    def resolve_path(self, path: tuple) -> int:
        """The handle, in this generation, of what a module path (``("bank", "Clock")``) names:
        classes, functions and modules are re-resolved by name after a restart."""
        self.ensure()
        handle = self.paths.get(path)
        if handle is None:
            if len(path) == 1:
                found = self.call("import", path[0])
            else:
                found = self.call("getattr", self.named_proxy(path[:-1], "module"), path[-1])
            if not isinstance(found, Proxy):
                raise self.boundary(f"{'.'.join(path)} is no longer an object of the solution")
            handle = self.target(found)
            self.paths[path] = handle
        return handle

    def named_proxy(self, path: tuple, kind: str, class_path: tuple = ("<module>", "")):
        named = self.named.get(path)
        if named is None:
            named = Proxy._qd_make(self, None, None, kind, class_path, path)
            self.named[path] = named
        return named

    def getattr_path(self, path: tuple, name: str):
        """``module.name`` (or ``Class.name``): classes and functions as proxies named by their
        path (the same proxy object every time, across restarts), instances as proxies of this
        generation, modules as :meth:`own_module`, plain data as itself."""
        value = self.call("getattr", self.named_proxy(path, "module"), name)
        if not isinstance(value, Proxy):
            return value
        if value._qd_kind == "module":
            return self.own_module(value._qd_class[1], name, value)
        if value._qd_kind == "object" or value._qd_path is not None:
            return value
        full = (*path, name)
        named = self.named_proxy(full, value._qd_kind, value._qd_class)
        self.paths[full] = value._qd_handle
        self.objects[value._qd_handle] = named  # the same object is the same proxy
        return named

    def declared_op(self, proxy: "Proxy", dunder: str) -> bool:
        ops = self.declared.get(".".join(proxy._qd_class))
        return ops == "*" or (ops is not None and dunder in ops)

    def local_key(self, value) -> bool:
        base = _hybrid_base(value)
        return base in (int, float, complex, str, bytes) or (
            base in (tuple, frozenset) and all(self.local_key(v) or self.codec.plain_key(v)
                                               for v in value))

    # the codec's hooks ------------------------------------------------------------------------------
    def export(self, value) -> dict:
        """A judge value that is not plain data, as sent to the solution."""
        if isinstance(value, Proxy):
            return {"r": self.target(value)}
        base = _hybrid_base(value)
        if base is not None:
            ref = getattr(value, "_qd_ref", None)
            if ref is not None and ref[0] == self.generation:
                return {"r": ref[1]}
            return self.codec.encode(base(value))
        if isinstance(value, BaseException):
            return {"e": {"c": builtin_base(type(value)).__name__,
                          "a": self.codec.encode(judge_args(value))}}
        if isinstance(value, type):
            path = getattr(value, "_qd_path", None)
            if path is not None and path[0].split(".")[0] in self.workspace_modules:
                return {"r": self.resolve_path(tuple(path[0].split(".")) + tuple(
                    path[1].split(".")))}
            if BUILTIN_TYPES.get(value.__name__) is value:
                return {"bi": [value.__name__]}
        if isinstance(value, (types.BuiltinFunctionType, types.MethodDescriptorType)):
            name = stdlib_name(value)
            if name is not None:
                return {"bi": name}
        if isinstance(value, (types.ModuleType, types.FrameType, types.CodeType,
                              types.TracebackType, unittest.TestCase)):
            raise self.boundary(f"the tests passed {_kind(value)} to the solution")
        handle = self.export_ids.get(id(value))
        if handle is None:
            handle = len(self.exported) + 1
            self.exported[handle] = value
            self.export_ids[id(value)] = handle
        return {"j": handle}

    def resolve(self, tag: dict):
        """A tag the solution sent, as a judge value."""
        keys = set(tag)
        try:
            if "r" in keys and keys <= {"r", "k", "c"}:
                return self.proxy(tag["r"], tag.get("k", "object"), tag.get("c"))
            if keys == {"h", "v", "r", "c"}:
                return self.hybrid(tag)
            if keys == {"m", "r"}:
                return self.module(tag["m"], tag["r"])
            if keys == {"bi"}:
                kind = BUILTIN_TYPES.get(tag["bi"]) if type(tag["bi"]) is str else None
                if kind is None:
                    raise wire.ProtocolError("an unknown builtin type")
                return kind
            if keys == {"ec"}:
                return self.mirror(tag["ec"])
            if keys == {"e"}:
                return self.exception(tag["e"])
            if keys == {"j"}:
                handle = tag["j"]
                if type(handle) is not int or handle not in self.exported:
                    raise wire.ProtocolError("a reference to an object the tests never passed")
                return self.exported[handle]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise wire.ProtocolError(f"a malformed {sorted(keys)} tag: {error}") from None
        raise wire.ProtocolError(f"an unknown value tag {sorted(keys)[:5]}")

    def proxy(self, handle, kind, class_path) -> "Proxy":
        if type(handle) is not int or kind not in ("class", "callable", "object", "module"):
            raise wire.ProtocolError("a malformed reference")
        found = self.objects.get(handle)
        if found is None:
            found = Proxy._qd_make(self, self.generation, handle, kind,
                                   _class_path(class_path), None)
            self.objects[handle] = found
        return found

    def hybrid(self, tag: dict):
        base = HYBRID_BASES.get(tag["h"]) if type(tag["h"]) is str else None
        value = self.codec.decode(tag["v"])
        if base is None or type(value) is not base or type(tag["r"]) is not int:
            raise wire.ProtocolError("a malformed builtin-subclass value")
        immutable = base not in (list, dict, set)  # those are copies: each time a fresh one
        if immutable and tag["r"] in self.hybrids:
            return self.hybrids[tag["r"]]             # Color.RED is Color.RED
        made = HYBRIDS[base](value)
        if immutable:
            self.hybrids[tag["r"]] = made
        made._qd_ref = (self.generation, tag["r"])
        made._qd_session = self
        made._qd_class = _class_path(tag["c"])
        return made

    def module(self, name, handle):
        if type(name) is not str or type(handle) is not int or len(name) > NAME_CAP:
            raise wire.ProtocolError("a malformed module")
        return self.proxy(handle, "module", ["<module>", name])

    def own_module(self, name: str, attribute: str, proxy: "Proxy"):
        """A module the solution exposes (``solution.math``, a star import): a workspace module
        as its proxy module, a pure stdlib module under its own name as the judge's own import
        (:data:`PURE_STDLIB`), anything else as the proxy it is."""
        try:
            if name.split(".")[0] in self.workspace_modules:
                return importlib.import_module(name)
            if name == attribute and name in PURE_STDLIB:
                return importlib.import_module(name)
        except ImportError:
            pass
        return proxy

    def mirror(self, description, depth: int = 0) -> type:
        """A judge-side class standing for an exception class of the solution."""
        if type(description) is not dict or depth > 12:
            raise wire.ProtocolError("a malformed exception class")
        if set(description) == {"bi"}:
            kind = BUILTIN_TYPES.get(description["bi"])
            if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                raise wire.ProtocolError("an unknown builtin exception")
            return kind
        module, qualname, bases = description["m"], description["q"], description["b"]
        if type(module) is not str or type(qualname) is not str or type(bases) is not list \
                or len(module) > NAME_CAP or len(qualname) > NAME_CAP or len(bases) > 8:
            raise wire.ProtocolError("a malformed exception class")
        key = (module, qualname)
        if key not in self.mirrors:
            parents = []
            for base in (self.mirror(b, depth + 1) for b in bases):
                base = raisable(base)
                if base not in parents:
                    parents.append(base)
            name = qualname.rsplit(".", 1)[-1] or "SolutionError"
            namespace = {"__module__": module, "__qualname__": qualname, "_qd_path": key}
            try:
                made = type(name, tuple(parents) or (Exception,), namespace)
            except TypeError:  # bases that cannot be combined here: the first one
                made = type(name, (parents[0] if parents else Exception,), namespace)
            self.mirrors[key] = made
        return self.mirrors[key]

    def exception(self, body) -> BaseException:
        if type(body) is not dict or set(body) != {"c", "a", "t"} or type(body["t"]) is not str:
            raise wire.ProtocolError("a malformed exception")
        kind = self.mirror(body["c"])
        args = self.codec.decode(body["a"])
        if type(args) is not tuple:
            raise wire.ProtocolError("exception arguments that are not a tuple")
        if not issubclass(kind, Exception) or issubclass(kind, NOT_RAISABLE):
            error = RuntimeError(f"the solution raised {kind.__name__}"
                                 + (f": {_short(args)}" if args else ""))
        else:
            try:
                error = kind(*args)
            except Exception:
                error = kind.__new__(kind)
                error.args = args
        error.__qd_from_solution__ = True
        if body["t"] and hasattr(error, "add_note"):
            error.add_note("raised in the solution:\n" + body["t"][-TRACE_CAP:])
        return error

    # requests from the solution (callbacks) ------------------------------------------------------
    def serve(self, op: str, args: list):
        if not args or not self.exported_object(args[0]):
            raise wire.ProtocolError(f"a {op!r} request about an object the tests never passed")
        target, rest = args[0], args[1:]
        if isinstance(target, (types.ModuleType, unittest.TestCase, types.FrameType,
                               types.CodeType, types.TracebackType)):
            raise BoundaryError("the tests' objects of this kind cannot be used by the solution")
        try:
            return self.serve_op(op, target, rest)
        except AssertionError:
            self.incidents.fail("assertion", "an assertion of the tests failed in a callback "
                                "the solution called")
            raise AssertionError() from None

    def exported_object(self, value) -> bool:
        return any(value is obj for obj in self.exported.values())

    def helper_instance(self, target) -> bool:
        kind = type(target)
        return (not isinstance(target, (type, types.FunctionType, types.MethodType,
                                        types.BuiltinFunctionType, types.GeneratorType,
                                        types.CoroutineType, unittest.TestCase))
                and getattr(kind, "__module__", None) in self.hidden_modules)

    def serve_op(self, op: str, target, rest: list):
        if op == "call" and len(rest) == 2 and type(rest[0]) is list and type(rest[1]) is dict:
            return target(*rest[0], **rest[1])
        if op in ("getattr", "setattr") and rest and type(rest[0]) is str:
            if op == "getattr" and rest[0] in NAMES_SHOWN:  # what functools.wraps copies
                value = getattr(target, rest[0], None)
                return value if isinstance(value, (str, type(None))) else None
            if rest[0].startswith("_") or not self.helper_instance(target):
                refused = AttributeError if op == "getattr" else BoundaryError
                raise refused(f"the solution may not {op[:3]} {rest[0]!r} on an object of "
                              "the tests")
            if op == "getattr" and len(rest) == 1:
                value = getattr(target, rest[0])
                if isinstance(value, (type, types.ModuleType)):
                    raise BoundaryError("the solution may not reach classes or modules of the "
                                        "tests")
                return value
            if op == "setattr" and len(rest) == 2:
                return setattr(target, rest[0], rest[1])
        if op in ("enter", "exit") and self.helper_instance(target):
            return type(target).__enter__(target) if op == "enter" else \
                type(target).__exit__(target, *rest[:3])
        simple = {"iter": iter, "next": _next_or_exhausted, "len": len, "bool": bool,
                  "str": str, "repr": repr}
        if op in simple and not rest:
            return simple[op](target)
        if op in ("getitem", "contains") and len(rest) == 1:
            return target[rest[0]] if op == "getitem" else rest[0] in target
        if op in ("call", "getattr", "setattr", "enter", "exit", "iter", "next", "len", "bool",
                  "str", "repr", "getitem", "contains"):
            raise BoundaryError(f"the solution may not {op} this object of the tests")
        raise wire.ProtocolError(f"an unknown request {op[:40]!r}")


# --- values -----------------------------------------------------------------------------------------


def _next_or_exhausted(iterator):
    try:
        return next(iterator)
    except StopIteration:
        raise wire.Exhausted() from None


def _class_path(value) -> tuple:
    if type(value) is not list or len(value) != 2 or not all(
            type(v) is str and len(v) <= NAME_CAP for v in value):
        raise wire.ProtocolError("a malformed class name")
    return tuple(value)


def _kind(value) -> str:
    if isinstance(value, Proxy):
        return f"a {'.'.join(value._qd_class)} object"
    return f"a {type(value).__name__}"


def _short(args) -> str:
    try:
        return repr(args[0] if len(args) == 1 else args)[:NAME_CAP]
    except Exception:
        return "?"


def builtin_base(kind: type) -> type:
    """The nearest builtin exception type of ``kind`` (a mirror's or a test's class)."""
    for base in kind.__mro__:
        if BUILTIN_TYPES.get(base.__name__) is base:
            return base
    return Exception


def raisable(kind: type) -> type:
    """A base a mirror may have: never a BaseException-only type, StopIteration and the like."""
    if issubclass(kind, Exception) and not issubclass(kind, NOT_RAISABLE):
        return kind
    return RuntimeError


def judge_args(error: BaseException) -> tuple:
    """The args of a judge exception as the solution may see them: an assertion's message holds
    the expected values, so it is never sent."""
    return () if isinstance(error, AssertionError) else tuple(error.args)


def stdlib_name(value) -> list | None:
    """``["str", "lower"]`` or ``["math", "sqrt"]`` for a builtin function or method."""
    owner = getattr(value, "__objclass__", None)
    if owner is not None and BUILTIN_TYPES.get(owner.__name__) is owner:
        return [owner.__name__, value.__name__]
    module = getattr(value, "__module__", None)
    if module == "builtins" and getattr(builtins, value.__name__, None) is value:
        return [value.__name__]
    if module in sys.stdlib_module_names and getattr(sys.modules.get(module), value.__name__,
                                                     None) is value:
        return [module, value.__name__]
    return None


def _hybrid_base(value):
    return getattr(type(value), "_qd_base", None)


def _make_hybrid(base: type) -> type:
    def __getattr__(self, name):
        if name.startswith("_qd_"):
            raise AttributeError(name)
        session = self.__dict__.get("_qd_session")
        generation, handle = self.__dict__.get("_qd_ref", (None, None))
        if session is None or generation != session.generation:
            raise AttributeError(name)
        proxy = session.proxy(handle, "object", list(self.__dict__["_qd_class"]))
        return session.call("getattr", proxy, name)

    return type(f"Solution{base.__name__.capitalize()}", (base,),
                {"_qd_base": base, "__getattr__": __getattr__, "__module__": __name__})


HYBRIDS = {base: _make_hybrid(base) for base in HYBRID_BASES.values()}


def _binary(op: str, dunder: str, reflected: bool = False):
    def method(self, other):
        session = self._qd_session
        if not (isinstance(other, Proxy) or session.declared_op(self, dunder)):
            raise session.boundary(
                f"{op} between {_kind(self)} and {_kind(other)}: the tests expect plain values "
                f"here ({dunder} is not part of a class the tests declare)")
        operands = (other, self) if reflected else (self, other)
        return session.call(op, *operands)
    method.__name__ = dunder
    return method


def _inplace(op: str, dunder: str):
    def method(self, other):
        if not (isinstance(other, Proxy) or self._qd_session.declared_op(self, dunder)):
            return NotImplemented
        return self._qd_session.call(op, self, other)
    method.__name__ = dunder
    return method


def _compare(op: str, dunder: str):
    def method(self, other):
        session = self._qd_session
        if not (isinstance(other, Proxy) or session.declared_op(self, dunder)):
            raise session.boundary(
                f"{dunder} between {_kind(self)} and {_kind(other)}: the tests expect plain "
                "values here")
        return session.truth(op, self, other)
    method.__name__ = dunder
    return method


def _unary(op: str, dunder: str, kind: type | None = None):
    def method(self, *extra):
        value = self._qd_session.call(op, self, *extra)
        return value if kind is None else self._qd_session.typed(value, kind, dunder)
    method.__name__ = dunder
    return method


class Proxy:
    """An object that lives in the solution process; see the module docstring."""

    __slots__ = ("_qd_session", "_qd_generation", "_qd_handle", "_qd_kind", "_qd_class",
                 "_qd_path", "__weakref__")

    @classmethod
    def _qd_make(cls, session, generation, handle, kind, class_path, path):
        proxy = object.__new__(cls)
        for name, value in (("_qd_session", session), ("_qd_generation", generation),
                            ("_qd_handle", handle), ("_qd_kind", kind),
                            ("_qd_class", class_path), ("_qd_path", path)):
            object.__setattr__(proxy, name, value)
        return proxy

    def __getattr__(self, name):
        if name.startswith("_qd_"):
            raise AttributeError(name)
        if self._qd_path is not None:
            return self._qd_session.getattr_path(self._qd_path, name)
        return self._qd_session.call("getattr", self, name)

    def __setattr__(self, name, value):
        self._qd_session.call("setattr", self, name, value)

    def __delattr__(self, name):
        self._qd_session.call("delattr", self, name)

    def __call__(self, *args, **kwargs):
        return self._qd_session.call("call", self, list(args), kwargs)

    def __eq__(self, other):
        if other is self:
            return True
        if isinstance(other, Proxy):
            return self._qd_session.truth("eq", self, other)
        return NotImplemented

    def __ne__(self, other):
        if other is self:
            return False
        if isinstance(other, Proxy):
            return not self._qd_session.truth("eq", self, other)
        return NotImplemented

    __lt__, __le__ = _compare("lt", "__lt__"), _compare("le", "__le__")
    __gt__, __ge__ = _compare("gt", "__gt__"), _compare("ge", "__ge__")

    def __contains__(self, item):
        session = self._qd_session
        if isinstance(item, Proxy) or session.declared_op(self, "__contains__"):
            return session.truth("contains", self, item)
        for count, value in enumerate(self):   # plain membership: decided here
            if value is item or value == item:
                return True
            if count >= CONTAINS_CAP:
                raise session.boundary(f"'in' over more than {CONTAINS_CAP} items")
        return False

    def __iter__(self):
        return self._qd_session.call("iter", self)

    def __next__(self):
        try:
            return self._qd_session.call("next", self)
        except wire.Exhausted:
            raise StopIteration from None

    def __enter__(self):
        return self._qd_session.call("enter", self)

    def __exit__(self, kind, value, traceback):
        suppress = self._qd_session.call("exit", self, kind, value, None)
        if value is not None and (isinstance(value, AssertionError)
                                  or not isinstance(value, Exception)):
            return False   # the solution cannot swallow a failed assertion of the tests
        return self._qd_session.typed(suppress, bool, "__exit__") if suppress is not None \
            else False

    def __instancecheck__(self, instance):
        if isinstance(instance, Proxy) or _hybrid_base(instance) is not None:
            return self._qd_session.truth("instancecheck", self, instance)
        return False

    def __subclasscheck__(self, subclass):
        if isinstance(subclass, Proxy):
            return self._qd_session.truth("subclasscheck", self, subclass)
        return False

    def __mro_entries__(self, bases):
        raise self._qd_session.boundary("a hidden test subclasses a class of the solution")

    def __reduce_ex__(self, protocol):
        raise self._qd_session.boundary("an object of the solution cannot be copied or pickled")

    def __dir__(self):
        names = self._qd_session.call("dir", self)
        return list(names) if type(names) is list else []

    def __format__(self, spec):
        return self._qd_session.typed(self._qd_session.call("format", self, spec), str,
                                      "__format__")

    def __repr__(self):
        return self._qd_session.typed(self._qd_session.call("repr", self), str, "__repr__")

    def __str__(self):
        return self._qd_session.typed(self._qd_session.call("str", self), str, "__str__")

    __bool__ = _unary("bool", "__bool__", bool)
    __len__ = _unary("len", "__len__", int)
    __hash__ = _unary("hash", "__hash__", int)
    __int__ = _unary("int", "__int__", int)
    __index__ = _unary("index", "__index__", int)
    __float__ = _unary("float", "__float__", float)
    __complex__ = _unary("complex", "__complex__", complex)
    __bytes__ = _unary("bytes", "__bytes__", bytes)
    __neg__, __pos__ = _unary("neg", "__neg__"), _unary("pos", "__pos__")
    __abs__, __invert__ = _unary("abs", "__abs__"), _unary("invert", "__invert__")
    __round__ = _unary("round", "__round__")
    __trunc__, __floor__ = _unary("trunc", "__trunc__"), _unary("floor", "__floor__")
    __ceil__, __reversed__ = _unary("ceil", "__ceil__"), _unary("reversed", "__reversed__")

    def __getitem__(self, key):
        return self._qd_session.call("getitem", self, key)

    def __setitem__(self, key, value):
        self._qd_session.call("setitem", self, key, value)

    def __delitem__(self, key):
        self._qd_session.call("delitem", self, key)


for _op, _name in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "truediv"),
                   ("floordiv", "floordiv"), ("mod", "mod"), ("pow", "pow"),
                   ("lshift", "lshift"), ("rshift", "rshift"), ("and_", "and"), ("or_", "or"),
                   ("xor", "xor"), ("matmul", "matmul"), ("divmod", "divmod")):
    setattr(Proxy, f"__{_name}__", _binary(_op, f"__{_name}__"))
    setattr(Proxy, f"__r{_name}__", _binary(_op, f"__r{_name}__", reflected=True))
    if _name != "divmod":
        setattr(Proxy, f"__i{_name}__", _inplace(f"i{_op.rstrip('_')}", f"__i{_name}__"))


# --- unittest assertions that must see plain values ----------------------------------------------


def guard_numeric_assertions() -> None:
    """``assertAlmostEqual`` and the ordering assertions compare with arithmetic and ordering;
    a solution object compared with a plain value there is refused (it could answer anything)."""
    def guarded(original):
        def method(self, first, second, *args, **kwargs):
            if isinstance(first, Proxy) != isinstance(second, Proxy):
                proxy = first if isinstance(first, Proxy) else second
                raise proxy._qd_session.boundary(
                    f"{original.__name__} expects plain values, the solution gave "
                    f"{_kind(proxy)}")
            return original(self, first, second, *args, **kwargs)
        method.__name__ = original.__name__
        return method

    for name in ("assertAlmostEqual", "assertNotAlmostEqual", "assertGreater",
                 "assertGreaterEqual", "assertLess", "assertLessEqual"):
        setattr(unittest.TestCase, name, guarded(getattr(unittest.TestCase, name)))


# --- importing ----------------------------------------------------------------------------------------


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
    """Finds hidden test modules and helpers in the tests folder, loaded by :class:`HiddenLoader`."""

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
