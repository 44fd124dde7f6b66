"""The task format: a problem, visible files, hidden tests and a reference, all as text.

Tasks hold file *contents* rather than paths so that a suite is a plain value: it can be loaded
once, pickled to workers, and written into any number of fresh workspaces, and nothing the agent
does to its workspace can reach the hidden tests or the reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import ClassVar, Iterable, Iterator

__all__ = ["Task", "TaskSetting", "TaskSuite", "write_files"]

KINDS = ("bugfix", "implement")


def check_relative(path: str) -> None:
    """Raises ValueError unless ``path`` stays inside the folder it is written to."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise ValueError(f"task file path must be relative and inside the task: {path!r}")


@dataclass(frozen=True)
class TaskSetting:
    """Where an agent runs on a task: what every kind of task tells the evaluator.

    Args:
        image: The docker image to run in; None for the sandbox's own. A task with an image can
            only run on a backend that runs images (``sandbox=docker``).
        workdir: Where the workspace is mounted: the agent's working directory.
        env: Environment variables the agent gets on top of the sandbox's (e.g. a ``PATH`` that
            finds the repository's own Python first).
        python: The interpreter that runs ``agent.py`` (a repository's environment may have a
            Python too old for the agent; the image's system Python runs the agent then).
    """

    image: str | None = None
    workdir: str = "/workspace"
    env: dict[str, str] = field(default_factory=dict)
    python: str = "python3"


@dataclass(frozen=True)
class Task:
    """One coding task.

    Args:
        id: Unique within its suite; also used in file names and the run database.
        problem: The problem statement (markdown) the agent reads at ``/task/problem.md``.
        files: The visible files, relative path -> content: what the agent's workspace starts as.
        hidden_tests: Relative path -> content of the tests that decide the task. Modules named
            ``test_*.py`` or ``*_test.py`` are run; other files are helpers they import.
        reference: Files that, written over ``files``, solve the task; used only by the
            self-check, never shown to an agent.
        kind: ``"bugfix"`` (working code with one bug) or ``"implement"`` (a stub to fill in).
    """

    id: str
    problem: str
    files: dict[str, str]
    hidden_tests: dict[str, str]
    reference: dict[str, str]
    kind: str = "bugfix"
    setting: ClassVar[TaskSetting] = TaskSetting()

    def __post_init__(self):
        if not self.id:
            raise ValueError("task id must not be empty")
        if self.kind not in KINDS:
            raise ValueError(f"task {self.id}: kind must be one of {KINDS}, not {self.kind!r}")
        if not self.hidden_tests:
            raise ValueError(f"task {self.id}: no hidden tests")
        for files in (self.files, self.hidden_tests, self.reference):
            for path in files:
                check_relative(path)

    @property
    def test_modules(self) -> list[str]:
        """The hidden files the runner imports and runs (the rest are helpers)."""
        return sorted(path for path in self.hidden_tests
                      if path.endswith(".py") and (os.path.basename(path).startswith("test_")
                                                   or path.endswith("_test.py")))

    def write_workspace(self, root: Path, *, solved: bool = False) -> None:
        """Writes the visible files into ``root``; with ``solved``, the reference on top."""
        write_files(self.files, root)
        if solved:
            write_files(self.reference, root)

    # What the evaluator and the self-check call on any kind of task (a repository task
    # prepares and judges its workspace in its own image; see qdagents.tasks._repository).

    def prepare(self, root: Path, *, sandbox=None, solved: bool = False) -> None:
        """Fills the empty folder ``root`` with what the agent starts from."""
        self.write_workspace(root, solved=solved)

    def judge(self, workspace: Path, *, sandbox, limits, place=None):
        """The verdict on a finished workspace: the hidden tests (:func:`run_hidden_tests`).

        ``place`` is the evaluation's :class:`~qdagents.evaluation.Place`, whose
        ``hidden_tests()`` reuses one judge and one solution sandbox for all its tasks."""
        from qdagents.tasks._harness import run_hidden_tests

        return run_hidden_tests(self, workspace, sandbox=sandbox, limits=limits,
                                place=None if place is None else place.hidden_tests(limits))

    def unavailable(self, sandbox) -> str | None:
        """Why this task cannot run with ``sandbox`` (None: it can)."""
        return None


