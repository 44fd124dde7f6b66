"""Model ensembles for emitters: weighted draws, and the cost-aware bandit that shifts toward the
model whose children enter the archive most per USD."""

import numpy as np
import pytest
from llm_fakes import chat

from qdagents import compose
from qdagents.config import ConfigError
from qdagents.llm import (CostAwareModels, Gateway, Meter, WeightedModels, emitter_models,
                          make_model_chooser)

CHEAP, DEAR = "qdagents/mutator-cheap", "qdagents/mutator"


def simulate(chooser, *, rate, cost, steps, seed=0):
    """Drives a chooser with simulated outcomes: a child of model m enters the archive with
    probability rate[m] and costs cost[m] USD. Returns the models chosen, in order."""
    rng, outcomes = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    chosen = []
    for _ in range(steps):
        model = chooser.choose(rng)
        chooser.tell(model, entered=bool(outcomes.random() < rate[model]), cost_usd=cost[model])
        chosen.append(model)
    return chosen


def test_weighted_models_draw_by_weight():
    chooser = WeightedModels(models=[DEAR, CHEAP], weights=[1, 3])
    chosen = simulate(chooser, rate={DEAR: 0.3, CHEAP: 0.3}, cost={DEAR: 1, CHEAP: 1},
                      steps=4000)
    assert chosen.count(CHEAP) / len(chosen) == pytest.approx(0.75, abs=0.03)
    assert chooser.counts()[CHEAP]["children"] == chosen.count(CHEAP)


@pytest.mark.parametrize("seed", range(5))
def test_the_bandit_shifts_to_the_cheaper_of_two_equally_good_models(seed):
    chooser = CostAwareModels(models=[DEAR, CHEAP])
    chosen = simulate(chooser, rate={DEAR: 0.3, CHEAP: 0.3}, cost={DEAR: 0.01, CHEAP: 0.002},
                      steps=400, seed=seed)
    early, late = chosen[:50].count(CHEAP) / 50, chosen[-200:].count(CHEAP) / 200
    assert late >= 0.85 and late > early
    # the dearer model was tried; at five times the price it could not win even with every
    # child entering once the cheaper one's rate (0.3) is known to be above 1/5
    assert chooser.counts()[DEAR]["children"] >= 1


def test_the_bandit_pays_for_a_model_that_is_worth_its_price():
    # four times the price, ten times the entries: the dear model is the better buy
    chooser = CostAwareModels(models=[DEAR, CHEAP])
    chosen = simulate(chooser, rate={DEAR: 0.5, CHEAP: 0.05}, cost={DEAR: 0.008, CHEAP: 0.002},
                      steps=400)
    assert chosen[-200:].count(DEAR) / 200 >= 0.8


def test_choosers_are_reproducible_and_refuse_what_they_do_not_know():
    runs = [simulate(CostAwareModels(models=[DEAR, CHEAP]), rate={DEAR: 0.3, CHEAP: 0.3},
                     cost={DEAR: 0.01, CHEAP: 0.002}, steps=100, seed=7) for _ in range(2)]
    assert runs[0] == runs[1]
    chooser = CostAwareModels(models=[DEAR, CHEAP])
    with pytest.raises(ValueError, match="not in the ensemble"):
        chooser.tell("openai/other", entered=True, cost_usd=0.1)
    with pytest.raises(ValueError, match="cost_usd"):
        chooser.tell(DEAR, entered=True, cost_usd=float("nan"))
    with pytest.raises(ValueError, match="distinct"):
        WeightedModels(models=[DEAR, DEAR])


