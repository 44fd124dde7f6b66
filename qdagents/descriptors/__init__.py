"""Behavioural descriptors of agents, measured from their evaluations.

A :class:`Descriptor` is one object (name, label, unit, default axis, how it is measured, the
phrases a directed emitter uses for it); :data:`DESCRIPTORS` holds the built-in ones by name.
"""

from qdagents.descriptors._descriptor import Descriptor, Measure
from qdagents.descriptors._embedding import CodeNovelty, code_text, novelty
from qdagents.descriptors._measured import (DESCRIPTORS, agent_lines, code_novelty,
                                            edit_granularity, llm_calls_per_task, measure,
                                            token_cost, tool_count)

__all__ = ["CodeNovelty", "DESCRIPTORS", "Descriptor", "Measure", "agent_lines", "code_novelty",
           "code_text", "edit_granularity", "llm_calls_per_task", "measure", "novelty",
           "token_cost", "tool_count"]
