"""DGM self-modification: the agent improves its own code.

As in the Darwin Gödel Machine (Zhang et al. 2025): the emitter model first diagnoses the parent's
failures (its evaluation feedback) into a problem statement; then an agent, sandboxed like any
evaluation, is run on a copy of the parent's own code with that statement as its task. Whatever it
leaves in that workspace is the child. With ``meta_agent="parent"`` the agent that edits is the
parent itself (self-improvement); with ``meta_agent="seed"`` it is always the fixed seed agent,
which reproduces DGM's "w/o self-improve" ablation.
"""

from __future__ import annotations

from qdagents.emitters._base import (Complete, EmitFailure, Parent, Proposal, Workshop,
                                     answer_text)

DIAGNOSE = ("You analyse a coding agent's failures. From its code and the tasks it failed, write "
            "one short problem statement: what the agent should change in its own code so that "
            "it solves more tasks. Be concrete (tools, loop, prompts, context handling).")


def diagnosis_prompt(parent: Parent) -> str:
    lines = [f"Fitness: {parent.fitness:.3f}",
             "Descriptors: " + ", ".join(f"{k}={v:.3g}" for k, v in parent.descriptors.items()),
             "", "# Failed tasks", *(parent.feedback[:8] or ["(none)"]), "", "# Files"]
    for path, text in sorted(parent.files.items()):
        lines += [f"### File: {path}", "```python", text.rstrip("\n"), "```"]
    return "\n".join(lines)


class SelfModify:
    """Makes a child by running an agent on its parent's code (DGM).

    Args:
        meta_agent: ``"parent"`` (the parent edits itself) or ``"seed"`` (a fixed meta-agent).
    """

    parents_needed = 1
    directed = False
    needs_workshop = True

    def __init__(self, *, name: str = "self_modify", meta_agent: str = "parent"):
        if meta_agent not in ("parent", "seed"):
            raise ValueError(f"meta_agent must be 'parent' or 'seed', got {meta_agent!r}")
        self.name = name
        self.meta_agent = meta_agent

    def propose(self, parents: list[Parent], *, complete: Complete, rng, target=None,
                workshop: Workshop | None = None) -> Proposal:
        if workshop is None:
            raise EmitFailure("self-modification needs a workshop to run the agent in")
        parent = parents[0]
        diagnosis = answer_text(complete([{"role": "system", "content": DIAGNOSE},
                                          {"role": "user", "content": diagnosis_prompt(parent)}]))
        problem = ("The files in the working directory are the code of a coding agent (its entry "
                   "point is agent.py). Improve the agent by editing these files.\n\n" + diagnosis)
        editor = parent.files if self.meta_agent == "parent" else workshop.seed_files
        after = workshop.run(editor, dict(parent.files), problem, label=parent.id)
        if "agent.py" not in after:
            raise EmitFailure("the self-modification removed agent.py")
        if after == parent.files:
            raise EmitFailure("the self-modification left the code unchanged")
        summary = next((line.strip() for line in diagnosis.splitlines() if line.strip()), "")
        return Proposal(files=after, message=f"self-modification: {summary[:160]}")
