"""What crosses the judge/solution boundary, and how: an honest solution must pass tests that use
its classes, exceptions, callbacks, generators and containers as they would in-process, and the
refusals that keep a verdict unforgeable must be exactly where docs/tasks.md says.

These run on the plain-process backend (the semantics do not depend on the sandbox); the attack
suite runs the same machinery on bwrap and docker.
"""

import textwrap

import pytest

from qdagents.sandbox import Limits, ProcessSandbox
from qdagents.tasks import Task, run_hidden_tests
from qdagents.tasks.verdict import wire

SOLUTION = '''
import collections, datetime, enum, fractions

class BankError(Exception):
    pass

class InsufficientFunds(BankError):
    pass

class Color(enum.IntEnum):
    RED = 1
    BLUE = 2

class Shade(enum.Enum):
    DARK = "dark"

Point = collections.namedtuple("Point", "x y")

class Clock:
    def __init__(self, hour, minute):
        self.minutes = (hour * 60 + minute) % 1440
    def __add__(self, minutes):
        return Clock(0, self.minutes + minutes)
    def __eq__(self, other):
        return isinstance(other, Clock) and self.minutes == other.minutes
    def __repr__(self):
        return f"{self.minutes // 60:02d}:{self.minutes % 60:02d}"

class Plain:
    def __init__(self, value):
        self.value = value
    def __sub__(self, other):
        return 0

class Vault:
    def __init__(self):
        self.items = []
        self.opened = False
    def __enter__(self):
        self.opened = True
        return self
    def __exit__(self, *exc):
        self.opened = False
        return False
    def __len__(self):
        return len(self.items)
    def __iter__(self):
        return iter(self.items)

def withdraw(balance, amount):
    if amount > balance:
        raise InsufficientFunds(f"need {amount}")
    if amount <= 0:
        raise ValueError("positive please")
    return balance - amount

def words(text):
    return collections.Counter(text.split())

def squares(numbers, function):
    return [function(n) for n in numbers]

def count_up(limit):
    n = 0
    while n < limit:
        yield n
        n += 1

def sort_in_place(values):
    values.sort()

def fill(table):
    table["filled"] = True

def tomorrow(day):
    return day + datetime.timedelta(days=1)

def half(value):
    return fractions.Fraction(value, 2)

def plain(value):
    return Plain(value)

def broken():
    return undefined_name

import os as helper
import math
'''

TESTS = '''
import datetime, fractions, unittest
import bank
from bank import (BankError, Clock, Color, InsufficientFunds, Point, Shade, Vault, broken,
                  count_up, fill, half, plain, sort_in_place, squares, tomorrow, withdraw, words)

class Boundary(unittest.TestCase):
    def test_exception_class_of_the_solution(self):
        with self.assertRaises(InsufficientFunds) as caught:
            withdraw(10, 20)
        self.assertEqual(caught.exception.args, ("need 20",))
        self.assertEqual(str(caught.exception), "need 20")

    def test_exception_hierarchy(self):
        with self.assertRaises(BankError):
            withdraw(10, 20)
        self.assertTrue(issubclass(InsufficientFunds, BankError))

    def test_builtin_exception(self):
        with self.assertRaisesRegex(ValueError, "positive"):
            withdraw(10, 0)

    def test_name_error_inside_the_solution(self):
        with self.assertRaises(NameError):
            broken()

    def test_counter_equals_a_dict(self):
        self.assertEqual(words("a b a"), {"a": 2, "b": 1})
        self.assertEqual(words("a b a").most_common(1), [("a", 2)])

    def test_namedtuple_is_a_tuple_with_fields(self):
        point = bank.Point(1, 2)
        self.assertEqual(point, (1, 2))
        self.assertEqual(point.y, 2)

    def test_int_enum(self):
        self.assertEqual(Color.BLUE, 2)
        self.assertIs(Color.RED, Color.RED)

    def test_plain_enum_identity(self):
        self.assertIs(Shade("dark"), Shade.DARK)
        self.assertEqual(Shade.DARK.value, "dark")

    def test_isinstance_of_a_solution_class(self):
        self.assertIsInstance(Clock(1, 2), Clock)
        self.assertNotIsInstance(3, Clock)

    def test_declared_class_operators(self):
        self.assertEqual(repr(Clock(10, 0) + 3), "10:03")
        self.assertEqual(Clock(10, 0) + 3, Clock(10, 3))
        self.assertNotEqual(Clock(10, 0), Clock(10, 1))

    def test_solution_object_never_equals_a_plain_value(self):
        self.assertNotEqual(Clock(0, 3), 3)
        self.assertFalse(Clock(0, 3) == "00:03")

    def test_undeclared_arithmetic_is_refused(self):
        plain(1) - 1

    def test_callbacks(self):
        self.assertEqual(squares([1, 2, 3], lambda n: n * n), [1, 4, 9])
        self.assertEqual(squares([1, 2], str), ["1", "2"])
        self.assertEqual(squares([2], lambda n: squares([n], lambda m: m + 1)), [[3]])

    def test_generators(self):
        self.assertEqual(list(count_up(3)), [0, 1, 2])
        numbers = count_up(2)
        self.assertEqual(next(numbers), 0)
        self.assertEqual(next(numbers), 1)
        with self.assertRaises(StopIteration):
            next(numbers)

    def test_arguments_changed_in_place(self):
        values = [3, 1, 2]
        sort_in_place(values)
        self.assertEqual(values, [1, 2, 3])
        table = {}
        fill(table=table)
        self.assertEqual(table, {"filled": True})

    def test_stdlib_values(self):
        self.assertEqual(tomorrow(datetime.date(2024, 2, 28)), datetime.date(2024, 2, 29))
        self.assertEqual(half(3), fractions.Fraction(3, 2))

    def test_modules_the_solution_exposes(self):
        # a stdlib module under another name stays the solution's (it runs over there) ...
        self.assertTrue(bank.helper.getcwd().endswith("workspace"))
        # ... a pure one under its own name is the judge's own copy
        import math
        self.assertIs(bank.math, math)

    def test_context_manager_and_attributes(self):
        vault = Vault()
        with vault as inside:
            self.assertIs(inside, vault)
            self.assertTrue(vault.opened)
        self.assertFalse(vault.opened)
        vault.items = [1, 2]
        self.assertEqual(len(vault), 2)
        self.assertIn(2, vault)
        self.assertEqual(list(vault), [1, 2])
'''


