"""One runner: drives a source of plans with workers, budgets, progress and the run database.

The source is the :class:`~qdagents.scheduler.Scheduler` (or, to replay a recorded run, a
:class:`~qdagents.replay.ReplaySource` with the same interface). The main thread alone asks,
tells and writes to ``run.sqlite``, each decision the moment it is made; an :class:`Executor`
runs the slow work: making a child (an emitter's LLM calls, or a DGM self-modification in the
sandbox, :class:`ChildMaker`) and evaluating an agent (:class:`AgentEvaluation`). A killed run is
resumed by telling the recorded history to a fresh scheduler and evaluating the agents that were
created but not yet evaluated: only the work in flight is lost.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from qdagents.agents import AgentStore
from qdagents.descriptors import code_text
from qdagents.emitters import EmitFailure, Parent
from qdagents.evaluation import Evaluation, EvaluationUnavailable
from qdagents.llm import LLMFault
from qdagents.scheduler import Plan, Result, Told

log = logging.getLogger(__name__)

#: Proposals in a row that produce no new agent (every edit failing or a duplicate) before the run
#: stops: otherwise a run with only an evaluation budget could spin for ever.
MAX_BARREN_PROPOSALS = 50

#: Consecutive evaluations that fail inside qdagents itself (not the agent's fault) before the run
#: stops: a broken sandbox should stop the run, not burn the budget.
MAX_INTERNAL_ERRORS = 5


class ProviderPaused(EvaluationUnavailable):
    """The provider spoiled work that a wait did not heal, or cannot be used at all (a bad key,
    no credit, an unknown model): the run stops as if killed, with nothing told that the
    provider spoiled, and ``qdagents resume`` evaluates those agents again."""


class Executor(Protocol):
    """Where the slow work runs: ``workers`` calls at a time (threads; with ``executor=dask``
    each evaluation's tasks go on to the cluster through the evaluator's task runner).

    ``submit`` returns a future (``result()``, ``cancel()``); ``wait`` blocks until at least
    one of ``futures`` is done and returns the done ones.
    """

    workers: int

    def submit(self, fn: Callable, /, *args) -> Future: ...

    def wait(self, futures) -> set: ...

    def shutdown(self, *, cancel: bool) -> None: ...


class ThreadExecutor:
    """An :class:`Executor` of ``workers`` threads in this process."""

    def __init__(self, workers: int):
        self.workers = int(workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="qdagents")

    def submit(self, fn: Callable, /, *args) -> Future:
        return self._pool.submit(fn, *args)

    def wait(self, futures) -> set:
        return wait(futures, return_when=FIRST_COMPLETED).done

    def shutdown(self, *, cancel: bool) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)


class Source(Protocol):
    """Where the runner's plans come from: the scheduler (:class:`SchedulerSource`), or a replay
    of a recorded run (:class:`qdagents.replay.ReplaySource`).

    ``tell`` returns what was told to the archive (a replay may hold a result back and tell it
    later, in the recorded order); ``unstick`` is called when nothing is in flight and ``ask``
    gives nothing, to tell what it still can (None: nothing more will come); ``stop_reason``
    stops the run from the source's side; ``follows_budget`` says whether the run's budgets
    apply.
    """

    follows_budget: bool

    def ask(self) -> Plan | None: ...

    def tell(self, result: Result) -> list[Told]: ...

    def unstick(self) -> list[Told] | None: ...

    def stop_reason(self) -> str | None: ...


class SchedulerSource:
    """The scheduler as the runner's source: every result is told at once; budgets stop it."""

    follows_budget = True

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def ask(self) -> Plan | None:
        return self.scheduler.ask()

    def tell(self, result: Result) -> list[Told]:
        return [self.scheduler.tell(result)]

    def unstick(self) -> list[Told] | None:
        return None

    def stop_reason(self) -> str | None:
        return None


@dataclass(frozen=True)
class Made:
    """What making a plan's child gave: a stored agent, or why there is none."""

    plan: Plan
    status: str                     # created | failed | rejected | lost (``fault`` says why)
    agent_id: str | None = None
    commit: str | None = None
    note: str = ""
    reason: str | None = None
    target: str | None = None
    fault: str | None = None        # the provider spoiled an emitter call: its fault class
    cost_usd: float = 0.0           # what the emitter's LLM calls for this child cost


