"""Running an agent's tasks on a Dask cluster: one Dask task per task of the agent.

The controller submits a stage's tasks at once and waits for them, so the stage takes the time of
its slowest task when workers are free, and staged evaluation still stops early (the next stage
is submitted only if this one passed). Each task has a relay session; its result is measured with
the controller's meter of the attempt that came back, so a task Dask re-ran after its worker died
is counted once, while the lost attempt's LLM calls stay recorded and charged to the run.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Callable

from qdagents.distributed._relay import RelayEndpoint
from qdagents.distributed._work import (TaskWork, WorkerCheck, WorkerUnusable, WorkshopWork,
                                        ensure_checked, run_task, run_workshop)
from qdagents.llm import Meter
from qdagents.sandbox import Limits

__all__ = ["DaskTaskRunner", "DaskWorkshop", "metered"]

log = logging.getLogger(__name__)

#: Seconds a worker's preflight may take (docker may have to start its first container).
PREFLIGHT_SECONDS = 300.0


def allowed_failures() -> int:
    import dask

    return int(dask.config.get("distributed.scheduler.allowed-failures"))


def metered(result, meter: Meter):
    """``result`` with its LLM measurements taken from the controller's ``meter``."""
    return replace(result, tokens=meter.tokens, llm_calls=meter.calls,
                   cost_usd=meter.list_cost_usd, tools_offered=sorted(meter.tools_offered),
                   lines_emitted=meter.lines_emitted)


