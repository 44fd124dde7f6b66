"""The three attacks of issue 9, end to end: a cheating agent evaluated on the whole built-in
suite, on bwrap and on docker, must score 0 (before the judge/solution split they scored 1.0, 1.0
and 0.47 with zero tokens)."""

import pytest
from attack_agents import HEADLINE

from qdagents.evaluation import Evaluator
from qdagents.llm import Gateway
from qdagents.sandbox import Limits, make_sandbox
from qdagents.tasks import load_builtin
from sandbox_support import require_backend

BACKENDS = [pytest.param("bwrap", marks=pytest.mark.bwrap),
            pytest.param("docker", marks=pytest.mark.docker)]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("attack", sorted(HEADLINE))
def test_headline_attack_scores_nothing(attack, backend, tmp_path):
    require_backend(backend)
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "agent.py").write_text(HEADLINE[attack])
    evaluator = Evaluator(suite=load_builtin(), sandbox=make_sandbox(backend),
                          gateway=Gateway(model="qdagents/coder"),
                          descriptors=["tool_count", "edit_granularity", "token_cost"],
                          agent_limits=Limits(seconds=30), test_limits=Limits(seconds=30))
    evaluation = evaluator.evaluate(attack, agent)
    print(attack, backend, evaluation.fitness, evaluation.failure,
          [(t.task_id, t.reason) for t in evaluation.tasks][:3])
    assert evaluation.tokens == 0 and len(evaluation.tasks) == 17
    assert all(t.exit_code == 0 for t in evaluation.tasks)       # the agent itself ran fine
    assert evaluation.fitness == 0.0 and evaluation.tasks_passed == 0
