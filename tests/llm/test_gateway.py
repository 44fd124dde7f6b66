"""The gateway on the offline provider: model mapping, metering, budgets, record and replay."""

import json
import threading

import pytest
from llm_fakes import TOOLS, FakeModel, chat

from qdagents.llm import (NOMINAL_OFFLINE_PRICE, Budget, Gateway, MemoryRecorder, Meter,
                          request_hash)

PURPOSES = {"agent": "qdagents/coder", "emitter": "qdagents/mutator"}


def gateway(db, **options):
    return Gateway(model="qdagents/coder", db=db, purpose_models=PURPOSES, **options)


def conversation(gw, meter, turns=3, **ids):
    """An agent-like exchange: ask, then answer each tool call; returns the responses."""
    messages = [{"role": "user", "content": "fix the bug"}]
    responses = []
    for _ in range(turns):
        body = gw.complete({"model": "gpt-agent", "messages": messages, "tools": TOOLS},
                           meter=meter, **ids)
        responses.append(body)
        if "error" in body:
            break
        message = body["choices"][0]["message"]
        messages = messages + [message]
        for call in message.get("tool_calls", []):
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": "ok"})
    return responses


def test_complete_meters_tokens_tools_lines_and_nominal_cost(fake_model, recorder):
    meter = Meter()
    body = gateway(recorder).complete(chat(), meter=meter, agent_id="a1", task_id="t1")
    json.dumps(body)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "write_file"
    assert body["usage"]["prompt_tokens"] == 10
    snap = meter.snapshot()
    assert snap["calls"] == snap["provider_calls"] == 1
    assert (snap["prompt_tokens"], snap["completion_tokens"]) == (10, 5)
    assert snap["tools_offered"] == ["bash", "write_file"]
    assert snap["lines_emitted"] == 1 + 2  # the path, and a two-line file
    nominal = (10 * NOMINAL_OFFLINE_PRICE["input_per_mtok"]
               + 5 * NOMINAL_OFFLINE_PRICE["output_per_mtok"]) / 1e6
    assert snap["cost_usd"] == pytest.approx(nominal) and snap["list_cost_usd"] == snap["cost_usd"]
    [row] = recorder.rows
    assert row["model"] == "qdagents/coder" and row["purpose"] == "agent"
    assert (row["agent_id"], row["task_id"], row["occurrence"], row["cached"]) == ("a1", "t1", 0, 0)
    assert row["error"] is None and row["cost_usd"] == pytest.approx(nominal)
    assert row["request_hash"] == request_hash(json.loads(row["request"]))
    assert json.loads(row["response"]) == body


def test_the_gateway_chooses_the_model_per_purpose_and_passes_the_seed(fake_model, recorder):
    gw = gateway(recorder, seed=11)
    gw.complete(chat(model="gpt-5"), meter=Meter())
    gw.complete(chat(seed=3), meter=Meter(), purpose="emitter")
    assert [(c[0], c[3]) for c in fake_model.calls] == [("coder", 11), ("mutator", 3)]
    assert [r["model"] for r in recorder.rows] == ["qdagents/coder", "qdagents/mutator"]
    assert Gateway(model="qdagents/coder").model_for("emitter") == "qdagents/coder"


def test_prices_override_the_nominal_price(fake_model):
    meter = Meter()
    gateway(None, prices={"qdagents/coder": {"input_per_mtok": 1e6, "output_per_mtok": 0}}
            ).complete(chat(), meter=meter)
    assert meter.cost_usd == pytest.approx(10.0)


@pytest.mark.parametrize("budget, calls_made", [
    (Budget(calls=2), 2), (Budget(tokens=25), 2), (Budget(usd=1e-6), 1)])
def test_per_meter_budget_stops_calls_without_reaching_the_provider(fake_model, recorder,
                                                                    budget, calls_made):
    meter = Meter(budget=budget)
    responses = conversation(gateway(recorder), meter, turns=5)
    assert responses[-1]["error"]["type"] == "budget_exceeded"
    assert "used up" in responses[-1]["error"]["message"]
    assert len(fake_model.calls) == calls_made == meter.calls == meter.provider_calls
    assert meter.errors == 1
    assert recorder.rows[-1]["error"].startswith("budget_exceeded")


def test_run_budget_is_shared_by_all_meters(fake_model, recorder):
    gw = gateway(recorder, run_budget=Budget(calls=3))
    meters = [Meter() for _ in range(3)]
    for meter in meters:
        conversation(gw, meter, turns=2)
    assert [m.calls for m in meters] == [2, 1, 0]
    assert [m.errors for m in meters] == [0, 1, 1]
    assert len(fake_model.calls) == 3 and gw.run_budget.used_calls == 3


def test_record_then_replay_gives_identical_responses_with_no_provider_call(fake_model):
    db = MemoryRecorder()
    recorded_meter = Meter()
    recorded = conversation(gateway(db, seed=1), recorded_meter, turns=2)
    provider_calls = len(fake_model.calls)

    replay_meter = Meter()
    replayed = conversation(gateway(MemoryRecorder(), seed=1, mode="replay", replay_source=db),
                            replay_meter, turns=2)
    assert replayed == recorded
    assert len(fake_model.calls) == provider_calls
    assert replay_meter.provider_calls == 0 and replay_meter.cache_hits == replay_meter.calls == 2
    assert replay_meter.cost_usd == 0 and replay_meter.list_cost_usd == recorded_meter.cost_usd
    assert replay_meter.tokens == recorded_meter.tokens
    assert replay_meter.lines_emitted == recorded_meter.lines_emitted
    assert replay_meter.tools_offered == recorded_meter.tools_offered


