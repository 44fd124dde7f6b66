"""Embeddings go through the gateway like completions: metered, recorded, replayable, budgeted."""

import pytest

from qdagents.llm import (Budget, EmbeddingError, Gateway, MemoryRecorder, Meter,
                          ProviderUnusable, RunBudgetExhausted)

TEXTS = ["def f(x): return x + 1", "def g(y): return y - 1"]


def test_record_then_replay_without_provider():
    recorder = MemoryRecorder()
    meter = Meter()
    vectors = Gateway(model="qdagents/coder", db=recorder).embed(
        TEXTS, model="qdagents/embed", meter=meter, agent_id="a")
    assert len(vectors) == 2 and meter.provider_calls == 1 and meter.tokens > 0
    replay = Gateway(model="qdagents/coder", mode="replay", replay_source=recorder)
    again = Meter()
    assert replay.embed(TEXTS, model="qdagents/embed", meter=again) == vectors
    assert again.provider_calls == 0 and again.cache_hits == 1
    with pytest.raises(EmbeddingError, match="no recording"):
        replay.embed(["something else"], model="qdagents/embed", meter=Meter())


def test_budget_and_provider_errors_raise_by_whose_fault_they_are():
    gateway = Gateway(model="qdagents/coder", run_budget=Budget(tokens=1), max_retries=0)
    gateway.embed(TEXTS, model="qdagents/embed", meter=Meter())      # the budget is now spent
    with pytest.raises(RunBudgetExhausted, match="run's token budget"):
        gateway.embed(TEXTS, model="qdagents/embed", meter=Meter())
    spent = Budget(tokens=1)
    spent.charge(tokens=1)
    with pytest.raises(EmbeddingError, match="^embedding failed: token budget"):   # the caller's own budget
        Gateway(model="qdagents/coder").embed(TEXTS, model="qdagents/embed",
                                              meter=Meter(budget=spent))
    with pytest.raises(ProviderUnusable, match="qdagents/no-such-model failed: unknown model"):
        Gateway(model="qdagents/coder", max_retries=0).embed(
            TEXTS, model="qdagents/no-such-model", meter=Meter())