def test_two_offline_models_at_different_nominal_prices_through_the_gateway():
    """The real path of an emitter call: the chooser picks, the gateway calls that offline model
    and prices it from llm.prices; what the call cost is what the chooser is told. Children are
    made equally likely to enter (both models are the same offline mutator)."""
    cfg = compose(["++llm.prices={qdagents/mutator: {input_per_mtok: 3, output_per_mtok: 15}, "
                   "qdagents/mutator-cheap: {input_per_mtok: 0.3, output_per_mtok: 1.5}}",
                   "llm.emitter_ensemble={models: [{model: qdagents/mutator}, "
                   "{model: qdagents/mutator-cheap}], bandit: cost_aware}"])
    gateway = Gateway.from_config(cfg)
    chooser = make_model_chooser(cfg["llm"])
    assert isinstance(chooser, CostAwareModels) and gateway.models_for("emitter") == [DEAR, CHEAP]
    rng, fate = np.random.default_rng(0), np.random.default_rng(1)
    chosen = []
    for step in range(120):
        model = chooser.choose(rng)
        meter = Meter()
        body = gateway.complete(chat(f"mutate agent {step}", tools=None), meter=meter,
                                purpose="emitter", model=model)
        assert "choices" in body and meter.cost_usd > 0
        chooser.tell(model, entered=bool(fate.random() < 0.3), cost_usd=meter.cost_usd)
        chosen.append(model)
    counts = chooser.counts()
    assert counts[DEAR]["cost_usd"] / counts[DEAR]["children"] == pytest.approx(
        10 * counts[CHEAP]["cost_usd"] / counts[CHEAP]["children"], rel=0.3)
    assert chosen[-60:].count(CHEAP) / 60 >= 0.8
    refused = gateway.complete(chat(), meter=Meter(), purpose="emitter", model="qdagents/coder")
    assert "not configured for emitter calls" in refused["error"]["message"]


def test_ensemble_config_is_validated_naming_the_key():
    assert emitter_models(compose([])["llm"]) == ["qdagents/mutator"]
    weighted = compose(["llm.emitter_ensemble={models: [{model: a/b, weight: 1}, "
                        "{model: c/d, weight: 3}]}"])
    chooser = make_model_chooser(weighted["llm"])
    assert isinstance(chooser, WeightedModels) and list(chooser.p) == [0.25, 0.75]
    for bad, key in (("{models: []}", "llm.emitter_ensemble.models"),
                     ("{models: [{model: nope}]}", "llm.emitter_ensemble.models[0].model"),
                     ("{models: [{model: a/b, weight: -1}]}",
                      "llm.emitter_ensemble.models[0].weight"),
                     ("{models: [{model: a/b}], bandit: greedy}", "llm.emitter_ensemble.bandit"),
                     ("{models: [{model: a/b}, {model: a/b}]}", "listed twice")):
        with pytest.raises(ConfigError):
            compose([f"llm.emitter_ensemble={bad}"])
        from qdagents.llm import validate_llm

        cfg = compose([])
        cfg["llm"]["emitter_ensemble"] = _parse(bad)
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            validate_llm(cfg)


def _parse(text):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.create(f"x: {text}"))["x"]


def test_a_run_draws_its_emitters_model_from_the_ensemble_and_a_resume_rebuilds_it(tmp_path):
    """In a run: each child's emitter calls go to the model drawn for its plan, the proposal
    records model and cost, the chooser is told each child's fate, and a resume tells it the
    same history again (the same counts)."""
    from qdagents import Run

    cfg = compose(["++llm.prices={qdagents/mutator: {input_per_mtok: 3, output_per_mtok: 15}, "
                   "qdagents/mutator-cheap: {input_per_mtok: 0.3, output_per_mtok: 1.5}}",
                   "llm.emitter_ensemble={models: [{model: qdagents/mutator}, "
                   "{model: qdagents/mutator-cheap}], bandit: cost_aware}",
                   "emitters=llm_mutation", "budget.evaluations=10", "tasks.limit=1",
                   "sandbox=process", "workers=1", "progress=quiet"])
    run = Run.from_config(cfg, tmp_path / "run")
    run.execute()
    counts = run.scheduler.models.counts()
    rows = run.db.execute("SELECT step, model, cost_usd, status FROM proposals WHERE step > 0")
    assert rows and all(r["model"] in (DEAR, CHEAP) and r["cost_usd"] > 0 for r in rows)
    calls = run.db.execute("SELECT model, COUNT(*) AS n FROM llm_calls WHERE purpose = 'emitter' "
                           "GROUP BY model")
    assert {c["model"] for c in calls} <= {DEAR, CHEAP}
    assert sum(c["children"] for c in counts.values()) == len(rows)
    from qdagents.rundata import summary_metrics

    summary = summary_metrics(tmp_path / "run")["llm"]["emitter_models"]
    assert {m: (c["children"], c["entered"]) for m, c in summary.items()} == {
        m: (c["children"], c["entered"]) for m, c in counts.items() if c["children"]}
    assert sum(c["cost_usd"] for c in summary.values()) == pytest.approx(
        sum(c["cost_usd"] for c in counts.values()))
    resumed = Run.resume(tmp_path / "run")
    resumed.runner.restore()
    assert resumed.scheduler.models.counts() == counts
    resumed.close()
