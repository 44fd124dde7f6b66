"""Building a run's parts from its config: scheduler, gateway, sandbox, evaluator, workshop, axes.

One place that turns config into objects, shared by ``qdagents run``, ``resume``, ``replay`` and
``evaluate``.
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from qdagents import plugins
from qdagents.agents import read_folder
from qdagents.descriptors import Descriptor
from qdagents.emitters import NoveltyFilter
from qdagents.evaluation import Evaluator, Stage, snapshot
from qdagents.sandbox import Limits
from qdagents.scheduler import Scheduler
from qdagents.tasks import write_files


def seed_agent_dir() -> Path:
    """The built-in seed agent shipped inside the package."""
    return Path(str(resources.files("qdagents") / "seed_agent"))


def descriptor_specs(cfg: dict) -> list[Descriptor]:
    """The archive's axes: each configured descriptor over its configured range and bins."""
    return plugins.descriptors(cfg["descriptors"])


def build_scheduler(cfg: dict) -> Scheduler:
    """The scheduler a config describes: archive over the descriptor axes, selection, emitters,
    and the emitters' model ensemble."""
    from qdagents.llm import make_model_chooser

    axes = descriptor_specs(cfg)
    seed = int(cfg["seed"])
    return Scheduler(
        archive=plugins.archive(cfg["archive"], axes=axes, seed=seed),
        emitters={name: plugins.emitter(name, spec) for name, spec in cfg["emitters"].items()},
        selection=plugins.selection(cfg["selection"], ranges=[(a.low, a.high) for a in axes]),
        weights={name: spec.get("weight", 1.0) for name, spec in cfg["emitters"].items()},
        seed=seed, pool=cfg["selection"].get("pool", "archive"),
        bandit=bool(cfg.get("emitter_bandit")),
        models=make_model_chooser(cfg["llm"]) if cfg["llm"].get("emitter_ensemble") else None)


def build_novelty_filter(cfg: dict) -> NoveltyFilter | None:
    threshold = cfg.get("novelty_filter")
    return NoveltyFilter(threshold) if threshold is not None else None


class AgentWorkshop:
    """Runs an agent on a copy of some code, sandboxed and metered like an evaluation (on a
    cluster worker when the evaluator has a task runner).

    Self-modifying emitters (DGM) use it to let an agent edit its own code. The LLM calls are
    recorded under the parent's id and task ``self-modify-<step>``.
    """

    def __init__(self, evaluator: Evaluator, *, step: int, seed_agent: str | None = None):
        self.evaluator = evaluator
        self.step = step
        self.seed_files = read_folder(seed_agent or seed_agent_dir())

    def run(self, agent_files: dict[str, str], workspace: dict[str, str], problem: str, *,
            label: str) -> dict[str, str]:
        runner = self.evaluator.task_runner
        if runner is not None:   # on a cluster worker, like the evaluations
            return runner.run_workshop(step=self.step, label=label, agent_files=agent_files,
                                       workspace=workspace, problem=problem,
                                       new_meter=self.evaluator.task_meter)
        with tempfile.TemporaryDirectory(prefix="qdagents-workshop-") as tmp:
            agent_dir = Path(tmp) / "agent"
            write_files(agent_files, agent_dir)
            with self.evaluator.place(agent_dir) as place:
                write_files(workspace, place.workspace)
                self.evaluator.run_agent(label, agent_dir, place, problem,
                                         meter=self.evaluator.task_meter(),
                                         task_id=f"self-modify-{self.step}")
                return snapshot(place.workspace)


def build_gateway(cfg: dict, *, db, run_budget=None):
    """The LLM gateway a config describes, recording into ``db``, litellm warmed up."""
    from qdagents.llm import Gateway

    gateway = Gateway.from_config(cfg, db=db, run_budget=run_budget)
    gateway.warm_up()
    return gateway


def build_sandbox(cfg: dict):
    return plugins.sandbox(dict(cfg["sandbox"]))


def evaluation_limits(cfg: dict) -> tuple[Limits, Limits]:
    """The limits of one agent run and of one hidden-test run."""
    ev = cfg["evaluation"]
    return (Limits(seconds=ev["agent_seconds"], memory_mb=ev["agent_memory_mb"],
                   processes=ev["agent_processes"]),
            Limits(seconds=ev["test_seconds"], memory_mb=ev["agent_memory_mb"],
                   processes=ev["agent_processes"]))


def build_task_runner(cfg: dict, *, gateway):
    """Where an evaluation's tasks run: None here (``executor=local``), or a
    :class:`qdagents.distributed.DaskTaskRunner` whose cluster is started (or reached) and whose
    workers have passed their preflight (``executor=dask``); close it after the run."""
    executor = dict(cfg.get("executor") or {"kind": "local"})
    if executor.pop("kind") == "local":
        return None
    from qdagents.distributed import DaskTaskRunner

    agent_limits, test_limits = evaluation_limits(cfg)
    return DaskTaskRunner.start(gateway=gateway, sandbox=dict(cfg["sandbox"]),
                                agent_limits=agent_limits, test_limits=test_limits, **executor)


def build_evaluator(cfg: dict, *, gateway, descriptors: list | None = None,
                    task_runner=None) -> Evaluator:
    """The evaluator a config describes: task suite, sandbox, limits, stages, descriptors (the
    config's axes, or ``descriptors`` when given). With a ``task_runner`` the agents run on its
    workers, which build their own sandbox: none is built here."""
    ev = cfg["evaluation"]
    agent_limits, test_limits = evaluation_limits(cfg)
    return Evaluator(
        suite=plugins.task_suite(dict(cfg["tasks"])),
        sandbox=build_sandbox(cfg) if task_runner is None else None,
        gateway=gateway, descriptors=descriptors or descriptor_specs(cfg),
        agent_limits=agent_limits, test_limits=test_limits,
        stages=[Stage(**s) for s in ev.get("stages") or cfg["tasks"].get("stages") or []] or None,
        task_budget={"tokens": ev.get("task_tokens"), "usd": ev.get("task_usd")},
        evaluation_budget={"tokens": ev.get("evaluation_tokens"), "usd": ev.get("evaluation_usd")},
        task_runner=task_runner, early_stop=ev.get("early_stop", 3))
