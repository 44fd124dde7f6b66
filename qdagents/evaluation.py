"""Evaluating one agent: run it on each task in the sandbox, then judge with hidden tests.

For each task the agent runs in a fresh workspace holding only the task's visible files, with the
gateway socket as its only way out. When it has finished, the harness copies the workspace and
runs the hidden tests in a separate sandboxed step (see :mod:`qdagents.tasks`). Fitness is the
share of tasks whose hidden tests all pass; descriptors are measured from what the gateway metered
and what changed in the workspace (see :mod:`descriptors`).

Staged evaluation (as in the Darwin Gödel Machine): tasks are run in stages, and an agent whose
pass rate after a stage is below that stage's threshold stops there. Fitness and descriptors use
all tasks run; the stage reached is recorded.
"""

from __future__ import annotations

import difflib
import io
import os
import shutil
import stat
import tempfile
import tokenize
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import qdagents.descriptors as descriptor_lib
from qdagents.agents import read_folder
from qdagents.sandbox import Limits, Mount

AGENT_ENTRY = "agent.py"
SOCKET_DIR = "/run/qdagents"
LOG_CAP = 4000
MAX_FAILURES = 50


@dataclass(frozen=True)
class Stage:
    """Run the next ``tasks`` tasks (None: all the rest); go on only if pass rate >= threshold."""

    tasks: int | None = None
    threshold: float = 0.0


@dataclass
class TaskResult:
    """What happened on one task: the verdict and what was measured."""

    task_id: str
    passed: bool
    reason: str | None
    tokens: int = 0
    llm_calls: int = 0
    cost_usd: float = 0.0
    tools_offered: list[str] = field(default_factory=list)
    lines_changed: int = 0
    lines_emitted: int = 0
    seconds: float = 0.0
    exit_code: int | None = None
    log: str = ""
    held_out: bool = False
    tampering: list[str] = field(default_factory=list)  # what the judge saw the solution try
    failures: list[dict] = field(default_factory=list)  # {name, kind, error} per failed test;
                                                        # kind "agent" for the agent's own failure


@dataclass
class Evaluation:
    """One agent's evaluation: fitness, descriptors (in archive-axis order) and per-task results."""

    agent_id: str
    fitness: float
    descriptors: list[float]
    descriptor_values: dict[str, float]
    tasks: list[TaskResult]
    stage: int
    failure: str | None = None
    embedding: list[float] | None = None   # code embedding, when the code_novelty axis is used
    held_out_fitness: float | None = None  # share of held-out tasks solved (None: none run)

    @property
    def tasks_passed(self) -> int:
        return sum(t.passed for t in self.tasks if not t.held_out)

    @property
    def tampering(self) -> list[tuple[str, str]]:
        """(task id, reason) for every tampering attempt the judge recorded."""
        return [(t.task_id, reason) for t in self.tasks for reason in t.tampering]

    @property
    def tokens(self) -> int:
        return sum(t.tokens for t in self.tasks)

    @property
    def cost_usd(self) -> float:
        return sum(t.cost_usd for t in self.tasks)

    def as_dict(self) -> dict:
        return {"agent_id": self.agent_id, "fitness": self.fitness,
                "held_out_fitness": self.held_out_fitness,
                "descriptors": self.descriptor_values, "stage": self.stage,
                "failure": self.failure, "tokens": self.tokens, "cost_usd": self.cost_usd,
                "tasks": [t.__dict__ for t in self.tasks]}


def count_changed_lines(before: dict[str, str], after: dict[str, str]) -> int:
    """Added plus removed lines between two snapshots of a workspace."""
    changed = 0
    for path in sorted(set(before) | set(after)):
        old = before.get(path, "").splitlines()
        new = after.get(path, "").splitlines()
        for line in difflib.unified_diff(old, new, lineterm="", n=0):
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                changed += 1
    return changed


