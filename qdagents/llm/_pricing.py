"""USD cost of a call: configured prices first, then litellm's price table.

The offline model has no real price. It is given a *nominal* one (:data:`NOMINAL_OFFLINE_PRICE`,
about what a small hosted model charges) only so that USD budgets and USD plots work offline; the
numbers it produces are not money anyone spent.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

#: Nominal USD per million tokens for ``qdagents/*`` (the offline model). Not a real cost.
NOMINAL_OFFLINE_PRICE = {"input_per_mtok": 0.15, "output_per_mtok": 0.60}


class Pricing:
    """Prices calls by model.

    Args:
        prices: ``{model: {"input_per_mtok": usd, "output_per_mtok": usd}}``; overrides litellm's
            table. A key ending in ``/*`` matches every model with that prefix
            (``"qdagents/*"`` sets the offline model's nominal price).
    """

    def __init__(self, prices: dict | None = None) -> None:
        self.prices = {"qdagents/*": dict(NOMINAL_OFFLINE_PRICE), **(prices or {})}
        self._unknown: set[str] = set()
        self._lock = threading.Lock()

    def _configured(self, model: str) -> dict | None:
        if model in self.prices:
            return self.prices[model]
        for key, price in self.prices.items():
            if key.endswith("/*") and model.startswith(key[:-1]):
                return price
        return None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for the tokens; 0.0 (with one warning per model) when the price is unknown."""
        price = self._configured(model)
        if price is not None:
            return (prompt_tokens * float(price.get("input_per_mtok", 0.0))
                    + completion_tokens * float(price.get("output_per_mtok", 0.0))) / 1e6
        from qdagents.llm._provider import load_litellm

        try:
            prompt_usd, completion_usd = load_litellm().cost_per_token(
                model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            return float(prompt_usd) + float(completion_usd)
        except Exception:  # litellm raises when it does not know the model
            with self._lock:
                if model not in self._unknown:
                    self._unknown.add(model)
                    log.warning("no price known for %s: its calls count 0 USD; set "
                                "llm.prices.%s to price them", model, model)
            return 0.0
