"""qdagents: quality-diversity (MAP-Elites) search over LLM coding agents.

The search is a pure ask/tell :class:`Scheduler` over an :class:`Archive` of agents, with a
:class:`Selection` rule and emitters (:mod:`qdagents.emitters`); a :class:`Run` drives it with
workers, budgets and a run database, built from a config that :func:`compose` makes; a finished
run is read back with :class:`RunData`. See docs/architecture.md.

    import qdagents

    cfg = qdagents.compose(["budget.evaluations=10", "tasks.limit=3"])
    qdagents.Run.from_config(cfg, "runs/first").execute()
    print(qdagents.summary_metrics("runs/first"))

Names are imported on first use, so ``import qdagents`` stays light (litellm, docker, pyribs and
Hydra load only when a part that needs them is used).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Archive": "qdagents.archive",
    "ConfigError": "qdagents.config",
    "Descriptor": "qdagents.descriptors",
    "Evaluation": "qdagents.evaluation",
    "Evaluator": "qdagents.evaluation",
    "Executor": "qdagents.runner",
    "Insertion": "qdagents.archive",
    "Plan": "qdagents.scheduler",
    "Result": "qdagents.scheduler",
    "Run": "qdagents.run",
    "RunData": "qdagents.rundata",
    "RunDatabase": "qdagents.store",
    "RunDirectoryError": "qdagents.run",
    "Scheduler": "qdagents.scheduler",
    "Selection": "qdagents.selection",
    "ThreadExecutor": "qdagents.runner",
    "Told": "qdagents.scheduler",
    "compose": "qdagents.config",
    "summary_metrics": "qdagents.rundata",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qdagents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
