"""`qdagents run` checks every configured model before the first evaluation (issue 14): a
missing key or an unpriced model under a USD budget stops it at once, exit code 2, nothing
evaluated, the variable or key to set named."""

import os
import sqlite3
import subprocess
import sys


def run(tmp_path, *overrides, env=None):
    return subprocess.run([sys.executable, "-m", "qdagents.cli", "run", *overrides,
                           "progress=quiet", f"hydra.run.dir={tmp_path / 'run'}"],
                          capture_output=True, text=True, timeout=300, env=env)


def evaluations(tmp_path) -> int:
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    try:
        return db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    finally:
        db.close()


def test_a_missing_key_stops_the_run_before_any_evaluation(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    result = run(tmp_path, "llm.agent_model=anthropic/claude-sonnet-4-5",
                 "llm.emitter_model=anthropic/claude-sonnet-4-5", env=env)
    assert result.returncode == 2
    assert "anthropic/claude-sonnet-4-5 (agents, emitters): missing credentials: set " \
           "ANTHROPIC_API_KEY" in result.stderr
    assert evaluations(tmp_path) == 0


def test_an_unpriced_model_under_a_usd_budget_does_not_start(tmp_path):
    """The server at api_base is not even up: both problems are named, nothing is spent."""
    result = run(tmp_path, "llm.agent_model=openai/local-coder", "llm.emitter_model=qdagents/mutator",
                 "llm.api_base=http://127.0.0.1:9/v1", "llm.max_retries=0", "budget.usd=5",
                 env={**os.environ, "OPENAI_API_KEY": "sk-local"})
    assert result.returncode == 2
    assert "openai/local-coder (agents): did not answer" in result.stderr
    assert "no price known, and budget.usd is set" in result.stderr and "llm.prices" in result.stderr
    assert evaluations(tmp_path) == 0


def test_the_offline_model_passes_without_a_provider(tmp_path):
    result = run(tmp_path, "budget.evaluations=1", "tasks.limit=1", "sandbox=process",
                 "budget.usd=5")
    assert result.returncode == 0, result.stderr[-2000:]
    assert evaluations(tmp_path) == 1
