"""Descriptors measured from an evaluation, never reported by the agent itself.

Each descriptor's ``measure`` is a function ``(tasks, files) -> float`` where ``tasks`` are the
per-task measurements of one evaluation (:class:`qdagents.evaluation.TaskResult`: what the gateway metered
and what the harness saw change in the workspace) and ``files`` is the agent's code. The agent's
code cannot lie about them: tokens and tool schemas are counted by the gateway on the requests
it served, changed lines by diffing the task's own source files before and after the agent ran.
"""

from __future__ import annotations

from qdagents.descriptors._descriptor import Descriptor
from qdagents.descriptors._embedding import CodeNovelty


def tool_count(tasks, files) -> float:
    """Distinct tools the agent offered its model in requests the gateway served (unit: tools).

    The union of the tool names (``tools`` and legacy ``functions``) of every request the
    gateway answered with a model response, over all the evaluation's tasks. Requests refused
    (a budget, a malformed body) or failed (a provider error) offer nothing, and the agent's code
    is never read: a tool schema in a comment or a string counts only if it is sent and served.
    An agent that made no served request has 0 tools.
    """
    offered = set()
    for t in tasks:
        offered.update(t.tools_offered)
    return float(len(offered))


def edit_granularity(tasks, files) -> float:
    """How much of what the model emitted became a change to the task's source (unit: fraction).

    ``sum(lines changed) / sum(lines emitted)`` over tasks, clipped to [0, 1]. Lines changed are
    the added plus removed code lines of a diff of each of the task's own source files (its
    visible files that are not tests) before and after the agent ran; in Python files comments,
    blank lines and trailing whitespace are not code; a deleted source file counts all its lines.
    Junk files, new files, edited or deleted tests and files the task does not have change
    nothing. Lines emitted are the lines of the model's answers the gateway served (tool-call
    arguments and text), every line of every string in a tool call (paths and commands too).
    Fixing one line by a whole-file rewrite scores about 0.01-0.03; by ``str_replace`` about
    0.05-0.1. An agent that emitted nothing scores 0.
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
