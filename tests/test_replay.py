"""`qdagents replay`: a finished run rerun from its recordings gives the same archive, no provider."""

import json
import sqlite3
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def qdagents(*args):
    result = subprocess.run([sys.executable, "-m", "qdagents.cli", *args], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def summary(run_dir):
    return json.loads(qdagents("summary", str(run_dir), "--json").stdout)


@pytest.mark.parametrize("descriptors", ["default", "code_novelty"])
def test_replay_reproduces_the_archive_without_a_provider(tmp_path, bwrap_backend, descriptors):
    recorded, replayed = tmp_path / "recorded", tmp_path / "replayed"
    qdagents("run", "budget.evaluations=8", "tasks.limit=3", "workers=2", "progress=quiet",
             f"descriptors={descriptors}", f"sandbox={bwrap_backend}", f"hydra.run.dir={recorded}")
    qdagents("replay", str(recorded), "--out", str(replayed))
    before, after = summary(recorded), summary(replayed)
    for key in ("evaluated", "elites", "coverage", "qd_score", "best", "seed", "tokens"):
        assert after[key] == before[key], key
    assert before["provider_calls"] > 0
    assert after["provider_calls"] == 0 and after["cache_hits"] == after["llm_calls"] > 0
    with sqlite3.connect(replayed / "run.sqlite") as conn:
        stop = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'stop_reason'").fetchone()[0])
        cells = conn.execute("SELECT agent_id, cell FROM insertions ORDER BY seq").fetchall()
    with sqlite3.connect(recorded / "run.sqlite") as conn:
        assert cells == conn.execute("SELECT agent_id, cell FROM insertions ORDER BY seq").fetchall()
    assert stop == "replayed the recorded run, no divergence"


def test_replay_refuses_a_used_directory(tmp_path):
    (tmp_path / "run.sqlite").write_text("")
    result = subprocess.run([sys.executable, "-m", "qdagents.cli", "replay", str(tmp_path),
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "already holds a run" in result.stderr
