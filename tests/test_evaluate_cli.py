"""`qdagents evaluate` on a hand-written agent, and staged evaluation (as in DGM)."""

import json
import subprocess
import sys

import pytest

from shared_data import HUMANEVAL

STAGES = "evaluation.stages=[{{tasks:2,threshold:{}}},{{tasks:null}}]"


def evaluate(agent_dir, *overrides):
    result = subprocess.run([sys.executable, "-m", "qdagents.cli", "evaluate", str(agent_dir),
                             "tasks.limit=4", *overrides, "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.fixture
def idle_agent(tmp_path):
    """An agent that looks at the problem and gives up: it must fail every task, not the run."""
    agent = tmp_path / "idle"
    agent.mkdir()
    (agent / "agent.py").write_text("import os\nprint(open(os.environ['QDAGENTS_PROBLEM']).read()[:80])\n")
    return agent


def test_stage_threshold_stops_weak_agents(idle_agent, bwrap_backend):
    stopped = evaluate(idle_agent, f"sandbox={bwrap_backend}", STAGES.format(0.5))
    assert stopped["stage"] == 1 and len(stopped["tasks"]) == 2 and stopped["fitness"] == 0.0
    assert all(t["reason"] for t in stopped["tasks"])          # each failure says why
    went_on = evaluate(idle_agent, f"sandbox={bwrap_backend}", STAGES.format(0.0))
    assert went_on["stage"] == 2 and len(went_on["tasks"]) == 4


def test_crashing_agent_is_a_recorded_failure(tmp_path, bwrap_backend):
    agent = tmp_path / "crash"
    agent.mkdir()
    (agent / "agent.py").write_text("raise SystemExit('I give up')\n")
    result = evaluate(agent, f"sandbox={bwrap_backend}")            # early_stop: 3 by default
    assert result["fitness"] == 0.0 and len(result["tasks"]) == 3
    assert "stopped early" in result["failure"] and "exited with code 1" in result["failure"]
    assert "exited with code 1" in result["tasks"][0]["reason"]
    every = evaluate(agent, f"sandbox={bwrap_backend}", "evaluation.early_stop=0")
    assert every["fitness"] == 0.0 and len(every["tasks"]) == 4
    assert "failed to run on every task" in every["failure"]


def test_tasks_check_cli(bwrap_backend):
    def check(*args):
        return subprocess.run([sys.executable, "-m", "qdagents.cli", "tasks", "check", *args,
                               "--sandbox", bwrap_backend], capture_output=True, text=True,
                              timeout=300)
    result = check("builtin")
    assert result.returncode == 0 and "builtin: 17/17 tasks pass the self-check" in result.stdout
    result = check(f"humaneval:{HUMANEVAL}", "--limit", "5")
    assert result.returncode == 0 and "5/5 tasks pass" in result.stdout
