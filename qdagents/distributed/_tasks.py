"""Running an agent's tasks on a Dask cluster: one Dask task per task of the agent.

The controller submits a stage's tasks at once and takes their results as they come, so the stage
takes the time of its slowest task when workers are free, staged evaluation still stops early (the
next stage is submitted only if this one passed), and an agent whose first tasks fail the same way
is stopped as soon as those are known (the evaluator's ``stop``), not after the whole stage. Each
task has a relay session; its result is measured with the controller's meter of the attempt that
came back, so a task Dask re-ran after its worker died is counted once, while the lost attempt's
LLM calls stay recorded and charged to the run.

A failure of the cluster itself (the scheduler lost, a comm closed, futures cancelled, an
exception raised on a worker) says nothing of the agent: it is raised as
:class:`~qdagents.evaluation.EvaluationUnavailable`, which the run lets through (a bare exception
would be recorded as a fitness-0 "internal error" evaluation), so the run stops and the agent stays
pending for ``qdagents resume``.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from typing import Callable

from qdagents.distributed._cluster import DaskCluster
from qdagents.distributed._relay import RelayEndpoint
from qdagents.distributed._work import (TaskWork, WorkerCheck, WorkerUnusable, WorkshopWork,
                                        ensure_checked, run_task, run_workshop,
                                        unavailable_here, without_solution)
from qdagents.evaluation import EvaluationUnavailable, metered
from qdagents.llm import Meter
from qdagents.sandbox import Limits

__all__ = ["DaskTaskRunner"]

log = logging.getLogger(__name__)

#: Seconds a worker's preflight may take (docker may have to start its first container).
PREFLIGHT_SECONDS = 300.0


@contextmanager
def cluster_faults(doing: str):
    """Re-raises a failure inside as :class:`EvaluationUnavailable` ("the Dask cluster failed
    <doing>: ..."): it is the cluster's, not the agent's, so the evaluation must not be scored.
    Only Dask calls go inside. A ``KilledWorker`` passes (its workers kept dying: perhaps the
    agent's doing, which the caller turns into a recorded failure)."""
    from distributed import KilledWorker

    try:
        yield
    except (EvaluationUnavailable, KilledWorker):   # WorkerUnusable says which worker and why
        raise
    except Exception as exc:
        said = " ".join(str(exc).split())   # Dask's messages span lines; the CLI prints one
        raise EvaluationUnavailable(f"the Dask cluster failed {doing}: "
                                    f"{type(exc).__name__}: {said}") from exc


def given_up(exc) -> str:
    """What a ``KilledWorker`` says, in a line: how often workers died running the task."""
    allowed = int(exc.allowed_failures)
    last = getattr(exc.last_worker, "address", exc.last_worker)
    return (f"its worker died {allowed + 1} time(s) running it, more than "
            f"distributed.scheduler.allowed-failures ({allowed}) allows; the last was {last}")


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
        self.cluster: DaskCluster | None = None   # owned (closed with the runner) when started

    @classmethod
    def start(cls, *, gateway, sandbox: dict, agent_limits: Limits, test_limits: Limits,
              address: str | None = None, local_workers: int = 4, threads_per_worker: int = 1,
              min_workers: int = 1, connect_timeout: float = 60.0, relay_host: str | None = None,
              relay_port: int = 0, tls=None) -> DaskTaskRunner:
        """Connects to the cluster at ``address`` (or starts a LocalCluster of ``local_workers``
        processes), opens the relay endpoint for ``gateway`` and checks every worker; the
        arguments are the ``executor`` config group's (``conf/executor/dask.yaml``).

        Raises:
            WorkerUnusable: a worker failed its preflight (the run must not start).
            RuntimeError: no cluster, or too few workers, within ``connect_timeout``.
        """
        cluster = DaskCluster(address=address, workers=local_workers,
                              threads_per_worker=threads_per_worker, tls=tls,
                              min_workers=min_workers, timeout=connect_timeout)
        try:
            endpoint = RelayEndpoint(gateway, host=relay_host or cluster.relay_host(),
                                     port=relay_port, tls_context=cluster.relay_tls_context())
        except BaseException:
            cluster.close()
            raise
        runner = cls(client=cluster.client, endpoint=endpoint, sandbox=sandbox,
                     agent_limits=agent_limits, test_limits=test_limits)
        runner.cluster = cluster
        try:
            runner.preflight()
        except BaseException:
            runner.close()
            raise
        return runner

    def close(self) -> None:
        """Closes the relay endpoint and, when this runner started it, the cluster."""
        try:
            self.endpoint.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def __repr__(self) -> str:
        where = self.cluster if self.cluster is not None else self.client
        return f"DaskTaskRunner({where}, relay {self.endpoint.host}:{self.endpoint.port})"

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

    def unavailable(self, tasks: list) -> dict[str, str]:
        """Task id -> why it cannot run on some worker now (its image is missing there): any
        worker may be given any task, so a task one worker cannot run is left out of the suite
        (:attr:`qdagents.evaluation.Evaluator.unavailable`), rather than scored 0 there."""
        stripped = [without_solution(task) for task in tasks]
        futures = {address: self.client.submit(
            unavailable_here, self.sandbox, stripped, key=f"qdagents-available-{uuid.uuid4().hex}",
            workers=[address], allow_other_workers=False, pure=False)
            for address in self.client.scheduler_info(n_workers=-1)["workers"]}
        found: dict[str, str] = {}
        for address, future in futures.items():
            for task_id, why in future.result(timeout=PREFLIGHT_SECONDS).items():
                found.setdefault(task_id, f"on worker {address}: {why}")
        return found

    def run_tasks(self, agent_id: str, agent_files: dict[str, str], tasks: list, *,
                  new_meter: Callable[[], Meter] = Meter,
                  stop: Callable[[list], bool] | None = None) -> list:
        """Runs ``tasks`` of one agent at once on the cluster; results come in task order.

        ``new_meter`` makes the meter of one attempt of one task (with the per-task budget
        inside the evaluation's). ``stop(results)``, asked of each longer run of results known
        from the first task on, says the evaluation ends there (an early stop): those results
        are returned and the other tasks are cancelled, so the agent gets what a local run,
        which asks after each task, gives. A task whose worker died more often than Dask allows
        (``distributed.scheduler.allowed-failures``) is a failed task with that reason; any
        other failure is not the agent's and is raised, so the evaluation is not scored.

        Raises:
            WorkerUnusable: a worker failed its preflight on taking one of the tasks.
            EvaluationUnavailable: the cluster failed otherwise (scheduler lost, a bug on a
                worker): the run stops and the agent is evaluated on resume.
        """
        from distributed import wait

        sessions = [self.endpoint.open_session(agent_id=agent_id, task_id=task.id,
                                               new_meter=new_meter) for task in tasks]
        futures = []
        doing = f"running agent {agent_id}'s tasks"
        try:
            for task, session in zip(tasks, sessions):
                work = TaskWork.of(agent_id=agent_id, agent_files=agent_files, task=task,
                                   sandbox=self.sandbox, agent_limits=self.agent_limits,
                                   test_limits=self.test_limits,
                                   ticket=self.endpoint.ticket(session))
                with cluster_faults(doing):
                    futures.append(self.client.submit(
                        run_task, work, pure=False, retries=0,
                        key=f"qdagents-task-{agent_id[:10]}-{task.id}-{session.id[:8]}"))
            index = {future.key: i for i, future in enumerate(futures)}
            results: list = [None] * len(tasks)
            known, pending = 0, set(futures)
            while pending:
                with cluster_faults(doing):
                    finished, pending = wait(pending, return_when="FIRST_COMPLETED")
                for future in finished:
                    i = index[future.key]
                    results[i] = self._result(future, tasks[i], sessions[i], agent_id, doing)
                while known < len(tasks) and results[known] is not None:
                    known += 1
                    if stop is not None and stop(results[:known]):
                        return results[:known]
            return results
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
            for session in sessions:
                self.endpoint.discard(session)

    def _result(self, future, task, session, agent_id: str, doing: str):
        """The TaskResult of a finished task, metered at home; a failed one when Dask gave it up."""
        from distributed import KilledWorker

        from qdagents.evaluation import TaskResult

        try:
            with cluster_faults(doing):
                outcome = future.result()
        except KilledWorker as exc:
            log.warning("task %s of agent %s: %s", task.id, agent_id, exc)
            return TaskResult(task_id=task.id, passed=False,
                              reason=f"the task was given up: {given_up(exc)}")
        meter = self.endpoint.finish(session, attempt=outcome.attempt, lost=outcome.lost_calls)
        return metered(outcome.result, meter)

    def run_workshop(self, *, step: int, label: str, agent_files: dict[str, str],
                     workspace: dict[str, str], problem: str,
                     new_meter: Callable[[], Meter] = Meter) -> dict[str, str]:
        """Runs an agent on ``workspace`` on a worker; returns the workspace's files afterwards
        (its calls are recorded under ``label`` and task ``self-modify-<step>``).

        Raises:
            EmitFailure: its workers kept dying (perhaps the agent's doing): a failed proposal.
            WorkerUnusable: the worker failed its preflight.
            EvaluationUnavailable: the cluster failed otherwise; the run stops (resumable).
        """
        from distributed import KilledWorker

        from qdagents.emitters import EmitFailure

        session = self.endpoint.open_session(agent_id=label, task_id=f"self-modify-{step}",
                                             new_meter=new_meter)
        work = WorkshopWork(label=label, step=step, agent_files=agent_files, workspace=workspace,
                            problem=problem, sandbox=self.sandbox, agent_limits=self.agent_limits,
                            ticket=self.endpoint.ticket(session))
        future = None
        try:
            with cluster_faults(f"running step {step}'s self-modification"):
                future = self.client.submit(run_workshop, work, pure=False, retries=0,
                                            key=f"qdagents-workshop-{step}-{session.id[:8]}")
                outcome = future.result()
        except KilledWorker as exc:
            raise EmitFailure(f"the self-modification was given up: {given_up(exc)}") from exc
        else:
            self.endpoint.finish(session, attempt=outcome.attempt, lost=outcome.lost_calls)
            return outcome.result
        finally:
            if future is not None and not future.done():
                future.cancel()
            self.endpoint.discard(session)
