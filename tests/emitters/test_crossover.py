import numpy as np
import pytest

from qdagents.emitters import EmitFailure, LLMCrossover, LLMMutation, Parent, make_emitter

A = Parent(id="a", files={"agent.py": "MAX_STEPS = 5\nTOOLS = ['bash']\n"}, fitness=0.25,
           descriptors={"tool_count": 1.0}, feedback=["- t1: failed"])
B = Parent(id="b", files={"agent.py": "MAX_STEPS = 5\nTOOLS = ['bash', 'edit']\n"}, fitness=0.75,
           descriptors={"tool_count": 2.0})


def _reply(text):
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


GOOD = ("Take B's edit tool.\nagent.py\n<<<<<<< SEARCH\nTOOLS = ['bash']\n=======\n"
        "TOOLS = ['bash', 'edit']\n>>>>>>> REPLACE")


def test_prompt_shows_both_parents_and_edits_parent_a():
    seen = []
    emitter = make_emitter("llm_crossover", name="x")
    assert emitter.parents_needed == 2
    proposal = emitter.propose([A, B], complete=lambda m: seen.append(m) or _reply(GOOD),
                               rng=np.random.default_rng(0))
    prompt = seen[0][1]["content"]
    assert prompt.index("Parent A") < prompt.index("TOOLS = ['bash']\n") < prompt.index("Parent B")
    assert "TOOLS = ['bash', 'edit']" in prompt and "Fitness: 0.750" in prompt
    assert "- t1: failed" in prompt and "SEARCH" in prompt
    assert proposal.files == B.files and proposal.message == "Take B's edit tool."


def test_crossover_failures():
    rng = np.random.default_rng(0)
    with pytest.raises(EmitFailure, match="two different parents"):
        LLMCrossover().propose([A, A], complete=lambda m: _reply(GOOD), rng=rng)
    with pytest.raises(EmitFailure, match="needs 2 parents"):
        LLMCrossover().propose([A], complete=lambda m: _reply(GOOD), rng=rng)
    bad = GOOD.replace("TOOLS = ['bash']\n=", "TOOLS = ['zsh']\n=")
    with pytest.raises(EmitFailure, match="did not apply after 2 attempts"):
        LLMCrossover(retries=1).propose([A, B], complete=lambda m: _reply(bad), rng=rng)


def test_loop_target_overrides_the_drawn_target():
    seen = []
    emitter = LLMMutation(targets=["more tools"], directed=True)
    assert emitter.directed
    p = emitter.propose([A], complete=lambda m: seen.append(m) or _reply(GOOD),
                        rng=np.random.default_rng(0), target="finer edits")
    assert p.target == "finer edits" and "Target: finer edits" in seen[0][1]["content"]
    p = LLMCrossover(targets=["fewer tokens"]).propose(
        [A, B], complete=lambda m: seen.append(m) or _reply(GOOD), rng=np.random.default_rng(0))
    assert p.target == "fewer tokens" and "Target: fewer tokens" in seen[-1][1]["content"]
