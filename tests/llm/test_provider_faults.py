"""Every provider fault, through litellm's real OpenAI client against a server on 127.0.0.1,
classified by whose fault it is (docs/llm.md, "Whose fault"): the agent's, the provider's
(retry later), or a provider that cannot work (stop the run)."""

import json
import threading
import time

import pytest
from llm_fakes import FakeOpenAI, chat

from qdagents.llm import (Budget, Gateway, Meter, ProviderFault, ProviderUnusable,
                          RunBudgetExhausted, fault_of_error)


def gateway(server, db=None, **options):
    options = {"timeout": 5, "retry_backoff": 0.01, "max_retries": 2, **options}
    return Gateway(model="openai/test-model", api_base=server.base, db=db, **options)


def call(server, recorder, **options):
    meter = Meter()
    gw = gateway(server, recorder, **options)
    return gw, meter, gw.complete(chat(), meter=meter, agent_id="a", task_id="t")


@pytest.mark.parametrize("failure, reason", [
    ("401", "authentication failed"), ("403", "permission denied"), ("402", "no credit"),
    ("quota", "no credit"), ("credit", "no credit"), ("404", "unknown model")])
def test_errors_that_cannot_heal_are_fatal_once_a_probe_confirms_them(openai_server, recorder,
                                                                      failure, reason):
    openai_server.script = [failure, failure]           # the call, then the gateway's probe
    gw, meter, body = call(openai_server, recorder)
    error = body["error"]
    assert (error["type"], error["fault"]) == ("provider_unusable", "fatal")
    assert reason in error["message"] and "openai/test-model" in error["message"]
    assert meter.infrastructure_fault()[0] == "fatal"
    assert len(openai_server.requests) == 2             # never retried: waiting will not help
    probe = [r for r in recorder.rows if r["purpose"] == "probe"]
    assert len(probe) == 1 and fault_of_error(probe[0]["error"]) == "fatal"
    assert fault_of_error(recorder.rows[-1]["error"]) == "fatal"
    # latched: the next call fails at once, without asking the provider again
    again = gw.complete(chat("again"), meter=Meter())
    assert again["error"]["fault"] == "fatal" and "no call made" in again["error"]["message"]
    assert len(openai_server.requests) == 2


def test_a_missing_key_is_fatal(monkeypatch, recorder):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = FakeOpenAI()
    try:
        _, meter, body = call(server, recorder)
    finally:
        server.close()
    assert body["error"]["fault"] == "fatal" and "OPENAI_API_KEY" in body["error"]["message"]
    assert server.requests == []                        # litellm refused before any request


def test_a_bad_key_is_fatal(monkeypatch, recorder):
    server = FakeOpenAI(key="sk-the-right-one")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    try:
        _, _, body = call(server, recorder)
    finally:
        server.close()
    assert body["error"]["fault"] == "fatal" and "Incorrect API key" in body["error"]["message"]


def test_an_error_that_only_looks_fatal_is_the_agents_own_when_the_probe_is_answered(
        openai_server, recorder):
    # the provider echoes what the agent sent: a crafted request must not stop the run
    openai_server.script = ["echo_key"]                  # then the probe is answered
    gw, meter, body = call(openai_server, recorder)
    assert body["error"]["fault"] == "agent" and body["error"]["type"] == "invalid_request_error"
    assert meter.infrastructure_fault() is None
    assert "choices" in gw.complete(chat("next"), meter=Meter())   # nothing latched


def test_a_401_that_heals_is_a_provider_fault_not_a_stop(openai_server, recorder):
    openai_server.script = ["401"]                       # the probe is answered: passing
    _, meter, body = call(openai_server, recorder)
    assert body["error"]["fault"] == "provider"
    assert meter.infrastructure_fault()[0] == "provider"


@pytest.mark.parametrize("failure", ["ctx", "400"])
def test_requests_the_agent_built_wrong_are_the_agents_failure(openai_server, recorder, failure):
    openai_server.script = [failure]
    _, meter, body = call(openai_server, recorder)
    assert (body["error"]["type"], body["error"]["fault"]) == ("invalid_request_error", "agent")
    assert len(openai_server.requests) == 1 and meter.infrastructure_fault() is None
    assert fault_of_error(recorder.rows[0]["error"]) == "agent"
    if failure == "ctx":
        assert "context window exceeded" in body["error"]["message"]
        assert body["error"]["code"] == "ContextWindowExceededError"


@pytest.mark.parametrize("failure, reason", [
    ("429", "rate limited"), ("minute_quota", "rate limited"), ("500", "server error"), ("503", "server error"),
    ("529", "server error"), ("garbage", "server error"), ("empty", "malformed response"),
    ("die", "unreachable"), ("sleep", "timed out")])
