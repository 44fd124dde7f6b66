"""The LLM layer: one gateway for every LLM call, metered, budgeted, recorded and replayable.

litellm is imported on first use only (it is slow to import), never when this package is.
"""

from qdagents.llm._ensemble import (CostAwareModels, ModelChooser, WeightedModels,
                                    emitter_models, make_model_chooser)
from qdagents.llm._faults import (AGENT, BUDGET, FATAL, INFRASTRUCTURE, PROVIDER, LLMFault,
                                  ProviderFault, ProviderUnusable, RunBudgetExhausted, diagnose,
                                  fault_of_body, fault_of_error, infrastructure_fault,
                                  raise_for_fault)
from qdagents.llm._gateway import EmbeddingError, Gateway, ProbeResult
from qdagents.llm._meter import Budget, Meter, lines_emitted
from qdagents.llm._pricing import NOMINAL_OFFLINE_PRICE, Pricing
from qdagents.llm._provider import register_offline_provider
from qdagents.llm._recorder import MemoryRecorder, Recorder, request_hash
from qdagents.llm._response import error_body
from qdagents.llm._server import GatewaySocket

__all__ = ["AGENT", "BUDGET", "Budget", "CostAwareModels", "EmbeddingError", "FATAL", "Gateway",
           "GatewaySocket", "INFRASTRUCTURE", "LLMFault", "MemoryRecorder", "Meter",
           "ModelChooser", "NOMINAL_OFFLINE_PRICE", "PROVIDER", "Pricing", "ProbeResult",
           "ProviderFault", "ProviderUnusable", "Recorder", "RunBudgetExhausted",
           "WeightedModels", "diagnose", "emitter_models", "error_body", "fault_of_body",
           "fault_of_error", "infrastructure_fault", "lines_emitted", "make_model_chooser",
           "raise_for_fault", "register_offline_provider", "request_hash"]
