"""The LLM layer: one gateway for every LLM call, metered, budgeted, recorded and replayable.

litellm is imported on first use only (it is slow to import), never when this package is.
"""

from qdagents.llm._gateway import EmbeddingError, Gateway
from qdagents.llm._response import error_body
from qdagents.llm._meter import Budget, Meter, lines_emitted
from qdagents.llm._pricing import NOMINAL_OFFLINE_PRICE
from qdagents.llm._provider import register_offline_provider
from qdagents.llm._recorder import MemoryRecorder, Recorder, request_hash
from qdagents.llm._server import GatewaySocket

__all__ = ["Budget", "EmbeddingError", "Gateway", "GatewaySocket", "MemoryRecorder", "Meter",
           "NOMINAL_OFFLINE_PRICE", "Recorder", "error_body", "lines_emitted",
           "register_offline_provider", "request_hash"]
