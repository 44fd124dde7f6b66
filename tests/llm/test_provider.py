"""The offline model as the litellm custom provider ``qdagents``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from llm_fakes import TOOLS, WRITE_ARGS

from qdagents.llm import Gateway, register_offline_provider
from qdagents.llm._provider import load_litellm


def test_completion_through_litellm_returns_tool_calls_and_usage(fake_model):
    litellm = load_litellm()
    response = litellm.completion(model="qdagents/coder", tools=TOOLS, seed=7, temperature=0.3,
                                  messages=[{"role": "user", "content": "hi"}])
    assert isinstance(response, litellm.ModelResponse)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.function.name, call.function.arguments) == ("write_file", WRITE_ARGS)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (10, 5)
    assert response.usage.total_tokens == 15
    role, messages, tools, seed = fake_model.calls[-1]
    assert (role, tools, seed) == ("coder", TOOLS, 7)
    assert messages == [{"role": "user", "content": "hi"}]


def test_mutator_role_and_plain_answer(fake_model):
    response = load_litellm().completion(model="qdagents/mutator",
                                         messages=[{"role": "user", "content": "mutate"}])
    assert response.choices[0].message.content == "done by mutator\nseed None"
    assert fake_model.calls[-1][0] == "mutator"


def test_unknown_role_is_an_error(fake_model):
    litellm = load_litellm()
    with pytest.raises(Exception, match="unknown model qdagents/oracle"):
        litellm.completion(model="qdagents/oracle", messages=[{"role": "user", "content": "x"}])
    assert fake_model.calls == []


def test_registration_is_idempotent(fake_model):
    litellm = load_litellm()
    for _ in range(3):
        register_offline_provider()
    entries = [e for e in litellm.custom_provider_map if e["provider"] == "qdagents"]
    assert len(entries) == 1
    assert litellm.provider_list.count("qdagents") == 1


def test_importing_the_package_does_not_import_litellm():
    code = "import sys, qdagents.llm; print('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert out.stdout.strip() == "False", out.stderr


def test_warm_up_makes_no_network_call(fake_model, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    Gateway(model="qdagents/coder").warm_up()
    assert fake_model.calls == []
