"""The MAP-Elites loop over agents: steady state and asynchronous.

``workers`` jobs are in flight at once; each job makes one child (an emitter's LLM call) and
evaluates it in the sandbox. The main thread alone selects parents and tells the archive, as each
job finishes, so the archive never needs a lock. Everything is written to ``run.sqlite`` the moment
it happens: a killed run is resumed by replaying the evaluations into a fresh archive and
evaluating the agents that were created but not yet evaluated, losing only the work in flight.

Randomness is derived per step (``numpy.random.default_rng([seed, step])``), so no generator
state has to be saved for a resume.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qdagents.descriptors import code_text, novelty
from qdagents.emitters import (EmitFailure, NoveltyFilter, Parent, landed, make_emitter,
                      target_toward_empty_neighbour)
from qdagents.agents import AgentStore
from qdagents.archive import Archive
from qdagents.components import (AgentWorkshop, build_evaluator, build_gateway, descriptor_specs,
                                 seed_agent_dir)
from qdagents.evaluation import Evaluation
from qdagents.progress import Progress
from qdagents.replay import ReplayPlan
from qdagents.selection import Selection, curiosity_scores
from qdagents.store import RunDatabase

log = logging.getLogger(__name__)

#: Proposals in a row that produce no new agent (every edit failing or a duplicate) before the run
#: stops: otherwise a run with only an evaluation budget could spin for ever.
MAX_BARREN_PROPOSALS = 50

#: Consecutive evaluations that fail inside qdagents itself (not the agent's fault) before the run
#: stops: a broken sandbox should stop the run, not burn the budget.
MAX_INTERNAL_ERRORS = 5


@dataclass
class Job:
    """One unit of work for a worker: make a child (unless ``agent_id`` is given) and evaluate it."""

    step: int
    emitter: str | None = None
    parents: tuple[dict, ...] = ()
    parent_elite: bool | None = None
    agent_id: str | None = None
    target: str | None = None                 # descriptor target for a directed emitter
    neighbours: tuple[str, ...] = ()          # elites to compare with in the novelty filter


class Run:
    """A run of qdagents in ``run_dir`` with a validated config dict.

    Args:
        cfg: The resolved config (see ``conf/config.yaml``).
        run_dir: Where ``run.sqlite``, ``agents.git`` and ``plots/`` live.
        condition: The overrides that make this run's experimental condition (for reports), or
            its name.
    """

    def __init__(self, cfg: dict, run_dir: str | Path, *, condition: list[str] | str = "default"):
        from qdagents.llm import Budget

        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.db = RunDatabase(self.run_dir / "run.sqlite")
        self.store = AgentStore(self.run_dir / "agents.git")
        self.seed = int(cfg["seed"])
        self.specs = descriptor_specs(cfg)
        self.archive = Archive(specs=self.specs, seed=self.seed, **cfg["archive"])
        self.selection = Selection(**cfg["selection"],
                                   ranges=[(s.low, s.high) for s in self.specs])
        threshold = cfg.get("novelty_filter")
        self.novelty_filter = NoveltyFilter(threshold) if threshold is not None else None
        self.emitters = {name: make_emitter(spec["kind"], name=name, **{
            k: v for k, v in spec.items() if k not in ("kind", "weight")})
            for name, spec in cfg["emitters"].items()}
        weights = np.array([spec.get("weight", 1.0) for spec in cfg["emitters"].values()], float)
        self.emitter_weights = weights / weights.sum()

        budget = cfg["budget"]
        self.run_budget = Budget(tokens=budget.get("tokens"), usd=budget.get("usd"))
        spent = self.db.llm_totals()   # a resumed run continues from what it already used
        self.run_budget.charge(tokens=spent["tokens"], usd=spent["cost_usd"])
        self.gateway = build_gateway(cfg, db=self.db, run_budget=self.run_budget)
        self.evaluator = build_evaluator(cfg, gateway=self.gateway)
        self.progress = Progress(mode=cfg.get("progress", "auto"), budget=budget)
        self.failures = 0
        self._internal_errors = 0
        self._barren = 0
        llm = cfg["llm"]
        self.plan = (ReplayPlan(RunDatabase(llm["replay_from"]))
                     if llm["mode"] == "replay" and llm.get("replay_from") else None)
        self._held: dict[str, tuple] = {}   # replay: results waiting for their recorded turn
        names = [spec.name for spec in self.specs]
        self._novelty_axis = names.index("code_novelty") if "code_novelty" in names else None
        self._embeddings: dict[str, list[float]] = {}   # agent id -> code embedding
        self._elapsed_before = float(self.db.get_meta("elapsed_seconds", 0.0))
        self._started = time.monotonic()
        if self.db.get_meta("config") is None:
            self.db.set_meta("config", cfg)
            self.db.set_meta("seed", self.seed)
            if isinstance(condition, list):
                self.db.set_meta("condition_overrides", condition)
                condition = ",".join(condition) or "default"
            self.db.set_meta("condition", condition)
            self.db.set_meta("descriptors", [s.as_record() for s in self.specs])
            self.db.set_meta("suite", [t.id for t in self.evaluator.suite.tasks])

    # ------------------------------------------------------------------------------------------
    def execute(self) -> dict:
        """Runs (or continues) the loop until a budget is reached; returns the archive stats."""
        self.db.set_meta("status", "running")
        llm = self.cfg["llm"]
        self.progress.message(
            f"run {self.run_dir}: {len(self.evaluator.suite)} tasks ({self.evaluator.suite.name}), "
            f"sandbox {self.evaluator.sandbox.name}, agents' model {llm['agent_model']}, "
            f"emitters' model {llm['emitter_model']}, {self.cfg['workers']} worker(s)")
        self._restore_archive()
        queue = [Job(step=-1, agent_id=a) for a in self.db.pending_agents()]
        if not self.db.count_agents():
            queue.append(self._seed_job())
        elif queue:
            self.progress.message(f"resuming: {len(queue)} agent(s) created but not evaluated")
        in_flight: dict[Future, Job] = {}
        halt = None   # a reason to stop that does not go away (unlike "budget reached")
        workers = int(self.cfg["workers"])
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                while True:
                    while (halt is None and len(in_flight) < workers
                           and self._budget_reached(len(in_flight)) is None):
                        job = queue.pop(0) if queue else self._next_job()
                        if job is None:
                            break
                        in_flight[pool.submit(self._work, job)] = job
                    if not in_flight:
                        if halt is None and self.plan and (self._held or not self.plan.done):
                            self._unstick_replay()
                            continue
                        stop_reason = halt or self._budget_reached(0) or self._why_empty()
                        break
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        in_flight.pop(future)
                        self._tell(*future.result())
                    halt = halt or self._halt_reason()
            except KeyboardInterrupt:
                for future in in_flight:
                    future.cancel()
                self._save_elapsed("interrupted")
                self.progress.message(f"interrupted; continue with: qdagents resume {self.run_dir}")
                raise
        self._save_elapsed("finished")
        self.progress.update(self._status(), final=True)
        self.progress.message(f"stopped: {stop_reason or 'done'}")
        self.db.set_meta("stop_reason", stop_reason)
        if self.plan:
            self.db.set_meta("replay_diverged", self.plan.diverged)
        return self.archive.stats

    # ------------------------------------------------------------------------------------------
    def _seed_job(self) -> Job:
        folder = Path(self.cfg.get("seed_agent") or seed_agent_dir())
        agent_id, commit = self.store.add_folder(folder, message="seed agent")
        self.db.add_agent(agent_id=agent_id, commit_sha=commit, parents=[], emitter="seed", step=0)
        self.db.add_proposal(step=0, emitter="seed", parents=[], status="created",
                             agent_id=agent_id)
        return Job(step=0, agent_id=agent_id)

    def _next_job(self) -> Job | None:
        """Selects parents for the next child; None while the archive is still empty."""
        if self.plan:
            return self._planned_job()
        candidates = self._candidates()
        if not candidates:
            return None
        step = self.db.next_step()
        rng = np.random.default_rng([self.seed, step])
        name = self._choose_emitter(rng)
        emitter = self.emitters[name]
        curiosity = self._curiosity() if self.selection.name == "curiosity" else None
        children = self.db.children_counts()
        parents = self.selection.choose(candidates, children, rng, k=emitter.parents_needed,
                                        curiosity=curiosity)
        if len(parents) == 2 and parents[0]["id"] == parents[1]["id"] and len(candidates) > 1:
            others = [c for c in candidates if c["id"] != parents[0]["id"]]
            parents[1] = self.selection.choose(others, children, rng, curiosity=curiosity)[0]
        parent_elite = all(self.archive.is_elite(p["id"]) for p in parents)
        target = (target_toward_empty_neighbour(self.archive, parents[0]["descriptors"], rng)
                  if getattr(emitter, "directed", False) else None)
        neighbours = tuple(e["id"] for e in self.archive.elites()) if self.novelty_filter else ()
        # reserve the step now, so the next selection does not reuse it while this one is in flight
        self.db.add_proposal(step=step, emitter=name, parents=[p["id"] for p in parents],
                             status="in_flight", parent_elite=parent_elite)
        return Job(step=step, emitter=name, parents=tuple(parents), parent_elite=parent_elite,
                   target=target, neighbours=neighbours)

    def _choose_emitter(self, rng) -> str:
        """By weight; or, with ``emitter_bandit: true``, by Thompson sampling (Thompson 1933)
        on how often each emitter's children entered the archive, as ShinkaEvolve adapts its
        choice of LLM: each emitter's success rate is drawn from Beta(1 + entered, 1 + not) and
        the highest draw among emitters with weight > 0 wins."""
        names = list(self.emitters)
        if not self.cfg.get("emitter_bandit"):
            return names[rng.choice(len(names), p=self.emitter_weights)]
        record = self.db.emitter_record()
        draws = [rng.beta(1 + record.get(n, (0, 0))[0], 1 + record.get(n, (0, 0))[1])
                 if w > 0 else -1.0 for n, w in zip(names, self.emitter_weights)]
        return names[int(np.argmax(draws))]

    def _planned_job(self) -> Job | None:
        """Replay: the next recorded proposal, once its parents have been evaluated here."""
        evaluated = {e["agent_id"]: e for e in self.db.evaluations() if not e["failure"]}
        planned = self.plan.next_proposal(evaluated)
        if planned is None:
            return None
        parents = tuple({"id": p, "fitness": evaluated[p]["fitness"],
                         "descriptors": evaluated[p]["descriptors"]} for p in planned.parents)
        self.db.add_proposal(step=planned.step, emitter=planned.emitter,
                             parents=list(planned.parents), status="in_flight",
                             parent_elite=planned.parent_elite)
        return Job(step=planned.step, emitter=planned.emitter, parents=parents,
                   parent_elite=planned.parent_elite, target=planned.target)

    def _unstick_replay(self) -> None:
        """Replay with nothing in flight: tell what is held, or drop a proposal that cannot run."""
        if self._held:
            for result in self.plan.flush(self._held):
                self._record(*result)
            return
        dropped = self.plan.proposals.pop(0)
        self.plan.diverged.append(f"step {dropped.step}: its parents {list(dropped.parents)} "
                                  "were never evaluated in the replay")

    def _curiosity(self) -> dict[str, float]:
        """Curiosity scores from every evaluated child: did it enter the archive?"""
        rows = self.db.execute(
            "SELECT a.parents, i.status FROM agents a LEFT JOIN insertions i ON i.agent_id = a.id"
            " WHERE a.status IN ('evaluated', 'failed') AND a.parents != '[]'")
        return curiosity_scores((json.loads(r["parents"]), r["status"] in ("new", "improve"))
                                for r in rows)

    def _candidates(self) -> list[dict]:
        if self.cfg["selection"]["pool"] == "archive":
            return self.archive.elites()
        return [{"id": e["agent_id"], "fitness": e["fitness"], "descriptors": e["descriptors"]}
                for e in self.db.evaluations() if not e["failure"]]

    def _work(self, job: Job) -> tuple[Job, Evaluation | None, float]:
        """Runs in a worker thread: make the child (if needed) and evaluate it."""
        started = time.time()
        try:
            agent_id = job.agent_id or self._make_child(job)
            if agent_id is None:
                return job, None, started
            with tempfile.TemporaryDirectory(prefix="qdagents-agent-") as tmp:
                agent_dir = self.store.export(agent_id, Path(tmp) / "agent")
                evaluation = self.evaluator.evaluate(agent_id, agent_dir)
            if self._novelty_axis is not None and not evaluation.failure:
                evaluation.embedding = self._embed(agent_id)
            return job, evaluation, started
        except Exception as exc:  # a bug of ours must not end the run; record it
            log.error("internal error in step %s:\n%s", job.step, traceback.format_exc())
            agent_id = job.agent_id or self._agent_of_step(job.step)
            if agent_id is None:
                self.db.add_proposal(step=job.step, emitter=job.emitter or "",
                                     parents=[p["id"] for p in job.parents], status="failed",
                                     reason=f"internal error: {exc!r}")
                return job, None, started
            return job, Evaluation(agent_id=agent_id, fitness=0.0, descriptors=[],
                                   descriptor_values={}, tasks=[], stage=0,
                                   failure=f"internal error: {exc!r}"), started

    def _agent_of_step(self, step: int) -> str | None:
        rows = self.db.execute("SELECT agent_id FROM proposals WHERE step = ?", (step,))
        return rows[0]["agent_id"] if rows else None

    def _make_child(self, job: Job) -> str | None:
        """Asks the job's emitter for a child; returns its id, or None (failed or duplicate)."""
        rng = np.random.default_rng([self.seed, job.step, 1])
        parents = [self._parent(p) for p in job.parents]
        parent_ids = [p.id for p in parents]
        call_seed = int(rng.integers(2**31))

        def complete(messages: list[dict]) -> dict:
            from qdagents.llm import Meter
            request = {"model": self.cfg["llm"]["emitter_model"], "messages": messages,
                       "seed": call_seed, "temperature": self.cfg["llm"]["temperature"]}
            return self.gateway.complete(request, meter=Meter(), purpose="emitter",
                                         agent_id=parent_ids[0])

        record = dict(step=job.step, emitter=job.emitter, parents=parent_ids,
                      parent_elite=job.parent_elite)
        try:
            emitter = self.emitters[job.emitter]
            extra = {"workshop": AgentWorkshop(self.evaluator, step=job.step,
                                               seed_agent=self.cfg.get("seed_agent"))} \
                if getattr(emitter, "needs_workshop", False) else {}
            proposal = emitter.propose(parents, complete=complete, rng=rng, target=job.target,
                                       **extra)
            if self.novelty_filter:
                too_similar = self.novelty_filter.too_similar(
                    proposal.files, (self.store.files(i) for i in job.neighbours))
                if too_similar:
                    self.db.add_proposal(**record, status="rejected", reason=too_similar,
                                         target=proposal.target)
                    return None
        except EmitFailure as exc:
            self.db.add_proposal(**record, status="failed", reason=str(exc), target=job.target)
            return None
        job.target = proposal.target   # drawn by the emitter when the loop did not aim it
        agent_id, commit = self.store.add(proposal.files, parents=parent_ids,
                                          message=f"{job.emitter}: {proposal.message}")
        created = self.db.add_agent(agent_id=agent_id, commit_sha=commit, parents=parent_ids,
                                    emitter=job.emitter, step=job.step, note=proposal.message)
        self.db.add_proposal(**record, status="created" if created else "duplicate",
                             agent_id=agent_id, target=proposal.target)
        return agent_id if created else None

    def _parent(self, candidate: dict) -> Parent:
        """The parent as its emitter sees it: code, and what its evaluation measured (the
        recorded values, not the archive's clipped ones, so a replay shows the same prompt)."""
        names = [s.name for s in self.specs]
        measured = self.db.evaluation(candidate["id"])
        feedback = [f"- {r['task_id']}: {(r['reason'] or 'failed')[:200]}"
                    for r in self.db.task_results(candidate["id"]) if not r["passed"]]
        return Parent(id=candidate["id"], files=self.store.files(candidate["id"]),
                      fitness=measured["fitness"],
                      descriptors=dict(zip(names, measured["descriptors"])), feedback=feedback)

    # ------------------------------------------------------------------------------------------
    def _why_empty(self) -> str:
        failures = [e["failure"] for e in self.db.evaluations() if e["failure"]]
        detail = f": the first failure was: {failures[0]}" if failures else ""
        return f"no agent in the archive to select from{detail}"

    def _halt_reason(self) -> str | None:
        if self._internal_errors >= MAX_INTERNAL_ERRORS:
            return (f"{MAX_INTERNAL_ERRORS} evaluations in a row failed inside qdagents "
                    "(see the log)")
        if self._barren >= MAX_BARREN_PROPOSALS:
            return (f"{MAX_BARREN_PROPOSALS} proposals in a row made no new agent "
                    "(failed or duplicate edits: see the proposals table)")
        return None

    def _tell(self, job: Job, evaluation: Evaluation | None, started: float) -> None:
        """Records a finished job and offers its agent to the archive (main thread only).

        In a replay, results wait until the recorded run's completion order reaches them.
        """
        if evaluation is None:
            self._barren += 1
            return
        self._barren = 0
        if self.plan is None:
            self._record(job, evaluation, started)
            return
        self._held[evaluation.agent_id] = (job, evaluation, started)
        for result in self.plan.release(self._held):
            self._record(*result)

    def _record(self, job: Job, evaluation: Evaluation, started: float) -> None:
        if evaluation.embedding is not None:
            self._measure_novelty(evaluation)
        seq = self.db.add_evaluation(evaluation, started=started)
        internal = (evaluation.failure or "").startswith("internal error")
        self._internal_errors = self._internal_errors + 1 if internal else 0
        if evaluation.failure:
            self.failures += 1
        else:
            self._offer(seq, evaluation.agent_id, evaluation.fitness, evaluation.descriptors,
                        job.parent_elite)
        if job.target and job.parents and not evaluation.failure:
            self._judge_aim(job, evaluation)
        self._record_stats(seq)
        self.progress.update(self._status())

    def _judge_aim(self, job: Job, evaluation: Evaluation) -> None:
        """Records whether a directed child moved one bin along its target axis, as asked."""
        moved = landed(self.specs, job.target, job.parents[0]["descriptors"], evaluation.descriptors)
        if moved is not None:
            self.db.set_landed(job.step, moved)

    def _offer(self, seq, agent_id, fitness, descriptors, parent_elite) -> None:
        insertion = self.archive.add(agent_id, fitness, descriptors)
        self.db.add_insertion(seq=seq, agent_id=agent_id, status=insertion.status,
                              cell=insertion.cell, fitness=fitness, parent_elite=parent_elite)

    def _record_stats(self, seq: int) -> None:
        stats, totals = self.archive.stats, self.db.llm_totals()
        self.db.add_archive_stats(seq=seq, elites=stats["elites"], coverage=stats["coverage"],
                                  qd_score=stats["qd_score"], best=stats["best"] or 0.0,
                                  tokens=totals["tokens"], cost_usd=totals["cost_usd"],
                                  seconds=self._elapsed())

    def _embed(self, agent_id: str) -> list[float]:
        """The agent's code embedding, through the gateway (recorded, so a resume re-reads it)."""
        from qdagents.llm import Meter

        model = self.cfg["descriptors"].get("embedding_model") or "qdagents/embed"
        return self.gateway.embed([code_text(self.store.files(agent_id))], model=model,
                                  meter=Meter(), agent_id=agent_id)[0]

    def _measure_novelty(self, evaluation: Evaluation) -> None:
        """Code novelty against the elites now in the archive (main thread, in telling order)."""
        elites = [self._embeddings[e["id"]] for e in self.archive.elites()
                  if e["id"] in self._embeddings]
        value = novelty(evaluation.embedding, elites, k=int(self.cfg["descriptors"].get("novelty_k", 3)))
        evaluation.descriptor_values["code_novelty"] = value
        evaluation.descriptors[self._novelty_axis] = value
        self._embeddings[evaluation.agent_id] = evaluation.embedding

    def _restore_archive(self) -> None:
        """Replays recorded evaluations into the (fresh) archive, in completion order."""
        for e in self.db.evaluations():
            if e["failure"]:
                self.failures += 1
                continue
            if self._novelty_axis is not None:
                self._embeddings[e["agent_id"]] = self._embed(e["agent_id"])
            self.archive.add(e["agent_id"], e["fitness"], e["descriptors"])
        # steps reserved by a killed run but never finished are released
        self.db.execute("UPDATE proposals SET status = 'lost', reason = 'in flight when the run "
                        "stopped' WHERE status = 'in_flight'")

    # ------------------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self._elapsed_before + time.monotonic() - self._started

    def _save_elapsed(self, status: str) -> None:
        self.db.set_meta("elapsed_seconds", self._elapsed())
        self.db.set_meta("status", status)

    def _budget_reached(self, in_flight: int) -> str | None:
        if self.plan:   # a replay runs the recorded proposals, whatever the budget says
            if self.plan.done and not self._held and self.db.count_evaluations():
                detail = "; ".join(self.plan.diverged[:3])
                return ("replayed the recorded run" +
                        (f", DIVERGED in {len(self.plan.diverged)} place(s): {detail}"
                         if self.plan.diverged else ", no divergence"))
            return None
        budget = self.cfg["budget"]
        done = self.db.count_evaluations()
        if budget.get("evaluations") is not None and done + in_flight >= budget["evaluations"]:
            return f"evaluation budget ({budget['evaluations']}) reached"
        totals = self.db.llm_totals()
        if budget.get("tokens") is not None and totals["tokens"] >= budget["tokens"]:
            return f"token budget ({budget['tokens']}) reached"
        if budget.get("usd") is not None and totals["cost_usd"] >= budget["usd"]:
            return f"USD budget ({budget['usd']}) reached"
        if budget.get("seconds") is not None and self._elapsed() >= budget["seconds"]:
            return f"time budget ({budget['seconds']} s) reached"
        return None

    def _status(self) -> dict:
        totals = self.db.llm_totals()
        return {**self.archive.stats, "evaluated": self.db.count_evaluations(),
                "tokens": totals["tokens"], "cost_usd": totals["cost_usd"],
                "failures": self.failures}
