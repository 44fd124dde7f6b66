"""Know the cost before spending it: expected tokens and USD of a configured run, with a range.

The calibration (:func:`calibrate`) spends nothing on a hosted model: it evaluates the seed agent
on the configured tasks and sandbox with the **offline** model, and asks the offline mutator for
one mutation of it, metering every token. :func:`estimate_cost` then scales those counts to the
configured run and prices them with the configured models' prices:

* evaluations: ``budget.evaluations``; without it, as many as the USD budget pays for;
* agent tokens per evaluation: the seed's, times a growth factor for evolved agents (they add
  tools, retries and test runs): :data:`AGENT_GROWTH` gives (low, expected, high). Measured on the
  default offline run (60 evaluations, seed 0): the mean evaluation used 1.48x the seed's tokens,
  the largest 3.8x; the range below is (1.0, 1.5, 3.0), clipped to the configured per-evaluation
  token caps (``evaluation.task_tokens`` x tasks, ``evaluation.evaluation_tokens``);
* emitter tokens: the calibrated mutation's per proposal, :data:`PROPOSALS_PER_EVALUATION`
  proposals per evaluation (failed and duplicate edits cost tokens too; 1.3 in the default run);
* embedding tokens (``code_novelty`` axis): the seed code's token count per agent.

The offline model's token counts stand in for the real model's: a real model usually writes more
than the offline one, so treat the range as an order of magnitude, and ``budget.usd`` as the
guarantee (the ceiling line says where it stops the run).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from qdagents.llm._ensemble import emitter_models
from qdagents.llm._pricing import Pricing
from qdagents.llm._preflight import PURPOSE_LABEL, configured_models

#: Agent tokens per evaluation relative to the seed agent's: (low, expected, high).
AGENT_GROWTH = (1.0, 1.5, 3.0)
#: Emitter proposals per evaluation: (low, expected, high).
PROPOSALS_PER_EVALUATION = (1.0, 1.3, 2.0)


@dataclass(frozen=True)
class Calibration:
    """What the seed agent and one mutation of it used on the offline model.

    Token counts are per seed evaluation (over ``tasks`` tasks), per proposal, per embedded agent.
    """

    tasks: int
    agent_prompt_tokens: int
    agent_completion_tokens: int
    emitter_prompt_tokens: int
    emitter_completion_tokens: int
    embedding_tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class CostLine:
    """Expected tokens and USD of one purpose's model, each as (low, expected, high)."""

    purpose: str
    model: str
    tokens: tuple[float, float, float]
    usd: tuple[float, float, float] | None   # None: no known price


@dataclass(frozen=True)
class CostEstimate:
    """The estimate :func:`estimate_cost` makes; :meth:`text` is what ``--estimate`` prints."""

    evaluations: float
    evaluations_source: str
    lines: tuple[CostLine, ...]
    calibration: Calibration
    ceilings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def tokens(self) -> tuple[float, float, float]:
        return tuple(sum(line.tokens[i] for line in self.lines) for i in range(3))

    @property
    def usd(self) -> tuple[float, float, float] | None:
        if any(line.usd is None for line in self.lines):
            return None
        return tuple(sum(line.usd[i] for line in self.lines) for i in range(3))

    def as_dict(self) -> dict:
        return {"evaluations": self.evaluations, "evaluations_source": self.evaluations_source,
                "tokens": self.tokens, "usd": self.usd, "ceilings": list(self.ceilings),
                "lines": [line.__dict__ for line in self.lines],
                "calibration": self.calibration.__dict__}

    def text(self) -> str:
        c = self.calibration
        out = [f"Estimated cost of this run ({self.evaluations:.0f} evaluations, "
               f"{self.evaluations_source}):",
               f"{'':<12}{'model':<40}{'tokens expected (range)':>30}{'USD expected (range)':>32}"]
        for line in (*self.lines, None):
            label, model = ("total", "") if line is None else (PURPOSE_LABEL.get(
                line.purpose, line.purpose), line.model)
            tokens = self.tokens if line is None else line.tokens
            usd = self.usd if line is None else line.usd
            out.append(f"{label:<12}{model:<40}{_range(tokens, _tokens):>30}"
                       f"{_range(usd, _usd) if usd else 'price unknown':>32}")
        out += [f"ceiling: {ceiling}" for ceiling in self.ceilings]
        out.append(f"calibrated on the offline model in {c.seconds:.0f} s: the seed agent used "
                   f"{c.agent_prompt_tokens + c.agent_completion_tokens:,} tokens on {c.tasks} "
                   f"tasks, one mutation {c.emitter_prompt_tokens + c.emitter_completion_tokens:,}"
                   " tokens; nothing was spent on a hosted model. The offline model's token "
                   "counts stand in for the real model's: read the range as an order of "
                   "magnitude, and budget.usd as the guarantee.")
        return "\n".join(out)


