"""Whole runs with ``executor=dask`` on a LocalCluster of worker processes, through the CLI: a run
and its replay (same archive, no provider call), a controller killed with kill -9 and resumed,
and a run that refuses to start on an unusable worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.bwrap]

DASK = ["executor=dask", "executor.local_workers=2", "tasks.limit=3", "workers=2",
        "progress=log"]


def qdagents(*args, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qdagents.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def summary(run_dir: Path) -> dict:
    return json.loads(qdagents("summary", str(run_dir), "--json").stdout)


def rows(run_dir: Path, sql: str) -> list:
    with sqlite3.connect(run_dir / "run.sqlite") as conn:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:   # not created yet
            return []


def evaluated(run_dir: Path) -> list[str]:
    if not (run_dir / "run.sqlite").exists():
        return []
    return [r[0] for r in rows(run_dir, "SELECT agent_id FROM evaluations ORDER BY seq")]


def test_a_dask_run_and_its_replay(tmp_path, bwrap_backend):
    recorded, replayed = tmp_path / "recorded", tmp_path / "replayed"
    run = qdagents("run", "budget.evaluations=6", f"hydra.run.dir={recorded}", *DASK)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "on DaskTaskRunner(DaskCluster(LocalCluster" in run.stdout + run.stderr
    before = summary(recorded)
    assert before["evaluated"] == 6 and before["failed"] == 0 and before["provider_calls"] > 0
    task_rows = rows(recorded, "SELECT COUNT(*), SUM(llm_calls) FROM task_results")[0]
    agent_calls = rows(recorded, "SELECT COUNT(*) FROM llm_calls WHERE purpose = 'agent'")[0][0]
    assert task_rows[0] == 18 and task_rows[1] == agent_calls > 0   # metered at home, per task

    replay = qdagents("replay", str(recorded), "--out", str(replayed))
    assert replay.returncode == 0, replay.stderr[-3000:]
    after = summary(replayed)
    for key in ("evaluated", "elites", "coverage", "qd_score", "best", "seed", "tokens"):
        assert after[key] == before[key], key
    assert after["provider_calls"] == 0 and after["cache_hits"] == after["llm_calls"] > 0
    cells = "SELECT agent_id, cell FROM insertions ORDER BY seq"
    assert rows(replayed, cells) == rows(recorded, cells)


def test_a_killed_controller_takes_its_local_cluster_along_and_resumes(tmp_path, bwrap_backend):
    run_dir, budget = tmp_path / "run", 8
    proc = subprocess.Popen([sys.executable, "-m", "qdagents.cli", "run",
                             f"budget.evaluations={budget}", f"hydra.run.dir={run_dir}", *DASK],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while len(evaluated(run_dir)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 2, "the LocalCluster's worker processes should be running"
    os.kill(proc.pid, signal.SIGKILL)                 # the controller only, not its group
    proc.wait()
    before = evaluated(run_dir)
    assert 3 <= len(before) < budget, "the run should have been killed mid-way"
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left behind: {[p.cmdline()[:3] for p in alive]}"

    result = qdagents("resume", str(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    after = evaluated(run_dir)
    assert after[:len(before)] == before
    assert len(after) == budget and len(set(after)) == len(after)


def test_a_lost_scheduler_stops_the_run_with_its_agents_pending(tmp_path, bwrap_backend):
    """The scheduler of an external cluster dies mid-run: the run exits with the cluster's
    failure (code 2) and the agents in flight stay pending for resume, none scored 0."""
    dask = str(Path(sys.executable).with_name("dask"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                  address.rsplit(":", 1)[1], "--no-dashboard"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "2",
                               "--no-dashboard"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = tmp_path / "run"
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "qdagents.cli", "run", "budget.evaluations=30",
             f"hydra.run.dir={run_dir}", *DASK, f"executor.address={address}",
             "executor.connect_timeout=10", "llm.latency=0.2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while not evaluated(run_dir) and time.time() < deadline and run.poll() is None:
            time.sleep(0.2)
        scheduler.kill()
        _, stderr = run.communicate(timeout=120)
    finally:
        for process in (scheduler, worker):
            process.kill()
            process.wait()
    assert run.returncode == 2, stderr[-3000:]
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("qdagents: error: the Dask cluster failed running agent "), message
    assert message.endswith(f"continue it with: qdagents resume {run_dir}")
    assert rows(run_dir, "SELECT COUNT(*) FROM evaluations WHERE failure IS NOT NULL") == [(0,)]
    assert rows(run_dir, "SELECT COUNT(*) FROM agents WHERE status = 'pending'")[0][0] >= 1
    assert rows(run_dir, "SELECT value FROM meta WHERE key = 'status'") == [('"interrupted"',)]


def test_a_run_does_not_start_on_an_unusable_worker(tmp_path):
    result = qdagents("run", "sandbox=bwrap", "+sandbox.bwrap=/nonexistent/bwrap",
                      f"hydra.run.dir={tmp_path / 'run'}", *DASK)
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("qdagents: error: cannot start the run: worker tcp://127.0.0.1:")
    assert "cannot judge task" in message
    assert evaluated(tmp_path / "run") == []


@pytest.mark.docker
def test_a_worker_that_joins_unusable_stops_the_run_which_resumes(tmp_path):
    """A worker started by hand (``dask worker``) whose docker engine does not answer joins
    mid-run: its first task stops the run with its name, no agent is scored for it, and the
    run resumes without it."""
    from sandbox_support import require_backend

    from qdagents import Run, compose
    from qdagents.evaluation import EvaluationUnavailable

    require_backend("docker")
    cfg = compose(["executor=dask", "executor.local_workers=1", "sandbox=docker", "tasks.limit=3",
                   "workers=2", "budget.evaluations=5", "progress=quiet"])
    run_dir = tmp_path / "run"
    run = Run.from_config(cfg, run_dir)
    client = run.task_runner.client
    broken = subprocess.Popen(
        [str(Path(sys.executable).with_name("dask")), "worker",
         run.task_runner.cluster.scheduler_address, "--nworkers", "1", "--nthreads", "1",
         "--no-dashboard"], env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client.wait_for_workers(n_workers=2, timeout=60)
        with pytest.raises(EvaluationUnavailable) as error:
            run.execute()
    finally:
        broken.kill()
        broken.wait()
    assert "cannot run tasks: sandbox docker: no docker engine answers" in str(error.value)
    assert error.value.worker not in ("", None) and error.value.worker.startswith("tcp://")
    failed = rows(run_dir, "SELECT COUNT(*) FROM evaluations WHERE failure IS NOT NULL")[0][0]
    assert failed == 0 and len(evaluated(run_dir)) < 5          # nobody was scored for it
    assert rows(run_dir, "SELECT value FROM meta WHERE key = 'status'")[0][0] == '"interrupted"'

    resumed = Run.resume(run_dir)
    resumed.execute()
    assert len(evaluated(run_dir)) == 5