class ChildMaker:
    """Makes a plan's child: shows its parents to the emitter, stores the code (on a worker).

    Args:
        emitters: ``{name: Emitter}``.
        store: The run's agent store.
        db: The run database (read here: the parents' task results, for their feedback).
        complete: ``(messages, *, seed, agent_id) -> response body``: the emitters' model
            through the gateway.
        workshop: ``step -> Workshop`` for emitters that run agents (DGM self-modification).
        novelty_filter: Rejects a child too similar to the elites (``too_similar``), or None.
        feedback: What an emitter may learn of a parent's failed tasks
            (:data:`qdagents.tasks.FEEDBACK_MODES`; ``names`` by default: never a hidden test's
            source or expected values, never a held-out task).
    """

    def __init__(self, *, emitters: dict, store: AgentStore, db, complete: Callable,
                 workshop: Callable, novelty_filter=None, feedback: str = "names"):
        self.emitters, self.store, self.db = emitters, store, db
        self.complete, self.workshop, self.novelty_filter = complete, workshop, novelty_filter
        self.feedback = feedback

    def parent(self, record: dict, names: list[str]) -> Parent:
        """A parent as its emitter sees it: code, measured fitness and descriptors, and one line
        per failed task that was not held out (:func:`qdagents.tasks.task_feedback`)."""
        from qdagents.tasks import task_feedback

        feedback = task_feedback(self.db.task_results(record["id"]), mode=self.feedback)
        return Parent(id=record["id"], files=self.store.files(record["id"]),
                      fitness=record["fitness"],
                      descriptors=dict(zip(names, record["descriptors"])), feedback=feedback)

    def __call__(self, plan: Plan, names: list[str], neighbours: tuple[str, ...]) -> Made:
        from qdagents.llm import Meter

        meter = Meter()        # what this child's emitter calls cost (a model bandit's price)
        try:
            return dataclasses.replace(self._make(plan, names, neighbours, meter),
                                       cost_usd=meter.cost_usd)
        except EmitFailure as exc:
            return Made(plan, "failed", reason=str(exc), target=plan.target,
                        cost_usd=meter.cost_usd)
        except LLMFault as exc:       # the provider's fault: the emitter is not to blame
            return Made(plan, "lost", reason=f"{type(exc).__name__}: {exc}"[:400],
                        target=plan.target, fault=exc.fault, cost_usd=meter.cost_usd)
        except EvaluationUnavailable:   # a cluster worker that cannot run agents: stop the run
            raise
        except Exception as exc:   # a bug of ours must not end the run; record it
            log.error("internal error in step %s:\n%s", plan.step, traceback.format_exc())
            return Made(plan, "failed", reason=f"internal error: {exc!r}", target=plan.target)

    def _make(self, plan: Plan, names: list[str], neighbours: tuple[str, ...], meter) -> Made:
        parents = [self.parent(p, names) for p in plan.parents]
        rng = plan.rng()
        call_seed = int(rng.integers(2**31))
        emitter = self.emitters[plan.emitter]
        proposal = emitter.propose(
            parents, rng=rng, target=plan.target,
            complete=lambda messages: self.complete(messages, seed=call_seed,
                                                    agent_id=parents[0].id, model=plan.model,
                                                    meter=meter),
            workshop=self.workshop(plan.step) if emitter.needs_workshop else None)
        if self.novelty_filter is not None:
            too_similar = self.novelty_filter.too_similar(
                proposal.files, (self.store.files(i) for i in neighbours))
            if too_similar:
                return Made(plan, "rejected", reason=too_similar, target=proposal.target)
        agent_id, commit = self.store.add(proposal.files, parents=plan.parent_ids,
                                          message=f"{plan.emitter}: {proposal.message}")
        return Made(plan, "created", agent_id=agent_id, commit=commit, note=proposal.message,
                    target=proposal.target)


