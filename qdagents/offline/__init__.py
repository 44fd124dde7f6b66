"""The offline model: a deterministic stand-in LLM, so the whole loop runs with no key and no network.

It sits *behind* the gateway as the litellm custom provider ``qdagents``
(:func:`qdagents.llm.register_offline_provider`): ``qdagents/coder`` answers agents,
``qdagents/mutator`` answers emitters and ``qdagents/embed`` embeds code. It never reads hidden
tests or reference solutions; it sees only the request. It is a stand-in for development, tests
and demos, not a model to draw research conclusions from (docs/offline_model.md).
"""

from qdagents.offline._model import OfflineModel

__all__ = ["OfflineModel"]
