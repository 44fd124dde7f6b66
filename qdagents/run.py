"""A run of qdagents in a directory: its parts built from a config, started, resumed or replayed.

``Run.from_config(cfg, run_dir).execute()`` is what ``qdagents run`` does, ``Run.resume(run_dir)``
what ``qdagents resume`` does and ``Run.replay(source, out)`` what ``qdagents replay`` does. The
run directory holds ``run.sqlite`` (everything the run did), ``agents.git`` (every agent's code)
and, after the CLI has drawn them, ``plots/``.
"""

from __future__ import annotations

import json
from pathlib import Path

from qdagents.agents import AgentStore
from qdagents.components import (AgentWorkshop, build_evaluator, build_gateway,
                                 build_novelty_filter, build_scheduler, build_task_runner,
                                 seed_agent_dir)
from qdagents.config import resolve, validate
from qdagents.evaluation import EvaluationUnavailable
from qdagents.progress import Progress
from qdagents.replay import ReplaySource
from qdagents.scheduler import Scheduler
from qdagents.runner import (AgentEvaluation, ChildMaker, Executor, Runner, SchedulerSource,
                             ThreadExecutor, code_embedder)
from qdagents.store import RunDatabase


class RunDirectoryError(ValueError):
    """A directory that cannot serve: not a run (resume, replay), or already a run (replay out)."""