@pytest.fixture(scope="module")
def verdicts():
    task = Task(id="bank", problem="", files={"bank.py": SOLUTION},
                hidden_tests={"test_bank.py": textwrap.dedent(TESTS)},
                reference={"bank.py": SOLUTION})
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as root:
        Path(root, "bank.py").write_text(SOLUTION)
        outcome = run_hidden_tests(task, Path(root), sandbox=ProcessSandbox(warn=False),
                                   limits=Limits(seconds=60), test_seconds=5)
    return {t.name.split(".")[-1]: t for t in outcome.tests}


@pytest.mark.parametrize("name", [
    "test_exception_class_of_the_solution", "test_exception_hierarchy", "test_builtin_exception",
    "test_name_error_inside_the_solution", "test_counter_equals_a_dict",
    "test_namedtuple_is_a_tuple_with_fields", "test_int_enum", "test_plain_enum_identity",
    "test_isinstance_of_a_solution_class", "test_declared_class_operators",
    "test_solution_object_never_equals_a_plain_value", "test_callbacks", "test_generators",
    "test_arguments_changed_in_place", "test_stdlib_values",
    "test_context_manager_and_attributes", "test_modules_the_solution_exposes"])
def test_honest_use_crosses(verdicts, name):
    assert verdicts[name].ok, verdicts[name]


def test_arithmetic_on_an_undeclared_class_is_refused(verdicts):
    refused = verdicts["test_undeclared_arithmetic_is_refused"]
    assert not refused.ok and refused.kind == "boundary"
    assert "tests expect plain values" in refused.error


def test_decoder_limits():
    codec = wire.Codec(export=lambda v: {"x": 1}, resolve=lambda t: t)
    deep = 1
    for _ in range(wire.MAX_DEPTH + 1):
        deep = {"L": [deep]}
    with pytest.raises(wire.ProtocolError, match="deeper"):
        codec.decode(deep)
    for bad in ([1, 2], {"I": "7"}, {"F": "zero"}, {"D": [[{"L": []}, 1]]}, {"B": "!!"},
                {"DT": ["date", 2020, 13, 1]}, 2 ** 70):
        with pytest.raises(wire.ProtocolError):
            codec.decode(bad)
    with pytest.raises(wire.ValueTooLarge):
        codec.encode([[[]]] * (wire.MAX_NODES // 2))


def test_a_task_the_boundary_cannot_carry_is_reported(tmp_path):
    """A hidden test that subclasses a solution class cannot run against a proxy: the self-check
    says so (and why) instead of failing the task as broken or weakening the check."""
    from qdagents.tasks import check_task

    hidden = ("import unittest\nfrom shapes import Shape\n\nclass Square(Shape):\n"
              "    pass\n\nclass T(unittest.TestCase):\n    def test_area(self):\n"
              "        self.assertEqual(Square(2).area(), 4)\n")
    task = Task(id="shapes", problem="", files={"shapes.py": "class Shape:\n    pass\n"},
                hidden_tests={"test_shapes.py": hidden},
                reference={"shapes.py": "class Shape:\n    def __init__(self, side):\n"
                                        "        self.side = side\n    def area(self):\n"
                                        "        return self.side ** 2\n"})
    result = check_task(task, sandbox=ProcessSandbox(warn=False), limits=Limits(seconds=30))
    assert result.ok and "subclasses a class of the solution" in result.not_carried, result
