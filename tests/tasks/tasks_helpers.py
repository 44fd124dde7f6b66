"""Helpers shared by the tasks tests (a tiny task factory, data locations)."""

import textwrap

from qdagents.tasks import Task
from shared_data import EXERCISM, HUMANEVAL  # noqa: F401 (re-exported for the tasks tests)


def dedent(files: dict[str, str]) -> dict[str, str]:
    return {path: textwrap.dedent(text).lstrip("\n") for path, text in files.items()}


HIDDEN = """
import unittest
from adder import add

class AddTest(unittest.TestCase):
    def test_small(self):
        self.assertEqual(add(1, 2), 3)

    def test_negative(self):
        self.assertEqual(add(-1, -2), -3)

    def test_zero(self):
        self.assertEqual(add(0, 0), 0)
"""


def make_task(hidden: str = HIDDEN, *, module: str = "adder.py", **extra_hidden) -> Task:
    """A three-test task around ``add``; ``extra_hidden`` adds hidden files (name -> text)."""
    hidden_tests = dedent({"test_adder_hidden.py": hidden, **extra_hidden})
    return Task(id="adder", problem="Implement add.",
                files={module: "def add(a, b):\n    return a - b\n"},
                hidden_tests=hidden_tests,
                reference={module: "def add(a, b):\n    return a + b\n"})