class AgentEvaluation:
    """Evaluates a plan's agent on the task suite (on a worker); every fault is an Evaluation.

    Args:
        evaluator: ``evaluate(agent_id, agent_dir) -> Evaluation``.
        store: The run's agent store (the agent is exported from it into a temporary folder).
        embed: ``agent_id -> embedding`` when a descriptor is measured against the archive from
            the code's embedding (code novelty), else None.
    """

    def __init__(self, *, evaluator, store: AgentStore, embed: Callable | None = None):
        self.evaluator, self.store, self.embed = evaluator, store, embed

    def __call__(self, plan: Plan) -> Evaluation:
        try:
            with tempfile.TemporaryDirectory(prefix="qdagents-agent-") as tmp:
                agent_dir = self.store.export(plan.agent_id, Path(tmp) / "agent")
                evaluation = self.evaluator.evaluate(plan.agent_id, agent_dir)
            if self.embed is not None and not evaluation.failure:
                evaluation.embedding = self.embed(plan.agent_id)
            return evaluation
        except EvaluationUnavailable:   # not the agent's doing: the run stops, it stays pending
            raise
        except Exception as exc:   # a bug of ours must not end the run; record it
            log.error("internal error in step %s:\n%s", plan.step, traceback.format_exc())
            return failed_evaluation(plan.agent_id, f"internal error: {exc!r}")


def failed_evaluation(agent_id: str, failure: str) -> Evaluation:
    return Evaluation(agent_id=agent_id, fitness=0.0, descriptors=[], descriptor_values={},
                      tasks=[], stage=0, failure=failure)


def code_embedder(gateway, store: AgentStore, model: str) -> Callable:
    """``agent_id -> embedding`` of the agent's code through the gateway (recorded, so a resume
    or a replay reads it back instead of asking the provider again)."""
    from qdagents.llm import Meter

    def embed(agent_id: str) -> list[float]:
        return gateway.embed([code_text(store.files(agent_id))], model=model, meter=Meter(),
                             agent_id=agent_id)[0]
    return embed


