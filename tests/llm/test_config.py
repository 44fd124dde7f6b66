"""The llm.* config keys are checked before anything runs, naming the bad key."""

import pytest

from qdagents import compose
from qdagents.config import ConfigError
from qdagents.llm import validate_llm


@pytest.mark.parametrize("key, value, message", [
    ("max_tokens", 0, "llm.max_tokens: expected an integer >= 1 or null"),
    ("max_tokens", "lots", "llm.max_tokens"),
    ("prices", {"a/b": 3}, "llm.prices.a/b: expected {input_per_mtok, output_per_mtok}"),
    ("prices", {"a/b": {"input_per_mtok": -1}}, "llm.prices.a/b.input_per_mtok"),
    ("prices", {"a/b": {"per_call": 1}}, "llm.prices.a/b"),
    ("emitter_ensemble", {"models": [{"model": "a/b"}], "extra": 1}, "llm.emitter_ensemble"),
])
def test_bad_llm_values_name_their_key(key, value, message):
    cfg = compose([])
    cfg["llm"][key] = value
    with pytest.raises(ConfigError) as caught:
        validate_llm(cfg)
    assert str(caught.value).startswith(message)


def test_compose_refuses_a_bad_llm_value():
    # the CLI's message and exit code for it: tests/test_cli.py::test_bad_value_names_the_key
    with pytest.raises(ConfigError, match="llm.max_tokens"):
        compose(["llm.max_tokens=0"])
