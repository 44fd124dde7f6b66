"""An evaluation the provider spoiled is an infrastructure failure, not the agent's fitness: the
seed agent in a real sandbox, its gateway calling an OpenAI-compatible server on 127.0.0.1."""

import math

import pytest
from llm_fakes import FakeOpenAI

from qdagents.components import seed_agent_dir
from qdagents.evaluation import Evaluator
from qdagents.llm import Gateway, infrastructure_fault
from qdagents.sandbox import Limits, make_sandbox
from qdagents.tasks import load_suite


@pytest.fixture
def evaluate(bwrap_backend, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    server = FakeOpenAI()

    def run(default: str, script=()):
        server.default, server.script = default, list(script)
        gateway = Gateway(model="openai/test-model", api_base=server.base, timeout=5,
                          max_retries=1, retry_backoff=0.01)
        evaluator = Evaluator(
            suite=load_suite({"kind": "builtin", "limit": 3}),
            sandbox=make_sandbox(bwrap_backend), gateway=gateway,
            descriptors=["tool_count", "token_cost"], agent_limits=Limits(seconds=30),
            test_limits=Limits(seconds=20))
        return evaluator.evaluate("seed", seed_agent_dir())

    yield run
    server.close()


@pytest.mark.parametrize("default, fault, prefix", [
    ("500", "provider", "provider fault on task "), ("die", "provider", "provider fault on task "),
    ("401", "fatal", "provider unusable on task ")])
def test_a_provider_fault_is_an_infrastructure_failure_without_fitness(evaluate, default, fault,
                                                                      prefix):
    evaluation = evaluate(default)
    assert evaluation.infra_failure == fault and math.isnan(evaluation.fitness)
    assert evaluation.failure.startswith(prefix) and infrastructure_fault(evaluation.failure) == fault
    assert len(evaluation.tasks) == 1          # stopped at the first spoiled task
    assert evaluation.tasks[0].infra_failure == fault
    assert evaluation.as_dict()["fitness"] is None


def test_a_provider_fault_in_a_later_task_spoils_the_evaluation(evaluate):
    # the seed agent's 8 steps on the first task are answered (the scripted tool call, again
    # and again), then the provider fails for good
    evaluation = evaluate("500", script=["ok"] * 8)
    assert evaluation.infra_failure == "provider" and math.isnan(evaluation.fitness)
    assert len(evaluation.tasks) == 2
    assert evaluation.tasks[0].infra_failure is None and evaluation.tasks[0].llm_calls == 8
    assert evaluation.tasks[1].infra_failure == "provider"


def test_the_agents_own_errors_stay_its_failures(evaluate):
    evaluation = evaluate("ctx")                  # every request exceeds the context window
    assert evaluation.infra_failure is None and evaluation.fitness == 0.0
    assert len(evaluation.tasks) == 3 and not any(t.infra_failure for t in evaluation.tasks)
    assert infrastructure_fault(evaluation.failure) is None
