"""Loaders for third-party task sets: exercism-layout folders and HumanEval-style JSONL.

Both turn someone else's layout into :class:`Task` values with visible files, hidden tests and a
reference, so the same harness and self-check run on all of them. Nothing here ships data: the
caller points at a folder or file it has.
"""

from __future__ import annotations

import ast
import gzip
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from qdagents._syntax import parse
from qdagents.tasks._builtin import load_builtin
from qdagents.tasks._swebench import load_swebench
from qdagents.tasks._task import Task, TaskSuite

__all__ = ["SUITE_KINDS", "load_exercism", "load_humaneval", "load_suite"]

#: The suite kinds :func:`load_suite` knows (config: ``tasks.kind``).
SUITE_KINDS = ("builtin", "exercism", "humaneval", "swebench")


class SkippedTask(Exception):
    """A task a loader cannot offer; its message is the reason recorded on the suite."""


def load_suite(spec: str | Mapping) -> TaskSuite:
    """Loads a suite from a config value.

    Args:
        spec: ``"builtin"``, ``"exercism:/path"``, ``"humaneval:/path"``, ``"swebench:/path"``
            (``"builtin:/path"`` reads a folder in the built-in layout), or a mapping ``{kind,
            path, include, limit, held_out}`` where ``include`` keeps only the listed task ids,
            ``limit`` then keeps the first n, and ``held_out`` (ids, or a count from the end)
            holds tasks out (:meth:`TaskSuite.hold_out`). A ``swebench`` mapping may also hold
            :func:`~qdagents.tasks.load_swebench`'s options (``image``, ``arch``,
            ``test_command``, ``log_parser``, ``env``, ``agent_python``).
    """
    if isinstance(spec, str):
        kind, _, path = spec.partition(":")
        spec = {"kind": kind, "path": path or None}
    elif not isinstance(spec, Mapping):
        raise TypeError(f"a suite spec is a string or a mapping, not {type(spec).__name__}")
    kind, path = spec.get("kind", "builtin"), spec.get("path")
    if kind == "builtin":
        suite = load_builtin(Path(path).expanduser() if path else None)
    elif kind in ("exercism", "humaneval", "swebench"):
        if not path:
            raise ValueError(f"a {kind} suite needs a path, e.g. '{kind}:/data/{kind}'")
        if kind == "swebench":
            suite = load_swebench(Path(path).expanduser(), **swebench_options(spec))
        else:
            loader = load_exercism if kind == "exercism" else load_humaneval
            suite = loader(Path(path).expanduser())
    else:
        raise ValueError(f"unknown suite kind {kind!r}; choose builtin, exercism, humaneval or "
                         "swebench")
    if spec.get("include") is not None:
        suite = suite.subset(task_id(str(i)) for i in spec["include"])
    if spec.get("limit") is not None:
        suite = suite.head(int(spec["limit"]))
    held_out = spec.get("held_out")
    if isinstance(held_out, (list, tuple)):
        held_out = [task_id(str(i)) for i in held_out]
    return suite.hold_out(held_out)


def swebench_options(spec: Mapping) -> dict:
    """:func:`load_swebench`'s options from a suite spec (``None`` values mean the default)."""
    names = {"image": "image", "arch": "arch", "test_command": "test_command",
             "log_parser": "log_parser", "env": "env", "agent_python": "python"}
    return {option: spec[key] for key, option in names.items() if spec.get(key) is not None}


# --- exercism ---------------------------------------------------------------------------------