def test_transient_faults_past_the_retries_are_provider_faults(openai_server, recorder, failure,
                                                               reason):
    openai_server.script = [failure] * 3
    openai_server.sleep_seconds = 1.0
    started = time.monotonic()
    _, meter, body = call(openai_server, recorder, timeout=0.3)
    assert time.monotonic() - started < 5
    assert body["error"]["fault"] == "provider" and reason in body["error"]["message"]
    assert "after 3 attempt(s)" in body["error"]["message"]
    assert len(openai_server.requests) == 3 and meter.provider_calls == 3
    assert meter.infrastructure_fault() == ("provider", body["error"]["message"])
    assert fault_of_error(recorder.rows[0]["error"]) == "provider"


def test_a_server_that_died_is_unreachable_a_provider_fault(monkeypatch, recorder):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    server = FakeOpenAI()
    server.close()                                       # nothing listens on its port any more
    _, meter, body = call(server, recorder, max_retries=1)
    assert body["error"]["fault"] == "provider" and "unreachable" in body["error"]["message"]
    assert meter.provider_calls == 2


def test_a_429_storm_is_ridden_out_by_the_retries(openai_server, recorder):
    """Eight agents at once; the provider rate-limits the first twelve requests it sees."""
    openai_server.script = ["429"] * 12
    gw = gateway(openai_server, recorder, max_retries=4, retry_backoff=0.05)
    meters = [Meter() for _ in range(8)]
    bodies = [None] * 8

    def agent(i):
        bodies[i] = gw.complete(chat(f"agent {i}"), meter=meters[i], agent_id=str(i))

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all("choices" in b for b in bodies)
    assert sum(m.provider_calls for m in meters) == len(openai_server.requests) == 20
    assert all(m.infrastructure_fault() is None for m in meters)


def test_a_storm_longer_than_the_retries_spoils_only_the_calls_it_reached(openai_server,
                                                                          recorder):
    openai_server.script = ["429"] * 3
    gw = gateway(openai_server, recorder)
    first, second = Meter(), Meter()
    assert gw.complete(chat("one"), meter=first)["error"]["fault"] == "provider"
    assert "choices" in gw.complete(chat("two"), meter=second)   # the provider is back
    assert first.infrastructure_fault()[0] == "provider" and second.infrastructure_fault() is None


def test_emitter_calls_raise_distinct_exceptions_for_provider_faults(openai_server):
    gw = gateway(openai_server, max_retries=0)
    openai_server.script = ["500"]
    with pytest.raises(ProviderFault, match="server error") as caught:
        gw.complete_or_raise(chat(), meter=Meter())
    assert caught.value.fault == "provider" and caught.value.model == "openai/test-model"
    openai_server.script = ["ctx"]                       # the emitter's own: an error body
    assert gw.complete_or_raise(chat(), meter=Meter())["error"]["fault"] == "agent"
    openai_server.script = ["404", "404"]
    with pytest.raises(ProviderUnusable, match="unknown model"):
        gw.complete_or_raise(chat(), meter=Meter())
    spent = Budget(tokens=1)
    spent.charge(tokens=1)
    with pytest.raises(RunBudgetExhausted):
        gateway(openai_server, run_budget=spent).complete_or_raise(chat(), meter=Meter())


def test_the_run_budget_is_a_budget_fault_and_the_tasks_budget_the_agents(openai_server):
    run, task = Budget(tokens=1), Budget(tokens=1)
    run.charge(tokens=1)
    task.charge(tokens=1)
    gw = gateway(openai_server, run_budget=run)
    assert gw.complete(chat(), meter=Meter())["error"]["fault"] == "budget"
    body = gateway(openai_server).complete(chat(), meter=Meter(budget=task))
    assert (body["error"]["type"], body["error"]["fault"]) == ("budget_exceeded", "agent")
    assert openai_server.requests == []


def test_fault_classes_reach_an_agent_through_the_socket(openai_server, recorder):
    from llm_fakes import UnixHTTPConnection, post

    openai_server.script = ["500"] * 3
    meter = Meter()
    with gateway(openai_server, recorder).serve(meter, agent_id="a", task_id="t") as sock:
        status, body = post(UnixHTTPConnection(sock.path), chat())
    assert status == 502 and body["error"]["fault"] == "provider"
    assert meter.infrastructure_fault()[0] == "provider"
    assert json.loads(recorder.rows[0]["response"])["error"]["fault"] == "provider"