class DaskTaskRunner:
    """Runs tasks of agents on the workers of a Dask client, through a relay endpoint.

    Args:
        client: A ``distributed.Client``.
        endpoint: The controller's :class:`~qdagents.distributed.RelayEndpoint`.
        sandbox: The sandbox config each worker builds its sandbox from (``{"backend", ...}``).
        agent_limits, test_limits: Limits of one agent run and one hidden-test run.
    """

    def __init__(self, *, client, endpoint: RelayEndpoint, sandbox: dict,
                 agent_limits: Limits, test_limits: Limits) -> None:
        self.client, self.endpoint = client, endpoint
        self.sandbox = dict(sandbox)
        self.agent_limits, self.test_limits = agent_limits, test_limits

    def preflight(self, *, timeout: float = PREFLIGHT_SECONDS) -> list[WorkerCheck]:
        """Checks every worker now in the cluster (see :func:`check_worker`).

        Raises:
            WorkerUnusable: naming the first unusable worker, with every problem found.
            RuntimeError: the cluster has no worker.
        """
        workers = list(self.client.scheduler_info(n_workers=-1)["workers"])
        if not workers:
            raise RuntimeError("the Dask cluster has no worker")
        session = self.endpoint.open_session(agent_id="preflight", task_id="preflight")
        ticket = self.endpoint.ticket(session)
        try:
            futures = [self.client.submit(ensure_checked, sandbox=self.sandbox, ticket=ticket,
                                          key=f"qdagents-preflight-{uuid.uuid4().hex}",
                                          workers=[address], allow_other_workers=False,
                                          pure=False)
                       for address in workers]
            checks = []
            for address, future in zip(workers, futures):
                try:
                    checks.append(future.result(timeout=timeout))
                except TimeoutError:
                    raise WorkerUnusable(address, [f"its preflight did not finish in {timeout:g}s"
                                                   ]) from None
        finally:
            self.endpoint.discard(session)
        bad = [check for check in checks if not check.ok]
        if bad:
            problems = [f"{c.worker}: {'; '.join(c.problems)}" for c in bad[1:]]
            raise WorkerUnusable(bad[0].worker, bad[0].problems + (
                [f"and {len(problems)} more unusable worker(s): {' | '.join(problems)}"]
                if problems else []))
        return checks

    def run_tasks(self, agent_id: str, agent_files: dict[str, str], tasks: list, *,
                  new_meter: Callable[[], Meter] = Meter) -> list:
        """Runs ``tasks`` of one agent at once on the cluster; results come in task order.

        ``new_meter`` makes the meter of one attempt of one task (with the per-task budget
        inside the evaluation's). A task whose worker died more often than Dask allows
        (``distributed.scheduler.allowed-failures``) is a failed task with that reason; any
        other failure is not the agent's and is raised, so the evaluation is not scored.

        Raises:
            WorkerUnusable: a worker failed its preflight on taking one of the tasks.
            Exception: the cluster failed otherwise (scheduler lost, a bug on a worker).
        """
        from distributed import KilledWorker, wait

        from qdagents.evaluation import TaskResult

        sessions = [self.endpoint.open_session(agent_id=agent_id, task_id=task.id,
                                               new_meter=new_meter) for task in tasks]
        futures = []
        try:
            for task, session in zip(tasks, sessions):
                work = TaskWork.of(agent_id=agent_id, agent_files=agent_files, task=task,
                                   sandbox=self.sandbox, agent_limits=self.agent_limits,
                                   test_limits=self.test_limits,
                                   ticket=self.endpoint.ticket(session))
                futures.append(self.client.submit(
                    run_task, work, key=f"qdagents-task-{agent_id[:10]}-{task.id}-{session.id[:8]}",
                    pure=False, retries=0))
            wait(futures)
            results = []
            for task, session, future in zip(tasks, sessions, futures):
                try:
                    outcome = future.result()
                except KilledWorker as exc:   # its workers kept dying: perhaps the agent's doing
                    log.warning("task %s of agent %s: %s", task.id, agent_id, exc)
                    results.append(TaskResult(
                        task_id=task.id, passed=False,
                        reason=f"the task was given up: its worker died {allowed_failures() + 1} "
                               "time(s), more than distributed.scheduler.allowed-failures allows"))
                    continue
                meter = self.endpoint.finish(session, attempt=outcome.attempt,
                                             lost=outcome.lost_calls)
                results.append(metered(outcome.result, meter))
            return results
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
            for session in sessions:
                self.endpoint.discard(session)

    def run_workshop(self, *, step: int, label: str, agent_files: dict[str, str],
                     workspace: dict[str, str], problem: str,
                     new_meter: Callable[[], Meter] = Meter) -> dict[str, str]:
        """Runs an agent on ``workspace`` on a worker; returns the workspace's files afterwards
        (its calls are recorded under ``label`` and task ``self-modify-<step>``).

        Raises:
            WorkerUnusable: the worker failed its preflight.
            Exception: whatever made the cluster give up on it (the emitter's failure).
        """
        session = self.endpoint.open_session(agent_id=label, task_id=f"self-modify-{step}",
                                             new_meter=new_meter)
        work = WorkshopWork(label=label, step=step, agent_files=agent_files, workspace=workspace,
                            problem=problem, sandbox=self.sandbox, agent_limits=self.agent_limits,
                            ticket=self.endpoint.ticket(session))
        future = self.client.submit(run_workshop, work, pure=False, retries=0,
                                    key=f"qdagents-workshop-{step}-{session.id[:8]}")
        try:
            outcome = future.result()
            self.endpoint.finish(session, attempt=outcome.attempt, lost=outcome.lost_calls)
            return outcome.result
        finally:
            if not future.done():
                future.cancel()
            self.endpoint.discard(session)


class DaskWorkshop:
    """:class:`qdagents.components.AgentWorkshop` on a Dask worker: DGM-style self-modification
    without a sandbox on the controller.

    Args:
        runner: The run's :class:`DaskTaskRunner`.
        step: The proposal's step.
        seed_agent: The seed agent's folder (the editor of ``meta_agent=seed``); default the
            built-in one.
    """

    def __init__(self, runner: DaskTaskRunner, *, step: int, seed_agent: str | None = None):
        from qdagents.agents import read_folder
        from qdagents.components import seed_agent_dir

        self.runner, self.step = runner, step
        self.seed_files = read_folder(seed_agent or seed_agent_dir())

    def run(self, agent_files: dict[str, str], workspace: dict[str, str], problem: str, *,
            label: str) -> dict[str, str]:
        return self.runner.run_workshop(step=self.step, label=label, agent_files=agent_files,
                                        workspace=workspace, problem=problem)
