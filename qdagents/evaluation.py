"""Evaluating one agent: run it on each task in the sandbox, then judge with hidden tests.

For each task the agent runs in a fresh workspace holding only the task's visible files, with the
gateway socket as its only way out. When it has finished, the harness copies the workspace and
runs the hidden tests in a separate sandboxed step (see :mod:`qdagents.tasks`). Fitness is the
share of tasks whose hidden tests all pass; descriptors are measured from what the gateway metered
and what changed in the workspace (see :mod:`descriptors`).

Staged evaluation (as in the Darwin Gödel Machine): tasks are run in stages, and an agent whose
pass rate after a stage is below that stage's threshold stops there. Fitness and descriptors use
all tasks run; the stage reached is recorded. A stage names its tasks by count, by id or by a file
of ids (DGM's small -> medium -> large SWE-bench subsets).

Every kind of task tells the evaluator where it runs (its :class:`~qdagents.tasks.TaskSetting`:
image, working directory, environment, interpreter) and does its own ``prepare`` (fill the
workspace) and ``judge`` (the verdict on it): hidden tests for single-folder tasks, a repository's
own tests in its own image for SWE-bench instances. A task that cannot run here (its image is
missing, or the sandbox runs no images) is *unavailable*: it is left out of the suite, with the
reason in :attr:`Evaluator.unavailable`, rather than scored 0.

A stage's tasks run one after another here, or all at once elsewhere through a
:class:`TaskRunner` (``executor=dask``: one Dask task per task, see :mod:`qdagents.distributed`);
either way the same :meth:`Evaluator.run_task` runs each task, and the gateway's meter measures it.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import io
import os
import shutil
import stat
import tempfile
import tokenize
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Protocol

import qdagents.descriptors as descriptor_lib
from qdagents.agents import read_folder
from qdagents.sandbox import Limits, Mount
from qdagents.tasks import TaskSetting

AGENT_ENTRY = "agent.py"
SOCKET_DIR = "/run/qdagents"
LOG_CAP = 4000
MAX_FAILURES = 50
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """Run the next ``tasks`` tasks; go on only if the pass rate so far >= ``threshold``.

    ``tasks`` is a count (the next n tasks not run yet, in suite order), None (all the rest), a
    list of task ids, or the path of a file of ids (a JSON list, or one id per line; a relative
    path is looked up in the working directory, then in qdagents' ``conf/``).
    """

    tasks: int | list[str] | str | None = None
    threshold: float = 0.0

    def resolved(self, suite, unavailable=()) -> Stage:
        """This stage with a file of ids read; ids not in ``suite`` are dropped (those that are
        only unavailable silently, others with a warning). A stage that names tasks but none
        of ``suite``'s (nor unavailable ones) is a ValueError: its ids are wrong."""
        if not isinstance(self.tasks, (str, list)):
            return self
        from qdagents.tasks import read_task_ids

        ids = read_task_ids(stage_file(self.tasks)) if isinstance(self.tasks, str) \
            else [str(i) for i in self.tasks]
        known = set(suite.ids)
        unknown = [i for i in ids if i not in known and i not in unavailable]
        if unknown and len(unknown) == len(ids):
            raise ValueError(f"stage tasks: none of {ids[:3]}... is in the suite")
        if unknown:
            log.warning("stage tasks not in the suite, skipped: %s", ", ".join(unknown[:10]))
        return Stage(tasks=[i for i in ids if i in known], threshold=self.threshold)


def stage_file(name: str) -> Path:
    """A stage's id file: relative to the working directory, else to qdagents' conf/."""
    path = Path(name).expanduser()
    if path.is_absolute() or path.exists():
        return path
    shipped = Path(str(resources.files("qdagents") / "conf")) / name
    if shipped.exists():
        return shipped
    raise FileNotFoundError(f"stage task file {name} not found (looked in the working "
                            "directory and in qdagents' conf/)")


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
    infra_failure: str | None = None   # the provider spoiled this task: "provider"|"fatal"|"budget"
    held_out: bool = False
    tampering: list[str] = field(default_factory=list)  # what the judge saw the solution try
    failures: list[dict] = field(default_factory=list)  # {name, kind, error} per failed test;
                                                        # kind "agent" for the agent's own failure


def metered(result: TaskResult, meter) -> TaskResult:
    """``result`` with what the gateway's ``meter`` measured of the agent's run (tokens, calls,
    cost, tools offered, lines emitted) and, when an infrastructure fault spoiled the task, its
    class and message: never what the agent or the machine that ran it says."""
    infra = meter.infrastructure_fault()   # (class, message) when the provider spoiled it
    reason = result.reason
    if infra:
        reason = f"{infra[1]}; {reason}" if reason else infra[1]
    return dataclasses.replace(
        result, reason=None if result.passed and not infra else reason, tokens=meter.tokens,
        llm_calls=meter.calls, cost_usd=meter.list_cost_usd,
        tools_offered=sorted(meter.tools_offered), lines_emitted=meter.lines_emitted,
        infra_failure=infra and infra[0])


class TaskRunner(Protocol):
    """Runs agents elsewhere (a Dask cluster, :class:`qdagents.distributed.DaskTaskRunner`).

    ``run_tasks`` runs some tasks of one agent all at once (results in the order of ``tasks``;
    ``stop(results)``, asked of each longer run of results known in task order, ends it early:
    what is not done is cancelled and the results so far come back);
    ``run_workshop`` runs one agent on a workspace and returns its files after (DGM
    self-modification, :class:`qdagents.components.AgentWorkshop`); ``new_meter()`` makes the
    meter of one agent run. ``unavailable`` says which tasks cannot run where the agents run.
    """

    def run_tasks(self, agent_id: str, agent_files: dict[str, str], tasks: list, *,
                  new_meter: Callable,
                  stop: Callable[[list], bool] | None = None) -> list[TaskResult]: ...

    def run_workshop(self, *, step: int, label: str, agent_files: dict[str, str],
                     workspace: dict[str, str], problem: str,
                     new_meter: Callable) -> dict[str, str]: ...

    def unavailable(self, tasks: list) -> dict[str, str]: ...


class EvaluationUnavailable(RuntimeError):
    """The evaluator cannot evaluate now, through no fault of the agent (a cluster worker
    without a usable sandbox): the run must stop, leaving the agent to be evaluated on resume."""


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
    #: Not the agent's doing: the provider failed ("provider": retry later), cannot work
    #: ("fatal": stop the run), or the run's budget ran out ("budget"). Such an evaluation has no
    #: fitness (NaN) and must never be told to the archive (qdagents.llm._faults).
    infra_failure: str | None = None
    #: Tasks of the suite that could not run here (task id -> why, e.g. a missing image).
    unavailable: dict[str, str] = field(default_factory=dict)
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
        return {"agent_id": self.agent_id,
                "fitness": None if self.infra_failure else self.fitness,
                "held_out_fitness": self.held_out_fitness,
                "infra_failure": self.infra_failure,
                "descriptors": self.descriptor_values, "stage": self.stage,
                "failure": self.failure, "tokens": self.tokens, "cost_usd": self.cost_usd,
                "tasks": [t.__dict__ for t in self.tasks], "unavailable": self.unavailable}


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


def source_texts(task, workspace: Path) -> dict[str, str]:
    """The task's own source files as the agent starts from them, path -> text: a folder task's
    visible files that are neither tests nor restored with the hidden tests (:func:`source_files`);
    for a repository task (no ``files``), the files of its prepared workspace that are not tests
    (:func:`is_test_path`), read before the agent runs."""
    files = getattr(task, "files", None)
    if isinstance(files, dict):
        return {path: files[path] for path in source_files(task)}
    return {path: text for path, text in snapshot(workspace).items() if not is_test_path(path)}


def is_test_path(path: str) -> bool:
    """A test file of a repository: a test module, or anything in a ``test``/``tests`` folder."""
    parts = path.split("/")
    return is_test_file(path) or parts[-1] == "tests.py" or \
        any(part in ("test", "tests", "testing") for part in parts[:-1])


def count_source_changes(task, workspace: Path, sources: dict[str, str] | None = None) -> int:
    """Added plus removed code lines in the task's own source files (``sources``, by default
    :func:`source_texts`; see :func:`code_lines`); a deleted source file counts all its lines.
    New files, test files and files the task does not have are not counted."""
    sources = source_texts(task, workspace) if sources is None else sources
    changed = 0
    for path, text in sources.items():
        old = code_lines(path, text)
        new = code_lines(path, read_workspace_file(Path(workspace) / path))
        for line in difflib.unified_diff(old, new, lineterm="", n=0):
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                changed += 1
    return changed


def snapshot(folder: Path) -> dict[str, str]:
    """Text of every file in a workspace, hidden ones included (caches, git metadata and
    undecodable files skipped): :func:`qdagents.agents.read_folder`, the one folder reader."""
    return read_folder(folder, hidden=True, undecodable="skip")


@dataclass
class Place:
    """The host folders one agent run sees (mounted at the setting's workdir, /task,
    /run/qdagents) and what runs it: the sandbox, or a docker session shared by the tasks of an
    evaluation that have the same setting; and, made on first use, the place of the
    evaluation's hidden-test runs (:func:`qdagents.tasks.hidden_test_place`)."""

    workspace: Path
    task_dir: Path
    socket_dir: Path
    runner: object
    setting: TaskSetting = field(default_factory=TaskSetting)
    sandbox: object = None   # the sandbox for the setting (its image); judges use it
    stack: ExitStack = field(default_factory=ExitStack)
    tests: object = None

    def hidden_tests(self, limits: Limits):
        """The hidden-test place of this evaluation (one judge and one solution container for
        all its tasks with docker), made on first use and closed with this place."""
        if self.tests is None:
            from qdagents.tasks import hidden_test_place

            self.tests = self.stack.enter_context(hidden_test_place(self.sandbox, limits))
        return self.tests

    def mounts(self, agent_dir: Path) -> list[Mount]:
        return [Mount(Path(agent_dir), "/agent"),
                Mount(self.workspace, self.setting.workdir, True),
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
        descriptors: Descriptors to measure, in archive-axis order: built-in names or
            :class:`qdagents.descriptors.Descriptor` objects (a user's own axis included).
        agent_limits: Limits for one agent run on one task.
        test_limits: Limits for one hidden-test run.
        stages: Staged evaluation; default one stage with every task.
        task_budget: ``{"tokens", "usd"}`` one agent may use on one task (None: no limit).
        evaluation_budget: ``{"tokens", "usd"}`` one agent may use over all its tasks.
        task_runner: Runs each stage's tasks at once elsewhere (a :class:`TaskRunner`); None
            runs them here, one after another. With a task runner, ``sandbox`` may be None: the
            agents run in the sandboxes of the runner's workers.
        early_stop: When an agent's first this many tasks all fail the same way (it timed out,
            or exited with the same code, on each), the evaluation stops there as a failure with
            that reason, rather than hold a worker for every task's time limit; 0: never. With a
            task runner the tasks of a stage run at once and the check is made as results come
            in, in task order (the rest cancelled; one already running finishes uncounted).
    """

    def __init__(self, *, suite, sandbox, gateway, descriptors: list,
                 agent_limits: Limits = Limits(seconds=60), test_limits: Limits = Limits(seconds=30),
                 stages: list[Stage] | None = None, task_budget: dict | None = None,
                 evaluation_budget: dict | None = None, task_runner: TaskRunner | None = None,
                 early_stop: int = 3):
        self.sandbox = sandbox
        self.gateway = gateway
        self.descriptors = list(descriptors)
        self.descriptor_names = [getattr(d, "name", d) for d in self.descriptors]
        self.agent_limits = agent_limits
        self.test_limits = test_limits
        self.task_budget = dict(task_budget or {})
        self.evaluation_budget = dict(evaluation_budget or {})
        self.task_runner = task_runner
        self.early_stop = early_stop
        #: Task id -> why it cannot run here (e.g. its image is missing); left out of the suite.
        self.unavailable = (task_runner.unavailable(list(suite)) if task_runner is not None else
                            {t.id: why for t in suite if (why := t.unavailable(sandbox))})
        if self.unavailable:
            if len(self.unavailable) == len(suite):
                shown = "; ".join(f"{i}: {w}" for i, w in list(self.unavailable.items())[:3])
                raise RuntimeError(f"no task of suite {suite.name} can run here ({shown}"
                                   + ("; ..." if len(self.unavailable) > 3 else "") + ")")
            for task_id, why in self.unavailable.items():
                log.warning("task %s is unavailable: %s", task_id, why)
            suite = suite.subset(t.id for t in suite if t.id not in self.unavailable)
        self.suite = suite
        self.stages = [s.resolved(suite, self.unavailable) for s in stages or [Stage()]]

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
        seen_total = len(remaining)
        stage_reached = 0
        first = remaining[0].setting if remaining else TaskSetting()
        local = self.task_runner is None
        with self.place(agent_dir, first) if local else nullcontext() as place:
            for number, stage in enumerate(self.stages, start=1):
                if isinstance(stage.tasks, list):
                    batch = [t for i in stage.tasks for t in remaining if t.id == i]
                else:
                    batch = remaining if stage.tasks is None else remaining[:stage.tasks]
                taken = {t.id for t in batch}
                remaining = [t for t in remaining if t.id not in taken]
                results += self.run_tasks(agent_id, agent_dir, batch, budget=spent, place=place,
                                          done=results)
                stage_reached = number
                rate = sum(r.passed for r in results) / max(len(results), 1)
                if (not remaining or rate < stage.threshold or self._stopped_early(results)
                        or any(r.infra_failure for r in results)):
                    break
            if held_out and len(results) == seen_total:  # scored apart, for agents that got through
                tasks = [t for t in self.suite.tasks if t.id in held_out]
                results += [dataclasses.replace(r, held_out=True) for r in self.run_tasks(
                    agent_id, agent_dir, tasks, budget=spent, place=place)]
        spoiled = next((r for r in results if r.infra_failure), None)
        if spoiled is not None:
            return self._infra_failed(agent_id, agent_files, results, stage_reached, spoiled)
        if (stopped := self._stopped_early(results)) and len(results) < seen_total:
            return self._failed(agent_id, agent_files, results, stage_reached,
                                f"stopped early: the agent failed the same way on its first "
                                f"{self.early_stop} tasks ({stopped})")
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
        values = descriptor_lib.measure(self.descriptors, seen, agent_files)
        fitness = sum(r.passed for r in seen) / len(seen) if seen else 0.0
        return Evaluation(agent_id=agent_id, fitness=fitness,
                          descriptors=[values[n] for n in self.descriptor_names],
                          descriptor_values=values, tasks=results, stage=stage, failure=failure,
                          unavailable=dict(self.unavailable),
                          held_out_fitness=sum(r.passed for r in held) / len(held) if held
                          else None)

    def _failed(self, agent_id, agent_files, results, stage, reason) -> Evaluation:
        evaluation = self._evaluation(agent_id, agent_files, results, stage, failure=reason)
        evaluation.fitness = 0.0
        return evaluation

    def _infra_failed(self, agent_id, agent_files, results, stage, spoiled) -> Evaluation:
        from qdagents.llm._faults import FAILURE_PREFIX

        evaluation = self._evaluation(agent_id, agent_files, results, stage, failure=(
            f"{FAILURE_PREFIX[spoiled.infra_failure]} on task {spoiled.task_id}: "
            f"{spoiled.reason}"))
        evaluation.fitness, evaluation.infra_failure = float("nan"), spoiled.infra_failure
        return evaluation

    def sandbox_for(self, setting: TaskSetting):
        """The sandbox that runs a setting: ours, or ours in the setting's image."""
        return self.sandbox if setting.image is None else self.sandbox.with_image(setting.image)

    @contextmanager
    def place(self, agent_dir: Path, setting: TaskSetting = TaskSetting()) -> Iterator[Place]:
        """Host folders for the agent runs of one evaluation in one setting, and what runs them.

        With a backend that has sessions (docker), one container serves every task of the
        evaluation with this setting (an exec costs ~50 ms, a container ~0.25 s): the folders
        are fixed, mounted once, and emptied between tasks; the gateway socket is made anew in
        the same folder for each task. A task with another setting (its own image) gets a place
        of its own.
        """
        sandbox = self.sandbox_for(setting)
        with tempfile.TemporaryDirectory(prefix="qdagents-eval-") as root:
            place = Place(Path(root) / "workspace", Path(root) / "task", Path(root) / "gateway",
                          sandbox, setting, sandbox)
            for folder in (place.workspace, place.task_dir, place.socket_dir):
                folder.mkdir()
            with place.stack:
                if not hasattr(sandbox, "session"):
                    yield place
                    return
                with sandbox.session(place.mounts(agent_dir), limits=self.agent_limits) as session:
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
        setting = place.setting
        with self.gateway.serve(meter, agent_id=agent_id, task_id=task_id,
                                directory=place.socket_dir) as sock:
            return place.runner.run(
                [setting.python, f"/agent/{AGENT_ENTRY}"], workdir=setting.workdir,
                mounts=place.mounts(agent_dir),
                env={**setting.env, "QDAGENTS_GATEWAY": f"{SOCKET_DIR}/{Path(sock.path).name}",
                     "QDAGENTS_PROBLEM": "/task/problem.md"},
                limits=self.agent_limits)

    def run_tasks(self, agent_id: str, agent_dir: Path, tasks: list, *, budget=None,
                  place: Place | None = None, done: list = ()) -> list[TaskResult]:
        """Runs one stage's tasks: here one after another in ``place``, or all at once through
        the task runner; either way up to a task that an infrastructure fault spoiled (the rest
        would say nothing of the agent) or up to an early stop counted with the evaluation's
        tasks ``done`` before. The task runner is given that test as ``stop``, so it ends the stage
        (cancelling the rest) as soon as the first tasks are known, not after every task's time
        limit, with the results a local run gives."""
        def stop(results: list[TaskResult]) -> bool:
            return bool(results[-1].infra_failure or self._stopped_early([*done, *results]))

        if self.task_runner is not None:
            return self.task_runner.run_tasks(agent_id, read_folder(agent_dir), tasks,
                                              new_meter=lambda: self.task_meter(budget),
                                              stop=stop)
        results = []
        for task in tasks:
            results.append(self.run_task(agent_id, agent_dir, task, budget=budget, place=place))
            if stop(results):
                break
        return results

    def _stopped_early(self, results: list[TaskResult]) -> str | None:
        """How the first :attr:`early_stop` tasks all failed, when it was the same way each time
        (the agent's own failure: a time limit, a signal, one exit code), else None. Only the
        sandbox's account of the agent's process counts, never anything the agent printed."""
        first = [r for r in results if not r.held_out][:self.early_stop]
        if not self.early_stop or len(first) < self.early_stop:
            return None
        ways = {r.failures[0]["error"] if r.failures and r.failures[0]["kind"] == "agent"
                else None for r in first if not r.passed}
        if len(ways) == 1 and None not in ways and not any(r.passed for r in first):
            return ways.pop()
        return None

    def task_meter(self, evaluation_budget=None):
        """A meter for one agent run, under the per-task budget (inside ``evaluation_budget``)."""
        from qdagents.llm import Budget, Meter

        return Meter(budget=Budget(**self.task_budget, parent=evaluation_budget))

    def run_task(self, agent_id: str, agent_dir: Path, task, *, budget=None,
                 place: Place | None = None) -> TaskResult:
        """Runs the agent on one task, then the task's verdict on what it left behind."""
        if place is None or place.setting != task.setting:
            with self.place(agent_dir, task.setting) as place:
                return self.run_task(agent_id, agent_dir, task, budget=budget, place=place)
        place.clear()
        try:
            task.prepare(place.workspace, sandbox=place.sandbox)
        except Exception as error:  # the task's own data or image, not the agent: recorded
            return TaskResult(task_id=task.id, passed=False,
                              reason=f"could not prepare the task: {error}"[:400])
        sources = source_texts(task, place.workspace)
        meter = self.task_meter(budget)
        run = self.run_agent(agent_id, agent_dir, place, task.problem, task_id=task.id,
                             meter=meter)
        changed = count_source_changes(task, place.workspace, sources)
        outcome = task.judge(place.workspace, sandbox=place.sandbox, limits=self.test_limits,
                             place=place)
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
        return metered(TaskResult(
            task_id=task.id, passed=outcome.passed, reason=None if outcome.passed else reason,
            lines_changed=changed, seconds=run.seconds, exit_code=run.exit_code,
            log=log[-LOG_CAP:], tampering=list(outcome.tampering), failures=failures), meter)
