"""The solution server: the untrusted side of a hidden-test run.

Runs in the solution's own sandbox (``python3 -I -S boot_server.py``) with the workspace copy as
its working directory and a unix socket in a folder shared with the judge's sandbox. Nothing here
is trusted: the solution can replace any of it from inside its process. The judge therefore
believes nothing this side says beyond plain data (see :mod:`.remote`).

The *launcher* listens and never imports solution code. Each connection from the judge gets a
fresh *worker* (a fork of the launcher, in its own process group) that imports the workspace's
modules on request and answers the judge's requests about them. Before it forks the worker for
a new connection, the launcher kills the previous worker's process group and, in a sandbox of its
own (``--sweep``), every other process it can see: it counts those that outlived their group
(daemons a solution left behind) and greets the judge with that count and how the previous
worker ended.
"""

import argparse
import builtins
import importlib
import math
import operator
import os
import signal
import socket
import sys
import threading
import time
import traceback
import types

from . import wire

TRACE_CAP = 2000
PUBLIC_NAME_CAP = 10_000

#: Builtin exception types sent by name (everything else by its nearest builtin base).
BUILTIN_TYPES = {name: value for name, value in vars(builtins).items() if isinstance(value, type)}

#: Builtin bases a subclass instance is sent as (a "hybrid": its base value and a reference).
HYBRID_BASES = (
    ("int", int, lambda v: int.__int__(v)), ("float", float, lambda v: float.__float__(v)),
    ("complex", complex, lambda v: complex(complex.real.__get__(v), complex.imag.__get__(v))),
    ("str", str, lambda v: str.__str__(v)), ("bytes", bytes, lambda v: bytes.__add__(b"", v)),
    ("tuple", tuple, lambda v: tuple.__getitem__(v, slice(None))),
    ("list", list, lambda v: list.__getitem__(v, slice(None))),
    ("dict", dict, lambda v: dict(dict.items(v))), ("set", set, lambda v: set.copy(v)),
    ("frozenset", frozenset, lambda v: frozenset.copy(v)))


def _enter(obj):
    return type(obj).__enter__(obj)


def _exit(obj, *details):
    return type(obj).__exit__(obj, *details)


def _next(obj):
    try:
        return next(obj)
    except StopIteration:
        raise wire.Exhausted() from None


#: The operations the judge may ask for, by name, applied to decoded operands.
OPERATIONS = {
    **{name: getattr(operator, name) for name in (
        "add", "sub", "mul", "truediv", "floordiv", "mod", "lshift", "rshift", "and_", "or_",
        "xor", "matmul", "lt", "le", "eq", "ne", "gt", "ge", "neg", "pos", "abs", "invert",
        "index", "contains", "getitem", "setitem", "delitem", "iadd", "isub", "imul",
        "itruediv", "ifloordiv", "imod", "ipow", "ilshift", "irshift", "iand", "ior", "ixor",
        "imatmul")},
    "pow": pow, "divmod": divmod, "int": int, "float": float, "complex": complex,
    "round": round, "trunc": math.trunc, "floor": math.floor, "ceil": math.ceil, "len": len,
    "bool": bool, "str": str, "repr": repr, "format": format, "hash": hash, "iter": iter,
    "next": _next, "reversed": reversed, "bytes": bytes, "enter": _enter, "exit": _exit,
    "instancecheck": lambda cls, obj: isinstance(obj, cls),
    "subclasscheck": lambda cls, sub: issubclass(sub, cls), "dir": lambda obj: sorted(dir(obj)),
}


class JudgeRef:
    """An object of the judge's (a callback the test passed in): every use is a request to the
    judge, which decides what it allows."""

    __slots__ = ("_qd_handle", "_qd_worker")

    def __init__(self, handle: int, worker: "Worker"):
        object.__setattr__(self, "_qd_handle", handle)
        object.__setattr__(self, "_qd_worker", worker)

    def _qd(self, op: str, *args):
        return self._qd_worker.ask(op, [self, *args])

    def __call__(self, *args, **kwargs):
        return self._qd("call", list(args), kwargs)

    def __getattr__(self, name):
        return self._qd("getattr", name)

    def __setattr__(self, name, value):
        self._qd("setattr", name, value)

    def __enter__(self):
        return self._qd("enter")

    def __exit__(self, *details):
        return self._qd("exit", *details)

    def __iter__(self):
        return self._qd("iter")

    def __next__(self):
        try:
            return self._qd("next")
        except wire.Exhausted:
            raise StopIteration from None

    def __len__(self):
        return self._qd("len")

    def __bool__(self):
        return self._qd("bool")

    def __getitem__(self, key):
        return self._qd("getitem", key)

    def __contains__(self, item):
        return self._qd("contains", item)

    def __str__(self):
        return self._qd("str")

    def __repr__(self):
        return self._qd("repr")

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return id(self)


