"""Descriptors measured from an evaluation, never reported by the agent itself.

Each descriptor is a function ``(tasks, files) -> float`` where ``tasks`` are the per-task
measurements of one evaluation (:class:`qdagents.evaluation.TaskResult`: what the gateway metered
and what the harness saw change in the workspace) and ``files`` is the agent's code. The agent's
code cannot lie about them: tokens and tool schemas are counted by the gateway, changed lines by
diffing the workspace before and after the agent ran.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

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

    Needs the archive, so the loop fills it in (:mod:`descriptors._embedding`); measured alone
    (``qdagents evaluate``) an agent is maximally novel against an empty archive, 1.0.
    """
    return 1.0


@dataclass(frozen=True)
class Descriptor:
    name: str
    label: str
    measure: Callable


DESCRIPTORS = {d.name: d for d in [
    Descriptor("tool_count", "tool count (tools)", tool_count),
    Descriptor("edit_granularity", "edit granularity (changed / emitted lines)", edit_granularity),
    Descriptor("token_cost", "token cost (tokens / task)", token_cost),
    Descriptor("llm_calls_per_task", "LLM calls (calls / task)", llm_calls_per_task),
    Descriptor("agent_lines", "agent size (lines of code)", agent_lines),
    Descriptor("code_novelty", "code novelty (cosine distance)", code_novelty),
]}


def measure(names: list[str], tasks, files) -> dict[str, float]:
    """Measures the named descriptors of one evaluation."""
    unknown = [n for n in names if n not in DESCRIPTORS]
    if unknown:
        raise ValueError(f"unknown descriptor(s) {unknown}; choose from: {', '.join(DESCRIPTORS)}")
    return {n: float(DESCRIPTORS[n].measure(tasks, files)) for n in names}
