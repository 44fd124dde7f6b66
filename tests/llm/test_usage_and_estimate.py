"""Tokens and USD per model and purpose from a run database, and the cost estimate that spends
nothing on a hosted model."""

import pytest
from llm_fakes import FakeOpenAI, chat

from qdagents import compose
from qdagents.llm import Budget, Calibration, Gateway, Meter, calibrate, estimate_cost, llm_usage
from qdagents.store import RunDatabase


def test_usage_by_model_purpose_and_fault_from_the_run_database(tmp_path, openai_server):
    db = RunDatabase(tmp_path / "run.sqlite")
    gw = Gateway(model="openai/test-model", api_base=openai_server.base, db=db, max_retries=0,
                 purpose_models={"agent": "openai/test-model", "emitter": "qdagents/mutator"},
                 prices={"openai/test-model": {"input_per_mtok": 2.0, "output_per_mtok": 10.0}})
    for i in range(3):
        gw.complete(chat(f"agent {i}"), meter=Meter(), agent_id="a", task_id="t")
    gw.complete(chat("agent 0"), meter=Meter(), agent_id="a", task_id="t")   # answered again
    gw.complete(chat("mutate", tools=None), meter=Meter(), purpose="emitter")
    gw.embed(["def f(): pass"], model="qdagents/embed", meter=Meter())
    openai_server.script = ["500", "ctx"]
    gw.complete(chat("spoiled"), meter=Meter())
    gw.complete(chat("too long"), meter=Meter())
    spent = Budget(tokens=1)
    spent.charge(tokens=1)
    gw.complete(chat("over"), meter=Meter(budget=spent))
    usage = llm_usage(db)
    agent = usage["by_model"]["openai/test-model"]
    assert (agent["calls"], agent["provider_answers"], agent["errors"]) == (7, 4, 3)
    assert (agent["prompt_tokens"], agent["completion_tokens"], agent["tokens"]) == (
        4 * 21, 4 * 8, 4 * 29)
    assert agent["cost_usd"] == pytest.approx(4 * (21 * 2.0 + 8 * 10.0) / 1e6)
    assert set(usage["by_purpose"]) == {"agent", "emitter", "embedding"}
    assert usage["by_purpose"]["emitter"]["tokens"] == usage["by_model"]["qdagents/mutator"][
        "tokens"] > 0
    assert usage["by_purpose"]["embedding"]["completion_tokens"] == 0
    assert usage["faults"] == {"provider": 1, "agent": 2}
    db.close()


CALIBRATION = Calibration(tasks=17, agent_prompt_tokens=70_000, agent_completion_tokens=5_000,
                          emitter_prompt_tokens=2_000, emitter_completion_tokens=200,
                          embedding_tokens=900, seconds=30)


def test_the_estimate_scales_the_calibration_and_prices_it():
    cfg = compose(["llm.agent_model=anthropic/claude-haiku-4-5",
                   "llm.emitter_model=anthropic/claude-sonnet-4-5", "budget.evaluations=100",
                   "evaluation.task_tokens=10000"])
    estimate = estimate_cost(cfg, CALIBRATION)
    agent, emitter = estimate.lines
    low, expected, high = agent.tokens
    assert expected == pytest.approx(100 * 75_000 * 1.5)
    assert high == pytest.approx(100 * 170_000)          # capped: 17 tasks x 10 000 tokens
    haiku = (70_000 * 1.0 + 5_000 * 5.0) / 75_000 / 1e6   # USD per token, this prompt share
    assert agent.usd[1] == pytest.approx(expected * haiku)
    assert emitter.tokens[1] == pytest.approx(100 * 1.3 * 2_200)
    assert emitter.usd[1] == pytest.approx(100 * 1.3 * (2_000 * 3.0 + 200 * 15.0) / 1e6)
    assert estimate.usd[0] < estimate.usd[1] < estimate.usd[2]
    text = estimate.text()
    assert "100 evaluations, budget.evaluations" in text and "nothing was spent" in text
    assert "no evaluation uses more than 170,000 agent tokens" in text


def test_the_estimate_without_an_evaluation_budget_and_without_a_price():
    cfg = compose(["llm.agent_model=anthropic/claude-haiku-4-5", "budget.evaluations=null",
                   "budget.usd=20"])
    estimate = estimate_cost(cfg, CALIBRATION)
    assert "budget.usd=20 pays for" in estimate.evaluations_source
    assert estimate.usd[1] == pytest.approx(20.0)
    assert any("budget.usd=20 stops the run" in c for c in estimate.ceilings)
    unknown = estimate_cost(compose(["llm.agent_model=openai/my-model"]), CALIBRATION)
    assert unknown.usd is None and "price unknown" in unknown.text()


def test_calibration_uses_the_offline_model_only(bwrap_backend, monkeypatch):
    """The configured model is a server on 127.0.0.1 that counts requests: it gets none."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    server = FakeOpenAI()
    try:
        cfg = compose(["llm.agent_model=openai/test-model", "llm.emitter_model=openai/test-model",
                       f"llm.api_base={server.base}", "tasks.limit=2", f"sandbox={bwrap_backend}",
                       "++llm.prices={openai/test-model: {input_per_mtok: 1, output_per_mtok: 2}}"])
        calibration = calibrate(cfg)
    finally:
        server.close()
    assert server.requests == []
    assert calibration.tasks == 2 and calibration.agent_prompt_tokens > 0
    assert calibration.emitter_prompt_tokens > 0 and calibration.emitter_completion_tokens > 0
    estimate = estimate_cost(cfg, calibration)
    assert estimate.usd[1] > 0 and estimate.lines[0].model == "openai/test-model"
