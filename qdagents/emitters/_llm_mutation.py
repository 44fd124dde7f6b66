"""LLM mutation: ask the model for SEARCH/REPLACE edits to the parent's code, or a full rewrite.

The prompt carries the parent's files, its fitness and descriptors, and what went wrong in its
evaluation, as in OpenEvolve and ShinkaEvolve. An answer whose edits do not apply is shown its
error and retried (``retries`` times) before the attempt is recorded as a failure.
"""

from __future__ import annotations

from qdagents.emitters._base import Complete, EmitFailure, Parent, Proposal, answer_text
from qdagents.emitters._search_replace import EditError, apply_edits, parse_edits, parse_rewrites

SYSTEM = ("You improve coding agents. An agent is a small Python program that solves coding tasks "
          "by talking to an LLM through tools. Propose one focused change that makes it solve "
          "more tasks, or that moves it toward the requested target. Answer with a short "
          "rationale, then SEARCH/REPLACE edits.")

FORMAT = """Answer format: one or more edits, each exactly:
path/of/file.py
<<<<<<< SEARCH
exact lines from the current file
=======
replacement lines
>>>>>>> REPLACE"""

REWRITE_FORMAT = """Answer format: a full rewrite. For every file you change, its path on its own line,
then the complete new file in a ```python fenced block."""

#: mode -> (the format the model is asked for, the parser of its answer)
MODES = {"diff": (FORMAT, lambda files, text: apply_edits(files, parse_edits(text))),
         "rewrite": (REWRITE_FORMAT, lambda files, text: {**files, **parse_rewrites(text)})}


def mutation_prompt(parent: Parent, target: str | None = None, mode: str = "diff") -> str:
    """The user message describing the parent and what to aim for."""
    lines = ["# Parent agent",
             f"Fitness: {parent.fitness:.3f} (share of tasks solved)",
             "Descriptors: " + ", ".join(f"{k}={v:.3g}" for k, v in parent.descriptors.items())]
    if parent.feedback:
        lines += ["", "# Evaluation feedback (failed tasks)", *parent.feedback[:8]]
    if target:
        lines += ["", f"Target: {target}"]
    lines += ["", "# Files"]
    for path, text in sorted(parent.files.items()):
        lines += [f"### File: {path}", "```python", text.rstrip("\n"), "```"]
    lines += ["", MODES[mode][0]]
    return "\n".join(lines)


class LLMMutation:
    """Mutates one parent with SEARCH/REPLACE edits proposed by an LLM.

    Args:
        retries: How many times an answer whose edits fail to apply is sent back with the error.
        targets: Descriptor targets to aim at ("more tools", ...); one is drawn per child, or
            none when the list is empty (plain mutation).
        directed: Asks the scheduler for a descriptor-directed target (toward an empty neighbouring
            cell of the parent, :func:`emitters.target_toward_empty_neighbour`), passed to
            :meth:`propose` as ``target``; ``targets`` is the fallback when there is none.
        mode: ``diff`` (SEARCH/REPLACE edits) or ``rewrite`` (complete new files).
    """

    parents_needed = 1
    needs_workshop = False

    def __init__(self, *, name: str = "llm_mutation", retries: int = 2,
                 targets: list[str] | None = None, directed: bool = False, mode: str = "diff"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.name = name
        self.retries = retries
        self.targets = list(targets or [])
        self.directed = bool(directed)

    def propose(self, parents: list[Parent], *, complete: Complete, rng,
                target: str | None = None, workshop=None) -> Proposal:
        """Makes one child; ``target`` (from the scheduler, e.g. a descriptor-directed target, see
        :func:`emitters.target_toward_empty_neighbour`) overrides the draw from ``targets``."""
        parent = parents[0]
        if target is None and self.targets:
            target = self.targets[rng.integers(len(self.targets))]
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": mutation_prompt(parent, target, self.mode)}]
        files, text = request_edits(messages, parent.files, complete=complete,
                                    retries=self.retries, mode=self.mode)
        return Proposal(files=files, message=rationale(text, "llm mutation"), target=target)


def request_edits(messages: list[dict], files: dict[str, str], *, complete: Complete,
                  retries: int, mode: str = "diff") -> tuple[dict[str, str], str]:
    """Asks for SEARCH/REPLACE edits to ``files``; a failing answer is sent back ``retries`` times.

    Returns the edited files and the answer's text; EmitFailure when no answer applies or the
    edits change nothing.
    """
    messages = list(messages)
    answer_format, apply = MODES[mode]
    for attempt in range(retries + 1):
        text = answer_text(complete(messages))
        try:
            edited = apply(files, text)
        except EditError as exc:
            if attempt == retries:
                raise EmitFailure(f"edits did not apply after {attempt + 1} attempts: "
                                  f"{str(exc).splitlines()[0]}") from exc
            messages += [{"role": "assistant", "content": text},
                         {"role": "user", "content": f"Your edit failed: {exc}\n{answer_format}"}]
            continue
        if edited == files:
            raise EmitFailure("the edits left the code unchanged")
        return edited, text
    raise AssertionError("unreachable")


def rationale(text: str, default: str) -> str:
    """The first line of the answer before its first edit (the commit message)."""
    lines = text.split("<<<<<<<")[0].strip().splitlines()
    return lines[0][:200] if lines else default
