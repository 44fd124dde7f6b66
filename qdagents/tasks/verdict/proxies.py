"""Proxies: objects of the solution as the judge holds them, and values of builtin subclasses.

A :class:`Proxy` stays in the solution process; every use is a request through its session (see
:mod:`.remote` for the semantics that keep a verdict unforgeable). A *hybrid* is the judge's own
subclass of a builtin (``SolutionInt``, ``SolutionTuple``, ...) holding the plain value of a
solution's builtin-subclass instance (a ``namedtuple``, a ``Counter``, an ``IntEnum`` member),
compared by the builtin's own methods, its missing attributes asked of the solution.
"""

import unittest

from . import wire

CONTAINS_CAP = 100_000
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



def _kind(value) -> str:
    if isinstance(value, Proxy):
        return f"a {'.'.join(value._qd_class)} object"
    return f"a {type(value).__name__}"


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