class TaskSuite:
    """An ordered, named list of tasks with unique ids.

    Args:
        name: What the suite is called in configs and reports (``"builtin"``, ``"exercism"``).
        tasks: The tasks, in the order an evaluation should run them (``head(n)`` is a cheap
            first stage).
        skipped: Task id -> why a loader left that task out, so a smaller suite is explained.
    """

    def __init__(self, *, name: str, tasks: Iterable[Task], skipped: dict[str, str] | None = None,
                 held_out: Iterable[str] = ()):
        self.name = name
        self.tasks = list(tasks)
        self.skipped = dict(skipped or {})
        seen = set()
        for task in self.tasks:
            if task.id in seen:
                raise ValueError(f"suite {name}: duplicate task id {task.id!r}")
            seen.add(task.id)
        self.held_out = frozenset(held_out)
        unknown = self.held_out - seen
        if unknown:
            raise KeyError(f"suite {name}: held-out tasks {sorted(unknown)} are not in the suite")

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __getitem__(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(f"suite {self.name} has no task {task_id!r}")

    def __repr__(self) -> str:
        held = f", held_out={len(self.held_out)}" if self.held_out else ""
        return f"TaskSuite(name={self.name!r}, tasks={len(self.tasks)}{held})"

    @property
    def ids(self) -> list[str]:
        return [task.id for task in self.tasks]

    def subset(self, ids: Iterable[str]) -> TaskSuite:
        """The tasks with these ids, in suite order; unknown ids raise KeyError."""
        wanted = set(ids)
        missing = wanted - set(self.ids)
        if missing:
            raise KeyError(f"suite {self.name} has no tasks {sorted(missing)}")
        return TaskSuite(name=self.name, tasks=[t for t in self.tasks if t.id in wanted],
                         skipped=self.skipped, held_out=self.held_out & wanted)

    def head(self, n: int) -> TaskSuite:
        """The first ``n`` tasks (all of them when ``n`` is larger)."""
        tasks = self.tasks[:max(n, 0)]
        return TaskSuite(name=self.name, tasks=tasks, skipped=self.skipped,
                         held_out=self.held_out & {t.id for t in tasks})

    def hold_out(self, spec) -> TaskSuite:
        """The same suite with some tasks held out (``tasks.held_out``): a list of task ids, or a
        count taken from the end of the suite; None or 0 holds out nothing.

        Held-out tasks are run and scored separately: they never count towards the fitness the
        archive sees, and nothing about them is shown to emitters.
        """
        if spec is None or spec == 0 or spec == []:
            ids: list[str] = []
        elif isinstance(spec, int) and not isinstance(spec, bool):
            if not 0 < spec < len(self.tasks):
                raise ValueError(f"tasks.held_out: {spec} tasks cannot be held out of a suite "
                                 f"of {len(self.tasks)} (some must remain to evolve on)")
            ids = [t.id for t in self.tasks[-spec:]]
        elif isinstance(spec, (list, tuple)) and all(isinstance(i, str) for i in spec):
            ids = list(spec)
            if len(set(ids)) >= len(self.tasks):
                raise ValueError("tasks.held_out: every task held out leaves nothing to evolve on")
        else:
            raise ValueError(f"tasks.held_out: expected a list of task ids or a count, "
                             f"got {spec!r}")
        return TaskSuite(name=self.name, tasks=self.tasks, skipped=self.skipped, held_out=ids)

    @property
    def seen(self) -> list[Task]:
        """The tasks the archive's fitness is measured on (all but the held-out ones)."""
        return [t for t in self.tasks if t.id not in self.held_out]

    @property
    def held_out_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.id in self.held_out]


def write_files(files: dict[str, str], root: Path) -> None:
    """Writes relative path -> content under ``root``, creating folders; refuses paths that
    would leave ``root``."""
    root = Path(root)
    for path, content in files.items():
        check_relative(path)
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
