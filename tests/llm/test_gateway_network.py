"""The real network path: litellm's OpenAI client against a local server on 127.0.0.1."""

import json
import time

import pytest
from llm_fakes import WRITE_ARGS, chat

from qdagents.llm import Budget, Gateway, MemoryRecorder, Meter


def gateway(server, db, **options):
    options = {"timeout": 5, "retry_backoff": 0.01, **options}
    return Gateway(model="openai/test-model", api_base=server.base, db=db, seed=5, **options)


def test_tool_calls_and_usage_come_back(openai_server, recorder):
    meter = Meter()
    body = gateway(openai_server, recorder).complete(chat(temperature=0.2), meter=meter,
                                                     agent_id="a", task_id="t")
    call = body["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "write_file", "arguments": WRITE_ARGS}
    assert (body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]) == (21, 8)
    [sent] = openai_server.requests
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-local"
    assert sent["body"]["model"] == "test-model"  # not what the agent asked for
    assert (sent["body"]["seed"], sent["body"]["temperature"]) == (5, 0.2)
    assert [t["function"]["name"] for t in sent["body"]["tools"]] == ["bash", "write_file"]
    assert meter.snapshot()["tokens"] == 29 and meter.provider_calls == 1
    assert meter.tools_offered == {"bash", "write_file"} and meter.lines_emitted == 3
    assert recorder.rows[0]["error"] is None and recorder.rows[0]["prompt_tokens"] == 21


def test_configured_price_for_a_model_litellm_does_not_know(openai_server):
    unpriced, priced = Meter(), Meter()
    gateway(openai_server, None).complete(chat(), meter=unpriced)
    gateway(openai_server, None, prices={"openai/test-model": {
        "input_per_mtok": 1.0, "output_per_mtok": 2.0}}).complete(chat(), meter=priced)
    assert unpriced.cost_usd == 0.0
    assert priced.cost_usd == pytest.approx((21 * 1.0 + 8 * 2.0) / 1e6)


@pytest.mark.parametrize("failure", ["429", "500", "garbage", "sleep"])
def test_transient_failures_are_retried(openai_server, recorder, failure):
    openai_server.script = [failure, "ok"]
    openai_server.sleep_seconds = 2.0
    meter = Meter()
    body = gateway(openai_server, recorder, timeout=0.5).complete(chat(), meter=meter)
    assert body["choices"][0]["message"]["tool_calls"]
    assert len(openai_server.requests) == 2 and meter.provider_calls == 2
    assert meter.calls == 1 and meter.errors == 0
    assert [r["error"] for r in recorder.rows] == [None]


@pytest.mark.parametrize("failure, code", [
    ("429", "RateLimitError"), ("500", "InternalServerError"), ("garbage", "InternalServerError"),
    ("sleep", "Timeout")])
def test_exhausted_retries_are_a_recorded_error(openai_server, recorder, failure, code):
    openai_server.script = [failure] * 3
    openai_server.sleep_seconds = 1.0
    meter = Meter()
    started = time.monotonic()
    body = gateway(openai_server, recorder, timeout=0.3, max_retries=2).complete(chat(),
                                                                                 meter=meter)
    assert time.monotonic() - started < 5
    assert body["error"]["type"] == "provider_error" and body["error"]["code"] == code
    assert "after 3 attempt(s)" in body["error"]["message"]
    assert len(openai_server.requests) == 3 == meter.provider_calls
    assert meter.errors == 1 and meter.calls == 0 and meter.tokens == 0
    [row] = recorder.rows
    assert row["error"].startswith("provider_error") and json.loads(row["response"]) == body


def test_a_bad_request_is_not_retried_and_is_the_agents_own(openai_server, recorder):
    openai_server.script = ["400"]
    meter = Meter()
    body = gateway(openai_server, recorder).complete(chat(), meter=meter)
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "BadRequestError" and body["error"]["fault"] == "agent"
    assert len(openai_server.requests) == 1 and meter.infrastructure_fault() is None


def test_a_response_without_choices_is_a_malformed_response_retried(openai_server, recorder):
    openai_server.script = ["empty"] * 3
    meter = Meter()
    body = gateway(openai_server, recorder, max_retries=2).complete(chat(), meter=meter)
    assert body["error"]["type"] == "malformed_response" and body["error"]["fault"] == "provider"
    assert recorder.rows[0]["error"].startswith("malformed_response (provider): ")
    assert len(openai_server.requests) == 3 and meter.infrastructure_fault()[0] == "provider"


def test_budget_exceeded_never_reaches_the_provider(openai_server, recorder):
    run_budget = Budget(tokens=30)
    gw = gateway(openai_server, recorder, run_budget=run_budget)
    assert "choices" in gw.complete(chat("one"), meter=Meter())
    body = gw.complete(chat("two"), meter=Meter())
    assert "choices" in body  # 29 < 30 tokens: admitted, overshoots to 58
    body = gw.complete(chat("three"), meter=Meter())
    assert body["error"]["type"] == "budget_exceeded"
    assert len(openai_server.requests) == 2


def test_record_on_the_network_then_replay_without_it(openai_server):
    db = MemoryRecorder()
    recorded = [gateway(openai_server, db).complete(chat(str(i)), meter=Meter()) for i in range(3)]
    openai_server.close()
    meter = Meter()
    replay = gateway(openai_server, MemoryRecorder(), mode="replay", replay_source=db)
    assert [replay.complete(chat(str(i)), meter=meter) for i in range(3)] == recorded
    assert meter.provider_calls == 0 and meter.cache_hits == 3
    assert len(openai_server.requests) == 3
