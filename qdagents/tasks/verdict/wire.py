"""Frames and plain data: what crosses between the judge and the solution server.

A frame is a 4-byte big-endian length and that many bytes of ASCII JSON (``ensure_ascii``), one
JSON object per frame. Messages are requests ``{"id", "op", "a"}``, replies ``{"re", "v"}`` /
``{"re", "x"}`` (a value or an exception) / ``{"re", "end"}`` (an exhausted iterator), and the
server's greeting ``{"hello", ...}``.

Values are *plain data*, rebuilt on the receiving side as exact builtin types::

    None, bool, str, int (|n| < 2**63)      as JSON        {"I": hex}        a larger int
    float (finite)                          as JSON        {"F": "nan"|...}  nan and infinities
    {"B": base64} bytes     {"BA": base64} bytearray       {"C": [re, im]}   complex
    {"T": [...]} tuple      {"L": [...]} list              {"S": [...]} set  {"FS": [...]} frozenset
    {"D": [[k, v], ...]} dict (keys hashable where decoded)
    {"R": [start, stop, step]} range        {"SL": [start, stop, step]} slice   {"EL": 1} Ellipsis

and the stdlib's value types, rebuilt by the receiver from their fields (their comparisons are
the stdlib's own code)::

    {"DT": ["date", y, m, d]}  {"DT": ["datetime", y, m, d, H, M, S, us, fold, offset]}
    {"DT": ["time", H, M, S, us, fold, offset]}  {"DT": ["timedelta", days, seconds, us]}
    {"DEC": "1.10"} decimal.Decimal              {"FR": [numerator, denominator]} Fraction

(``offset``: None, or the seconds of a fixed ``datetime.timezone``; other time zones are not
plain data.)

Anything else is a *tag* handed to the side's own ``export``/``resolve`` hooks (references to
objects living on one side, exceptions, modules; see :mod:`.server` and :mod:`.remote`).

:func:`decode` is strict and bounded (frame size, nesting depth, number of nodes, digits of an
int): a peer that breaks a rule raises :class:`ProtocolError`, which the judge records as
tampering because its own server never produces such a frame (the encoder refuses, with
:class:`ValueTooLarge`, whatever the decoder would reject).
"""

import base64
import datetime
import decimal
import fractions
import json
import math
import socket
import struct
import time

PROTOCOL = 1
MAX_FRAME = 16 * 1024 * 1024     # bytes of JSON in one frame
MAX_DEPTH = 60                   # nesting of values
MAX_NODES = 2_000_000            # values in one message
MAX_HEX_DIGITS = 100_000         # an int of up to 400 000 bits
SMALL_INT = 2 ** 63
CODEC_TAGS = frozenset({"I", "F", "B", "BA", "C", "T", "L", "S", "FS", "D", "R", "SL", "EL",
                        "DT", "DEC", "FR"})
FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_HEADER = struct.Struct(">I")
MUTABLE = (list, dict, set, bytearray)


class WireError(BaseException):
    """The connection itself failed. A ``BaseException``, so that no ``except Exception`` in
    test or solution code can swallow it: the side that sees it ends the exchange."""


class ProtocolError(WireError):
    """A frame or message that the other side's own code never sends."""


class ValueTooLarge(Exception):
    """A value the encoder refuses to send (it would break a decoder limit)."""


class PeerGone(WireError):
    """The connection closed (the peer exited, was killed, or closed it)."""


class TimedOut(WireError):
    """No complete frame arrived before the deadline."""


# --- frames -----------------------------------------------------------------------------------


def send_frame(sock: socket.socket, message: dict) -> None:
    body = json.dumps(message, allow_nan=False, separators=(",", ":")).encode("ascii")
    if len(body) > MAX_FRAME:
        raise ValueTooLarge(f"a message of {len(body)} bytes (the limit is {MAX_FRAME})")
    sock.sendall(_HEADER.pack(len(body)) + body)


