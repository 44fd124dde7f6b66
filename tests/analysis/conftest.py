"""Fake but schema-exact run directories for the analysis tests.

``make_run`` simulates the asynchronous steady-state loop with no LLM and no sandbox: children are
made from parents picked in the archive *as it is at creation time*, ``workers`` evaluations are in
flight, evaluations complete out of creation order, some fail, the last few are left pending (a
run stopped on budget), and every LLM exchange leaves an ``llm_calls`` row (some cached, some
errors). It keeps its own dictionary archive (cell -> elite) with its own binning, so the numbers
it returns in ``FakeRun.truth`` are computed independently of ``qdagents.rundata``.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from qdagents.store import SCHEMA  # the lead's schema, so the fake stays schema-exact


DESCRIPTORS = [
    {"name": "tool_count", "label": "tool count (tools offered)", "low": 0.5, "high": 8.5,
     "bins": 8},
    {"name": "edit_granularity", "label": "edit granularity (lines changed / lines emitted)",
     "low": 0.0, "high": 1.0, "bins": 10},
    {"name": "token_cost", "label": "token cost (tokens per task)", "low": 0.0, "high": 8000.0,
     "bins": 4},
]
TASKS = 8
PRICE_PROMPT, PRICE_COMPLETION = 0.15e-6, 0.60e-6  # USD per token
FAILURES = ["timed out after 60s", "patch did not apply", "crashed: exit code 1"]


@dataclass
class FakeRun:
    path: Path
    condition: str
    seed: int
    truth: dict = field(default_factory=dict)


def _cell(descriptors) -> int:
    """Half-open bins [edge, next edge), values outside the range go to the edge bins. Rounding
    first puts a value on an edge (the seed's edit granularity, 0.9) in the upper bin, as the
    arithmetic would without floating-point error (0.9 // 0.1 == 8.0 in floats)."""
    grid = []
    for value, spec in zip(descriptors, DESCRIPTORS):
        position = round((value - spec["low"]) / (spec["high"] - spec["low"]) * spec["bins"], 9)
        grid.append(min(max(math.floor(position), 0), spec["bins"] - 1))
    return int(np.ravel_multi_index(grid, [d["bins"] for d in DESCRIPTORS]))


def make_run(run_dir: Path, *, condition: str = "selection=uniform", seed: int = 0,
             agents: int = 300, workers: int = 4, drift: float = 0.0,
             parent_pool: str = "elites", pending: int = 2) -> FakeRun:
    """Writes ``run_dir/run.sqlite`` and ``run_dir/.hydra/*.yaml`` for one fake run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tag = int(hashlib.sha1(condition.encode()).hexdigest()[:6], 16)
    rng = np.random.default_rng([seed, tag])
    db = sqlite3.connect(run_dir / "run.sqlite")
    db.executescript(SCHEMA)
    config = {"seed": seed, "selection": {"_name": condition.split("=")[-1]},
              "budget": {"agents": agents}, "workers": workers,
              "archive": {"descriptors": DESCRIPTORS}}
    for key, value in {"config": config, "condition": condition, "seed": seed,
                       "version": "0.1.0", "status": "finished",
                       "descriptors": DESCRIPTORS}.items():  # JSON, as RunDatabase.set_meta
        db.execute("INSERT INTO meta VALUES (?, ?)", (key, json.dumps(value)))
    hydra = run_dir / ".hydra"
    hydra.mkdir(exist_ok=True)
    (hydra / "config.yaml").write_text(
        f"seed: {seed}\nselection:\n  _name: {config['selection']['_name']}\n")
    (hydra / "overrides.yaml").write_text(f"- {condition}\n- seed={seed}\n")

    t0 = 1.7e9
    info: dict[str, dict] = {}
    archive: dict[int, tuple[float, str, int]] = {}  # cell -> (fitness, id, seq)
    totals = {"tokens": 0, "cost": 0.0, "calls": 0, "provider": 0, "cached": 0}
    counts = {"new": 0, "improve": 0, "not_added": 0}
    parent_elite_flags: list[int] = []

    def llm_call(purpose, agent_id, task_id, tokens, now):
        cached = rng.random() < 0.1
        error = "RateLimitError" if (not cached and rng.random() < 0.02) else None
        prompt = 0 if error else int(tokens * 0.8)
        completion = 0 if error else int(tokens) - prompt
        cost = 0.0 if (cached or error) else prompt * PRICE_PROMPT + completion * PRICE_COMPLETION
        totals["tokens"] += prompt + completion
        totals["cost"] += cost
        totals["calls"] += 1
        totals["provider"] += int(not cached and error is None)
        totals["cached"] += int(cached)
        db.execute("INSERT INTO llm_calls (request_hash, occurrence, purpose, agent_id, task_id, "
                   "model, request, response, prompt_tokens, completion_tokens, cost_usd, cached, "
                   "latency, error, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (hashlib.sha1(f"{agent_id}{task_id}{now}".encode()).hexdigest(), 0, purpose,
                    agent_id, task_id, "qdagents/coder", "{}", "{}", prompt, completion, cost,
                    int(cached), 0.5, error, t0 + now))
        return prompt + completion

    def create(step, parents, emitter, now, quality, desc, parent_elite):
        agent_id = hashlib.sha1(f"{condition}/{seed}/{step}".encode()).hexdigest()
        failure = None if step == 0 or rng.random() > 0.08 else str(rng.choice(FAILURES))
        info[agent_id] = {"parents": parents, "quality": quality, "desc": desc, "step": step,
                          "failure": failure, "parent_elite": parent_elite, "created": now}
        db.execute("INSERT INTO agents VALUES (?,?,?,?,?,?,?,?)",
                   (agent_id, hashlib.sha1(agent_id.encode()).hexdigest(), json.dumps(parents),
                    emitter, step, t0 + now, "pending", None))
        if parents:
            llm_call("emitter", agent_id, None, rng.integers(1500, 4000), now)
        return agent_id

    def finish(agent_id, seq, started, now):
        a = info[agent_id]
        tokens = 0
        if a["failure"]:
            passed = 0
            for _ in range(int(rng.integers(0, 3))):
                tokens += llm_call("agent", agent_id, "task-0", rng.integers(200, 900), now)
            descriptors, fitness = None, 0.0
        else:
            passes = rng.random(TASKS) < a["quality"]
            passed = int(passes.sum())
            for t in range(TASKS):
                calls = int(rng.integers(1, 4))
                task_tokens = 0
                for share in rng.dirichlet(np.ones(calls)):
                    task_tokens += llm_call("agent", agent_id, f"task-{t}",
                                            max(1, a["desc"][2] * share), now)
                tokens += task_tokens
                db.execute("INSERT INTO task_results (agent_id, task_id, passed, reason, tokens, "
                           "llm_calls, tools_offered, lines_changed, lines_emitted, seconds, "
                           "exit_code, log) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                           (agent_id, f"task-{t}", int(passes[t]), None if passes[t] else
                            "tests failed", task_tokens, calls,
                            json.dumps([f"tool{i}" for i in range(int(a["desc"][0]))]),
                            5, 10, 3.0, 0, "log"))
            descriptors = [float(v) for v in a["desc"]]
            fitness = passed / TASKS
        db.execute("INSERT INTO evaluations (agent_id, seq, fitness, descriptors, tokens, "
                   "cost_usd, tasks_run, tasks_passed, stage, failure, started, finished) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   (agent_id, seq, fitness, json.dumps(descriptors), tokens,
                    tokens * 0.3e-6, 0 if a["failure"] else TASKS, passed, 1, a["failure"],
                    t0 + started, t0 + now))
        db.execute("UPDATE agents SET status=? WHERE id=?",
                   ("failed" if a["failure"] else "evaluated", agent_id))
        a["fitness"] = None if a["failure"] else fitness
        if not a["failure"]:
            cell = _cell(descriptors)
            old = archive.get(cell)
            status = "new" if old is None else ("improve" if fitness > old[0] else "not_added")
            if status != "not_added":
                archive[cell] = (fitness, agent_id, seq)
            counts[status] += 1
            db.execute("INSERT INTO insertions VALUES (?,?,?,?,?,?)",
                       (seq, agent_id, status, cell, fitness, a["parent_elite"]))
            if a["parent_elite"] is not None:
                parent_elite_flags.append(a["parent_elite"])
        fits = [f for f, _, _ in archive.values()]
        db.execute("INSERT INTO archive_stats VALUES (?,?,?,?,?,?,?,?)",
                   (seq, len(archive), len(archive) / 320, float(sum(fits)), float(max(fits)),
                    totals["tokens"], totals["cost"], now))

    def make_child(step, now):
        elite_ids = [e[1] for e in archive.values()]
        if parent_pool == "elites":
            pool = elite_ids
            weights = np.ones(len(pool))
        else:  # DGM-like: any evaluated agent, weighted by fitness
            pool = [i for i, a in info.items() if a.get("fitness") is not None]
            weights = np.array([info[i]["fitness"] for i in pool]) + 0.05
        weights = weights / weights.sum()
        if len(pool) >= 2 and rng.random() < 0.1:
            parents = [str(p) for p in rng.choice(pool, size=2, replace=False, p=weights)]
            emitter = "crossover"
        else:
            parents = [str(rng.choice(pool, p=weights))]
            emitter = str(rng.choice(["llm_search_replace", "llm_rewrite"]))
        p = info[parents[0]]
        desc = [float(np.clip(p["desc"][0] + rng.choice([-1, 0, 0, 1, 1, 2]), 1, 10)),
                float(np.clip(p["desc"][1] + rng.normal(0, 0.15), 0.01, 0.99)),
                float(max(300.0, p["desc"][2] * np.exp(rng.normal(0.05, 0.25))))]
        quality = float(np.clip(p["quality"] + rng.normal(drift, 0.08), 0.02, 0.8))
        return create(step, parents, emitter, now, quality, desc, int(parents[0] in elite_ids))

    seed_id = create(0, [], "seed", 0.0, 0.35, [2.0, 0.9, 2500.0], None)
    finish(seed_id, 1, 0.0, 30.0)
    now, seq, step, in_flight = 30.0, 1, 1, []
    while step < agents or len(in_flight) > pending:
        if step < agents and len(in_flight) < workers:
            agent_id = make_child(step, now)
            heapq.heappush(in_flight, (now + float(rng.uniform(20, 60)), step, agent_id, now))
            step += 1
        else:
            now, _, agent_id, started = heapq.heappop(in_flight)
            seq += 1
            finish(agent_id, seq, started, now)
    db.commit()
    db.close()

    depth: dict[str, int] = {}
    for agent_id, a in info.items():  # creation order: parents come first
        depth[agent_id] = 1 + max((depth[p] for p in a["parents"]), default=-1)
    best = max(archive.values(), key=lambda e: (e[0], -e[2]))
    statuses = [("pending" if "fitness" not in a else "failed" if a["failure"] else "evaluated")
                for a in info.values()]
    truth = {
        "agents": len(info), "evaluated": seq,
        "failed": statuses.count("failed"), "pending": statuses.count("pending"),
        "evaluations": seq, "elites": len(archive), "coverage": len(archive) / 320,
        "qd_score": float(sum(e[0] for e in archive.values())), "best_fitness": best[0],
        "best_id": best[1], "seed_id": seed_id,
        "elite_ids": {cell: e[1] for cell, e in archive.items()},
        "tokens": totals["tokens"], "cost_usd": totals["cost"], "llm_calls": totals["calls"],
        "provider_calls": totals["provider"], "cache_hits": totals["cached"],
        "new_cells": counts["new"], "improved": counts["improve"],
        "max_depth": max(depth.values()),
        "share_parent_not_elite": (float(np.mean([f == 0 for f in parent_elite_flags]))
                                   if parent_elite_flags else None),
    }
    return FakeRun(run_dir, condition, seed, truth)


CONDITIONS = {
    "selection=uniform": {"parent_pool": "elites", "drift": 0.0},
    "selection=dgm": {"parent_pool": "all", "drift": 0.02},
}


def make_sweep(sweep_dir: Path, *, seeds=(0, 1, 2), agents: int = 120) -> list[FakeRun]:
    """A Hydra-multirun-like directory: ``sweep_dir/<job number>/run.sqlite``."""
    runs, job = [], 0
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    for condition, options in CONDITIONS.items():
        for seed in seeds:
            runs.append(make_run(sweep_dir / str(job), condition=condition, seed=seed,
                                 agents=agents, **options))
            job += 1
    return runs


def exact_mann_whitney(a, b):
    """Exact two-sided Mann-Whitney p by enumerating every split of the pooled sample (ties
    count half); written independently of scipy."""
    pooled = list(a) + list(b)

    def u(group):
        rest = [pooled[i] for i in range(len(pooled)) if i not in group]
        return sum((pooled[i] > y) + 0.5 * (pooled[i] == y) for i in group for y in rest)

    observed = u(range(len(a)))
    null = [u(group) for group in itertools.combinations(range(len(pooled)), len(a))]
    lower = sum(v <= observed for v in null) / len(null)
    upper = sum(v >= observed for v in null) / len(null)
    return min(1.0, 2 * min(lower, upper))


@pytest.fixture(scope="session")
def exact_mann_whitney_p():
    return exact_mann_whitney


@pytest.fixture(scope="session")
def make_fake_run():
    """The ``make_run`` builder, for tests that need a run of their own shape."""
    return make_run


@pytest.fixture(scope="session")
def fake_run(tmp_path_factory) -> FakeRun:
    return make_run(tmp_path_factory.mktemp("run") / "run", agents=300)


@pytest.fixture(scope="session")
def fake_sweep(tmp_path_factory) -> tuple[Path, list[FakeRun]]:
    sweep = tmp_path_factory.mktemp("sweep") / "multirun"
    return sweep, make_sweep(sweep)
