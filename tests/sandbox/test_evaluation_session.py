"""With docker, one container serves every agent run of an evaluation (no fallback containers)."""

import pytest

from qdagents import compose
from qdagents.components import build_evaluator, build_gateway, seed_agent_dir
from qdagents.sandbox import _docker
from qdagents.store import RunDatabase


@pytest.mark.docker
def test_one_session_per_evaluation(tmp_path, monkeypatch, require):
    require("docker")
    sessions = []
    original = _docker.DockerSandbox.session

    def session(self, mounts, **kwargs):
        sessions.append([m.target for m in mounts])
        return original(self, mounts, **kwargs)

    closed = []
    close = _docker.DockerSession.close
    monkeypatch.setattr(_docker.DockerSandbox, "session", session)
    monkeypatch.setattr(_docker.DockerSession, "close",
                        lambda self: closed.append(self.fallbacks) or close(self))
    cfg = compose(["sandbox=docker", "tasks.limit=3"])
    evaluator = build_evaluator(cfg, gateway=build_gateway(cfg, db=RunDatabase(tmp_path / "r.sqlite")))
    evaluation = evaluator.evaluate("seed", seed_agent_dir())
    agent_sessions = [s for s in sessions if "/agent" in s]
    assert len(agent_sessions) == 1 and len(evaluation.tasks) == 3
    assert all(t.llm_calls > 0 and t.exit_code == 0 for t in evaluation.tasks)
    assert closed and max(closed) == 0          # no agent run needed a container of its own
