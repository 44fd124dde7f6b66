"""litellm, loaded lazily, and the offline model registered as the litellm provider ``qdagents``.

The offline model is reached through ``litellm.completion(model="qdagents/coder", ...)`` exactly
like a hosted model, so the offline and online runs share one code path; switching to a real
provider is a change of model name. litellm is imported on first use only: importing it takes
seconds, and without ``LITELLM_LOCAL_MODEL_COST_MAP`` it fetches its price table from the internet.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

PROVIDER = "qdagents"
ROLES = ("coder", "mutator")


def offline_role(name: str) -> str | None:
    """The offline model's role for a model name after ``qdagents/``: ``coder``, ``mutator``, or
    a variant of one (``mutator-cheap``: the same model under another name, so that ensembles
    of offline models can be priced apart with ``llm.prices``); None for anything else."""
    role = name.split("-", 1)[0]
    return role if role in ROLES else None

_lock = threading.RLock()
_handler = None


def load_litellm():
    """Imports litellm offline-safe and quiet, with the offline provider registered."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.WARNING)   # Hydra's INFO root would print every call
    register_offline_provider()
    return litellm


def warm_up() -> None:
    """Pays litellm's import costs now: about 2 s on import and 0.5 s more on the first call
    (it imports ``mcp`` and a tokenizer lazily), which would otherwise land inside the first
    task's time limit. Best effort: the lazy imports are litellm internals."""
    litellm = load_litellm()
    try:
        litellm.completion(model="openai/warm-up", mock_response="ok",
                           messages=[{"role": "user", "content": "warm up"}])
        import litellm.responses.mcp.chat_completions_handler  # noqa: F401
        litellm.main._get_encoding()
    except Exception:  # a litellm version that does this differently: nothing to warm
        pass


def register_offline_provider(model: Any = None, *, latency: float = 0.0) -> None:
    """Registers the litellm provider ``qdagents`` (``qdagents/coder``, ``qdagents/mutator``, and
    their variants such as ``qdagents/mutator-cheap``).

    Idempotent: the provider is registered once per process. Passing ``model`` (anything with the
    ``OfflineModel.respond`` signature) swaps the model it serves, which is how tests plug in a
    fake; otherwise a ``qdagents.offline._model.OfflineModel(latency=latency)`` is built on first use.
    """
    global _handler
    with _lock:
        if _handler is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            _handler = _make_handler_class(litellm)()
            litellm.custom_provider_map = [
                entry for entry in litellm.custom_provider_map if entry["provider"] != PROVIDER
            ] + [{"provider": PROVIDER, "custom_handler": _handler}]
            from litellm.utils import custom_llm_setup

            custom_llm_setup()
        if model is not None:
            _handler.model = model
        elif latency:
            _handler.latency = latency
            if hasattr(_handler.model, "latency"):  # already built
                _handler.model.latency = latency


def _make_handler_class(litellm):
    class OfflineProvider(litellm.CustomLLM):
        """Serves ``OfflineModel.respond`` as a litellm ``ModelResponse``."""

        def __init__(self) -> None:
            super().__init__()
            self.model = None
            self.latency = 0.0

        def _model(self):
            with _lock:
                if self.model is None:
                    from qdagents.offline._model import OfflineModel

                    self.model = OfflineModel(latency=self.latency)
                return self.model

        def completion(self, *args, **kwargs):
            name = kwargs["model"].split("/")[-1]
            role = offline_role(name)
            if role is None:
                raise litellm.NotFoundError(
                    f"unknown model {PROVIDER}/{name} (offline provider); use one of "
                    + ", ".join(f"{PROVIDER}/{r}" for r in ROLES)
                    + " (a suffix such as -cheap names a variant)", model=name,
                    llm_provider=PROVIDER)
            params = kwargs.get("optional_params") or {}
            out = self._model().respond(role, kwargs["messages"], params.get("tools"),
                                        params.get("seed"))
            usage = out.get("usage") or {}
            prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
            return litellm.ModelResponse(
                model=f"{PROVIDER}/{name}", created=int(time.time()),
                choices=[{"index": 0, "finish_reason": out.get("finish_reason", "stop"),
                          "message": out["message"]}],
                usage={"prompt_tokens": prompt, "completion_tokens": completion,
                       "total_tokens": prompt + completion})

        def embedding(self, model, input, model_response, *args, **kwargs):
            from qdagents.offline._embed import embed_text, token_count

            if model.split("/")[-1] != "embed":
                raise litellm.NotFoundError(
                    f"unknown model {model} (offline embedding); use {PROVIDER}/embed",
                    model=model, llm_provider=PROVIDER)
            texts = [input] if isinstance(input, str) else list(input)
            model_response.data = [{"object": "embedding", "index": i, "embedding": embed_text(t)}
                                   for i, t in enumerate(texts)]
            model_response.model = model
            tokens = sum(token_count(t) for t in texts)
            model_response.usage = litellm.Usage(prompt_tokens=tokens, total_tokens=tokens)
            return model_response

    return OfflineProvider