class Worker:
    """Serves one connection: imports workspace modules, keeps the objects the judge holds
    references to (so their handles stay valid), and answers requests."""

    def __init__(self, sock: socket.socket):
        self.objects: dict[int, object] = {}
        self.handles: dict[int, int] = {}
        self.judge_refs: dict[int, JudgeRef] = {}
        self.thread = threading.get_ident()
        self.codec = wire.Codec(export=self.export, resolve=self.resolve,
                                local_key=lambda value: isinstance(value, JudgeRef))
        self.endpoint = wire.Endpoint(sock, self.codec, self.handle)

    # requests from the judge ------------------------------------------------------------------
    def handle(self, op: str, args: list):
        if op == "import":
            (name,) = args
            return importlib.import_module(name)
        if op == "getattr":
            target, name = args
            return getattr(target, name)
        if op == "setattr":
            target, name, value = args
            return setattr(target, name, value)
        if op == "delattr":
            target, name = args
            return delattr(target, name)
        if op == "call":
            target, positional, named = args
            return target(*positional, **named)
        if op == "names":
            (module,) = args
            return public_names(module)
        if op in OPERATIONS:
            return OPERATIONS[op](*args)
        raise wire.ProtocolError(f"unknown operation {op!r}")

    def ask(self, op: str, args: list):
        """A request to the judge (a callback), from the thread that serves the judge only."""
        if threading.get_ident() != self.thread:
            raise RuntimeError("objects of the tests can only be used while the tests call "
                               "the solution, from the thread that serves them")
        return self.endpoint.request(op, args)

    # values ------------------------------------------------------------------------------------
    def reference(self, value) -> int:
        handle = self.handles.get(id(value))
        if handle is None:
            handle = len(self.objects) + 1
            self.objects[handle] = value
            self.handles[id(value)] = handle
        return handle

    def export(self, value) -> dict:
        kind = type(value)
        if kind is JudgeRef:
            return {"j": value._qd_handle}
        if isinstance(value, BaseException):
            return {"e": {"c": exception_class(kind), "a": self.exception_args(value),
                          "t": formatted(value)}}
        if isinstance(value, types.ModuleType):
            return {"m": str(value.__name__), "r": self.reference(value)}
        if isinstance(value, type):
            if BUILTIN_TYPES.get(value.__name__) is value:
                return {"bi": value.__name__}
            if issubclass(value, BaseException):
                return {"ec": exception_class(value)}
            return {"r": self.reference(value), "k": "class", "c": type_name(value)}
        for tag, base, plain in HYBRID_BASES:
            if isinstance(value, base):
                return {"h": tag, "v": self.codec.encode(plain(value)),
                        "r": self.reference(value), "c": type_name(kind)}
        kind_name = "callable" if callable(value) else "object"
        return {"r": self.reference(value), "k": kind_name, "c": type_name(kind)}

    def exception_args(self, error: BaseException):
        try:
            return self.codec.encode(tuple(error.args))
        except Exception:  # unencodable args: the message as text
            return self.codec.encode((safe_text(error),))

    def resolve(self, tag: dict):
        if set(tag) == {"r"} and type(tag["r"]) is int and tag["r"] in self.objects:
            return self.objects[tag["r"]]
        if set(tag) == {"j"} and type(tag["j"]) is int:
            return self.judge_refs.setdefault(tag["j"], JudgeRef(tag["j"], self))
        if set(tag) == {"bi"} and type(tag["bi"]) is list:
            return stdlib_object(tag["bi"])
        if set(tag) == {"e"} and type(tag["e"]) is dict:
            return judge_exception(tag["e"], self.codec)
        raise wire.ProtocolError(f"an unknown value tag {sorted(tag)}")


# --- helpers ----------------------------------------------------------------------------------


