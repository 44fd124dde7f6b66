"""The whole loop on small budgets: a run, its summary, plots, export, and resume after kill -9."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SMALL = ["tasks.limit=4", "workers=2", "progress=log"]


def qdagents(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "qdagents.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def evaluated(run_dir: Path) -> list[str]:
    db = run_dir / "run.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT agent_id FROM evaluations ORDER BY seq")]
        except sqlite3.OperationalError:
            return []


def test_run_summary_plots_and_export(tmp_path, bwrap_backend):
    run_dir = tmp_path / "run"
    result = qdagents("run", "budget.evaluations=8", f"sandbox={bwrap_backend}",
                      f"hydra.run.dir={run_dir}", *SMALL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"run directory: {run_dir}" in result.stdout and "heatmap:" in result.stdout

    summary = json.loads(qdagents("summary", str(run_dir), "--json").stdout)
    for key in ("agents", "evaluated", "elites", "coverage", "qd_score", "tokens", "cost_usd"):
        assert key in summary
    assert summary["evaluated"] == 8 and summary["elites"] >= 1 and summary["tokens"] > 0
    for key in ("seed", "best"):
        assert set(summary[key]) >= {"id", "fitness", "descriptors"}
    assert summary["best"]["fitness"] >= summary["seed"]["fitness"]

    with sqlite3.connect(run_dir / "run.sqlite") as conn:
        tasks = conn.execute("SELECT COUNT(*) FROM task_results").fetchone()[0]
        calls = conn.execute("SELECT COUNT(*), SUM(prompt_tokens) FROM llm_calls").fetchone()
        stats = conn.execute("SELECT COUNT(*) FROM archive_stats").fetchone()[0]
        ids = [r[0] for r in conn.execute("SELECT id FROM agents")]
    assert tasks >= 8 and calls[0] > 8 and calls[1] > 0 and stats == 8
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert sorted(p.name for p in (run_dir / "plots").glob("*.png"))

    # the agent store is plain git: one commit per agent, ids are tree hashes
    log = subprocess.run(["git", "--git-dir", str(run_dir / "agents.git"), "log", "--all",
                          "--format=%T"], capture_output=True, text=True).stdout.split()
    assert {i for i in ids} <= {t[:12] for t in log}

    out = tmp_path / "exported"
    assert qdagents("export", str(run_dir), summary["best"]["id"], str(out)).returncode == 0
    assert (out / "agent.py").exists()


def test_resume_after_kill_loses_only_work_in_flight(tmp_path, bwrap_backend):
    run_dir = tmp_path / "run"
    budget = 10
    proc = subprocess.Popen([sys.executable, "-m", "qdagents.cli", "run",
                             f"budget.evaluations={budget}", f"sandbox={bwrap_backend}",
                             f"hydra.run.dir={run_dir}", *SMALL],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while len(evaluated(run_dir)) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = evaluated(run_dir)
    assert 4 <= len(before) < budget, "the run should have been killed mid-way"

    result = qdagents("resume", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    after = evaluated(run_dir)
    assert after[:len(before)] == before          # nothing that was finished is lost or redone
    assert len(after) == budget and len(set(after)) == len(after)   # no agent evaluated twice
    summary = json.loads(qdagents("summary", str(run_dir), "--json").stdout)
    assert summary["evaluated"] == budget