def _recv_exactly(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimedOut()
            sock.settimeout(remaining)
        else:
            sock.settimeout(None)
        try:
            chunk = sock.recv(min(left, 1 << 20))
        except socket.timeout:
            raise TimedOut() from None
        except OSError as error:
            raise PeerGone(str(error)) from None
        if not chunk:
            raise PeerGone("connection closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, deadline: float | None = None) -> dict:
    """The next message; ``deadline`` is a ``time.monotonic()`` value (None: wait forever)."""
    (size,) = _HEADER.unpack(_recv_exactly(sock, 4, deadline))
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes announced (the limit is {MAX_FRAME})")
    body = _recv_exactly(sock, size, deadline)
    try:
        message = json.loads(body.decode("ascii"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"a frame that is not ASCII JSON ({type(error).__name__})") from None
    if not isinstance(message, dict):
        raise ProtocolError("a frame that is not a JSON object")
    return message


def _no_constant(name: str):
    raise ValueError(f"JSON constant {name} is not allowed")


# --- values -----------------------------------------------------------------------------------


class Codec:
    """Encodes and decodes values; what is not plain data goes through the side's hooks.

    Args:
        export: ``export(value) -> dict``: the tag standing for a value that is not plain data
            (raise :class:`ValueTooLarge` or another exception to refuse it).
        resolve: ``resolve(tag: dict) -> value`` for a tag this codec does not know; raise
            :class:`ProtocolError` for one the side does not accept.
        local_key: ``local_key(value) -> bool``: whether a decoded value may be a dict key or a
            set member (it must hash without asking the other side).
    """

    def __init__(self, *, export, resolve, local_key=None):
        self.export, self.resolve = export, resolve
        self.local_key = local_key or (lambda value: False)

    # encoding --------------------------------------------------------------------------------
    def encode(self, value):
        self._budget = MAX_NODES
        return self._encode(value, 0, set())

    def _encode(self, value, depth: int, path: set):
        self._budget -= 1
        if self._budget < 0:
            raise ValueTooLarge(f"a value of more than {MAX_NODES} parts")
        kind = type(value)
        if value is None or kind is bool or kind is str:
            return value
        if kind is int:
            return self.encode_int(value)
        if kind is float:
            if math.isfinite(value):
                return value
            return {"F": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
        if depth >= MAX_DEPTH:
            raise ValueTooLarge(f"a value nested deeper than {MAX_DEPTH} levels")
        if kind is bytes:
            return {"B": base64.b64encode(value).decode("ascii")}
        if kind is bytearray:
            return {"BA": base64.b64encode(value).decode("ascii")}
        if kind is complex:
            return {"C": [self._encode(value.real, depth + 1, path),
                          self._encode(value.imag, depth + 1, path)]}
        if kind is range:
            return {"R": [value.start, value.stop, value.step]} if all(
                -SMALL_INT < n < SMALL_INT for n in (value.start, value.stop, value.step)) \
                else self.export(value)
        if kind is slice:
            return {"SL": [self._encode(v, depth + 1, path)
                           for v in (value.start, value.stop, value.step)]}
        if value is Ellipsis:
            return {"EL": 1}
        if kind in STDLIB_VALUES:
            tagged = stdlib_value(value)
            return tagged if tagged is not None else self.export(value)
        if kind in (tuple, list, set, frozenset, dict):
            if id(value) in path:  # a cycle: not plain data
                return self.export(value)
            path.add(id(value))
            try:
                return self._container(value, kind, depth, path)
            finally:
                path.discard(id(value))
        return self.export(value)

    def _container(self, value, kind, depth, path):
        if kind is dict:
            items = list(dict.items(value))
            if not all(self.plain_key(k) for k, _ in items):
                return self.export(value)
            return {"D": [[self._encode(k, depth + 1, path), self._encode(v, depth + 1, path)]
                          for k, v in items]}
        if kind in (set, frozenset):
            members = list(value)
            if not all(self.plain_key(m) for m in members):
                return self.export(value)
            return {"S" if kind is set else "FS": [self._encode(m, depth + 1, path)
                                                   for m in members]}
        return {"T" if kind is tuple else "L": [self._encode(v, depth + 1, path) for v in value]}

    @staticmethod
    def encode_int(value: int):
        if -SMALL_INT < value < SMALL_INT:
            return value
        digits = format(value, "x")
        if len(digits) > MAX_HEX_DIGITS:
            raise ValueTooLarge(f"an int of {len(digits) * 4} bits")
        return {"I": digits}

    def plain_key(self, value) -> bool:
        """Whether ``value`` can be sent as a dict key or set member (plain and hashable)."""
        kind = type(value)
        if value is None or kind in (bool, int, float, str, bytes, complex, range) \
                or kind in STDLIB_VALUES:
            return True
        if kind in (tuple, frozenset):
            return all(self.plain_key(v) for v in value)
        return self.local_key(value)

    # decoding --------------------------------------------------------------------------------
    def decode(self, data):
        return self._decode(data, 0, [MAX_NODES])

    def _decode(self, data, depth: int, budget: list):
        budget[0] -= 1
        if budget[0] < 0:
            raise ProtocolError(f"a value of more than {MAX_NODES} parts")
        kind = type(data)
        if data is None or kind in (bool, str, float):
            return data
        if kind is int:
            if not -SMALL_INT < data < SMALL_INT:
                raise ProtocolError("a large int sent as a JSON number")
            return data
        if kind is list:
            raise ProtocolError("a bare JSON array (values are tagged)")
        if depth >= MAX_DEPTH:
            raise ProtocolError(f"a value nested deeper than {MAX_DEPTH} levels")
        if len(data) != 1 or next(iter(data)) not in CODEC_TAGS:
            return self.resolve(data)  # the side's own tags (references, exceptions, ...)
        (tag, body), = data.items()
        try:
            return self._tagged(tag, body, depth, budget)
        except (TypeError, ValueError, OverflowError, AttributeError) as error:
            raise ProtocolError(f"malformed {tag!r} value: {type(error).__name__}") from None

    def _tagged(self, tag, body, depth, budget):
        if tag == "I":
            if type(body) is not str or len(body) > MAX_HEX_DIGITS + 1:
                raise ValueError("bad digits")
            value = int(body, 16)
            if -SMALL_INT < value < SMALL_INT:
                raise ValueError("a small int sent as a large one")
            return value
        if tag == "F":
            return FLOATS[body] if type(body) is str and body in FLOATS else _bad()
        if tag in ("B", "BA"):
            if type(body) is not str:
                _bad()
            raw = base64.b64decode(body.encode("ascii"), validate=True)
            return raw if tag == "B" else bytearray(raw)
        if tag == "EL":
            return Ellipsis if body == 1 else _bad()
        if tag == "DEC":
            if type(body) is not str or len(body) > MAX_HEX_DIGITS:
                _bad()
            return decimal.Decimal(body)
        if tag == "FR":
            if type(body) is not list or len(body) != 2:
                _bad()
            parts = [self._decode(n, depth + 1, budget) for n in body]
            if not all(type(n) is int for n in parts) or parts[1] <= 0:
                _bad()
            return fractions.Fraction(*parts)
        if tag == "DT":
            return from_stdlib_fields(body)
        if type(body) is not list:
            _bad()
        if tag == "R":
            if len(body) != 3 or not all(type(n) is int for n in body):
                _bad()
            return range(*body)
        items = [self._decode(item, depth + 1, budget) for item in body] if tag != "D" else None
        if tag == "C":
            if len(items) != 2 or not all(type(n) is float for n in items):
                _bad()
            return complex(*items)
        if tag == "SL":
            return slice(*items) if len(items) == 3 else _bad()
        if tag == "T":
            return tuple(items)
        if tag == "L":
            return items
        if tag in ("S", "FS"):
            if not all(self.decoded_key(m) for m in items):
                raise ProtocolError("a set member that cannot be hashed here")
            return set(items) if tag == "S" else frozenset(items)
        result = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                _bad()
            key = self._decode(pair[0], depth + 1, budget)
            if not self.decoded_key(key):
                raise ProtocolError("a dict key that cannot be hashed here")
            result[key] = self._decode(pair[1], depth + 1, budget)
        return result

    def decoded_key(self, value) -> bool:
        kind = type(value)
        if value is None or kind in (bool, int, float, str, bytes, complex, range) \
                or kind in STDLIB_VALUES:
            return True
        if kind in (tuple, frozenset):
            return all(self.decoded_key(v) for v in value)
        return self.local_key(value)


def _bad():
    raise ValueError("bad value")


STDLIB_VALUES = (datetime.date, datetime.datetime, datetime.time, datetime.timedelta,
                 decimal.Decimal, fractions.Fraction)


def _offset(tzinfo):
    if tzinfo is None:
        return None
    if type(tzinfo) is datetime.timezone:
        return tzinfo.utcoffset(None) // datetime.timedelta(microseconds=1)
    return False  # another time zone: not plain data


def stdlib_value(value):
    """The tag of an exact stdlib value, or None when it is not plain (a foreign time zone)."""
    kind = type(value)
    if kind is decimal.Decimal:
        return {"DEC": str(value)}
    if kind is fractions.Fraction:
        return {"FR": [Codec.encode_int(value.numerator), Codec.encode_int(value.denominator)]}
    if kind is datetime.timedelta:
        return {"DT": ["timedelta", value.days, value.seconds, value.microseconds]}
    if kind is datetime.date:
        return {"DT": ["date", value.year, value.month, value.day]}
    offset = _offset(value.tzinfo)
    if offset is False:
        return None
    if kind is datetime.datetime:
        return {"DT": ["datetime", value.year, value.month, value.day, value.hour, value.minute,
                       value.second, value.microsecond, value.fold, offset]}
    return {"DT": ["time", value.hour, value.minute, value.second, value.microsecond,
                   value.fold, offset]}


def from_stdlib_fields(body):
    if type(body) is not list or not body or not all(
            type(v) is int or v is None for v in body[1:]):
        _bad()
    kind, fields = body[0], body[1:]
    if kind == "timedelta" and len(fields) == 3 and None not in fields:
        return datetime.timedelta(days=fields[0], seconds=fields[1], microseconds=fields[2])
    if kind == "date" and len(fields) == 3 and None not in fields:
        return datetime.date(*fields)
    if kind in ("datetime", "time") and len(fields) == (9 if kind == "datetime" else 6):
        *parts, fold, offset = fields
        if None in parts or fold not in (0, 1):
            _bad()
        tz = None if offset is None else datetime.timezone(
            datetime.timedelta(microseconds=offset))
        maker = datetime.datetime if kind == "datetime" else datetime.time
        return maker(*parts, tzinfo=tz, fold=fold)
    _bad()


# --- a connection -----------------------------------------------------------------------------


class Exhausted(Exception):
    """The peer's iterator is exhausted (the reply to ``next`` said ``end``)."""


class Endpoint:
    """One side of a connection: synchronous requests, and the other side's nested requests
    served while waiting for a reply (a callback from the solution into the tests, say).

    Args:
        sock: A connected stream socket.
        codec: The side's :class:`Codec`.
        handle: ``handle(op, args) -> value`` for a request from the peer; what it raises is
            sent back as the reply's exception (:class:`Exhausted` as ``end``).
        deadline: ``deadline() -> float | None``: a ``time.monotonic()`` value replies must
            arrive by (None: wait for ever).
        max_nesting: requests served inside one another at most (deeper ones are refused).
        passthrough: exception types the handler may raise that end the exchange instead of
            becoming a reply (the judge's per-test timeout, say); :class:`WireError` always does.
    """

    def __init__(self, sock, codec: Codec, handle, *, deadline=lambda: None,
                 max_nesting: int = 50, passthrough: tuple = ()):
        self.sock, self.codec, self.handle = sock, codec, handle
        self.passthrough = (WireError, *passthrough)
        self.deadline, self.max_nesting = deadline, max_nesting
        self.next_id, self.nesting, self.broken = 1, 0, False

    def send(self, message: dict) -> None:
        try:
            send_frame(self.sock, message)
        except OSError as error:
            raise PeerGone(str(error)) from None

    def request(self, op: str, args: list):
        """Sends a request and returns the reply's value (raises the reply's exception).

        Arguments are encoded before anything is sent, so an argument that cannot cross leaves
        the connection usable; anything else that interrupts the exchange (a timeout, a broken
        frame, an exception raised while serving a nested request) sets :attr:`broken`.
        """
        encoded = [self.codec.encode(a) for a in args]
        ident = self.next_id
        self.next_id += 1
        try:
            self.send({"id": ident, "op": op, "a": encoded})
            while True:
                message = recv_frame(self.sock, self.deadline())
                if "re" in message:
                    break
                self._serve(message)
            outcome, value = self._reply(message, ident, op, args)
        except BaseException:
            self.broken = True
            raise
        if outcome == "error":
            raise value
        if outcome == "end":
            raise Exhausted()
        return value

    def serve_forever(self) -> None:
        """Answers the peer's requests until the connection ends (raises :class:`PeerGone`)."""
        while True:
            message = recv_frame(self.sock, self.deadline())
            if "re" in message:
                raise ProtocolError("a reply when no request was waiting")
            self._serve(message)

    def _reply(self, message: dict, ident: int, op: str = "", args: list = ()):
        if message.get("re") != ident or type(message["re"]) is not int:
            raise ProtocolError(f"a reply to request {message.get('re')!r} while {ident} waits")
        keys = set(message) - {"re", "m"}
        if "m" in message:
            self._apply_mutations(op, list(args), message["m"])
        if keys == {"v"}:
            return "value", self.codec.decode(message["v"])
        if keys == {"x"}:
            error = self.codec.decode(message["x"])
            if not isinstance(error, BaseException):
                raise ProtocolError("an error reply that is not an exception")
            return "error", error
        if keys == {"end"} and message["end"] is True:
            return "end", None
        raise ProtocolError(f"a reply with fields {sorted(keys)[:5]}")

    def _serve(self, message: dict) -> None:
        ident, op, args = message.get("id"), message.get("op"), message.get("a")
        if type(ident) is not int or type(op) is not str or type(args) is not list \
                or set(message) != {"id", "op", "a"}:
            raise ProtocolError("a message that is neither a request nor a reply")
        if self.nesting >= self.max_nesting:
            self.send({"re": ident, "x": self.codec.encode(
                RecursionError("requests nested too deep across the boundary"))})
            return
        self.nesting += 1
        try:
            decoded = [self.codec.decode(a) for a in args]
            mutable = self._mutable_arguments(op, decoded)
            try:
                value = self.handle(op, decoded)
            except Exhausted:
                self.send({"re": ident, "end": True, **self._mutations(mutable)})
                return
            except self.passthrough:
                raise
            except BaseException as error:  # the handler's failure is the reply
                self.send({"re": ident, "x": self.encode_error(error), **self._mutations(mutable)})
                return
            try:
                self.send({"re": ident, "v": self.codec.encode(value), **self._mutations(mutable)})
            except ValueTooLarge as error:  # refused before anything was sent
                self.send({"re": ident, "x": self.encode_error(error)})
        finally:
            self.nesting -= 1

    # arguments changed in place: a list the callee sorted, a dict it filled ---------------------
    def _mutable_arguments(self, op: str, decoded: list) -> list:
        """For a call, the arguments that are plain mutable containers, with their encoding."""
        if op != "call" or len(decoded) != 3 or type(decoded[1]) is not list \
                or type(decoded[2]) is not dict:
            return []
        found = [(["p", i], v) for i, v in enumerate(decoded[1])]
        found += [(["k", k], v) for k, v in decoded[2].items()]
        mutable = []
        for key, value in found:
            if type(value) in MUTABLE:
                try:
                    mutable.append((key, value, json.dumps(self.codec.encode(value))))
                except ValueTooLarge:
                    pass
        return mutable

    def _mutations(self, mutable: list) -> dict:
        changed = []
        for key, value, before in mutable:
            try:
                after = self.codec.encode(value)
            except ValueTooLarge:
                continue
            if json.dumps(after) != before:
                changed.append([key, after])
        return {"m": changed} if changed else {}

    def _apply_mutations(self, op: str, args: list, changes) -> None:
        """Applies the callee's in-place changes to the caller's own argument objects."""
        if type(changes) is not list or op != "call" or len(args) != 3:
            raise ProtocolError("changes to arguments that were not sent")
        for change in changes:
            if type(change) is not list or len(change) != 2 or type(change[0]) is not list \
                    or len(change[0]) != 2:
                raise ProtocolError("a malformed change to an argument")
            (where, key), value = change[0], self.codec.decode(change[1])
            try:
                target = args[1][key] if where == "p" else args[2][key]
            except (IndexError, KeyError, TypeError):
                raise ProtocolError("a change to an argument that was not sent") from None
            if type(target) not in MUTABLE or type(value) is not type(target):
                raise ProtocolError("a change that turns an argument into another type")
            if type(target) in (list, bytearray):
                target[:] = value
            else:
                target.clear()
                target.update(value)

    def encode_error(self, error: BaseException):
        try:
            return self.codec.encode(error)
        except Exception:  # an exception whose args cannot cross: its type and message only
            return self.codec.encode(RuntimeError(f"{type(error).__name__} (not carried)"))