def is_test_file(path: str) -> bool:
    name = os.path.basename(path)
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def source_files(task) -> list[str]:
    """The task's own source: its visible files that are neither tests nor restored with the
    hidden tests."""
    return [p for p in task.files if p not in task.hidden_tests and not is_test_file(p)]


def code_lines(path: str, text: str) -> list[str]:
    """The lines of a file that count as code: in Python files comments, blank lines and
    trailing whitespace do not (a junk comment is not an edit)."""
    lines = text.splitlines()
    if path.endswith(".py"):
        try:
            cuts = {}
            for token in tokenize.generate_tokens(io.StringIO(text).readline):
                if token.type == tokenize.COMMENT:
                    cuts[token.start[0] - 1] = token.start[1]
            lines = [line[:cuts[i]] if i in cuts else line for i, line in enumerate(lines)]
        except (tokenize.TokenError, SyntaxError, ValueError):  # the agent broke the file
            lines = [line for line in lines if not line.lstrip().startswith("#")]
    return [line.rstrip() for line in lines if line.strip()]


def read_workspace_file(path: Path, cap: int = 4_000_000) -> str:
    """A file the agent left, without following a symlink it planted ("" when missing)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return ""
        return handle.read(cap).decode("utf-8", "replace")


def count_source_changes(task, workspace: Path) -> int:
    """Added plus removed code lines in the task's own source files (see
    :func:`source_files` and :func:`code_lines`); a deleted source file counts all its lines.
    New files, test files and files the task does not have are not counted."""
    changed = 0
    for path in source_files(task):
        old = code_lines(path, task.files[path])
        new = code_lines(path, read_workspace_file(Path(workspace) / path))
        for line in difflib.unified_diff(old, new, lineterm="", n=0):
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                changed += 1
    return changed


def snapshot(folder: Path) -> dict[str, str]:
    """Text of every file in a workspace (caches and undecodable files skipped)."""
    files = {}
    for path in folder.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            try:
                files[path.relative_to(folder).as_posix()] = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
    return files


@dataclass
class Place:
    """The host folders one agent run sees (mounted at /workspace, /task, /run/qdagents) and what
    runs it: the sandbox, or a docker session shared by a whole evaluation; and, made on first
    use, the place of the evaluation's hidden-test runs
    (:func:`qdagents.tasks.hidden_test_place`)."""

    workspace: Path
    task_dir: Path
    socket_dir: Path
    runner: object
    stack: ExitStack = field(default_factory=ExitStack)
    tests: object = None

    def hidden_tests(self, sandbox, limits: Limits):
        if self.tests is None:
            from qdagents.tasks import hidden_test_place

            self.tests = self.stack.enter_context(hidden_test_place(sandbox, limits))
        return self.tests

    def mounts(self, agent_dir: Path) -> list[Mount]:
        return [Mount(Path(agent_dir), "/agent"), Mount(self.workspace, "/workspace", True),
                Mount(self.task_dir, "/task"), Mount(self.socket_dir, SOCKET_DIR)]

    def clear(self) -> None:
        """Empties the workspace and task folders between tasks."""
        for folder in (self.workspace, self.task_dir):
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()


class Evaluator:
    """Runs agents on a task suite in a sandbox, through the gateway.

    Args:
        suite: The tasks (a :class:`qdagents.tasks.TaskSuite`).
        sandbox: Where agent code and hidden tests run.
        gateway: The LLM gateway the agent's socket is served by.
        descriptor_names: Descriptors to measure, in archive-axis order.
        agent_limits: Limits for one agent run on one task.
        test_limits: Limits for one hidden-test run.
        stages: Staged evaluation; default one stage with every task.
        task_budget: ``{"tokens", "usd"}`` one agent may use on one task (None: no limit).
        evaluation_budget: ``{"tokens", "usd"}`` one agent may use over all its tasks.
    """

    def __init__(self, *, suite, sandbox, gateway, descriptor_names: list[str],
                 agent_limits: Limits = Limits(seconds=60), test_limits: Limits = Limits(seconds=30),
                 stages: list[Stage] | None = None, task_budget: dict | None = None,
                 evaluation_budget: dict | None = None):
        self.suite = suite
        self.sandbox = sandbox
        self.gateway = gateway
        self.descriptor_names = list(descriptor_names)
        self.agent_limits = agent_limits
        self.test_limits = test_limits
        self.stages = stages or [Stage()]
        self.task_budget = dict(task_budget or {})
        self.evaluation_budget = dict(evaluation_budget or {})

    def evaluate(self, agent_id: str, agent_dir: Path) -> Evaluation:
        """Evaluates the agent in ``agent_dir``; every fault becomes part of the result."""
        agent_dir = Path(agent_dir)
        agent_files = read_folder(agent_dir)
        if not (agent_dir / AGENT_ENTRY).is_file():
            return self._failed(agent_id, agent_files, [], 0, f"the agent has no {AGENT_ENTRY}")
        from qdagents.llm import Budget

        spent = Budget(**self.evaluation_budget)   # shared by this evaluation's tasks
        results: list[TaskResult] = []
        held_out = set(getattr(self.suite, "held_out", ()))
        remaining = [t for t in self.suite.tasks if t.id not in held_out]
        stage_reached = 0
        with self.place(agent_dir) as place:
            for number, stage in enumerate(self.stages, start=1):
                batch = remaining if stage.tasks is None else remaining[:stage.tasks]
                remaining = remaining[len(batch):]
                results += [self.run_task(agent_id, agent_dir, task, budget=spent, place=place)
                            for task in batch]
                stage_reached = number
                rate = sum(r.passed for r in results) / max(len(results), 1)
                if not remaining or rate < stage.threshold:
                    break
            if held_out and not remaining:  # scored apart, only for agents that went all the way
                results += [self.run_task(agent_id, agent_dir, task, budget=spent, place=place,
                                          held_out=True)
                            for task in self.suite.tasks if task.id in held_out]
        seen = [r for r in results if not r.held_out]
        crashed = [r for r in seen if r.exit_code != 0]
        if seen and len(crashed) == len(seen) and not any(r.passed for r in seen):
            return self._failed(agent_id, agent_files, results, stage_reached,
                                f"the agent failed to run on every task: {crashed[0].reason}")
        tampered = [r for r in results if r.tampering]
        if tampered:  # never enters the archive (the loop does not offer failed evaluations)
            return self._failed(agent_id, agent_files, results, stage_reached,
                                f"tampering: {tampered[0].task_id}: {tampered[0].tampering[0]}")
        return self._evaluation(agent_id, agent_files, results, stage_reached)

    def _evaluation(self, agent_id, agent_files, results, stage, failure=None) -> Evaluation:
        """Fitness and descriptors from the seen tasks; held-out tasks scored apart."""
        seen = [r for r in results if not r.held_out]
        held = [r for r in results if r.held_out]
        values = descriptor_lib.measure(self.descriptor_names, seen, agent_files)
        fitness = sum(r.passed for r in seen) / len(seen) if seen else 0.0
        return Evaluation(agent_id=agent_id, fitness=fitness,
                          descriptors=[values[n] for n in self.descriptor_names],
                          descriptor_values=values, tasks=results, stage=stage, failure=failure,
                          held_out_fitness=sum(r.passed for r in held) / len(held) if held
                          else None)

    def _failed(self, agent_id, agent_files, results, stage, reason) -> Evaluation:
        evaluation = self._evaluation(agent_id, agent_files, results, stage, failure=reason)
        evaluation.fitness = 0.0
        return evaluation

    @contextmanager
    def place(self, agent_dir: Path) -> Iterator[Place]:
        """Host folders for every agent run of one evaluation, and what runs them.

        With a backend that has sessions (docker), one container serves every task of the
        evaluation (an exec costs ~50 ms, a container ~0.25 s): the folders are fixed for the
        evaluation, mounted once, and emptied between tasks; the gateway socket is made anew in
        the same folder for each task.
        """
        with tempfile.TemporaryDirectory(prefix="qdagents-eval-") as root:
            place = Place(Path(root) / "workspace", Path(root) / "task", Path(root) / "gateway",
                          self.sandbox)
            for folder in (place.workspace, place.task_dir, place.socket_dir):
                folder.mkdir()
            with place.stack:
                if not hasattr(self.sandbox, "session"):
                    yield place
                    return
                with self.sandbox.session(place.mounts(agent_dir),
                                          limits=self.agent_limits) as session:
                    place.runner = session
                    yield place

    def run_agent(self, agent_id: str, agent_dir: Path, place: Place, problem: str, *,
                  task_id: str, meter):
        """Runs an agent in the sandbox on ``place.workspace`` (changed in place), through the
        gateway.

        The one place an agent is started: for a task, and for DGM-style self-modification,
        where the workspace is a copy of an agent's own code.
        """
        (place.task_dir / "problem.md").write_text(problem)
        with self.gateway.serve(meter, agent_id=agent_id, task_id=task_id,
                                directory=place.socket_dir) as sock:
            return place.runner.run(
                ["python3", f"/agent/{AGENT_ENTRY}"], workdir="/workspace",
                mounts=place.mounts(agent_dir),
                env={"QDAGENTS_GATEWAY": f"{SOCKET_DIR}/{Path(sock.path).name}",
                     "QDAGENTS_PROBLEM": "/task/problem.md"},
                limits=self.agent_limits)

    def task_meter(self, evaluation_budget=None):
        """A meter for one agent run, under the per-task budget (inside ``evaluation_budget``)."""
        from qdagents.llm import Budget, Meter

        return Meter(budget=Budget(**self.task_budget, parent=evaluation_budget))

    def run_task(self, agent_id: str, agent_dir: Path, task, *, budget=None,
                 place: Place | None = None, held_out: bool = False) -> TaskResult:
        """Runs the agent on one task, then the hidden tests on what it left behind."""
        from qdagents.tasks import run_hidden_tests

        if place is None:
            with self.place(agent_dir) as place:
                return self.run_task(agent_id, agent_dir, task, budget=budget, place=place,
                                     held_out=held_out)
        place.clear()
        task.write_workspace(place.workspace)
        meter = self.task_meter(budget)
        run = self.run_agent(agent_id, agent_dir, place, task.problem, task_id=task.id,
                             meter=meter)
        changed = count_source_changes(task, place.workspace)
        outcome = run_hidden_tests(task, place.workspace, sandbox=self.sandbox,
                                   limits=self.test_limits,
                                   place=place.hidden_tests(self.sandbox, self.test_limits))
        reason = outcome.reason
        failures = [{"name": t.name, "kind": t.kind, "error": t.error}
                    for t in outcome.tests if not t.ok][:MAX_FAILURES]
        if not outcome.passed and not failures:   # nothing ran: a timeout, an odd workspace
            failures.append({"name": "hidden tests", "kind": "test", "error": reason or ""})
        if run.failure or run.exit_code != 0:
            agent_problem = run.failure or f"agent exited with code {run.exit_code}"
            reason = f"{agent_problem}; {reason}" if reason else agent_problem
            failures.insert(0, {"name": "agent", "kind": "agent", "error": agent_problem})
        log = (run.stdout + ("\n--- stderr ---\n" + run.stderr if run.stderr else ""))
        return TaskResult(
            task_id=task.id, passed=outcome.passed, reason=None if outcome.passed else reason,
            tokens=meter.tokens, llm_calls=meter.calls,
            cost_usd=meter.list_cost_usd, tools_offered=sorted(meter.tools_offered),
            lines_changed=changed, lines_emitted=meter.lines_emitted, seconds=run.seconds,
            exit_code=run.exit_code, log=log[-LOG_CAP:], held_out=held_out,
            tampering=list(outcome.tampering), failures=failures)
