"""Emitters: make child agents from parents (LLM mutation, LLM crossover, random structural,
DGM self-modification)."""

from qdagents.emitters._base import (Complete, EmitFailure, Emitter, Parent, Proposal, Workshop,
                                     answer_text)
from qdagents.emitters._crossover import LLMCrossover, crossover_prompt
from qdagents.emitters._directed import (aim_of, empty_neighbours, grid_position, landed,
                                        target_toward_empty_neighbour)
from qdagents.emitters._llm_mutation import LLMMutation, mutation_prompt
from qdagents.emitters._novelty_filter import NoveltyFilter, shingle_similarity
from qdagents.emitters._random_structural import RandomStructural
from qdagents.emitters._search_replace import Edit, EditError, apply_edits, find_edits, parse_edits
from qdagents.emitters._self_modify import SelfModify

__all__ = ["Complete", "Edit", "EditError", "EmitFailure", "Emitter", "LLMCrossover",
           "LLMMutation", "NoveltyFilter", "Parent", "Proposal", "RandomStructural", "SelfModify", "Workshop",
           "aim_of", "answer_text", "apply_edits", "crossover_prompt", "empty_neighbours", "find_edits",
           "grid_position", "landed", "make_emitter", "mutation_prompt", "parse_edits", "shingle_similarity",
           "target_toward_empty_neighbour"]

EMITTERS = {"llm_mutation": LLMMutation, "llm_crossover": LLMCrossover,
            "random_structural": RandomStructural, "self_modify": SelfModify}


def make_emitter(kind: str, **options) -> Emitter:
    """Builds the emitter called ``kind`` with its config options."""
    if kind not in EMITTERS:
        raise ValueError(f"unknown emitter {kind!r}; choose one of: {', '.join(sorted(EMITTERS))}")
    return EMITTERS[kind](**options)
