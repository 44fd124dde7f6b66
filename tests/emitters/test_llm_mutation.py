import numpy as np
import pytest

from qdagents.emitters import EmitFailure, LLMMutation, Parent

PARENT = Parent(id="p", files={"agent.py": "MAX_STEPS = 5\n"}, fitness=0.25,
                descriptors={"tool_count": 2.0}, feedback=["- t1: 2 of 3 hidden tests failed"])


def _reply(text):
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


GOOD = "More steps.\nagent.py\n<<<<<<< SEARCH\nMAX_STEPS = 5\n=======\nMAX_STEPS = 9\n>>>>>>> REPLACE"
BAD = GOOD.replace("MAX_STEPS = 5\n=", "MAX_STEPS = 6\n=")


def test_prompt_carries_code_feedback_and_target():
    seen = []
    emitter = LLMMutation(targets=["more tools"])
    proposal = emitter.propose([PARENT], complete=lambda m: seen.append(m) or _reply(GOOD),
                               rng=np.random.default_rng(0))
    prompt = seen[0][1]["content"]
    assert "MAX_STEPS = 5" in prompt and "2 of 3 hidden tests failed" in prompt
    assert "Target: more tools" in prompt and "Fitness: 0.250" in prompt
    assert proposal.files == {"agent.py": "MAX_STEPS = 9\n"} and proposal.target == "more tools"
    assert proposal.message == "More steps."


def test_failed_edit_is_retried_with_the_error_then_recorded():
    answers = iter([BAD, GOOD])
    seen = []
    emitter = LLMMutation(retries=1)
    emitter.propose([PARENT], complete=lambda m: seen.append(list(m)) or _reply(next(answers)),
                    rng=np.random.default_rng(0))
    assert "Your edit failed" in seen[1][-1]["content"]
    with pytest.raises(EmitFailure, match="did not apply after 2 attempts"):
        LLMMutation(retries=1).propose([PARENT], complete=lambda m: _reply(BAD),
                                       rng=np.random.default_rng(0))


def test_error_bodies_and_malformed_responses_are_failures():
    rng = np.random.default_rng(0)
    with pytest.raises(EmitFailure, match="LLM error: budget"):
        LLMMutation().propose([PARENT], complete=lambda m: {"error": {"message": "budget"}}, rng=rng)
    with pytest.raises(EmitFailure, match="malformed"):
        LLMMutation().propose([PARENT], complete=lambda m: {"choices": []}, rng=rng)


def test_full_rewrite_mode():
    seen = []
    answer = "Raise the step limit.\n\nagent.py\n```python\nMAX_STEPS = 12\n```\n"
    proposal = LLMMutation(mode="rewrite").propose(
        [PARENT], complete=lambda m: seen.append(m) or _reply(answer), rng=np.random.default_rng(0))
    assert "full rewrite" in seen[0][1]["content"]
    assert proposal.files == {"agent.py": "MAX_STEPS = 12\n"}
    assert proposal.message == "Raise the step limit."
    with pytest.raises(EmitFailure, match="did not apply"):
        LLMMutation(mode="rewrite", retries=0).propose(
            [PARENT], complete=lambda m: _reply("no code here"), rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="mode"):
        LLMMutation(mode="telepathy")