class Run:
    """A run of qdagents in ``run_dir`` with a validated config.

    Build it with :meth:`from_config`, :meth:`resume` or :meth:`replay`; :meth:`execute` runs it
    until a budget is reached (a replay: until the recorded run is replayed).

    The config describes every part. A ready :class:`~qdagents.scheduler.Scheduler` may be
    given instead of the config's search parts (archive, descriptors, selection, emitters: the
    pyribs way of composing objects, e.g. a descriptor or a selection rule written in a
    notebook); the evaluator then measures the scheduler's archive axes. The run database keeps
    the config, so such a run is resumed by giving the same scheduler again.

    Attributes:
        scheduler: The :class:`~qdagents.scheduler.Scheduler` (its ``archive`` is the archive).
        db: The :class:`~qdagents.store.RunDatabase` of ``run.sqlite``.
        store: The :class:`~qdagents.agents.AgentStore` of ``agents.git``.
        evaluator, gateway: The parts that evaluate agents and serve every LLM call.
        task_runner: Where evaluations' tasks run with ``executor=dask`` (a
            :class:`qdagents.distributed.DaskTaskRunner`; None with ``executor=local``). It is
            closed when :meth:`execute` returns, or by :meth:`close`.
    """

    def __init__(self, cfg: dict, run_dir: str | Path, *, condition: list[str] | str = "default",
                 executor: Executor | None = None, scheduler: Scheduler | None = None):
        from qdagents.llm import Budget, Meter, preflight

        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.db = RunDatabase(self.run_dir / "run.sqlite")
        self.store = AgentStore(self.run_dir / "agents.git")
        self.scheduler = scheduler or build_scheduler(cfg)
        self._check_axes(self.db.get_meta("descriptors"))
        budget = cfg["budget"]
        run_budget = Budget(tokens=budget.get("tokens"), usd=budget.get("usd"))
        spent = self.db.llm_totals()   # a resumed run continues from what it already used
        run_budget.charge(tokens=spent["tokens"], usd=spent["cost_usd"])
        self.gateway = build_gateway(cfg, db=self.db, run_budget=run_budget)
        if cfg["llm"].get("mode") != "replay":
            # every model answers, has its credentials and (with a USD budget) a price, or the
            # run does not start: a provider problem must never reach an agent's fitness. Its
            # few-token probes are not the run's (not recorded: a replay makes none)
            preflight(cfg).raise_for_problems()
        # executor=dask: the cluster is reached and every worker checked before the run starts
        self.task_runner = build_task_runner(cfg, gateway=self.gateway)
        try:
            self.evaluator = build_evaluator(cfg, gateway=self.gateway,
                                             descriptors=self.scheduler.archive.specs,
                                             task_runner=self.task_runner)
        except BaseException:
            self.close()
            raise
        self.progress = Progress(mode=cfg.get("progress", "auto"), budget=budget)
        llm = cfg["llm"]

        def complete(messages: list[dict], *, seed: int, agent_id: str, model: str | None = None,
                     meter=None) -> dict:
            """An emitter's call, to the plan's model (an ensemble's draw) or the one model."""
            request = {"model": model or llm["emitter_model"], "messages": messages,
                       "seed": seed, "temperature": llm["temperature"]}
            # a provider fault raises (LLMFault): the runner retries or pauses, the emitter
            # is not blamed for a bad edit
            return self.gateway.complete_or_raise(request, meter=meter or Meter(),
                                                  purpose="emitter", agent_id=agent_id)

        novelty_filter = build_novelty_filter(cfg)
        models = [a.embedding_model for a in self.scheduler.archive.specs if a.against_archive]
        embed = code_embedder(self.gateway, self.store, models[0]) if models else None
        self.runner = Runner(
            source=self._source(llm), scheduler=self.scheduler, db=self.db, store=self.store,
            make=ChildMaker(emitters=self.scheduler.emitters, store=self.store, db=self.db,
                            complete=complete, novelty_filter=novelty_filter,
                            feedback=cfg["evaluation"].get("feedback", "names"),
                            workshop=lambda step: AgentWorkshop(
                                self.evaluator, step=step, seed_agent=cfg.get("seed_agent"))),
            evaluate=AgentEvaluation(evaluator=self.evaluator, store=self.store, embed=embed),
            embed=embed,
            executor=executor or ThreadExecutor(int(cfg["workers"])), budget=budget,
            progress=self.progress, novelty_filter=novelty_filter is not None,
            seed_agent=Path(cfg.get("seed_agent") or seed_agent_dir()),
            fault_retries=int(llm.get("fault_retries", 2)),
            fault_backoff=float(llm.get("fault_backoff", 10.0)))
        if self.db.get_meta("config") is None:
            self.db.set_meta("config", cfg)
            self.db.set_meta("seed", int(cfg["seed"]))
            if isinstance(condition, list):
                self.db.set_meta("condition_overrides", condition)
                condition = ",".join(condition) or "default"
            self.db.set_meta("condition", condition)
            self.db.set_meta("descriptors", [a.as_record() for a in self.scheduler.archive.specs])
            self.db.set_meta("suite", [t.id for t in self.evaluator.suite.tasks])

    def _check_axes(self, recorded: list | None) -> None:
        """A run goes on (or is replayed) with the archive axes it was started with: a run
        started with a ready scheduler needs that scheduler again, not the config's parts."""
        if recorded is None:
            return
        axes = json.loads(json.dumps([a.as_record() for a in self.scheduler.archive.specs]))
        if axes != recorded:
            self.close()
            self.db.close()
            raise RunDirectoryError(
                f"{self.run_dir} was run with the archive axes {[a['name'] for a in recorded]}, "
                f"not {[a['name'] for a in axes]} (or other ranges): a run started with a ready "
                "scheduler is resumed and replayed with that scheduler again (scheduler=...)")

    def _source(self, llm: dict):
        """The scheduler; or, replaying a recorded run, its proposals in front of the scheduler."""
        if llm["mode"] != "replay" or not llm.get("replay_from"):
            return SchedulerSource(self.scheduler)
        recorded = RunDatabase(llm["replay_from"])
        try:
            return ReplaySource(self.scheduler, proposals=recorded.recorded_proposals(),
                                order=recorded.evaluation_order(),
                                done_steps={p["step"] for p in self.db.recorded_proposals()},
                                done_agents=set(self.db.evaluation_order()))
        finally:
            recorded.close()

    # -- the three ways to get a run ------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: dict, run_dir: str | Path, *,
                    condition: list[str] | str = "default", executor: Executor | None = None,
                    scheduler: Scheduler | None = None) -> Run:
        """A new run (or the continuation of one) in ``run_dir`` with the config ``cfg``
        (:func:`qdagents.compose` makes one); raises :class:`qdagents.ConfigError` naming the
        first bad key. ``scheduler``: ready search parts instead of the config's."""
        return cls(resolve(cfg), run_dir, condition=condition, executor=executor,
                   scheduler=scheduler)

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: list[str] = (), *,
               executor: Executor | None = None, scheduler: Scheduler | None = None) -> Run:
        """The stopped or killed run in ``run_dir``, to continue with its recorded config changed
        by ``overrides`` (``key=value``, e.g. ``budget.evaluations=120``); ``scheduler``: a fresh
        one with the ready search parts the run was started with, if it was."""
        from omegaconf import OmegaConf

        db = _open_run(run_dir)
        cfg, condition = db.get_meta("config"), db.get_meta("condition", "default")
        db.close()
        if overrides:
            cfg = OmegaConf.to_container(OmegaConf.merge(
                OmegaConf.create(cfg), OmegaConf.from_dotlist(list(overrides))))
        return cls(validate(cfg), run_dir, condition=condition, executor=executor,
                   scheduler=scheduler)

    @classmethod
    def replay(cls, source_dir: str | Path, out_dir: str | Path, *,
               executor: Executor | None = None, scheduler: Scheduler | None = None) -> Run:
        """A new run in ``out_dir`` that re-executes the run in ``source_dir`` from its LLM
        recordings: the same proposals, told in the same order, with no provider call;
        ``scheduler``: a fresh one with the ready search parts the run was started with."""
        db = _open_run(source_dir)
        cfg, axes = db.get_meta("config"), db.get_meta("descriptors")
        condition = db.get_meta("condition_overrides") or db.get_meta("condition", "default")
        db.close()
        if (Path(out_dir) / "run.sqlite").exists():
            raise RunDirectoryError(f"{out_dir} already holds a run; choose a new --out directory")
        cfg["llm"] = {**cfg["llm"], "mode": "replay",
                      "replay_from": str(Path(source_dir) / "run.sqlite")}
        run = cls(validate(cfg), out_dir, condition=condition, executor=executor,
                  scheduler=scheduler)
        run._check_axes(axes)
        return run

    # ------------------------------------------------------------------------------------------
    def execute(self) -> dict:
        """Runs (or continues) until a budget is reached; returns the archive's statistics.

        Raises:
            qdagents.evaluation.EvaluationUnavailable: a cluster worker became unusable; the
                run stopped as if killed (``qdagents resume`` continues it).
        """
        from qdagents.llm import emitter_models

        llm = self.cfg["llm"]
        where = (f"sandbox {self.evaluator.sandbox.name}" if self.task_runner is None else
                 f"sandbox {self.cfg['sandbox'].get('backend', 'plug-in')} on {self.task_runner}")
        self.progress.message(
            f"run {self.run_dir}: {len(self.evaluator.suite)} tasks ({self.evaluator.suite.name}), "
            f"{where}, agents' model {llm['agent_model']}, "
            f"emitters' model {' | '.join(emitter_models(llm))}, "
            f"{self.cfg['workers']} worker(s)")
        try:
            stop = self.runner.run()
        except (KeyboardInterrupt, EvaluationUnavailable) as exc:
            why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped: {exc}"
            self.progress.message(f"{why}; continue with: qdagents resume {self.run_dir}")
            raise
        finally:
            self.close()
        self.progress.message(f"stopped: {stop or 'done'}")
        if isinstance(self.runner.source, ReplaySource):
            self.db.set_meta("replay_diverged", self.runner.source.diverged)
        return self.scheduler.archive.stats

    def close(self) -> None:
        """Stops what the run started outside this process (a LocalCluster, the relay, the
        agent store's object reader)."""
        if getattr(self, "task_runner", None) is not None:
            self.task_runner.close()
            self.task_runner = None
        self.store.close()


