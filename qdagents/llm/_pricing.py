"""USD cost of a call: configured prices first, then litellm's price table.

A price is *known* when the ``prices`` config names the model (exactly, or by a ``prefix/*`` key),
or when litellm's table has a non-zero price for it. litellm answers 0 USD for some models it does
not really know (``openrouter/...`` names it has no row for, for instance): a zero from its table
is treated as unknown, so a run with a USD budget never counts a paid model as free. A model that
really is free (a local server) is priced 0 explicitly in ``prices`` (the ``vllm`` and ``ollama``
presets do).

The offline model has no real price. It is given a *nominal* one (:data:`NOMINAL_OFFLINE_PRICE`,
about what a small hosted model charges) only so that USD budgets and USD plots work offline; the
numbers it produces are not money anyone spent.
"""

from __future__ import annotations

import functools
import logging
import re
import threading

log = logging.getLogger(__name__)

#: Nominal USD per million tokens for ``qdagents/*`` (the offline model). Not a real cost.
NOMINAL_OFFLINE_PRICE = {"input_per_mtok": 0.15, "output_per_mtok": 0.60}


def prices_override(model: str, input_per_mtok: float | str = "X",
                    output_per_mtok: float | str = "Y") -> str:
    """The command-line override that prices ``model``, quoted for a shell. Hydra's grammar
    takes no quoted dict keys, so a name with other characters (``ollama/qwen:7b``) is priced
    through its provider's prefix key (``ollama/*``)."""
    key = model if re.fullmatch(r"[\w./*-]+", model) else model.split("/")[0] + "/*"
    return (f"'++llm.prices={{{key}: {{input_per_mtok: {input_per_mtok}, "
            f"output_per_mtok: {output_per_mtok}}}}}'")


class Pricing:
    """Prices calls by model.

    Args:
        prices: ``{model: {"input_per_mtok": usd, "output_per_mtok": usd}}``; overrides litellm's
            table. A key ending in ``/*`` matches every model with that prefix (the longest such
            key wins; ``"qdagents/*"`` sets the offline model's nominal price).
    """

    def __init__(self, prices: dict | None = None) -> None:
        self.configured = dict(prices or {})
        self.prices = {"qdagents/*": dict(NOMINAL_OFFLINE_PRICE), **self.configured}
        self._unknown: set[str] = set()
        self._lock = threading.Lock()

    def _configured(self, model: str) -> dict | None:
        if model in self.prices:
            return self.prices[model]
        prefixes = [key for key in self.prices
                    if key.endswith("/*") and model.startswith(key[:-1])]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def source(self, model: str) -> str | None:
        """Where ``model``'s price comes from: ``"llm.prices"``, ``"litellm"``, ``"nominal"`` (the
        offline model's), or None (unknown)."""
        price = self._configured(model)
        if price is not None:
            return "nominal" if price is self.prices.get("qdagents/*") and (
                "qdagents/*" not in self.configured) else "llm.prices"
        return "litellm" if _litellm_rates(model) is not None else None

    def rates(self, model: str) -> tuple[float, float] | None:
        """USD per prompt token and per completion token, or None when the price is unknown."""
        price = self._configured(model)
        if price is not None:
            return (float(price.get("input_per_mtok", 0.0)) / 1e6,
                    float(price.get("output_per_mtok", 0.0)) / 1e6)
        return _litellm_rates(model)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for the tokens; 0.0 (with one warning per model) when the price is unknown."""
        price = self._configured(model)
        if price is not None:
            return (prompt_tokens * float(price.get("input_per_mtok", 0.0))
                    + completion_tokens * float(price.get("output_per_mtok", 0.0))) / 1e6
        if _litellm_rates(model) is not None:
            from qdagents.llm._provider import load_litellm

            try:  # litellm's own arithmetic: it knows tiered prices (long prompts cost more)
                prompt_usd, completion_usd = load_litellm().cost_per_token(
                    model=model, prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens)
                return float(prompt_usd) + float(completion_usd)
            except Exception:
                pass
        with self._lock:
            if model not in self._unknown:
                self._unknown.add(model)
                log.warning("no price known for %s: its calls count 0 USD; set %s to price "
                            "them", model, prices_override(model))
        return 0.0

    def max_output_tokens(self, model: str) -> int | None:
        """The most completion tokens ``model`` produces in one call, per litellm's table."""
        info = _model_info(model)
        value = (info.get("max_output_tokens") or info.get("max_tokens")) if info else None
        return int(value) if isinstance(value, (int, float)) and value > 0 else None


@functools.lru_cache(maxsize=256)
def _model_info(model: str) -> dict | None:
    """litellm's row for ``model`` (None when it has none); cached: the table does not change."""
    from qdagents.llm._provider import PROVIDER, load_litellm

    if model.startswith(PROVIDER + "/"):
        return None
    try:
        return dict(load_litellm().get_model_info(model))
    except Exception:  # litellm raises for a model it does not know
        return None


def _litellm_rates(model: str) -> tuple[float, float] | None:
    info = _model_info(model)
    if not info:
        return None
    rates = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not all(isinstance(r, (int, float)) for r in rates) or not any(rates):
        return None   # litellm says 0/0 for names it has no row for (openrouter/..., ollama/...)
    return float(rates[0]), float(rates[1])
