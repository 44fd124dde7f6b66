"""Descriptors measured from an evaluation, never reported by the agent itself.

Each descriptor's ``measure`` is a function ``(tasks, files) -> float`` where ``tasks`` are the per-task
measurements of one evaluation (:class:`qdagents.evaluation.TaskResult`: what the gateway metered
and what the harness saw change in the workspace) and ``files`` is the agent's code. The agent's
code cannot lie about them: tokens and tool schemas are counted by the gateway, changed lines by
diffing the workspace before and after the agent ran.
"""

from __future__ import annotations

import re

from qdagents.descriptors._descriptor import Descriptor
from qdagents.descriptors._embedding import CodeNovelty

_TOOL_SCHEMA = re.compile(r"""["']type["']\s*:\s*["']function["']""")


def tool_count(tasks, files) -> float:
    """Distinct tools the agent offered its model, over all its requests (unit: tools).

    Range 0 to about 10. Measured from the ``tools`` of every request the gateway served. If the
    agent made no request at all (it crashed first), falls back to counting OpenAI tool schemas
    (``"type": "function"``) in its code.
    """
    offered = set()
    for t in tasks:
        offered.update(t.tools_offered)
    if offered or any(t.llm_calls for t in tasks):
        return float(len(offered))
    return float(sum(len(_TOOL_SCHEMA.findall(text)) for text in files.values()))


def edit_granularity(tasks, files) -> float:
    """Share of what the model emitted that became a change in the workspace (unit: fraction).

    ``sum(lines changed) / sum(lines emitted)`` over tasks, clipped to [0, 1]. Lines changed are
    the added plus removed lines of a diff of the workspace before and after the agent ran; lines
    emitted are the lines of the model's answers (tool-call arguments and text) as the gateway saw
    them, every line of every string in a tool call (paths and commands too). Fixing one line by a
    whole-file rewrite scores about 0.01-0.03; by ``str_replace`` about 0.05-0.1. An agent that
    emitted nothing scores 0.
    """
    emitted = sum(t.lines_emitted for t in tasks)
    changed = sum(t.lines_changed for t in tasks)
    return 0.0 if emitted == 0 else min(1.0, changed / emitted)


def token_cost(tasks, files) -> float:
    """Mean tokens (prompt + completion) per task, as metered by the gateway (unit: tokens/task)."""
    return sum(t.tokens for t in tasks) / len(tasks) if tasks else 0.0


def llm_calls_per_task(tasks, files) -> float:
    """Mean number of LLM calls per task (unit: calls/task)."""
    return sum(t.llm_calls for t in tasks) / len(tasks) if tasks else 0.0


def agent_lines(tasks, files) -> float:
    """Non-blank lines of Python in the agent (unit: lines). Static: a size measure of the code."""
    return float(sum(1 for path, text in files.items() if path.endswith(".py")
                     for line in text.splitlines() if line.strip()))


def code_novelty(tasks, files) -> float:
    """Novelty of the agent's code: mean cosine distance of its code embedding to the ``k``
    nearest elites' embeddings in the archive when it is offered (unit: cosine distance, 0-1 for
    code; Lehman & Stanley 2011 novelty, in embedding space).

    Needs the archive, so the scheduler measures it when the agent is told
    (:class:`descriptors.CodeNovelty`); measured alone (``qdagents evaluate``) an agent is
    maximally novel against an empty archive, 1.0.
    """
    return 1.0


#: The built-in descriptors by name, with their default axes (``conf/descriptors`` may override
#: ``low``, ``high`` and ``bins``; ranges fit what agents measure, see docs/offline_model.md).
DESCRIPTORS: dict[str, Descriptor] = {d.name: d for d in [
    Descriptor(name="tool_count", label="tool count (tools)", unit="tools", low=0.5, high=8.5,
               bins=8, measure=tool_count, more="more tools", fewer="fewer tools"),
    Descriptor(name="edit_granularity", label="edit granularity (changed / emitted lines)",
               unit="fraction", low=0.0, high=0.12, bins=6, measure=edit_granularity,
               more="finer edits", fewer="coarser edits"),
    Descriptor(name="token_cost", label="token cost (tokens / task)", unit="tokens/task",
               low=0.0, high=20000.0, bins=5, measure=token_cost, more="more tokens",
               fewer="fewer tokens"),
    Descriptor(name="llm_calls_per_task", label="LLM calls (calls / task)", unit="calls/task",
               low=0.0, high=20.0, bins=5, measure=llm_calls_per_task,
               more="more LLM calls per task", fewer="fewer LLM calls per task"),
    Descriptor(name="agent_lines", label="agent size (lines of code)", unit="lines", low=0.0,
               high=400.0, bins=5, measure=agent_lines, more="more lines of agent code",
               fewer="fewer lines of agent code"),
    CodeNovelty(name="code_novelty", label="code novelty (cosine distance)",
                unit="cosine distance", low=0.0, high=0.012, bins=6, measure=code_novelty),
]}


def measure(descriptors: list[str | Descriptor], tasks, files) -> dict[str, float]:
    """Measures descriptors (built-in names or :class:`Descriptor` objects) of one evaluation."""
    unknown = [d for d in descriptors if isinstance(d, str) and d not in DESCRIPTORS]
    if unknown:
        raise ValueError(f"unknown descriptor(s) {unknown}; choose from: {', '.join(DESCRIPTORS)}")
    objects = [DESCRIPTORS[d] if isinstance(d, str) else d for d in descriptors]
    return {d.name: float(d.measure(tasks, files)) for d in objects}
