"""Money safety: budgets hold with calls in flight (reserve the worst case, settle after), and a
call cannot ask for more completion tokens than the run allows."""

import threading

import pytest
from llm_fakes import chat

from qdagents.llm import Budget, Gateway, Meter, request_hash
from qdagents.llm._gateway import DEFAULT_COMPLETION_RESERVE, prompt_token_bound

PRICE = {"openai/test-model": {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}}
ANSWER_USD = (21 + 8) * 1000.0 / 1e6   # what the local server's answer costs at PRICE


def test_a_reservation_admits_while_used_plus_held_is_below_the_limit():
    budget = Budget(usd=1.0, tokens=100)
    assert budget.reserve(tokens=60, usd=0.6) is None        # nothing held: admitted
    assert budget.reserve(tokens=60, usd=0.6) is None        # 60 held, below 100: admitted
    assert "held by calls in flight" in budget.reserve(tokens=1, usd=0.0)   # 120 held
    budget.settle(reserved_tokens=60, reserved_usd=0.6, tokens=10, usd=0.1)
    assert budget.reserve(tokens=30, usd=0.3) is None        # 10 used + 60 held: admitted
    budget.settle(reserved_tokens=60, reserved_usd=0.6, tokens=10, usd=0.1)
    budget.settle(reserved_tokens=30, reserved_usd=0.3, tokens=10, usd=0.1)
    assert (budget.used_tokens, budget.reserved_tokens, budget.used_calls) == (30, 0, 3)
    assert budget.exceeded() is None


def test_a_call_the_run_refuses_is_not_counted_on_the_tasks_budget(openai_server):
    run, task = Budget(usd=1.0), Budget(calls=5, tokens=10_000)
    run.charge(usd=1.0)
    body = gateway(openai_server, run_budget=run).complete(chat(), meter=Meter(budget=task))
    assert body["error"]["fault"] == "budget"
    assert (task.used_calls, task.reserved_tokens) == (0, 0) and openai_server.requests == []


def test_a_refusal_by_the_parent_holds_nothing_in_the_child():
    evaluation = Budget(tokens=100)
    task = Budget(tokens=1000, parent=evaluation)
    evaluation.charge(tokens=100)
    assert "100 tokens used up" in task.reserve(tokens=5)
    assert (task.reserved_tokens, task.used_calls, evaluation.reserved_tokens) == (0, 0, 0)


def gateway(server, **options):
    return Gateway(model="openai/test-model", api_base=server.base, prices=PRICE, timeout=10,
                   retry_backoff=0.01, **options)


@pytest.mark.parametrize("limit", ["usd", "tokens"])
def test_sixteen_calls_in_flight_overshoot_the_run_budget_by_at_most_one_reservation(
        openai_server, limit):
    """The attack: many agents at once, each call slow, a budget that two calls exhaust. Charged
    only after the call (the old rule), all sixteen would have been admitted and spent 16 calls'
    worth; with reservations, the run spends at most its budget plus one call's worst case."""
    openai_server.default, openai_server.sleep_seconds = "sleep", 0.3
    budget = Budget(usd=2.5 * ANSWER_USD) if limit == "usd" else Budget(tokens=2 * 29 + 1)
    gw = gateway(openai_server, run_budget=budget)
    request = chat(max_tokens=8)
    reservation_tokens = prompt_token_bound({**request, "model": "openai/test-model"}) + 8
    answers = []

    def agent(i):
        meter = Meter()
        while True:
            body = gw.complete(chat(max_tokens=8, text=f"agent {i}"), meter=meter)
            if "error" in body:
                assert body["error"]["type"] == "budget_exceeded"
                assert body["error"]["fault"] == "budget"
                return
            answers.append(i)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.reserved_tokens == 0 and budget.reserved_usd == pytest.approx(0.0)
    if limit == "usd":
        assert budget.used_usd <= budget.usd + reservation_tokens * 1000.0 / 1e6
        assert budget.used_usd < 16 * ANSWER_USD / 2
    else:
        assert budget.used_tokens <= budget.tokens + reservation_tokens
        assert budget.used_tokens < 16 * 29 / 2
    assert len(openai_server.requests) == len(answers) <= 4


def test_max_tokens_caps_what_a_call_may_ask_for_without_changing_its_key(openai_server):
    capped = gateway(openai_server, max_tokens=64)
    for asked, sent in ((100_000, 64), (5, 5), (None, 64)):
        body = chat() if asked is None else chat(max_tokens=asked)
        capped.complete(body, meter=Meter())
        assert openai_server.requests[-1]["body"]["max_tokens"] == sent
    uncapped = gateway(openai_server)
    uncapped.complete(chat(), meter=Meter())
    assert "max_tokens" not in openai_server.requests[-1]["body"]
    prepared = {**chat(max_tokens=100_000), "model": "openai/test-model"}
    assert request_hash(prepared) == request_hash(dict(prepared))   # the cap is not in the key


def test_the_completion_limit_is_the_least_of_request_config_and_model():
    gw = Gateway(model="anthropic/claude-sonnet-4-5", max_tokens=8192)
    assert gw.completion_limit({}, "anthropic/claude-sonnet-4-5") == 8192
    assert gw.completion_limit({"max_tokens": 100}, "anthropic/claude-sonnet-4-5") == 100
    assert Gateway(model="x/y").completion_limit({}, "anthropic/claude-sonnet-4-5") == 64000
    assert Gateway(model="x/y").completion_limit({}, "openai/unknown") == \
        DEFAULT_COMPLETION_RESERVE
    assert Gateway(model="x/y").completion_limit({"max_tokens": "lots"}, "openai/unknown") == \
        DEFAULT_COMPLETION_RESERVE


def test_the_prompt_bound_is_never_below_the_real_prompt_tokens(openai_server):
    from qdagents.llm._provider import load_litellm

    text = "def solve(x):\n    return sorted(x)[::-1]  # é ü 漢字 🙂\n" * 50
    request = chat(text=text)
    counted = load_litellm().token_counter(model="gpt-4o", messages=request["messages"],
                                           tools=request["tools"])
    assert prompt_token_bound(request) >= counted