def _open_run(run_dir: str | Path) -> RunDatabase:
    if not (Path(run_dir) / "run.sqlite").is_file():
        raise RunDirectoryError(f"{run_dir} is not a run directory (no run.sqlite)")
    return RunDatabase(Path(run_dir) / "run.sqlite")


def find_agent(run_dir: str | Path, prefix: str) -> str:
    """The id of the one agent of the run whose id starts with ``prefix``."""
    db = _open_run(run_dir)
    try:
        matches = [a for a in db.agent_ids() if a.startswith(prefix)]
    finally:
        db.close()
    if len(matches) != 1:
        raise RunDirectoryError(f"agent id {prefix!r} matches {len(matches)} agents in {run_dir}")
    return matches[0]


def evaluate_folder(cfg: dict, agent_dir: str | Path, *, db: str | Path | None = None):
    """Evaluates the agent in ``agent_dir`` on the config's task suite and sandbox, as a run
    would (``qdagents evaluate``); LLM exchanges go to the SQLite file ``db`` if given."""
    import tempfile

    from qdagents.agents import read_folder

    agent_dir = Path(agent_dir).resolve()
    read_folder(agent_dir)   # NotADirectoryError for a folder that is not there
    with tempfile.TemporaryDirectory(prefix="qdagents-evaluate-") as tmp:
        database = RunDatabase(db or Path(tmp) / "evaluate.sqlite")
        try:
            evaluator = build_evaluator(cfg, gateway=build_gateway(cfg, db=database))
            return evaluator.evaluate(agent_dir.name, agent_dir)
        finally:
            database.close()
