"""Checks of the ``llm`` config keys this package reads, naming the bad key.

:func:`validate_llm` raises :class:`qdagents.config.ConfigError` like the rest of the config
check (``qdagents.config.validate`` calls it), so a broken ``llm`` block stops a run before
anything starts, with a message that starts with the dotted key.
"""

from __future__ import annotations

import numbers

from qdagents.llm._ensemble import BANDITS


def _error(message: str):
    from qdagents.config import ConfigError

    return ConfigError(message)


def _model_name(key: str, value) -> None:
    if not isinstance(value, str) or "/" not in value:
        raise _error(f"{key}: expected a litellm model string like 'provider/model', "
                     f"got {value!r}")


def validate_llm(cfg: dict) -> dict:
    """Raises ``ConfigError`` for the first bad ``llm.*`` value; returns ``cfg`` unchanged."""
    llm = cfg.get("llm")
    if not isinstance(llm, dict):
        raise _error(f"llm: expected a mapping, got {llm!r}")
    max_tokens = llm.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, numbers.Integral)
                                   or isinstance(max_tokens, bool) or max_tokens < 1):
        raise _error(f"llm.max_tokens: expected an integer >= 1 or null, got {max_tokens!r}")
    for key, kind in (("fault_retries", numbers.Integral), ("fault_backoff", numbers.Real)):
        value = llm.get(key, 0)
        if not isinstance(value, kind) or isinstance(value, bool) or value < 0:
            raise _error(f"llm.{key}: expected a number >= 0, got {value!r}")
    prices = llm.get("prices") or {}
    if not isinstance(prices, dict):
        raise _error(f"llm.prices: expected {{model: {{input_per_mtok, output_per_mtok}}}}, "
                     f"got {prices!r}")
    for model, price in prices.items():
        if not isinstance(price, dict) or set(price) - {"input_per_mtok", "output_per_mtok"} \
                or not price:
            raise _error(f"llm.prices.{model}: expected {{input_per_mtok, output_per_mtok}}, "
                         f"got {price!r}")
        for name, usd in price.items():
            if not isinstance(usd, numbers.Real) or isinstance(usd, bool) or usd < 0:
                raise _error(f"llm.prices.{model}.{name}: expected USD per million tokens "
                             f">= 0, got {usd!r}")
    ensemble = llm.get("emitter_ensemble")
    if ensemble is None:
        return cfg
    key = "llm.emitter_ensemble"
    if not isinstance(ensemble, dict) or set(ensemble) - {"models", "bandit"}:
        raise _error(f"{key}: expected {{models: [{{model, weight}}, ...], bandit}}, "
                     f"got {ensemble!r}")
    models = ensemble.get("models")
    if not isinstance(models, list) or not models:
        raise _error(f"{key}.models: expected a non-empty list of {{model, weight}}, "
                     f"got {models!r}")
    names = []
    for i, entry in enumerate(models):
        if not isinstance(entry, dict) or "model" not in entry or set(entry) - {"model",
                                                                               "weight"}:
            raise _error(f"{key}.models[{i}]: expected {{model, weight}}, got {entry!r}")
        _model_name(f"{key}.models[{i}].model", entry["model"])
        weight = entry.get("weight", 1.0)
        if not isinstance(weight, numbers.Real) or isinstance(weight, bool) or weight < 0:
            raise _error(f"{key}.models[{i}].weight: expected a number >= 0, got {weight!r}")
        names.append(entry["model"])
    if len(set(names)) != len(names):
        raise _error(f"{key}.models: a model is listed twice: {names}")
    if sum(entry.get("weight", 1.0) for entry in models) <= 0:
        raise _error(f"{key}.models: at least one model needs a weight > 0")
    bandit = ensemble.get("bandit")
    if bandit is not None and bandit not in BANDITS:
        raise _error(f"{key}.bandit: expected null or one of {', '.join(BANDITS)}, "
                     f"got {bandit!r}")
    return cfg
