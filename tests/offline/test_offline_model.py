"""The offline model's contract: deterministic answers, provider-like usage, OpenAI shapes."""

import json
import time

import pytest

from qdagents.offline._model import OfflineModel, count_tokens, message_text, prompt_tokens

from offline_helpers import load_agent, variant

TOOLS = load_agent(variant()).TOOLS
MESSAGES = [{"role": "system", "content": "You fix bugs."},
            {"role": "user",
             "content": "Fix `mod.py`. Run the tests with `python3 test_visible.py`."}]


def test_same_request_same_answer():
    model = OfflineModel()
    first = model.respond("coder", MESSAGES, TOOLS, 7)
    assert first == model.respond("coder", json.loads(json.dumps(MESSAGES)), TOOLS, 7)
    assert first == OfflineModel().respond("coder", MESSAGES, TOOLS, 7)
    other = model.respond("coder", MESSAGES, TOOLS, 8)
    assert other["message"]["tool_calls"][0]["id"] != first["message"]["tool_calls"][0]["id"]


def test_answer_shape():
    out = OfflineModel().respond("coder", MESSAGES, TOOLS, None)
    assert out["finish_reason"] == "tool_calls"
    assert out["message"]["role"] == "assistant"
    for call in out["message"]["tool_calls"]:
        assert call["type"] == "function" and call["id"]
        assert isinstance(json.loads(call["function"]["arguments"]), dict)
    text = OfflineModel().respond("mutator", [{"role": "user", "content": "hi"}], None, 0)
    assert text["finish_reason"] == "stop" and "tool_calls" not in text["message"]
    assert isinstance(text["message"]["content"], str)


def test_token_rule():
    assert count_tokens("") == 0 and count_tokens("abcd") == 1 and count_tokens("abcde") == 2
    out = OfflineModel().respond("coder", MESSAGES, TOOLS, 0)
    chars = sum(len(m["content"]) for m in MESSAGES) + len(json.dumps(TOOLS, sort_keys=True))
    assert out["usage"]["prompt_tokens"] == -(-chars // 4)
    assert out["usage"]["completion_tokens"] == count_tokens(message_text(out["message"]))
    assert prompt_tokens(MESSAGES, None) < prompt_tokens(MESSAGES, TOOLS)


def test_tool_calls_in_history_count_as_prompt_text():
    call = {"id": "c1", "type": "function",
            "function": {"name": "bash", "arguments": json.dumps({"command": "ls"})}}
    history = MESSAGES + [{"role": "assistant", "content": None, "tool_calls": [call]},
                          {"role": "tool", "tool_call_id": "c1", "content": "mod.py"}]
    assert prompt_tokens(history, None) == count_tokens(
        "".join(message_text(m) for m in history))
    assert prompt_tokens(history, None) > prompt_tokens(MESSAGES, None)


def test_latency_and_roles():
    model = OfflineModel(latency=0.05)
    start = time.monotonic()
    model.respond("coder", MESSAGES, TOOLS, 0)
    assert time.monotonic() - start >= 0.05
    with pytest.raises(ValueError):
        model.respond("critic", MESSAGES, TOOLS, 0)


def test_content_parts_are_read():
    parts = [{"role": "user", "content": [{"type": "text", "text": MESSAGES[1]["content"]}]}]
    out = OfflineModel().respond("coder", parts, TOOLS, 0)
    assert out["message"]["tool_calls"]
