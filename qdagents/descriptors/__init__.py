"""Behavioural descriptors of agents, measured from their evaluations."""

from qdagents.descriptors._embedding import code_text, novelty
from qdagents.descriptors._measured import (DESCRIPTORS, Descriptor, agent_lines, code_novelty,
                                   edit_granularity, llm_calls_per_task, measure, token_cost,
                                   tool_count)

__all__ = ["DESCRIPTORS", "Descriptor", "agent_lines", "code_novelty", "code_text",
           "edit_granularity", "llm_calls_per_task", "measure", "novelty", "token_cost",
           "tool_count"]
