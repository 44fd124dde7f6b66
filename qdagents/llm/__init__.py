"""The LLM layer: one gateway for every LLM call, metered, budgeted, recorded and replayable.

litellm is imported on first use only (it is slow to import), never when this package is.
"""

from qdagents.llm._cli import llm_check, llm_estimate
from qdagents.llm._config import validate_llm
from qdagents.llm._ensemble import (CostAwareModels, ModelChooser, WeightedModels,
                                    emitter_models, make_model_chooser)
from qdagents.llm._faults import (AGENT, BUDGET, FATAL, INFRASTRUCTURE, PROVIDER, LLMFault,
                                  ProviderFault, ProviderUnusable, RunBudgetExhausted, diagnose,
                                  fault_of_body, fault_of_error, infrastructure_fault,
                                  raise_for_fault)
from qdagents.llm._estimate import Calibration, CostEstimate, calibrate, estimate_cost
from qdagents.llm._gateway import EmbeddingError, Gateway, ProbeResult
from qdagents.llm._meter import Budget, Meter, lines_emitted
from qdagents.llm._preflight import (ModelCheck, PreflightError, PreflightReport, check_prices,
                                     configured_models, preflight)
from qdagents.llm._pricing import NOMINAL_OFFLINE_PRICE, Pricing
from qdagents.llm._provider import register_offline_provider
from qdagents.llm._recorder import MemoryRecorder, Recorder, request_hash
from qdagents.llm._response import error_body
from qdagents.llm._server import GatewaySocket
from qdagents.llm._usage import llm_usage, summarize_calls

__all__ = ["AGENT", "BUDGET", "Budget", "Calibration", "CostEstimate", "CostAwareModels",
           "EmbeddingError", "FATAL", "Gateway", "GatewaySocket", "INFRASTRUCTURE", "LLMFault",
           "MemoryRecorder", "Meter", "ModelCheck", "ModelChooser", "NOMINAL_OFFLINE_PRICE",
           "PROVIDER", "PreflightError", "PreflightReport", "Pricing", "ProbeResult",
           "ProviderFault", "ProviderUnusable", "Recorder", "RunBudgetExhausted",
           "WeightedModels", "calibrate", "check_prices", "configured_models", "diagnose",
           "emitter_models", "error_body", "estimate_cost", "fault_of_body", "fault_of_error",
           "infrastructure_fault", "lines_emitted", "llm_check", "llm_estimate", "llm_usage",
           "make_model_chooser", "preflight", "raise_for_fault", "register_offline_provider",
           "request_hash", "summarize_calls", "validate_llm"]
