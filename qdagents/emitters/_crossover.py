"""LLM crossover: edit parent A to bring in parent B's good parts.

An LLM recombination operator in the spirit of LMX (Meyerson et al. 2023) and of OpenEvolve's
"inspiration" programs, with the edit format of LLM mutation: the prompt shows both parents
(fitness, descriptors, feedback, files) and asks for SEARCH/REPLACE edits *to parent A*, so the
child is A plus what the model takes from B. The loop records both parents (A first).
"""

from __future__ import annotations

from qdagents.emitters._base import Complete, EmitFailure, Parent, Proposal
from qdagents.emitters._llm_mutation import FORMAT, LLMMutation, rationale, request_edits

SYSTEM = ("You improve coding agents by recombining two of them. An agent is a small Python "
          "program that solves coding tasks by talking to an LLM through tools. Combine the "
          "strengths of both parents into one agent that solves more tasks. Answer with a short "
          "rationale, then SEARCH/REPLACE edits to parent A's files.")


def _describe(title: str, parent: Parent) -> list[str]:
    lines = [f"# {title}",
             f"Fitness: {parent.fitness:.3f} (share of tasks solved)",
             "Descriptors: " + ", ".join(f"{k}={v:.3g}" for k, v in parent.descriptors.items())]
    if parent.feedback:
        lines += ["Evaluation feedback (failed tasks):", *parent.feedback[:8]]
    for path, text in sorted(parent.files.items()):
        lines += [f"### File: {path}", "```python", text.rstrip("\n"), "```"]
    return lines


def crossover_prompt(a: Parent, b: Parent, target: str | None = None) -> str:
    """The user message showing both parents and asking for edits to parent A."""
    lines = [*_describe("Parent A (edit this one)", a), "", *_describe("Parent B", b), "",
             "Bring the parts of parent B that make it better (tools, prompt, loop, limits) into "
             "parent A. Edit only parent A's files; SEARCH text must match parent A exactly."]
    if target:
        lines += [f"Target: {target}"]
    lines += ["", FORMAT]
    return "\n".join(lines)


class LLMCrossover(LLMMutation):
    """Recombines two parents with SEARCH/REPLACE edits to the first, proposed by an LLM.

    Args:
        retries: How many times an answer whose edits fail to apply is sent back with the error.
        targets: Optional descriptor targets, as for :class:`emitters.LLMMutation`.
        directed: As for :class:`emitters.LLMMutation`.
    """

    parents_needed = 2

    def __init__(self, *, name: str = "llm_crossover", **options):
        super().__init__(name=name, **options)

    def propose(self, parents: list[Parent], *, complete: Complete, rng,
                target: str | None = None, workshop=None) -> Proposal:
        if len(parents) < 2:
            raise EmitFailure(f"crossover needs 2 parents, got {len(parents)}")
        a, b = parents[0], parents[1]
        if a.files == b.files:
            raise EmitFailure("crossover needs two different parents (both have the same code)")
        if target is None and self.targets:
            target = self.targets[rng.integers(len(self.targets))]
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": crossover_prompt(a, b, target)}]
        files, text = request_edits(messages, a.files, complete=complete, retries=self.retries)
        return Proposal(files=files, message=rationale(text, "llm crossover"), target=target)
