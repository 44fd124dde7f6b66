"""Emitters: make child agents from parents (LLM mutation, ...)."""

from emitters._base import Complete, EmitFailure, Emitter, Parent, Proposal, answer_text
from emitters._llm_mutation import LLMMutation, mutation_prompt
from emitters._search_replace import Edit, EditError, apply_edits, parse_edits

__all__ = ["Complete", "Edit", "EditError", "EmitFailure", "Emitter", "LLMMutation", "Parent",
           "Proposal", "answer_text", "apply_edits", "make_emitter", "mutation_prompt",
           "parse_edits"]

EMITTERS = {"llm_mutation": LLMMutation}


def make_emitter(kind: str, **options) -> Emitter:
    """Builds the emitter called ``kind`` with its config options."""
    if kind not in EMITTERS:
        raise ValueError(f"unknown emitter {kind!r}; choose one of: {', '.join(sorted(EMITTERS))}")
    return EMITTERS[kind](**options)
