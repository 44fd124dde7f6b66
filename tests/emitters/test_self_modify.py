import numpy as np
import pytest

from qdagents.emitters import EmitFailure, Parent, SelfModify

PARENT = Parent(id="p", files={"agent.py": "MAX_STEPS = 8\n"}, fitness=0.3,
                descriptors={"tool_count": 2.0}, feedback=["- t1: 1 of 4 hidden tests failed"])
SEED = {"agent.py": "SEED = True\n"}


class FakeWorkshop:
    """Records who edits what; the 'agent' raises MAX_STEPS in the workspace it is given."""

    seed_files = SEED

    def __init__(self, change=True):
        self.calls, self.change = [], change

    def run(self, agent_files, workspace, problem, *, label):
        self.calls.append((agent_files, dict(workspace), problem, label))
        if self.change:
            workspace["agent.py"] = workspace["agent.py"].replace("8", "15")
        return workspace


def reply(text):
    return {"choices": [{"message": {"role": "assistant", "content": text}}]}


def test_parent_edits_its_own_code_from_a_diagnosis():
    seen, shop = [], FakeWorkshop()
    proposal = SelfModify().propose([PARENT], complete=lambda m: seen.append(m) or reply(
        "Allow more steps.\nIt gives up too early."), rng=np.random.default_rng(0), workshop=shop)
    assert "1 of 4 hidden tests failed" in seen[0][1]["content"]       # diagnosis sees failures
    editor, workspace, problem, label = shop.calls[0]
    assert editor == PARENT.files and workspace == PARENT.files and label == "p"
    assert "Allow more steps." in problem and "agent.py" in problem
    assert proposal.files == {"agent.py": "MAX_STEPS = 15\n"}
    assert proposal.message == "self-modification: Allow more steps."


def test_fixed_meta_agent_is_dgm_without_self_improvement():
    shop = FakeWorkshop()
    SelfModify(meta_agent="seed").propose([PARENT], complete=lambda m: reply("x"),
                                          rng=np.random.default_rng(0), workshop=shop)
    assert shop.calls[0][0] == SEED and shop.calls[0][1] == PARENT.files


def test_failures_are_recorded_reasons():
    rng = np.random.default_rng(0)
    with pytest.raises(EmitFailure, match="unchanged"):
        SelfModify().propose([PARENT], complete=lambda m: reply("x"), rng=rng,
                             workshop=FakeWorkshop(change=False))
    with pytest.raises(EmitFailure, match="needs a workshop"):
        SelfModify().propose([PARENT], complete=lambda m: reply("x"), rng=rng)
    with pytest.raises(ValueError, match="meta_agent"):
        SelfModify(meta_agent="oracle")