def test_record_mode_answers_from_its_own_recordings(fake_model):
    """A resumed run (a new gateway on the same database) reuses what was recorded."""
    db = MemoryRecorder()
    first = gateway(db).complete(chat(), meter=Meter())
    meter = Meter()
    again = gateway(db).complete(chat(), meter=meter)
    assert again == first and meter.cache_hits == 1 and meter.provider_calls == 0
    assert db.rows[-1]["cached"] == 1 and db.rows[-1]["cost_usd"] == 0
    assert len(fake_model.calls) == 1


def test_mode_off_always_calls_the_provider(fake_model):
    db = MemoryRecorder()
    gateway(db).complete(chat(), meter=Meter())
    meter = Meter()
    gateway(db, mode="off").complete(chat(), meter=meter)
    assert meter.provider_calls == 1 and meter.cache_hits == 0 and len(db.rows) == 2


def test_identical_requests_replay_in_recorded_order(use_model):
    model = FakeModel(counter=True)  # a non-deterministic provider
    use_model(model)
    db = MemoryRecorder()
    gw = gateway(db)
    recorded = [gw.complete(chat(), meter=Meter()) for _ in range(3)]
    texts = [r["choices"][0]["message"]["content"] for r in recorded]
    assert texts == ["answer 1", "answer 2", "answer 3"]
    assert [r["occurrence"] for r in db.rows] == [0, 1, 2]
    replay = gateway(MemoryRecorder(), mode="replay", replay_source=db)
    assert [replay.complete(chat(), meter=Meter()) for _ in range(3)] == recorded
    assert len(model.calls) == 3


def test_replay_miss_is_a_clear_error_and_never_a_provider_call(fake_model):
    db = MemoryRecorder()
    meter = Meter()
    body = gateway(db, mode="replay").complete(chat("never recorded"), meter=meter)
    assert body["error"]["type"] == "replay_miss"
    assert "no recording of this request" in body["error"]["message"]
    assert fake_model.calls == [] and meter.provider_calls == 0 and meter.errors == 1
    assert db.rows[0]["error"].startswith("replay_miss")


def test_any_change_in_the_key_fields_changes_the_hash():
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    hashes = {request_hash(base)}
    for change in ({"temperature": 0.5}, {"seed": 1}, {"tools": TOOLS}, {"model": "n"},
                   {"max_tokens": 5}, {"top_p": 0.9}, {"tool_choice": "auto"}, {"stop": ["x"]}):
        hashes.add(request_hash({**base, **change}))
    assert len(hashes) == 9
    assert request_hash(dict(reversed(list(base.items())))) == request_hash(base)
    assert request_hash({**base, "user": "ignored", "stream": False}) == request_hash(base)


@pytest.mark.parametrize("request_body, message", [
    ({"messages": []}, "messages"), ("not a dict", "JSON object"),
    (chat(stream=True), "stream"), (chat(n=2), "'n'"), (chat(tools="bash"), "tools")])
def test_invalid_requests_are_recorded_errors(fake_model, recorder, request_body, message):
    meter = Meter()
    body = Gateway(model="qdagents/coder", db=recorder).complete(request_body, meter=meter)
    assert body["error"]["type"] == "invalid_request_error" and message in body["error"]["message"]
    assert meter.errors == 1 and fake_model.calls == []
    assert recorder.rows[0]["error"].startswith("invalid_request_error")


def test_provider_exception_is_a_recorded_error(recorder, use_model):
    class Broken:
        def respond(self, *args):
            raise RuntimeError("offline model exploded")

    use_model(Broken())
    meter = Meter()
    body = Gateway(model="qdagents/coder", db=recorder, retry_backoff=0).complete(
        chat(), meter=meter)
    assert body["error"]["type"] == "provider_error"
    assert "offline model exploded" in body["error"]["message"]
    assert recorder.rows[0]["error"].startswith("provider_error") and meter.errors == 1


def test_offline_output_without_a_message_is_a_recorded_error(recorder, use_model):
    class Malformed:
        def respond(self, *args):
            return {"finish_reason": "stop", "usage": {"prompt_tokens": 1, "completion_tokens": 1}}

    use_model(Malformed())
    meter = Meter()
    body = Gateway(model="qdagents/coder", db=recorder, max_retries=0).complete(
        chat(), meter=meter)
    assert body["error"]["type"] == "provider_error" and meter.errors == 1
    assert recorder.rows[0]["error"]


def test_a_failing_database_does_not_break_calls(fake_model, caplog):
    class FailingDB:
        def record_llm_call(self, **row):
            raise OSError("disk full")

        def find_recording(self, request_hash, occurrence):
            raise OSError("disk full")

    body = Gateway(model="qdagents/coder", db=FailingDB()).complete(chat(), meter=Meter())
    assert "choices" in body
    assert "could not record" in caplog.text


def test_many_threads_share_one_gateway(recorder, use_model):
    use_model(FakeModel(latency=0.01))
    gw = gateway(recorder, run_budget=Budget())
    meters = [Meter() for _ in range(16)]
    threads = [threading.Thread(target=conversation, args=(gw, m, 3)) for m in meters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(m.calls == 3 and m.errors == 0 for m in meters)
    assert len(recorder.rows) == 48 == gw.run_budget.used_calls
    # the 16 identical first requests got occurrences 0..15, each exactly once
    first_hash = recorder.rows[0]["request_hash"]
    first = [r["occurrence"] for r in recorder.rows if r["request_hash"] == first_hash]
    assert sorted(first) == list(range(16))


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        Gateway(model="x", mode="replay-ish")
