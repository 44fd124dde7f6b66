"""Coding tasks with hidden tests: the task format, the built-in suite, loaders, the harness.

A :class:`Task` is plain text (visible files, hidden tests, a reference); a :class:`TaskSuite` is
an ordered list of them, some possibly held out. :func:`run_hidden_tests` decides a finished
workspace with a judge that never runs solution code (the solution answers from a sandbox of its
own; see :mod:`qdagents.tasks.verdict`), :func:`check_suite` makes sure every task is solvable
and not solved from the start, and :func:`task_feedback` says what an emitter may learn of a
parent's failures. A :class:`RepositoryTask` (a SWE-bench instance, :func:`load_swebench`) is a
repository in its own docker image, judged by its own tests; every task tells the evaluator its
:class:`TaskSetting` and how to ``prepare`` and ``judge`` its workspace.
"""

from qdagents.tasks._builtin import BUILTIN_ROOT, load_builtin, load_task_folder
from qdagents.tasks._check import CheckResult, check_suite, check_task
from qdagents.tasks._feedback import FEEDBACK_MODES, task_feedback
from qdagents.tasks._harness import (HiddenTestPlace, TestOutcome, TestVerdict, hidden_test_place,
                                     run_hidden_tests)
from qdagents.tasks._loaders import SUITE_KINDS, load_exercism, load_humaneval, load_suite
from qdagents.tasks._repository import RepositoryTask
from qdagents.tasks._swebench import load_swebench, parse_pytest_log, read_task_ids
from qdagents.tasks._task import Task, TaskSetting, TaskSuite, write_files

__all__ = [
    "SUITE_KINDS",
    "BUILTIN_ROOT",
    "CheckResult",
    "RepositoryTask",
    "FEEDBACK_MODES",
    "HiddenTestPlace",
    "Task",
    "TaskSetting",
    "TaskSuite",
    "TestOutcome",
    "TestVerdict",
    "check_suite",
    "check_task",
    "hidden_test_place",
    "load_builtin",
    "load_exercism",
    "load_humaneval",
    "load_suite",
    "load_swebench",
    "load_task_folder",
    "parse_pytest_log",
    "read_task_ids",
    "run_hidden_tests",
    "task_feedback",
    "write_files",
]
