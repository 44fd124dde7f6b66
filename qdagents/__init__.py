"""qdagents: quality-diversity (MAP-Elites) search over LLM coding agents.

The pieces (see docs/architecture.md): :class:`~qdagents.store.RunDatabase`,
:class:`~qdagents.agents.AgentStore`, :class:`~qdagents.archive.Archive`,
:class:`~qdagents.selection.Selection`, :class:`~qdagents.evaluation.Evaluator` and
:class:`~qdagents.run.Run`. Heavy dependencies (litellm, docker) are imported only when used.
"""

__version__ = "0.1.0"
