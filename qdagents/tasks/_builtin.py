"""The built-in suite: small everyday-domain tasks written for this project, shipped as folders.

Each task is a plain folder under ``builtin/<id>/`` (``problem.md``, ``workspace/``, ``hidden/``,
``reference/``) so it can be read, run and edited by hand; ``builtin/suite.json`` gives the order
and kind of each task. Bugfix tasks hold exactly one single-token bug (a flipped comparison, a
swapped operator, an off-by-one, ...), so that a search over small edits guided by test output,
like the offline stand-in model does, can solve them; implement tasks need real code and are
headroom for real models.
"""

from __future__ import annotations

import json
from pathlib import Path

from qdagents.tasks._task import Task, TaskSuite

__all__ = ["BUILTIN_ROOT", "load_builtin", "load_task_folder"]

BUILTIN_ROOT = Path(__file__).with_name("builtin")


def read_tree(root: Path) -> dict[str, str]:
    """Relative path -> text of every file under ``root`` (bytecode caches left out; a file
    that is not UTF-8 is an error: task data must be text); ``{}`` when there is no folder."""
    from qdagents.agents import read_folder

    return read_folder(root, hidden=True, undecodable="error") if Path(root).is_dir() else {}


def load_task_folder(folder: Path, *, kind: str = "bugfix", task_id: str | None = None) -> Task:
    """Reads one task folder in the built-in layout."""
    folder = Path(folder)
    return Task(id=task_id or folder.name,
                problem=(folder / "problem.md").read_text(encoding="utf-8"),
                files=read_tree(folder / "workspace"), hidden_tests=read_tree(folder / "hidden"),
                reference=read_tree(folder / "reference"), kind=kind)


def load_builtin(root: Path | None = None) -> TaskSuite:
    """The built-in suite (name ``"builtin"``), in the order ``suite.json`` lists it."""
    root = Path(root or BUILTIN_ROOT)
    index = json.loads((root / "suite.json").read_text(encoding="utf-8"))
    tasks = [load_task_folder(root / entry["id"], kind=entry.get("kind", "bugfix"))
             for entry in index["tasks"]]
    return TaskSuite(name=index.get("name", "builtin"), tasks=tasks)
