"""Behavioural descriptors of agents, measured from their evaluations."""

from descriptors._measured import (DESCRIPTORS, Descriptor, agent_lines, edit_granularity,
                                   llm_calls_per_task, measure, token_cost, tool_count)

__all__ = ["DESCRIPTORS", "Descriptor", "agent_lines", "edit_granularity", "llm_calls_per_task",
           "measure", "token_cost", "tool_count"]
