"""Metering and budgets, without any LLM."""

import json
import threading

from qdagents.llm import Budget, Meter, lines_emitted
from qdagents.llm._meter import tool_names


def test_lines_emitted_counts_content_and_decoded_tool_arguments():
    message = {"role": "assistant", "content": "thinking\nmore", "tool_calls": [
        {"type": "function", "function": {"name": "write_file", "arguments": json.dumps(
            {"path": "a.py", "content": "x = 1\ny = 2\nz = 3\n"})}},
        {"type": "function", "function": {"name": "bash", "arguments": "not json\nat all"}},
    ]}
    assert lines_emitted(message) == 2 + (1 + 3) + 2
    assert lines_emitted({"role": "assistant", "content": None}) == 0
    assert lines_emitted({"role": "assistant", "content": [{"type": "text", "text": "a\nb"}]}) == 2


def test_tool_names_union_of_tools_and_functions():
    request = {"tools": [{"type": "function", "function": {"name": "bash"}}, "junk", {}],
               "functions": [{"name": "edit"}]}
    assert tool_names(request) == {"bash", "edit"}
    assert tool_names({}) == set()


def test_meter_accumulates_and_snapshots():
    meter = Meter()
    meter.offer({"tools": [{"function": {"name": "bash"}}]})
    meter.offer({"tools": [{"function": {"name": "edit"}}, {"function": {"name": "bash"}}]})
    meter.add_provider_call()
    meter.add_response(message={"content": "a\nb"}, prompt_tokens=10, completion_tokens=3,
                       cost_usd=0.5, list_cost_usd=0.5, cached=False, latency=0.25)
    meter.add_response(message={"content": "c"}, prompt_tokens=1, completion_tokens=1,
                       cost_usd=0.0, list_cost_usd=0.5, cached=True, latency=0.25)
    meter.add_error(latency=0.5)
    snap = meter.snapshot()
    assert snap == {"calls": 2, "prompt_tokens": 11, "completion_tokens": 4, "tokens": 15,
                    "cost_usd": 0.5, "list_cost_usd": 1.0, "cache_hits": 1, "provider_calls": 1,
                    "tools_offered": ["bash", "edit"], "lines_emitted": 3, "latency": 1.0,
                    "errors": 1, "faults": {"agent": 1}}
    json.dumps(snap)


def test_budget_limits():
    assert Budget().exceeded() is None
    budget = Budget(tokens=100, usd=1.0, calls=3)
    budget.charge(calls=2, tokens=99, usd=0.99)
    assert budget.exceeded() is None
    budget.charge(calls=1)
    assert "call budget" in budget.exceeded()
    assert "token budget" in Budget(tokens=0).exceeded()
    usd = Budget(usd=0.1)
    usd.charge(usd=0.1)
    assert "USD budget" in usd.exceeded()


def test_budget_is_thread_safe():
    budget = Budget()

    def spend():
        for _ in range(2000):
            budget.charge(tokens=1, usd=0.5, calls=1)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (budget.used_tokens, budget.used_calls, budget.used_usd) == (16000, 16000, 8000.0)


def test_task_budget_inside_an_evaluation_budget():
    from qdagents.llm import Budget

    evaluation = Budget(tokens=100)
    first, second = Budget(tokens=80, parent=evaluation), Budget(tokens=80, parent=evaluation)
    first.charge(tokens=70, calls=1)
    assert first.exceeded() is None and evaluation.used_tokens == 70
    second.charge(tokens=40, calls=1)          # the task's own budget lasts, the evaluation's not
    assert "token budget of 100" in second.exceeded()
    assert "token budget of 100" in first.exceeded()
