"""Preflight: before the first evaluation, is every configured model usable, and priced?

A run that cannot reach its model should stop before it starts, saying why, not score its seed
agent 0 and fail fifty mutations in a row. For every model a config names (the agents', the
emitters' or every model of their ensemble, and the embedding model when the ``code_novelty``
axis is used), :func:`preflight` checks

1. credentials: the environment variables litellm needs for the provider
   (``litellm.validate_environment``), so the message can name the one to set;
2. one minimal call answered (:meth:`Gateway.probe`): a key that is set but wrong, a model name
   the provider does not know, an account without credit, a server that is not running;
3. the price, when a USD budget is set (``budget.usd``, ``evaluation.task_usd``,
   ``evaluation.evaluation_usd``): a model without a known price would count 0 USD and the budget
   would never stop the run, so the check refuses it and names the ``llm.prices`` key to set.

The offline model (``qdagents/*``) is checked by calling it (no provider, no network), and a
replay passes without any call: its answers come from recordings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from qdagents.llm._ensemble import emitter_models
from qdagents.llm._pricing import Pricing, prices_override
from qdagents.llm._provider import PROVIDER as OFFLINE

#: How each purpose is named in messages.
PURPOSE_LABEL = {"agent": "agents", "emitter": "emitters", "embedding": "embeddings"}
#: Config keys holding a USD limit; with any of them set, every model needs a price.
USD_BUDGETS = ("budget.usd", "evaluation.task_usd", "evaluation.evaluation_usd")
#: Providers for which litellm lists alternative variables (any one of them will do).
_ANY_ONE_VARIABLE = ("gemini",)


class PreflightError(RuntimeError):
    """A configured model cannot be used as configured; ``report`` says which and why."""

    def __init__(self, report: "PreflightReport") -> None:
        super().__init__(report.text(only_problems=True))
        self.report = report


@dataclass(frozen=True)
class ModelCheck:
    """What preflight found about one model.

    Attributes:
        model: the litellm model name.
        purposes: what it serves: ``agent``, ``emitter``, ``embedding``.
        ok: usable as configured.
        problem: what is wrong and what to do, when not ok.
        message: the provider's own message, when a call failed.
        variables: environment variables to set, when credentials are missing.
        price: where its price comes from (``llm.prices``, ``litellm``, ``nominal``), or None
            when unknown.
        seconds: how long the check call took.
        detail: what was checked, when it was not a call (a replay).
    """

    model: str
    purposes: tuple[str, ...]
    ok: bool
    problem: str | None = None
    message: str | None = None
    variables: tuple[str, ...] = ()
    price: str | None = None
    seconds: float = 0.0
    detail: str | None = None

    def line(self) -> str:
        served = ", ".join(PURPOSE_LABEL.get(p, p) for p in self.purposes)
        head = f"{'ok' if self.ok else 'FAIL':<5} {self.model} ({served})"
        if not self.ok:
            return f"{head}: {self.problem}"
        price = {None: "price unknown: its calls count 0 USD", "nominal": "nominal offline "
                 "price"}.get(self.price, f"price from {self.price}")
        return f"{head}: {self.detail or f'answered in {self.seconds:.1f} s'}; {price}"


@dataclass(frozen=True)
class PreflightReport:
    """Every model's :class:`ModelCheck`."""

    checks: tuple[ModelCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def problems(self) -> list[ModelCheck]:
        return [check for check in self.checks if not check.ok]

    def text(self, *, only_problems: bool = False) -> str:
        checks = self.problems if only_problems else self.checks
        return "\n".join(check.line() for check in checks)

    def raise_for_problems(self) -> "PreflightReport":
        """Raises :class:`PreflightError` naming every unusable model; returns self otherwise."""
        if not self.ok:
            raise PreflightError(self)
        return self


def configured_models(cfg: dict) -> dict[str, tuple[str, ...]]:
    """Every model ``cfg`` names, with the purposes it serves, in a stable order."""
    models: dict[str, list[str]] = {}
    llm = cfg["llm"]
    for model, purpose in [(llm["agent_model"], "agent")] + [
            (m, "emitter") for m in emitter_models(llm)]:
        models.setdefault(model, []).append(purpose)
    descriptors = cfg.get("descriptors") or {}
    if any(axis.get("name") == "code_novelty" for axis in descriptors.get("axes") or []):
        model = descriptors.get("embedding_model") or f"{OFFLINE}/embed"
        models.setdefault(model, []).append("embedding")
    return {model: tuple(dict.fromkeys(purposes)) for model, purposes in models.items()}


def usd_limits(cfg: dict) -> list[str]:
    """The USD budget keys that are set in ``cfg``."""
    found = []
    for key in USD_BUDGETS:
        section, name = key.split(".")
        if (cfg.get(section) or {}).get(name) is not None:
            found.append(key)
    return found


def unpriced(cfg: dict) -> list[ModelCheck]:
    """Failed checks for the models without a known price, when ``cfg`` sets a USD budget (the
    check a run makes before it starts; no call is made)."""
    limits = usd_limits(cfg)
    if not limits:
        return []
    pricing = Pricing(cfg["llm"].get("prices"))
    return [ModelCheck(model, purposes, False, problem=(
                f"no price known, and {' and '.join(limits)} is set: its calls would count 0 USD "
                f"and the budget would never stop the run; price it with "
                f"{prices_override(model)} (USD per million tokens), or unset {limits[0]}"))
            for model, purposes in configured_models(cfg).items()
            if pricing.rates(model) is None]


def check_prices(cfg: dict) -> None:
    """Raises :class:`PreflightError` when a USD budget is set and a model has no known price."""
    problems = unpriced(cfg)
    if problems:
        raise PreflightError(PreflightReport(tuple(problems)))


def missing_credentials(model: str, api_base: str | None = None) -> list[str]:
    """The environment variables litellm needs for ``model`` and does not find."""
    if model.startswith(OFFLINE + "/"):
        return []
    from qdagents.llm._provider import load_litellm

    try:
        found = load_litellm().validate_environment(model=model, api_base=api_base)
    except Exception:   # a provider litellm cannot name: the call will say more
        return []
    return list(found.get("missing_keys") or [])


def preflight(cfg: dict, *, gateway=None) -> PreflightReport:
    """Checks every model ``cfg`` configures: credentials, one minimal call, and a price when a
    USD budget is set. Makes one tiny call per hosted model (a few tokens); none in replay mode.

    Args:
        cfg: the run's resolved config.
        gateway: the run's :class:`~qdagents.llm.Gateway` (its probes are then recorded in the
            run database); by default one built from ``cfg`` that records nothing.
    """
    from qdagents.llm._gateway import Gateway

    gateway = gateway or Gateway.from_config(cfg)
    no_price = {check.model: check.problem for check in unpriced(cfg)}
    replay = cfg["llm"].get("mode") == "replay"
    checks = []
    for model, purposes in configured_models(cfg).items():
        price, problems, message, seconds = gateway.pricing.source(model), [], None, 0.0
        variables = [] if replay else missing_credentials(model, gateway.api_base)
        if variables:
            joiner = " or " if model.split("/")[0] in _ANY_ONE_VARIABLE else " and "
            hint = (" (any value, if the server at llm.api_base checks no key)"
                    if gateway.api_base and model.startswith("openai/") else "")
            problems.append(f"missing credentials: set {joiner.join(variables)}{hint}")
        elif not replay:   # a replay answers from recordings: no call to check
            probe = gateway.probe(model, purpose="embedding" if purposes == ("embedding",)
                                  else purposes[0])
            seconds, message = probe.seconds, probe.message
            if not probe.ok:
                what = {"fatal": "cannot be used", "provider": "did not answer"}.get(
                    probe.fault, "refused the check call")
                problems.append(f"{what}: {probe.message}")
        if model in no_price and not replay:
            problems.append(no_price[model])
        checks.append(ModelCheck(model, purposes, not problems, problem="; ".join(problems) or None,
                                 message=message, variables=tuple(variables), price=price,
                                 seconds=seconds, detail="replay: answers come from recordings, "
                                 "no call made" if replay else None))
    return PreflightReport(tuple(checks))
