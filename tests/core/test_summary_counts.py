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


def test_emitter_record_and_thompson_choice(tmp_path):
    import numpy as np

    from qdagents.loop import Run

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

    class Stub:     # just what Run._choose_emitter reads
        cfg = {"emitter_bandit": True}
        emitters = {"good": None, "bad": None, "off": None}
        emitter_weights = np.array([0.5, 0.5, 0.0])

    Stub.db = db
    picks = [Run._choose_emitter(Stub, np.random.default_rng(i)) for i in range(200)]
    assert "off" not in picks and picks.count("good") > 150    # Beta(3,1) vs Beta(1,3)
    Stub.cfg = {"emitter_bandit": False}
    picks = [Run._choose_emitter(Stub, np.random.default_rng(i)) for i in range(200)]
    assert 60 < picks.count("good") < 140 and "off" not in picks
