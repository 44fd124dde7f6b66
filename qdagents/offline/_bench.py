"""One agent folder on one task folder, offline, through the same path a run takes.

:func:`run_task` evaluates ``agent_dir`` on the task in ``task_dir`` (built-in layout:
``problem.md``, ``workspace/``, ``hidden/``) with the real :class:`~qdagents.evaluation.Evaluator`
(metering, the hidden-test harness, the measured descriptor inputs), the real
:class:`~qdagents.llm.Gateway` answering from the offline model (the litellm custom provider), and
the ``process`` sandbox (plain subprocesses with rlimits: for trusted code, such as the seed agent
and its catalogue variants). ``tests/offline`` and ``experiments/offline_landscape.py`` use it to
look at the offline model and the seed agent in isolation, without a run directory.
"""

from __future__ import annotations

from pathlib import Path

from qdagents.evaluation import Evaluator, TaskResult
from qdagents.sandbox import Limits, ProcessSandbox
from qdagents.tasks import TaskSuite, load_task_folder


def offline_gateway(*, seed: int = 0):
    """A gateway whose agents' model is the offline coder, recording in memory only."""
    from qdagents.llm import Gateway, MemoryRecorder, register_offline_provider

    register_offline_provider()
    return Gateway(model="qdagents/coder", purpose_models={"emitter": "qdagents/mutator"},
                   db=MemoryRecorder(), seed=seed)


def run_task(agent_dir: Path, task_dir: Path, *, seed: int = 0,
             timeout: float = 60.0) -> TaskResult:
    """Runs ``agent_dir/agent.py`` on a fresh copy of ``task_dir/workspace`` and grades it with
    the task's hidden tests, as an evaluation does; ``timeout`` limits the agent's run."""
    task_dir, agent_dir = Path(task_dir).resolve(), Path(agent_dir).resolve()
    evaluator = Evaluator(suite=TaskSuite(name=task_dir.name, tasks=[load_task_folder(task_dir)]),
                          sandbox=ProcessSandbox(warn=False), gateway=offline_gateway(seed=seed),
                          descriptors=[], agent_limits=Limits(seconds=timeout),
                          test_limits=Limits(seconds=30))
    evaluation = evaluator.evaluate(agent_dir.name, agent_dir)
    if not evaluation.tasks:
        raise ValueError(f"{agent_dir} was not run: {evaluation.failure}")
    return evaluation.tasks[0]