class Runner:
    """Drives ``source`` until a budget, the source, or a fault stops it.

    Args:
        source: Where plans come from (:class:`Source`).
        scheduler: The scheduler behind the source (told the history on resume; its archive
            gives the statistics).
        db: The run database, written as things happen.
        store: The run's agent store.
        make: A :class:`ChildMaker`; evaluate: an :class:`AgentEvaluation`.
        executor: Where ``make`` and ``evaluate`` run.
        budget: ``{evaluations, tokens, usd, seconds}`` (each may be None).
        progress: A :class:`qdagents.progress.Progress`.
        seed_agent: The folder of the seed agent (stored as step 0 of a new run).
        novelty_filter: True to hand the maker the elites' ids with each plan.
        embed: ``agent_id -> code embedding`` when a descriptor is measured against the archive
            (a resume gives the recorded agents theirs again), else None.
        fault_retries: How many times in a row work the provider spoiled (an evaluation, or an
            emitter's call) is tried again, after ``fault_backoff`` seconds doubling each time,
            before the run pauses (:class:`ProviderPaused`).
    """

    def __init__(self, *, source, scheduler, db, store: AgentStore, make: ChildMaker,
                 evaluate: AgentEvaluation, executor: Executor, budget: dict, progress,
                 seed_agent: Path, novelty_filter: bool = False, embed: Callable | None = None,
                 fault_retries: int = 2, fault_backoff: float = 10.0):
        self.source, self.scheduler, self.db, self.store = source, scheduler, db, store
        self.make, self.evaluate, self.executor = make, evaluate, executor
        self.budget, self.progress, self.seed_agent = budget, progress, Path(seed_agent)
        self.novelty_filter, self.embed = novelty_filter, embed
        self.names = [axis.name for axis in scheduler.archive.specs]
        self.evaluated = self.failures = 0
        self.first_failure: str | None = None
        self._internal_errors = self._barren = 0
        self.fault_retries, self.fault_backoff = fault_retries, fault_backoff
        self._faults = 0                  # provider faults in a row
        self._retry: list[Plan] = []      # evaluations the provider spoiled, to run again
        self._quiet_until = 0.0           # no new work before this (monotonic): backing off
        self._fault_halt: str | None = None
        self._emit_cost: dict[int, float] = {}   # step -> its emitter calls' cost, until told
        self._started: dict[int, float] = {}    # step -> when its work began
        self._elapsed_before = float(db.get_meta("elapsed_seconds", 0.0))
        self._clock = time.monotonic()

    # ------------------------------------------------------------------------------------------
    def run(self) -> str:
        """Runs until something stops it; returns why it stopped."""
        self.db.set_meta("status", "running")
        queue = self.restore()
        in_flight: dict[Future, Plan] = {}
        halt = None   # a reason to stop that does not go away (unlike "budget reached")
        try:
            while True:
                while (halt is None and len(in_flight) < self.executor.workers
                       and time.monotonic() >= self._quiet_until
                       and self._stop_reason(len(in_flight)) is None):
                    if self._retry:
                        self._submit_evaluation(in_flight, self._retry.pop(0))
                        continue
                    if queue:
                        self._submit_evaluation(in_flight, queue.pop(0))
                        continue
                    plan = self.source.ask()
                    if plan is None:
                        break
                    self._submit_make(in_flight, plan)
                if not in_flight and halt is None and time.monotonic() < self._quiet_until:
                    time.sleep(self._quiet_until - time.monotonic())     # the backoff
                    continue
                if not in_flight:
                    told = self.source.unstick() if halt is None else None
                    if told is not None:
                        for item in told:
                            self._record(item)
                        continue
                    stop = halt or self._stop_reason(0) or self._why_empty()
                    break
                for future in self.executor.wait(list(in_flight)):
                    plan = in_flight.pop(future)
                    if plan.agent_id is None:
                        self._made(in_flight, future.result())
                    else:
                        self._evaluated(plan, future.result())
                halt = halt or self._halt_reason()
        except BaseException:
            self.executor.shutdown(cancel=True)
            self._save_elapsed("interrupted")
            raise
        self.executor.shutdown(cancel=False)
        self._save_elapsed("finished")
        self.progress.update(self.status(), final=True)
        self.db.set_meta("stop_reason", stop)
        return stop

    # -- submitting work ---------------------------------------------------------------------------
    def _submit_make(self, in_flight: dict, plan: Plan) -> None:
        # the step is reserved now, so a kill leaves it marked (and a resume releases it)
        self.db.add_proposal(step=plan.step, emitter=plan.emitter, parents=plan.parent_ids,
                             status="in_flight", parent_elite=plan.parent_elite)
        neighbours = (tuple(e["id"] for e in self.scheduler.archive.elites())
                      if self.novelty_filter else ())
        self._started[plan.step] = time.time()
        in_flight[self.executor.submit(self.make, plan, self.names, neighbours)] = plan

    def _submit_evaluation(self, in_flight: dict, plan: Plan) -> None:
        """The one place an evaluation is handed to the executor."""
        self._started.setdefault(plan.step, time.time())
        in_flight[self.executor.submit(self.evaluate, plan)] = plan

    # -- results ---------------------------------------------------------------------------------
    def _made(self, in_flight: dict, made: Made) -> None:
        plan = made.plan
        record = dict(step=plan.step, emitter=plan.emitter, parents=plan.parent_ids,
                      parent_elite=plan.parent_elite, target=made.target, model=plan.model,
                      cost_usd=made.cost_usd)
        if made.fault:      # the provider's doing, not the emitter's: not told, not barren
            self.db.add_proposal(**record, status="lost", reason=made.reason)
            self._started.pop(plan.step, None)
            self._provider_fault(made.fault, f"step {plan.step}'s emitter call: {made.reason}")
            return
        if made.status == "created":
            if self.db.add_agent(agent_id=made.agent_id, commit_sha=made.commit,
                                 parents=plan.parent_ids, emitter=plan.emitter, step=plan.step,
                                 note=made.note):
                self.db.add_proposal(**record, status="created", agent_id=made.agent_id)
                self._emit_cost[plan.step] = made.cost_usd
                self._submit_evaluation(in_flight, dataclasses.replace(
                    plan, agent_id=made.agent_id, target=made.target))
                return
            self.db.add_proposal(**record, status="duplicate", agent_id=made.agent_id)
            status = "duplicate"
        else:
            self.db.add_proposal(**record, status=made.status, reason=made.reason)
            status = made.status
        self._barren += 1
        self._started.pop(plan.step, None)
        for told in self.source.tell(Result(plan, status=status, target=made.target,
                                            cost_usd=made.cost_usd)):
            self._record(told)

    def _evaluated(self, plan: Plan, evaluation: Evaluation) -> None:
        """An evaluation came back. One the provider spoiled says nothing of the agent: it is
        not told (no archive, no fitness, no budget used) but tried again, and the agent stays
        pending in the run database until an evaluation of its own is told."""
        if evaluation.infra_failure:
            self._retry.append(plan)
            self._provider_fault(evaluation.infra_failure,
                                 f"agent {evaluation.agent_id}'s evaluation: {evaluation.failure}")
            return
        self._barren = self._faults = 0
        cost = self._emit_cost.pop(plan.step, 0.0)
        for told in self.source.tell(Result(plan, evaluation=evaluation, target=plan.target,
                                            cost_usd=cost)):
            self._record(told)

    def _provider_fault(self, fault: str, what: str) -> None:
        """Backs off, or stops: ``fatal`` at once, ``provider`` after ``fault_retries`` waits
        that did not heal it, ``budget`` as a budget does (the work stays pending)."""
        if fault == "budget":
            self._fault_halt = f"the run's budget was used up during {what}"
            return
        self._faults += 1
        if fault != "provider" or self._faults > self.fault_retries:
            why = "cannot be used" if fault != "provider" else \
                f"failed {self._faults} times in a row"
            raise ProviderPaused(f"the provider {why} (last: {what}); nothing it spoiled was "
                                 "scored")
        wait = self.fault_backoff * 2 ** (self._faults - 1)
        self._quiet_until = time.monotonic() + wait
        self.progress.message(f"provider fault ({what}); trying again in {wait:.0f} s")

    def _record(self, told: Told) -> None:
        """Writes what a tell did: the evaluation, the insertion, the landing, the statistics."""
        plan, evaluation = told.result.plan, told.evaluation
        if evaluation is None:
            return
        started = self._started.pop(plan.step, time.time())
        seq = self.db.add_evaluation(evaluation, started=started)
        internal = (evaluation.failure or "").startswith("internal error")
        self._internal_errors = self._internal_errors + 1 if internal else 0
        self._count(evaluation)
        if told.insertion is not None:
            self.db.add_insertion(seq=seq, agent_id=evaluation.agent_id,
                                  status=told.insertion.status, cell=told.insertion.cell,
                                  fitness=evaluation.fitness, parent_elite=plan.parent_elite)
        if told.landed is not None:
            self.db.set_landed(plan.step, told.landed)
        stats, totals = self.scheduler.archive.stats, self.db.llm_totals()
        self.db.add_archive_stats(seq=seq, elites=stats["elites"], coverage=stats["coverage"],
                                  qd_score=stats["qd_score"], best=stats["best"] or 0.0,
                                  tokens=totals["tokens"], cost_usd=totals["cost_usd"],
                                  seconds=self.elapsed())
        self.progress.update(self.status())

    def _count(self, evaluation) -> None:
        self.evaluated += 1
        if evaluation.failure:
            self.failures += 1
            self.first_failure = self.first_failure or evaluation.failure

    # -- resume -----------------------------------------------------------------------------------
    def restore(self) -> list[Plan]:
        """Tells the run database's history to the scheduler (once, when the run starts: the
        resume of a stopped or killed run), releases proposals that were in flight, and returns
        the plans to evaluate first: agents created but never evaluated, or the seed agent."""
        barren, evaluated = self.db.history()
        seed = self.scheduler.seed
        for item in barren:
            self.scheduler.tell(Result(self._plan(item, seed), status=item["status"],
                                       cost_usd=item.get("cost_usd") or 0.0), recorded=True)
        embed = self.embed
        for item in evaluated:
            evaluation = Evaluation(agent_id=item["agent_id"], fitness=item["fitness"],
                                    descriptors=item["descriptors"] or [], descriptor_values={},
                                    tasks=[], stage=item["stage"], failure=item["failure"])
            if embed is not None and not evaluation.failure:
                evaluation.embedding = embed(evaluation.agent_id)
            self.scheduler.tell(Result(self._plan(item, seed), evaluation=evaluation,
                                       target=item["target"], cost_usd=item.get("cost_usd") or 0.0),
                                recorded=True)
            self._count(evaluation)
        self.scheduler.next_step = max(self.scheduler.next_step, self.db.next_step())
        self.db.mark_lost()
        pending = self.db.pending()
        queue = [dataclasses.replace(self._plan(item, seed), agent_id=item["agent_id"])
                 for item in pending]
        self._emit_cost.update({item["step"]: item.get("cost_usd") or 0.0 for item in pending})
        if not self.db.count_agents():
            agent_id, commit = self.store.add_folder(self.seed_agent, message="seed agent")
            self.db.add_agent(agent_id=agent_id, commit_sha=commit, parents=[], emitter="seed",
                              step=0)
            self.db.add_proposal(step=0, emitter="seed", parents=[], status="created",
                                 agent_id=agent_id)
            queue.append(Plan(step=0, emitter="seed", seed=seed, agent_id=agent_id))
        elif queue:
            self.progress.message(f"resuming: {len(queue)} agent(s) created but not evaluated")
        return queue

    def _plan(self, item: dict, seed: int) -> Plan:
        parents = tuple(self.scheduler.evaluated(p) or {"id": p, "fitness": 0.0,
                                                         "descriptors": [], "seq": 0}
                        for p in item["parents"])
        return Plan(step=item["step"], emitter=item["emitter"], parents=parents,
                    parent_elite=item["parent_elite"], target=item["target"], seed=seed,
                    model=item.get("model"))

    # -- stopping ---------------------------------------------------------------------------------
    def _stop_reason(self, pending: int) -> str | None:
        """Why no further work may start, with ``pending`` evaluations still to finish."""
        reason = self.source.stop_reason()
        if reason or not self.source.follows_budget:
            return reason
        budget, totals = self.budget, self.db.llm_totals()
        if budget.get("evaluations") is not None and \
                self.evaluated + pending >= budget["evaluations"]:
            return f"evaluation budget ({budget['evaluations']}) reached"
        if budget.get("tokens") is not None and totals["tokens"] >= budget["tokens"]:
            return f"token budget ({budget['tokens']}) reached"
        if budget.get("usd") is not None and totals["cost_usd"] >= budget["usd"]:
            return f"USD budget ({budget['usd']}) reached"
        if budget.get("seconds") is not None and self.elapsed() >= budget["seconds"]:
            return f"time budget ({budget['seconds']} s) reached"
        return None

    def _halt_reason(self) -> str | None:
        if self._fault_halt:
            return self._fault_halt
        if self._internal_errors >= MAX_INTERNAL_ERRORS:
            return (f"{MAX_INTERNAL_ERRORS} evaluations in a row failed inside qdagents "
                    "(see the log)")
        if self._barren >= MAX_BARREN_PROPOSALS:
            return (f"{MAX_BARREN_PROPOSALS} proposals in a row made no new agent "
                    "(failed or duplicate edits: see the proposals table)")
        return None

    def _why_empty(self) -> str:
        detail = f": the first failure was: {self.first_failure}" if self.first_failure else ""
        return f"no agent in the archive to select from{detail}"

    # -- time and status --------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._clock

    def _save_elapsed(self, status: str) -> None:
        self.db.set_meta("elapsed_seconds", self.elapsed())
        self.db.set_meta("status", status)

    def status(self) -> dict:
        totals = self.db.llm_totals()
        return {**self.scheduler.archive.stats, "evaluated": self.evaluated,
                "tokens": totals["tokens"], "cost_usd": totals["cost_usd"],
                "failures": self.failures}
