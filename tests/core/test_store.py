import json
import sqlite3

from qdagents.evaluation import Evaluation, TaskResult
from qdagents.llm._recorder import request_hash
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


def _conversation(turns):
    """A growing agent conversation as the gateway records it: call k sends k+1 messages."""
    system = {"role": "system", "content": "You are a coding agent. " * 40}
    tools = [{"type": "function", "function": {"name": f"tool{i}", "description": "d" * 300,
                                               "parameters": {"type": "object"}}}
             for i in range(4)]
    messages = [system]
    for k in range(turns):
        messages = messages + [{"role": "user" if k % 2 else "assistant",
                                "content": f"turn {k}: " + "output line\n" * 30}]
        yield {"model": "m", "messages": messages, "tools": tools, "temperature": 0.0}


def test_requests_are_stored_packed_and_read_back_whole(tmp_path):
    db = RunDatabase(tmp_path / "run.sqlite")
    requests = list(_conversation(6))
    for i, request in enumerate(requests):   # as the gateway passes it: JSON text
        db.record_llm_call(request_hash=f"h{i}", occurrence=0, purpose="agent", agent_id="a",
                           task_id="t", model="m", request=json.dumps(request),
                           response={"choices": [i]}, prompt_tokens=1, completion_tokens=1,
                           cost_usd=0, cached=0)
    db.record_llm_call(request_hash=None, occurrence=None, purpose="agent", agent_id="a",
                       task_id="t", model="m", request="not json {", response=None, error="x")
    # every distinct message once, and the tool schemas once, however many calls carried them
    assert db.execute("SELECT COUNT(*) AS n FROM blobs")[0]["n"] == 1 + 6 + 1
    exchanges = db.llm_exchanges(agent_id="a", task_id="t")
    assert [e["request"] for e in exchanges] == requests + ["not json {"]
    assert exchanges[2]["response"] == {"choices": [2]} and exchanges[-1]["response"] is None
    assert request_hash(exchanges[3]["request"]) == request_hash(requests[3])
    assert db.llm_exchanges(purpose="emitter") == []
    db.close()
    read_only = RunDatabase(tmp_path / "run.sqlite", read_only=True)
    assert [e["request"] for e in read_only.llm_exchanges()][:6] == requests


def test_a_database_from_before_packing_reads_as_before(tmp_path):
    path = tmp_path / "run.sqlite"
    old = sqlite3.connect(path)   # the llm_calls table as earlier runs wrote it
    old.execute("CREATE TABLE llm_calls(id INTEGER PRIMARY KEY, request_hash TEXT, occurrence "
                "INTEGER, purpose TEXT, agent_id TEXT, task_id TEXT, model TEXT, request TEXT, "
                "response TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd REAL, "
                "cached INTEGER, latency REAL, error TEXT, created REAL)")
    request = next(_conversation(1))
    old.execute("INSERT INTO llm_calls(request_hash, occurrence, purpose, request, response) "
                "VALUES ('h', 0, 'agent', ?, ?)", (json.dumps(request), json.dumps({"ok": 1})))
    old.commit()
    old.close()
    assert RunDatabase(path, read_only=True).llm_exchanges()[0]["request"] == request
    db = RunDatabase(path)   # a resume: the new column is added, old and new rows read alike
    db.record_llm_call(request_hash="h2", occurrence=0, purpose="agent", request=request,
                       response={"ok": 2})
    assert [e["request"] for e in db.llm_exchanges()] == [request, request]
    assert db.find_recording("h", 0)["response"] == {"ok": 1}


def test_stored_bytes_grow_with_the_new_messages_not_the_conversation(tmp_path):
    """The quadratic growth issue 12 measured: a conversation of n turns stored call by call."""
    def stored(turns):
        db = RunDatabase(tmp_path / f"{turns}.sqlite")
        for request in _conversation(turns):
            db.record_llm_call(request_hash="h", occurrence=0, purpose="agent", request=request,
                               response={"choices": []})
        size = db.execute("SELECT SUM(LENGTH(request) + COALESCE(LENGTH(request_blobs), 0)) AS r "
                          "FROM llm_calls")[0]["r"] + db.execute(
                              "SELECT SUM(LENGTH(data)) AS b FROM blobs")[0]["b"]
        whole = sum(len(json.dumps(r)) for r in _conversation(turns))
        return size, whole

    small, small_whole = stored(10)
    large, large_whole = stored(40)
    assert large_whole / small_whole > 8           # stored whole: ~quadratic
    assert large / small < 5                       # packed: about linear (4x the turns)
    assert large < large_whole / 20
