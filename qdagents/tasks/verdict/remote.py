"""The judge's view of the solution: the session (connection, generations, incidents), the
codec's rules for what the solution sends, exception mirrors, and the judge's answers to the
solution's callbacks. Proxies are in :mod:`.proxies`, importing in :mod:`.imports`.

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
- a ``from solution import *`` binds only names that are neither builtins nor already bound; a
  module the solution exposes is the judge's own copy only for a pure stdlib module under its own
  name (``math``), otherwise a proxy: the judge never runs code the solution designates.

A :class:`BoundaryError` is a ``TypeError`` and fails the test it happens in even if the test
catches it; a timeout, the solution's death and a protocol violation are ``BaseException`` s
(nothing in a test can catch them) and fail the test too.
"""

import builtins
import importlib
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
from .proxies import (HYBRID_BASES, HYBRIDS, BoundaryError, Proxy, SolutionGone, Tampering,
                      TestTimeout, _hybrid_base, _kind)

NAME_CAP = 200
TRACE_CAP = 2000
BUILTIN_TYPES = {name: value for name, value in vars(builtins).items()
                 if isinstance(value, type)}
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
#: Attributes of the tests' objects that reach their code, globals or class tree: asking for one
#: is refused like any other private name, and recorded as tampering. Names honest code asks
#: (``__name__``, ``__dict__`` for ``vars``, ``__reduce_ex__`` for ``copy``, ``hasattr`` checks
#: of protocol methods) are refused without a record.
INTROSPECTION = frozenset({"__globals__", "__closure__", "__code__", "__builtins__",
                           "__defaults__", "__kwdefaults__", "__subclasses__", "__mro__",
                           "__bases__", "__base__"})


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

    # the codec's hooks ---------------------------------------------------------------------------
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
            if rest[0] in INTROSPECTION:   # no honest solution needs the tests' code or state
                self.incidents.tamper(f"the solution asked for {rest[0]!r} of an object of the "
                                      "tests")
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


# --- values -----------------------------------------------------------------------------------


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
