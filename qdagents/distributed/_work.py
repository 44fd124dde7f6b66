"""What runs on a Dask worker: one task of one agent, and the worker's preflight check.

Everything a task needs travels with it as plain values (:class:`TaskWork`): the agent's files,
the task without its gold patch, the sandbox config, the limits and a
:class:`~qdagents.distributed.RelayTicket`. The worker builds its own sandbox from the config,
writes everything into temporary folders of its own, and runs the task exactly as a local
evaluation does (:meth:`qdagents.evaluation.Evaluator.run_task`), with the agent's gateway socket
served through the relay. Nothing on a worker holds a provider key or writes the run database.

A worker that cannot do the work must say so before it does any (never a silent fitness 0):
:func:`check_worker` runs the same checks as ``qdagents sandbox check`` for the configured backend,
judges a built-in task in the sandbox (its reference must pass, its stub fail), runs python3 in the
agent's layout, and reaches the controller's relay. The controller runs it on every worker before
the run starts; each worker process also runs it before its first task, so a worker that joins
later is held to the same rule, and :class:`WorkerUnusable` stops the run with the worker's name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import qdagents
from qdagents.distributed._relay import GatewayRelay, RelayTicket
from qdagents.evaluation import EvaluationUnavailable
from qdagents.sandbox import Limits
from qdagents.tasks import TaskSuite, write_files

__all__ = ["TaskOutcome", "TaskWork", "WorkerCheck", "WorkerUnusable", "WorkshopWork",
           "check_worker", "ensure_checked", "run_task", "run_workshop", "unavailable_here",
           "without_solution"]


class WorkerUnusable(EvaluationUnavailable):
    """A worker cannot run tasks (no sandbox, no relay, another qdagents): the run must stop."""

    def __init__(self, worker: str, problems: list[str]) -> None:
        super().__init__(f"worker {worker} cannot run tasks: {'; '.join(problems)}")
        self.worker, self.problems = worker, list(problems)

    def __reduce__(self):   # exceptions travel back from workers by pickle
        return type(self), (self.worker, self.problems)


@dataclass(frozen=True)
class TaskWork:
    """One task of one agent, as plain values for a worker.

    Attributes:
        agent_id: The agent's id (its code's tree hash).
        agent_files: The agent's folder, relative path -> text.
        task: The task (a :class:`~qdagents.tasks.Task`, a :class:`~qdagents.tasks.RepositoryTask`
            or a plug-in's); its solution is removed before it travels (:meth:`of`).
        sandbox: The sandbox config: ``{"backend": name, **options}``.
        agent_limits, test_limits: Limits of the agent run and of the hidden-test run.
        ticket: How to reach the controller's gateway for this task.
        version: The controller's qdagents version (a worker with another one refuses).
    """

    agent_id: str
    agent_files: dict[str, str]
    task: object
    sandbox: dict
    agent_limits: Limits
    test_limits: Limits
    ticket: RelayTicket
    version: str = qdagents.__version__

    @classmethod
    def of(cls, *, task, **values) -> TaskWork:
        """The work for ``task``, without the solution fields a worker never needs (they never
        leave the controller)."""
        return cls(task=without_solution(task), **values)


#: The fields that hold a task's solution and that a worker never needs: a RepositoryTask's gold
#: patch (only the self-check applies it, on the controller). A Task's reference files do travel:
#: the judge reads from them which classes the hidden tests use as an API
#: (:func:`qdagents.tasks._plan.declared_classes`), so a verdict on a worker is the verdict at home;
#: like the hidden tests, they are never in an agent's or a solution's sandbox.
SOLUTION_FIELDS = ("patch",)


def without_solution(task):
    """``task`` with its solution fields emptied (a task that is not a dataclass as it is)."""
    if not dataclasses.is_dataclass(task):
        return task
    names = {f.name for f in dataclasses.fields(task)}
    return dataclasses.replace(task, **{name: type(getattr(task, name))()
                                        for name in SOLUTION_FIELDS if name in names})


@dataclass(frozen=True)
class WorkshopWork:
    """An agent run on a workspace that is not a task (DGM self-modification: the workspace is
    an agent's own code), as plain values for a worker; it returns what the workspace became.

    Attributes:
        label: Whose calls these are (the parent's id, recorded as the calls' agent).
        step: The proposal's step (calls are recorded under task ``self-modify-<step>``).
        agent_files: The agent that runs (the editor).
        workspace: The files it works on.
        problem: What it is asked to do.
        sandbox, agent_limits, ticket, version: As in :class:`TaskWork`.
    """

    label: str
    step: int
    agent_files: dict[str, str]
    workspace: dict[str, str]
    problem: str
    sandbox: dict
    agent_limits: Limits
    ticket: RelayTicket
    version: str = qdagents.__version__


@dataclass
class TaskOutcome:
    """What a worker sends back: the task's result and how this attempt went.

    The result's metered fields (tokens, calls, cost, tools offered, lines emitted) are *not*
    the measure: the controller replaces them with its own meter of this ``attempt``.
    """

    attempt: str
    result: object            # a TaskResult; for a WorkshopWork, the workspace's files
    worker: str
    lost_calls: list[dict] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


@dataclass(frozen=True)
class WorkerCheck:
    """The preflight verdict on one worker process."""

    worker: str
    problems: list[str]
    sandbox: str              # what the backend check found (version, limits)

    @property
    def ok(self) -> bool:
        return not self.problems


def worker_name() -> str:
    """The Dask worker's address, or host:pid outside a worker."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def worker_tls_context():
    """The client TLS context of this Dask worker (its own certificates), or None."""
    try:
        from distributed import get_worker

        security = get_worker().security
    except (ImportError, ValueError):
        return None
    return security.get_connection_args("worker").get("ssl_context")


_sandboxes: dict[str, object] = {}
_checked: dict[str, WorkerCheck] = {}
_lock = threading.Lock()


def worker_sandbox(config: dict):
    """This worker process's sandbox for ``config`` (built once: docker connects to its engine),
    built as the controller would (:func:`qdagents.plugins.sandbox`)."""
    from qdagents import plugins

    key = json.dumps(config, sort_keys=True)
    with _lock:
        if key not in _sandboxes:
            _sandboxes[key] = plugins.sandbox(dict(config))
        return _sandboxes[key]


def backend_name(config: dict) -> str:
    return str(config.get("backend") or config.get("_target_") or "?")


def run_task(work: TaskWork) -> TaskOutcome:
    """Runs one task of one agent on this worker; the remote unit of work.

    Raises:
        WorkerUnusable: this worker failed its preflight check (the run must stop).
    """
    with _relayed(work, test_limits=work.test_limits) as (evaluator, outcome):
        with tempfile.TemporaryDirectory(prefix="qdagents-worker-") as tmp:
            agent_dir = Path(tmp) / "agent"
            write_files(work.agent_files, agent_dir)
            outcome.result = evaluator.run_task(work.agent_id, agent_dir, work.task)
    return outcome


def run_workshop(work: WorkshopWork) -> TaskOutcome:
    """Runs an agent on a workspace on this worker; the outcome's result is the workspace's
    files afterwards (see :class:`qdagents.components.AgentWorkshop`, which this reuses).

    Raises:
        WorkerUnusable: this worker failed its preflight check (the run must stop).
    """
    from qdagents.components import AgentWorkshop

    with _relayed(work, test_limits=work.agent_limits) as (evaluator, outcome):
        workshop = AgentWorkshop(evaluator, step=work.step)
        outcome.result = workshop.run(work.agent_files, work.workspace, work.problem,
                                      label=work.label)
    return outcome


@contextmanager
def _relayed(work, *, test_limits: Limits):
    """An evaluator on this worker whose agents reach the controller through the relay, and
    the outcome to fill in (its lost calls and end time are set on the way out)."""
    from qdagents.evaluation import Evaluator

    started = time.time()
    worker = worker_name()
    check = ensure_checked(sandbox=work.sandbox, ticket=work.ticket, version=work.version)
    if not check.ok:
        raise WorkerUnusable(worker, check.problems)
    outcome = TaskOutcome(attempt=uuid.uuid4().hex, result=None, worker=worker, started=started)
    relay = GatewayRelay(work.ticket, attempt=outcome.attempt, tls_context=worker_tls_context(),
                         timeout=work.agent_limits.seconds + 60)
    evaluator = Evaluator(suite=TaskSuite(name="worker", tasks=[]),
                          sandbox=worker_sandbox(work.sandbox), gateway=relay,
                          descriptors=[], agent_limits=work.agent_limits,
                          test_limits=test_limits)
    yield evaluator, outcome
    outcome.lost_calls, outcome.finished = relay.lost, time.time()


def unavailable_here(sandbox: dict, tasks: list) -> dict[str, str]:
    """Which of ``tasks`` cannot run in this worker's sandbox, and why (an image missing here)."""
    built = worker_sandbox(sandbox)
    return {task.id: why for task in tasks if (why := task.unavailable(built))}


def ensure_checked(*, sandbox: dict, ticket: RelayTicket,
                   version: str = qdagents.__version__) -> WorkerCheck:
    """:func:`check_worker`, once per worker process, sandbox config and controller."""
    key = json.dumps([sandbox, ticket.host, ticket.port, version], sort_keys=True)
    with _lock:
        found = _checked.get(key)
    if found is None:
        found = check_worker(sandbox=sandbox, ticket=ticket, version=version)
        with _lock:
            _checked[key] = found
    return found


def check_worker(*, sandbox: dict, ticket: RelayTicket | None = None,
                 version: str = qdagents.__version__) -> WorkerCheck:
    """The preflight: can this worker process run tasks for the controller?

    Checks, in order: the qdagents version matches the controller's; the configured backend
    works here (the same probe as ``qdagents sandbox check``) and can be built from the config;
    the sandbox judges a built-in task correctly (reference passes, stub fails) and runs python3
    in the agent's layout; and, given a ticket, the controller's relay answers an authenticated
    ping.
    """
    worker = worker_name()
    problems: list[str] = []
    if version != qdagents.__version__:
        problems.append(f"qdagents {qdagents.__version__} here, {version} on the controller "
                        "(install the same version on every machine)")
    status, built = _backend_status(sandbox), None
    if status is not None and not status.available:
        problems.append(f"sandbox {backend_name(sandbox)}: {status.detail}")
    else:
        try:
            built = worker_sandbox(sandbox)
        except Exception as exc:   # the backend's own message says what to install
            problems.append(f"sandbox {backend_name(sandbox)}: {exc}")
    if built is not None:
        problems += _judge_probe(built) + _agent_probe(built)
    if ticket is not None:
        problems += _relay_probe(ticket)
    detail = status.detail if status is not None else getattr(built, "name", "?")
    return WorkerCheck(worker=worker, problems=problems, sandbox=detail)


def _backend_status(sandbox: dict):
    """``qdagents sandbox check``'s verdict on the configured backend (None for process/auto,
    which building the sandbox itself checks)."""
    from qdagents.sandbox._select import bwrap_status, docker_status

    backend = sandbox.get("backend")
    if backend == "bwrap":
        return bwrap_status()
    if backend == "docker":
        return docker_status(sandbox.get("image"))
    return None


def _judge_probe(sandbox) -> list[str]:
    from qdagents.tasks import check_task, load_suite

    task = load_suite("builtin").tasks[0]   # any task whose verdicts are known will do
    found = check_task(task, sandbox=sandbox, limits=Limits(seconds=60))
    return [f"sandbox {sandbox.name} cannot judge task {task.id}: {'; '.join(found.problems)}"
            ] if found.problems else []


def _agent_probe(sandbox) -> list[str]:
    """python3 runs in the agent's layout and can write its workspace."""
    from qdagents.sandbox import Mount

    with tempfile.TemporaryDirectory(prefix="qdagents-preflight-") as tmp:
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        run = sandbox.run(["python3", "-c", "open('probe.txt', 'w').write('ok')"],
                          workdir="/workspace", mounts=[Mount(workspace, "/workspace", True)],
                          env={}, limits=Limits(seconds=60))
        if run.exit_code != 0 or not (workspace / "probe.txt").is_file():
            why = run.failure or run.stderr.strip()[-300:] or f"exit code {run.exit_code}"
            return [f"sandbox {sandbox.name} cannot run python3 in an agent's workspace: {why}"]
    return []


def _relay_probe(ticket: RelayTicket) -> list[str]:
    from qdagents.distributed._relay import ping

    context = worker_tls_context()
    if ticket.tls and context is None:
        return ["the controller's relay speaks TLS but this worker has no TLS certificates "
                "(start it with the cluster's --tls-ca-file, --tls-cert and --tls-key)"]
    try:
        ping(ticket, tls_context=context)
    except (OSError, ValueError) as exc:
        return [f"cannot reach the controller's relay at {ticket.host}:{ticket.port} "
                f"({type(exc).__name__}: {exc}); open that port to the workers, or set "
                "executor.relay_host to an address they can reach"]
    return []