def _tokens(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else f"{n:.0f}"


def _usd(x: float) -> str:
    return f"${x:,.2f}" if x >= 0.1 else f"${x:.4f}"


def _range(values, fmt) -> str:
    return f"{fmt(values[1])} ({fmt(values[0])}-{fmt(values[2])})"


def _split_cost(rates, prompt: float, completion: float, scale: tuple) -> tuple | None:
    if rates is None:
        return None
    per_unit = prompt * rates[0] + completion * rates[1]
    return tuple(per_unit * s for s in scale)


def estimate_cost(cfg: dict, calibration: Calibration) -> CostEstimate:
    """Scales ``calibration`` to the run ``cfg`` describes and prices it (pure: no calls)."""
    pricing = Pricing(cfg["llm"].get("prices"))
    budget, ev = cfg.get("budget") or {}, cfg.get("evaluation") or {}
    c = calibration
    # agent tokens per evaluation, capped by the per-evaluation limits
    seed_tokens = c.agent_prompt_tokens + c.agent_completion_tokens
    caps = [n for n in (ev.get("evaluation_tokens"),
                        ev.get("task_tokens") and ev["task_tokens"] * max(c.tasks, 1)) if n]
    per_eval = [min([seed_tokens * g] + caps) for g in AGENT_GROWTH]
    share = c.agent_prompt_tokens / seed_tokens if seed_tokens else 1.0
    emitter_tokens = c.emitter_prompt_tokens + c.emitter_completion_tokens
    emitter_share = c.emitter_prompt_tokens / emitter_tokens if emitter_tokens else 1.0
    agent_rates = pricing.rates(cfg["llm"]["agent_model"])
    models = emitter_models(cfg["llm"])
    ensemble_rates = [pricing.rates(m) for m in models]

    def per_evaluation_usd(i: int) -> float | None:
        if agent_rates is None or None in ensemble_rates:
            return None
        agent = per_eval[i] * (share * agent_rates[0] + (1 - share) * agent_rates[1])
        cheapest = min(emitter_share * r[0] + (1 - emitter_share) * r[1] for r in ensemble_rates)
        dearest = max(emitter_share * r[0] + (1 - emitter_share) * r[1] for r in ensemble_rates)
        rate = (cheapest, (cheapest + dearest) / 2, dearest)[i]
        return agent + emitter_tokens * PROPOSALS_PER_EVALUATION[i] * rate

    if budget.get("evaluations") is not None:
        evaluations, source = float(budget["evaluations"]), "budget.evaluations"
    elif budget.get("usd") is not None and per_evaluation_usd(1):
        evaluations = budget["usd"] / per_evaluation_usd(1)
        source = f"about what budget.usd={budget['usd']:g} pays for"
    else:
        evaluations, source = 1.0, "no evaluation budget: figures per evaluation"
    lines = [CostLine("agent", cfg["llm"]["agent_model"],
                      tuple(t * evaluations for t in per_eval),
                      None if agent_rates is None else tuple(
                          t * evaluations * (share * agent_rates[0]
                                             + (1 - share) * agent_rates[1])
                          for t in per_eval))]
    emitter_scale = tuple(p * evaluations for p in PROPOSALS_PER_EVALUATION)
    for model, rates in zip(models, ensemble_rates):
        weight = 1.0 / len(models)
        scale = tuple(s * weight for s in emitter_scale)
        lines.append(CostLine("emitter", model, tuple(emitter_tokens * s for s in scale),
                              _split_cost(rates, c.emitter_prompt_tokens,
                                          c.emitter_completion_tokens, scale)))
    for model, purposes in configured_models(cfg).items():
        if "embedding" in purposes:
            rates = pricing.rates(model)
            lines.append(CostLine("embedding", model, (c.embedding_tokens * evaluations,) * 3,
                                  None if rates is None else
                                  (c.embedding_tokens * evaluations * rates[0],) * 3))
    ceilings = []
    if budget.get("usd") is not None:
        ceilings.append(f"budget.usd={budget['usd']:g} stops the run; calls in flight may "
                        "overshoot it by at most one call's worst case (docs/llm.md, Budgets)")
        per_evaluation = per_evaluation_usd(1)
        if budget.get("evaluations") is not None and per_evaluation and (
                budget["usd"] < per_evaluation * evaluations):
            ceilings.append(f"at the expected cost, budget.usd={budget['usd']:g} stops the run "
                            f"after about {budget['usd'] / per_evaluation:.0f} of the "
                            f"{evaluations:.0f} evaluations")
    if budget.get("tokens") is not None:
        ceilings.append(f"budget.tokens={budget['tokens']} stops the run")
    if caps:
        ceilings.append(f"no evaluation uses more than {min(caps):,} agent tokens "
                        "(evaluation.task_tokens x tasks, evaluation.evaluation_tokens)")
    return CostEstimate(evaluations, source, tuple(lines), calibration, tuple(ceilings))


def offline_config(cfg: dict) -> dict:
    """``cfg`` with every model replaced by the offline one, recording nothing."""
    offline = copy.deepcopy(cfg)
    offline["llm"].update(agent_model="qdagents/coder", emitter_model="qdagents/mutator",
                          emitter_ensemble=None, api_base=None, mode="off", replay_from=None,
                          latency=0.0)
    return offline


def calibrate(cfg: dict) -> Calibration:
    """Evaluates the seed agent with the offline model on the configured tasks and sandbox, and
    asks the offline mutator for one mutation of it; returns the metered token counts."""
    import time

    import numpy as np

    from qdagents.agents import read_folder
    from qdagents.components import build_evaluator, seed_agent_dir
    from qdagents.emitters import EmitFailure, LLMMutation, Parent
    from qdagents.llm._gateway import Gateway
    from qdagents.llm._recorder import MemoryRecorder

    started = time.monotonic()
    offline = offline_config(cfg)
    calls = MemoryRecorder()
    gateway = Gateway.from_config(offline, db=calls)
    agent_dir = cfg.get("seed_agent") or seed_agent_dir()
    evaluation = build_evaluator(offline, gateway=gateway).evaluate("seed", agent_dir)
    files = read_folder(agent_dir)
    parent = Parent(id="seed", files=files, fitness=evaluation.fitness,
                    descriptors=evaluation.descriptor_values,
                    feedback=[f"- {t.task_id}: {(t.reason or 'failed')[:200]}"
                              for t in evaluation.tasks if not t.passed])
    from qdagents.llm._meter import Meter

    try:
        LLMMutation().propose([parent], rng=np.random.default_rng(0), complete=lambda messages: (
            gateway.complete({"messages": messages, "temperature": 0.0}, meter=Meter(),
                             purpose="emitter")))
    except EmitFailure:
        pass   # a failed mutation cost tokens all the same
    embedding = 0
    if any("embedding" in purposes for purposes in configured_models(cfg).values()):
        from qdagents.descriptors._embedding import code_text
        from qdagents.offline._embed import token_count

        embedding = token_count(code_text(files))

    def used(purpose: str) -> tuple[int, int]:
        rows = [r for r in calls.rows if r["purpose"] == purpose and not r["error"]]
        return (sum(r["prompt_tokens"] for r in rows), sum(r["completion_tokens"] for r in rows))

    (agent_prompt, agent_completion), (emitter_prompt, emitter_completion) = (
        used("agent"), used("emitter"))
    return Calibration(tasks=len(evaluation.tasks), agent_prompt_tokens=agent_prompt,
                       agent_completion_tokens=agent_completion,
                       emitter_prompt_tokens=emitter_prompt,
                       emitter_completion_tokens=emitter_completion,
                       embedding_tokens=embedding, seconds=time.monotonic() - started)