def load_exercism(path: Path) -> TaskSuite:
    """Loads every exercise folder under ``path`` (or under ``path/exercises/practice``).

    The problem is ``.docs/introduction.md``, ``instructions.md`` and ``instructions.append.md``;
    the stub is visible; the ``*_test.py`` files are hidden; ``.meta/example.py`` is the reference
    (installed under the stub's name). Nothing else from ``.meta`` is used. Exercises the sandbox
    cannot run (tests importing pytest, a module named like a stdlib module) are skipped with a
    reason in ``suite.skipped``.
    """
    root = Path(path)
    if (root / "exercises" / "practice").is_dir():
        root = root / "exercises" / "practice"
    if not root.is_dir():
        raise FileNotFoundError(f"no exercism folder at {root}")
    tasks, skipped = [], {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            tasks.append(exercism_task(folder))
        except SkippedTask as reason:
            skipped[folder.name] = str(reason)
    return TaskSuite(name="exercism", tasks=tasks, skipped=skipped)


def exercism_task(folder: Path) -> Task:
    slug = folder.name
    stem = slug.replace("-", "_")
    files = {"solution": [f"{stem}.py"], "test": [f"{stem}_test.py"],
             "example": [".meta/example.py"]}
    config = folder / ".meta" / "config.json"
    if config.is_file():
        files.update(json.loads(config.read_text(encoding="utf-8")).get("files", {}))
    docs = [folder / ".docs" / name for name in
            ("introduction.md", "instructions.md", "instructions.append.md")]
    if not docs[1].is_file():
        raise SkippedTask("no .docs/instructions.md")
    if "is a refactoring exercise" in read(docs[1]):
        raise SkippedTask("a refactoring exercise: its starting code already passes the tests")
    missing = [name for name in files["solution"] + files["test"] + files["example"]
               if not (folder / name).is_file()]
    if missing:
        raise SkippedTask(f"missing {', '.join(missing)}")
    if len(files["example"]) != len(files["solution"]):
        raise SkippedTask("example and solution files do not pair up")
    for name in files["solution"]:
        if Path(name).stem in sys.stdlib_module_names:
            raise SkippedTask(f"{name} has the name of a stdlib module, which the runner prefers")
    tests = {name: read(folder / name) for name in files["test"]}
    for name, text in tests.items():
        if imports_pytest(text):
            raise SkippedTask(f"{name} imports pytest, which the sandbox python does not have")
    # Other top-level files (e.g. error-handling's test_utils.py) are shown, and also restored
    # with the hidden tests so that the agent's copy cannot change what the tests see.
    helpers = {p.name: read(p) for p in sorted(folder.iterdir())
               if p.is_file() and p.name not in files["solution"] + files["test"]
               and p.suffix == ".py"}
    title = slug.replace("-", " ").title()
    problem = "\n\n".join([f"# {title}"] + [read(doc).strip() for doc in docs if doc.is_file()])
    names = ", ".join(f"`{name}`" for name in files["solution"])
    problem += f"\n\n---\n\nWrite your solution in {names} (standard library only).\n"
    return Task(id=slug, problem=problem,
                files={**{name: read(folder / name) for name in files["solution"]}, **helpers},
                hidden_tests={**tests, **helpers},
                reference={solution: read(folder / example)
                           for solution, example in zip(files["solution"], files["example"])},
                kind="implement")


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def imports_pytest(source: str) -> bool:
    try:
        tree = parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(alias.name.split(".")[0] == "pytest" for alias in node.names):
                return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "pytest":
            return True
    return False


# --- HumanEval --------------------------------------------------------------------------------

HUMANEVAL_TEST = '''import unittest

from solution import *  # noqa: F403 -- some checks call the prompt's helpers (poly, encode_*)
import solution as _solution_module  # aliased: an entry point may itself be called `solution`

{test}

class HiddenTest(unittest.TestCase):
    def test_{entry_point}(self):
        check(_solution_module.{entry_point})
'''


def load_humaneval(path: Path) -> TaskSuite:
    """Loads HumanEval-style problems from JSONL (optionally gzipped).

    Each row (``task_id``, ``prompt``, ``entry_point``, ``test``, ``canonical_solution``) becomes a
    task whose visible ``solution.py`` is the prompt with a body that raises
    ``NotImplementedError``; the hidden test runs the row's ``check`` on the entry point; the
    reference is the prompt plus the canonical solution. ``/`` in ids becomes ``-``.
    """
    path = Path(path)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", encoding="utf-8") as file:
        rows = [json.loads(line) for line in file if line.strip()]
    tasks = [humaneval_task(row) for row in rows]
    return TaskSuite(name=path.name.split(".")[0].lower() or "humaneval", tasks=tasks)


def humaneval_task(row: dict) -> Task:
    prompt, entry = row["prompt"], row["entry_point"]
    stub = prompt.rstrip() + "\n" + body_indent(prompt, entry) + "raise NotImplementedError\n"
    problem = (f"# {row['task_id']}\n\nImplement the function `{entry}` in `solution.py` "
               f"(standard library only). It starts as:\n\n```python\n{prompt.strip()}\n```\n")
    return Task(id=task_id(row["task_id"]), problem=problem, files={"solution.py": stub},
                hidden_tests={"test_solution.py": HUMANEVAL_TEST.format(test=row["test"],
                                                                        entry_point=entry)},
                reference={"solution.py": prompt + row["canonical_solution"]}, kind="implement")


def body_indent(prompt: str, entry: str) -> str:
    """The indentation of the entry point's body: its ``def`` line's indentation plus 4."""
    for line in reversed(prompt.splitlines()):
        if line.lstrip().startswith(f"def {entry}"):
            return line[:len(line) - len(line.lstrip())] + "    "
    return "    "


def task_id(raw: str) -> str:
    """Task ids are used in file names, so a HumanEval ``HumanEval/12`` becomes ``HumanEval-12``."""
    return raw.replace("/", "-")