def type_name(kind: type) -> list:
    return [str(getattr(kind, "__module__", "?")), str(getattr(kind, "__qualname__", "?"))]


def exception_class(kind: type, depth: int = 0) -> dict:
    """A description of an exception class: a builtin by name, else its name and bases."""
    if BUILTIN_TYPES.get(kind.__name__) is kind:
        return {"bi": kind.__name__}
    bases = [exception_class(base, depth + 1) for base in kind.__bases__
             if issubclass(base, BaseException)] if depth < 12 else []
    return {"m": str(kind.__module__), "q": str(kind.__qualname__), "b": bases}


def formatted(error: BaseException) -> str:
    try:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    except BaseException:  # an exception whose __str__ raises
        text = type(error).__name__
    return text[-TRACE_CAP:]


def safe_text(error: BaseException) -> str:
    try:
        return str(error)[:TRACE_CAP]
    except BaseException:
        return type(error).__name__


def public_names(module) -> list:
    """What ``from module import *`` would bind."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    names = [n for n in list(names)[:PUBLIC_NAME_CAP] if type(n) is str]
    return names


def stdlib_object(path: list):
    """A builtin or stdlib object the judge named (``["int"]``, ``["str", "lower"]``)."""
    if not path or not all(type(p) is str for p in path):
        raise wire.ProtocolError("a malformed builtin name")
    if path[0] in BUILTIN_TYPES or path[0] in vars(builtins):
        value = getattr(builtins, path[0])
        rest = path[1:]
    elif path[0] in sys.stdlib_module_names:
        value = importlib.import_module(path[0])
        rest = path[1:]
    else:
        raise wire.ProtocolError(f"{path[0]!r} is not a builtin or stdlib module")
    for part in rest:
        value = getattr(value, part)
    return value


def judge_exception(body: dict, codec: wire.Codec) -> BaseException:
    """An exception raised by the tests' code in a callback, as its builtin type."""
    kind = BUILTIN_TYPES.get(body.get("c") if type(body.get("c")) is str else "", Exception)
    if not (isinstance(kind, type) and issubclass(kind, Exception)):
        kind = Exception
    args = codec.decode(body.get("a", {"T": []}))
    try:
        return kind(*args) if type(args) is tuple else kind()
    except Exception:
        return kind()


# --- the launcher -----------------------------------------------------------------------------


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


def living_processes() -> list[int]:
    """Pids of this pid namespace's processes other than this one, pid 1 and zombies."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, os.getpid()):
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                state = stat.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


def sweep(previous: int | None) -> int:
    """Kills the previous worker's group, then every other process; returns how many outlived
    their group (0 when only the worker's own group was there)."""
    if previous is not None:
        try:
            os.killpg(previous, signal.SIGKILL)
        except OSError:
            pass
    end = time.monotonic() + 0.5
    while True:
        left = living_processes()
        if not left or time.monotonic() > end:
            break
        time.sleep(0.01)
    if left:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
    return len(left)


def launcher(args) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.socket)
    os.chmod(args.socket, 0o777)
    listener.listen(8)
    previous, status = None, None
    while True:
        conn, _ = listener.accept()
        left = 0
        if previous is not None:
            try:
                os.killpg(previous, signal.SIGKILL)
            except OSError:
                pass
            try:
                status = describe_status(os.waitpid(previous, 0)[1])
            except ChildProcessError:
                status = "ended"
        if args.sweep:
            left = sweep(None)
        hello = {"hello": wire.PROTOCOL, "previous": status, "left_behind": left}
        pid = os.fork()
        if pid == 0:
            listener.close()
            os.setpgid(0, 0)
            worker_main(conn, args.workspace, hello)
        conn.close()
        previous = pid
        while True:  # reap whatever else ended (grandchildren re-parented to us are not ours)
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break


def worker_main(conn: socket.socket, workspace: str, hello: dict) -> None:
    code = 0
    try:
        workspace = os.path.abspath(workspace)
        os.chdir(workspace)
        sys.path.append(workspace)
        sys.dont_write_bytecode = True
        worker = Worker(conn)
        wire.send_frame(conn, hello)
        worker.endpoint.serve_forever()
    except wire.WireError:
        pass
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--sweep", action="store_true",
                        help="kill every other process between workers (own pid namespace only)")
    launcher(parser.parse_args())
