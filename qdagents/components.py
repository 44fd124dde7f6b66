"""Building a run's parts from its config: gateway, sandbox, evaluator, workshop, axes.

One place that turns config into objects, shared by ``qdagents run``, ``resume``, ``replay`` and
``evaluate``.
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from qdagents.descriptors import DESCRIPTORS
from qdagents.agents import read_folder
from qdagents.archive import DescriptorSpec
from qdagents.evaluation import Evaluator, Stage, snapshot
from qdagents.sandbox import Limits
from qdagents.store import RunDatabase
from qdagents.tasks import write_files


def seed_agent_dir() -> Path:
    """The built-in seed agent shipped inside the package."""
    return Path(str(resources.files("qdagents") / "seed_agent"))


def descriptor_specs(cfg: dict) -> list[DescriptorSpec]:
    return [DescriptorSpec(name=a["name"], label=DESCRIPTORS[a["name"]].label,
                           low=float(a["low"]), high=float(a["high"]), bins=int(a["bins"]))
            for a in cfg["descriptors"]["axes"]]


class AgentWorkshop:
    """Runs an agent on a copy of some code, sandboxed and metered like an evaluation.

    Self-modifying emitters (DGM) use it to let an agent edit its own code. The LLM calls are
    recorded under the parent's id and task ``self-modify-<step>``.
    """

    def __init__(self, evaluator: Evaluator, *, step: int, seed_agent: str | None = None):
        self.evaluator = evaluator
        self.step = step
        self.seed_files = read_folder(seed_agent or seed_agent_dir())

    def run(self, agent_files: dict[str, str], workspace: dict[str, str], problem: str, *,
            label: str) -> dict[str, str]:
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
    """The LLM gateway a config describes, recording into ``db``."""
    from qdagents.llm import Gateway, register_offline_provider

    llm = cfg["llm"]
    register_offline_provider(latency=float(llm.get("latency") or 0.0))
    gateway = Gateway(
        model=llm["agent_model"],
        purpose_models={"agent": llm["agent_model"], "emitter": llm["emitter_model"]},
        db=db, mode=llm["mode"], api_base=llm.get("api_base"),
        timeout=llm["timeout"], max_retries=llm["max_retries"], prices=llm.get("prices"),
        run_budget=run_budget, seed=int(cfg["seed"]),
        replay_source=RunDatabase(llm["replay_from"]) if llm.get("replay_from") else None)
    gateway.warm_up()
    return gateway


def build_sandbox(cfg: dict):
    from qdagents.sandbox import make_sandbox

    options = dict(cfg["sandbox"])
    return make_sandbox(options.pop("backend"), **options)


def build_evaluator(cfg: dict, *, gateway) -> Evaluator:
    """The evaluator a config describes: task suite, sandbox, limits, stages, descriptors."""
    from qdagents.tasks import load_suite

    ev = cfg["evaluation"]
    return Evaluator(
        suite=load_suite(dict(cfg["tasks"])), sandbox=build_sandbox(cfg), gateway=gateway,
        descriptor_names=[a["name"] for a in cfg["descriptors"]["axes"]],
        agent_limits=Limits(seconds=ev["agent_seconds"], memory_mb=ev["agent_memory_mb"],
                            processes=ev["agent_processes"]),
        test_limits=Limits(seconds=ev["test_seconds"], memory_mb=ev["agent_memory_mb"],
                           processes=ev["agent_processes"]),
        stages=[Stage(**s) for s in ev.get("stages") or cfg["tasks"].get("stages") or []] or None,
        task_budget={"tokens": ev.get("task_tokens"), "usd": ev.get("task_usd")},
        evaluation_budget={"tokens": ev.get("evaluation_tokens"), "usd": ev.get("evaluation_usd")})
