"""Model ensembles for emitters: which model makes the next child.

An emitter call may go to one of several models (``llm.emitter_ensemble``). Two ways to choose:

* :class:`WeightedModels` draws by fixed weights.
* :class:`CostAwareModels` is a bandit that prefers the model whose children enter the archive
  most *per USD*. ShinkaEvolve (Lange et al., 2025, "ShinkaEvolve: Towards Open-Ended and
  Sample-Efficient Program Evolution") picks its mutation model per call with a bandit rewarded
  by the children's improvement, optionally blended with each model's observed cost; here the
  reward is the event the archive cares about (the child entered it: a new cell or a better
  elite), and cost enters as a ratio, by Thompson sampling (Thompson, 1933): draw each model's
  entry rate from its Beta posterior, divide by its mean cost per child, call the best.

Both are pure: no I/O, no clock; randomness comes from the ``rng`` the caller passes, so a run is
reproducible and a resumed run rebuilds a chooser by telling it the recorded history again. The
scheduler calls :meth:`choose` once per emitter call and :meth:`tell` once the child's fate is
known (or at once, ``entered=False``, for a proposal that made no child).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

BANDITS = ("cost_aware",)


class ModelChooser(Protocol):
    """What the scheduler needs from an ensemble."""

    models: list[str]

    def choose(self, rng: np.random.Generator) -> str: ...

    def tell(self, model: str, *, entered: bool, cost_usd: float) -> None: ...

    def counts(self) -> dict[str, dict]: ...


class _Record:
    """Per-model counts shared by the choosers (for the summary and the report)."""

    def __init__(self, models: list[str]) -> None:
        if not models or len(set(models)) != len(models):
            raise ValueError(f"an ensemble needs distinct models, got {models!r}")
        self.models = list(models)
        self._index = {m: i for i, m in enumerate(self.models)}
        self.children = np.zeros(len(models), dtype=np.int64)
        self.entered = np.zeros(len(models), dtype=np.int64)
        self.cost_usd = np.zeros(len(models))

    def tell(self, model: str, *, entered: bool, cost_usd: float) -> None:
        """Records one child of ``model`` (or one failed attempt: ``entered=False``) and what it
        cost in USD (its emitter call(s); add the child's evaluation for the whole price)."""
        if model not in self._index:
            raise ValueError(f"{model} is not in the ensemble ({', '.join(self.models)})")
        if not np.isfinite(cost_usd) or cost_usd < 0:
            raise ValueError(f"cost_usd must be a finite number >= 0, got {cost_usd!r}")
        i = self._index[model]
        self.children[i] += 1
        self.entered[i] += int(bool(entered))
        self.cost_usd[i] += float(cost_usd)

    def counts(self) -> dict[str, dict]:
        """``{model: {"children", "entered", "cost_usd"}}``."""
        return {m: {"children": int(self.children[i]), "entered": int(self.entered[i]),
                    "cost_usd": float(self.cost_usd[i])} for i, m in enumerate(self.models)}


class WeightedModels(_Record):
    """Draws a model by fixed weights.

    Args:
        models: litellm model names.
        weights: one per model, >= 0, not all 0; default equal.
    """

    def __init__(self, *, models: list[str], weights: list[float] | None = None) -> None:
        super().__init__(models)
        weights = np.ones(len(models)) if weights is None else np.asarray(weights, float)
        if weights.shape != (len(models),) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"weights must be one number >= 0 per model, not all 0; "
                             f"got {list(weights)}")
        self.p = weights / weights.sum()

    def choose(self, rng: np.random.Generator) -> str:
        return self.models[int(rng.choice(len(self.models), p=self.p))]


class CostAwareModels(_Record):
    """Thompson sampling on archive entries per USD.

    Each model's chance that a child enters the archive has a ``Beta(prior_entered + entered,
    prior_missed + children - entered)`` posterior. Its cost per child is estimated as its mean
    observed cost, shrunk toward the ensemble's mean by one pseudo-child (so an untried model is
    neither free nor dear). Each call draws a rate per model and picks the largest rate / cost.
    Between two models whose children enter equally often only the price decides, and the
    cheaper one wins more and more of the calls as the evidence grows. A model whose
    answers cost nothing (a local server priced 0) wins whenever its drawn rate is not 0.

    Args:
        models: litellm model names.
        prior_entered, prior_missed: the Beta prior (1, 1: uniform).
    """

    def __init__(self, *, models: list[str], prior_entered: float = 1.0,
                 prior_missed: float = 1.0) -> None:
        super().__init__(models)
        if prior_entered <= 0 or prior_missed <= 0:
            raise ValueError("the Beta prior's parameters must be > 0")
        self.prior = (float(prior_entered), float(prior_missed))

    def expected_cost(self) -> np.ndarray:
        """Mean USD per child of each model, each shrunk toward the ensemble's mean."""
        told = self.children.sum()
        overall = self.cost_usd.sum() / told if told else 1.0
        return (self.cost_usd + overall) / (self.children + 1)

    def choose(self, rng: np.random.Generator) -> str:
        rate = rng.beta(self.prior[0] + self.entered,
                        self.prior[1] + self.children - self.entered)
        score = rate / np.maximum(self.expected_cost(), 1e-12)
        best = np.flatnonzero(score == score.max())
        return self.models[int(best[0] if len(best) == 1 else rng.choice(best))]


def emitter_models(llm: dict) -> list[str]:
    """The models emitter calls may go to, per the ``llm`` config: the ensemble's, else
    ``emitter_model``."""
    ensemble = llm.get("emitter_ensemble")
    if ensemble:
        return [entry["model"] for entry in ensemble["models"]]
    return [llm["emitter_model"]]


def make_model_chooser(llm: dict) -> ModelChooser:
    """The chooser ``llm.emitter_ensemble`` describes (a one-model :class:`WeightedModels`
    without an ensemble)."""
    ensemble = llm.get("emitter_ensemble")
    if not ensemble:
        return WeightedModels(models=[llm["emitter_model"]])
    models = [entry["model"] for entry in ensemble["models"]]
    if ensemble.get("bandit") == "cost_aware":
        return CostAwareModels(models=models)
    return WeightedModels(models=models,
                          weights=[entry.get("weight", 1.0) for entry in ensemble["models"]])
