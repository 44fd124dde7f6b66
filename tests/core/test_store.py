from qdagents.evaluation import Evaluation, TaskResult
from qdagents.store import RunDatabase


def _evaluation(agent_id, fitness=0.5, failure=None):
    tasks = [TaskResult(task_id="t1", passed=True, reason=None, tokens=10, llm_calls=2,
                        tools_offered=["bash"], lines_changed=2, lines_emitted=4),
             TaskResult(task_id="t2", passed=False, reason="1 of 3 hidden tests failed")]
    return Evaluation(agent_id=agent_id, fitness=fitness, descriptors=[1.0, 0.5, 10.0],
                      descriptor_values={"a": 1.0}, tasks=tasks, stage=1, failure=failure)


def test_agents_evaluations_and_resume_queries(tmp_path):
    db = RunDatabase(tmp_path / "run.sqlite")
    assert db.add_agent(agent_id="a", commit_sha="c", parents=[], emitter="seed", step=0)
    assert not db.add_agent(agent_id="a", commit_sha="c", parents=[], emitter="seed", step=0)
    db.add_agent(agent_id="b", commit_sha="d", parents=["a"], emitter="llm", step=1)
    db.add_agent(agent_id="c", commit_sha="e", parents=["a"], emitter="llm", step=2)
    assert db.pending_agents() == ["a", "b", "c"]
    assert db.add_evaluation(_evaluation("a"), started=0.0) == 1
    assert db.add_evaluation(_evaluation("b", failure="boom"), started=0.0) == 2
    assert db.pending_agents() == ["c"]
    assert db.agent("b")["status"] == "failed" and db.agent("b")["parents"] == ["a"]
    assert db.children_counts() == {"a": 2}
    assert [e["agent_id"] for e in db.evaluations()] == ["a", "b"]
    results = db.task_results("a")
    assert results[0]["tools_offered"] == ["bash"] and results[1]["reason"].startswith("1 of 3")


def test_survives_reopen_and_meta(tmp_path):
    db = RunDatabase(tmp_path / "run.sqlite")
    db.set_meta("config", {"seed": 3})
    db.add_proposal(step=0, emitter="seed", parents=[], status="created", agent_id="a")
    db.add_proposal(step=4, emitter="x", parents=["a"], status="failed", reason="no edit")
    db.close()
    again = RunDatabase(tmp_path / "run.sqlite")
    assert again.get_meta("config") == {"seed": 3}
    assert again.next_step() == 5


def test_llm_recordings(tmp_path):
    db = RunDatabase(tmp_path / "run.sqlite")
    db.record_llm_call(request_hash="h", occurrence=0, purpose="agent", model="m",
                       request={"x": 1}, response=None, prompt_tokens=0, completion_tokens=0,
                       cost_usd=0, cached=0, error="429")
    db.record_llm_call(request_hash="h", occurrence=0, purpose="agent", model="m",
                       request={"x": 1}, response={"choices": []}, prompt_tokens=5,
                       completion_tokens=7, cost_usd=0.01, cached=0)
    assert db.find_recording("h", 0)["response"] == {"choices": []}
    assert db.find_recording("h", 1) is None
    totals = db.llm_totals()
    assert totals["calls"] == 2 and totals["tokens"] == 12
