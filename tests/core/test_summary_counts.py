"""Summary counts that come straight from the run database: clipped descriptors, proposals."""

from qdagents.evaluation import Evaluation
from qdagents.rundata import RunData, summary_metrics
from qdagents.store import RunDatabase


def test_clipped_and_proposals_are_counted(tmp_path):
    db = RunDatabase(tmp_path / "run.sqlite")
    db.set_meta("descriptors", [{"name": "tool_count", "label": "tools", "low": 0.5, "high": 8.5,
                                 "bins": 8}])
    for step, (agent, tools) in enumerate([("a", 2.0), ("b", 11.0), ("c", 3.0)]):
        db.add_agent(agent_id=agent, commit_sha=agent, parents=[] if step == 0 else ["a"],
                     emitter="e", step=step)
        db.add_evaluation(Evaluation(agent_id=agent, fitness=0.5, descriptors=[tools],
                                     descriptor_values={}, tasks=[], stage=1), started=0.0)
    db.add_proposal(step=3, emitter="e", parents=["a"], status="duplicate", agent_id="a")
    db.add_proposal(step=4, emitter="e", parents=["a"], status="rejected", reason="similar",
                    target="more tools")
    db.add_proposal(step=5, emitter="e", parents=["a"], status="created", agent_id="c",
                    target="more tools")
    db.set_landed(5, True)
    db.close()
    summary = summary_metrics(RunData.load(tmp_path))
    assert summary["clipped"] == 1
    assert summary["proposals"] == {"duplicate": 1, "rejected": 1, "created": 1}
    assert summary["directed"] == {"aimed": 1, "landed": 1}


def test_emitter_record(tmp_path):
    db = RunDatabase(tmp_path / "run.sqlite")
    db.add_agent(agent_id="seed", commit_sha="s", parents=[], emitter="seed", step=0)
    for step, (emitter, agent, status, inserted) in enumerate([
            ("good", "a", "created", "new"), ("good", "b", "created", "improve"),
            ("bad", "c", "created", "not_added"), ("bad", None, "failed", None),
            ("bad", None, "in_flight", None)], start=1):
        db.add_proposal(step=step, emitter=emitter, parents=["seed"], status=status,
                        agent_id=agent)
        if agent:
            db.add_agent(agent_id=agent, commit_sha=agent, parents=["seed"], emitter=emitter,
                         step=step)
            db.add_evaluation(Evaluation(agent_id=agent, fitness=0.5, descriptors=[1.0],
                                         descriptor_values={}, tasks=[], stage=1), started=0.0)
            db.add_insertion(seq=step, agent_id=agent, status=inserted, cell=0, fitness=0.5,
                             parent_elite=True)
    assert db.emitter_record() == {"good": (2, 0), "bad": (0, 2)}   # in-flight left out
