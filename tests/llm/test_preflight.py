"""Preflight and `qdagents llm check`: every configured model has credentials, answers a minimal
call and, with a USD budget, a known price. Hosted models are played by a server on 127.0.0.1."""

import io

import pytest
from llm_fakes import FakeOpenAI

from qdagents import compose
from qdagents.llm import PreflightError, check_prices, configured_models, llm_check, preflight


def config(*overrides):
    return compose(list(overrides))


def local(server, *overrides, model="openai/test-model"):
    return config(f"llm.agent_model={model}", f"llm.emitter_model={model}",
                  f"llm.api_base={server.base}", "llm.max_retries=0", "llm.timeout=5",
                  *overrides)


def test_the_offline_model_passes_without_a_provider(monkeypatch):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    report = preflight(config("budget.usd=1"))
    assert report.ok and [c.model for c in report.checks] == ["qdagents/coder", "qdagents/mutator"]
    assert all(c.price == "nominal" for c in report.checks)
    out = io.StringIO()
    assert llm_check(config(), out=out) == 0 and "ok    qdagents/coder (agents)" in out.getvalue()


def test_a_replay_passes_without_a_provider_or_a_key(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    report = preflight(config("llm.mode=replay", "llm.agent_model=anthropic/claude-sonnet-4-5"))
    assert report.ok and "no call made" in report.text()


def test_a_missing_key_names_the_variable_and_makes_no_call(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    server = FakeOpenAI()
    try:
        report = preflight(local(server, "llm.emitter_model=anthropic/claude-haiku-4-5"))
    finally:
        server.close()
    agent, emitter = report.checks
    assert not agent.ok and agent.variables == ("OPENAI_API_KEY",)
    assert "set OPENAI_API_KEY (any value, if the server at llm.api_base" in agent.problem
    assert not emitter.ok and "set ANTHROPIC_API_KEY" in emitter.problem
    assert server.requests == []
    with pytest.raises(PreflightError, match="missing credentials: set ANTHROPIC_API_KEY"):
        report.raise_for_problems()


def test_a_wrong_key_is_refused_with_the_providers_message(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    server = FakeOpenAI(key="sk-right")
    try:
        out = io.StringIO()
        assert llm_check(local(server), out=out) == 1
    finally:
        server.close()
    text = out.getvalue()
    assert "FAIL  openai/test-model (agents, emitters): cannot be used: " in text
    assert "authentication failed" in text and "Incorrect API key provided" in text


@pytest.mark.parametrize("failure, words", [("404", "unknown model"), ("402", "no credit"),
                                            ("500", "did not answer")])
def test_an_unknown_model_no_credit_or_a_broken_server_fail_the_check(openai_server, failure,
                                                                       words):
    openai_server.default = failure
    report = preflight(local(openai_server))
    assert not report.ok and words in report.checks[0].problem


def test_a_server_that_is_not_running(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    server = FakeOpenAI()
    server.close()
    report = preflight(local(server))
    assert "did not answer" in report.checks[0].problem
    assert "unreachable" in report.checks[0].problem


def test_a_working_provider_passes_and_its_probe_is_tiny(openai_server):
    report = preflight(local(openai_server))
    assert report.ok and len(openai_server.requests) == 1
    sent = openai_server.requests[0]["body"]
    assert sent["max_tokens"] == 16 and len(sent["messages"]) == 1


def test_a_usd_budget_needs_a_price_for_every_model(openai_server):
    unpriced = local(openai_server, "budget.usd=5")
    with pytest.raises(PreflightError) as caught:
        check_prices(unpriced)
    message = str(caught.value)
    assert "openai/test-model" in message and "budget.usd" in message
    assert "'++llm.prices={openai/test-model: {input_per_mtok: X, output_per_mtok: Y}}'" in message
    assert not preflight(unpriced).ok
    priced = local(openai_server, "budget.usd=5",
                   "++llm.prices={openai/test-model: {input_per_mtok: 1, output_per_mtok: 2}}")
    check_prices(priced)
    assert preflight(priced).ok
    check_prices(local(openai_server))                     # no USD budget: no price needed
    with pytest.raises(PreflightError, match="evaluation.task_usd"):
        check_prices(local(openai_server, "evaluation.task_usd=0.5"))


def test_litellms_zero_price_for_a_model_it_does_not_know_is_no_price():
    cfg = config("llm.agent_model=openrouter/anthropic/claude-sonnet-4.5", "budget.usd=5")
    with pytest.raises(PreflightError, match="openrouter/anthropic/claude-sonnet-4.5"):
        check_prices(cfg)
    check_prices(config("llm.agent_model=anthropic/claude-sonnet-4-5", "budget.usd=5"))


def test_every_model_of_an_ensemble_and_the_embedding_model_are_checked(openai_server):
    cfg = local(openai_server, "descriptors=code_novelty",
                "descriptors.embedding_model=openai/test-embed",
                "llm.emitter_ensemble={models: [{model: openai/test-model, weight: 1}, "
                "{model: qdagents/mutator-cheap, weight: 1}]}")
    assert configured_models(cfg) == {"openai/test-model": ("agent", "emitter"),
                                      "qdagents/mutator-cheap": ("emitter",),
                                      "openai/test-embed": ("embedding",)}
    report = preflight(cfg)
    assert report.ok, report.text()
    assert sorted(r["path"] for r in openai_server.requests) == ["/v1/chat/completions",
                                                                 "/v1/embeddings"]
