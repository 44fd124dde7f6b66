"""The llm presets (conf/llm/*.yaml): each composes, prices every model it names, says which
variable it needs, and is in the README's table."""

from importlib import resources
from pathlib import Path

import pytest

from qdagents import compose
from qdagents.llm import Gateway, Meter, check_prices, preflight

PRESETS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY",
           "gemini": "GEMINI_API_KEY", "openrouter": "OPENROUTER_API_KEY", "vllm": None,
           "ollama": None}
KEYS = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
        "OPENROUTER_API_KEY", "OLLAMA_API_BASE")


def test_every_preset_file_is_known_here():
    files = {p.stem for p in Path(str(resources.files("qdagents") / "conf" / "llm")).glob("*.yaml")}
    assert files == set(PRESETS) | {"offline"}


@pytest.mark.parametrize("preset", PRESETS)
def test_a_preset_composes_and_prices_every_model_it_names(preset):
    cfg = compose([f"llm={preset}", "budget.usd=5"])
    check_prices(cfg)          # a USD budget is safe with every preset as shipped
    llm = cfg["llm"]
    assert llm["mode"] == "record" and llm["max_tokens"] and llm["agent_model"] != "qdagents/coder"
    assert (llm["api_base"] is not None) == (PRESETS[preset] is None)   # local servers


@pytest.mark.parametrize("preset", [p for p, key in PRESETS.items() if key])
def test_a_hosted_preset_without_its_key_names_the_variable(preset, monkeypatch):
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    report = preflight(compose([f"llm={preset}"]))
    assert not report.ok
    assert all(PRESETS[preset] in check.problem for check in report.checks)


def test_the_vllm_preset_talks_to_an_openai_compatible_server_without_a_key(openai_server,
                                                                            monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cfg = compose(["llm=vllm", f"llm.api_base={openai_server.base}", "budget.usd=1"])
    assert preflight(cfg).ok
    body = Gateway.from_config(cfg).complete({"messages": [{"role": "user", "content": "hi"}]},
                                             meter=Meter())
    assert body["choices"][0]["message"]["tool_calls"]
    assert openai_server.requests[-1]["body"]["model"] == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert openai_server.requests[-1]["body"]["max_tokens"] == 4096


def test_the_readme_documents_every_preset_and_its_variable():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for preset, key in PRESETS.items():
        row = next((line for line in readme.splitlines() if f"`llm={preset}`" in line), None)
        assert row is not None, preset
        assert key is None or key in row
