"""Hydra sweeps end to end: a real multirun and its report, the joblib launcher, and the ready
experiment configs (composed and expanded, never run in full here)."""

from __future__ import annotations

import csv
import itertools
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from sandbox_support import REQUIRE_SANDBOXES, bwrap_works

TINY = ["budget.evaluations=3", "tasks.limit=2", "workers=1", "progress=quiet"]
# report column -> how to get it from `qdagents summary --json`
METRICS = {
    "qd_score": lambda s: s["qd_score"],
    "coverage": lambda s: 100.0 * s["coverage"],
    "best_fitness": lambda s: s["best"]["fitness"] if s["best"] else np.nan,
    "evaluations": lambda s: float(s["evaluated"]),
    "tokens": lambda s: float(s["tokens"]),
    "cost_usd": lambda s: s["cost_usd"],
}


def sandbox() -> str:
    """bwrap when it works; else the process backend (the sandbox is not what is tested here),
    except under QDAGENTS_REQUIRE_SANDBOXES=1, where a missing bwrap is a failure."""
    if bwrap_works():
        return "bwrap"
    if REQUIRE_SANDBOXES:
        pytest.fail("bubblewrap is required (QDAGENTS_REQUIRE_SANDBOXES=1) but not available")
    return "process"


def qdagents(*args, timeout=300):
    result = subprocess.run([sys.executable, "-m", "qdagents.cli", *map(str, args)],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"qdagents {' '.join(map(str, args))}\n{result.stderr[-3000:]}"
    return result


def summary(run_dir: Path) -> dict:
    return json.loads(qdagents("summary", run_dir, "--json").stdout)


def brute_force_mwu_p(a, b) -> float:
    """Two-sided exact Mann-Whitney p by enumerating every split of the pooled runs (midranks for
    ties): 2 * min(P(U <= u), P(U >= u)), capped at 1."""
    pooled = np.concatenate([a, b])
    ranks = np.empty(len(pooled))
    for value in np.unique(pooled):
        at = np.flatnonzero(pooled == value)
        below = int((pooled < value).sum())
        ranks[at] = below + (len(at) + 1) / 2.0

    def u(group):
        return sum(ranks[i] for i in group) - len(a) * (len(a) + 1) / 2.0

    observed = u(range(len(a)))
    null = [u(g) for g in itertools.combinations(range(len(pooled)), len(a))]
    lower = sum(v <= observed + 1e-9 for v in null) / len(null)
    upper = sum(v >= observed - 1e-9 for v in null) / len(null)
    return min(1.0, 2 * min(lower, upper))


def expected_p(a, b) -> float:
    if np.all(np.concatenate([a, b]) == a[0]):
        return 1.0
    brute = brute_force_mwu_p(a, b)
    if len(set(np.concatenate([a, b]))) == len(a) + len(b):  # no ties: scipy's exact is exact
        assert mannwhitneyu(a, b, alternative="two-sided", method="exact").pvalue == \
            pytest.approx(brute)
    return brute


def brute_force_a12(a, b) -> float:
    score = 0.0
    for x in a:
        for y in b:
            score += 1.0 if x > y else 0.5 if x == y else 0.0
    return score / (len(a) * len(b))


def read_csv(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_brute_force_reference_is_right():
    # the reference itself, on textbook cases: 3 vs 3 fully separated -> 2 / C(6, 3)
    assert brute_force_mwu_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    # the case docs/analysis.md quotes: fitness 1.0 x3 vs 0.875 x3 is exactly 0.1 with ties
    assert brute_force_mwu_p([1.0] * 3, [0.875] * 3) == pytest.approx(0.1)
    assert brute_force_mwu_p([1, 5, 9], [2, 6, 7]) == pytest.approx(
        mannwhitneyu([1, 5, 9], [2, 6, 7], method="exact").pvalue)
    assert brute_force_a12([1, 2], [1, 0]) == pytest.approx(0.875)


@pytest.mark.slow
def test_multirun_and_report_match_the_runs(tmp_path):
    sweep = tmp_path / "sweep"
    qdagents("run", "-m", "selection=uniform,best", "seed=0,1,2", *TINY, f"sandbox={sandbox()}",
             f"hydra.sweep.dir={sweep}", timeout=400)
    runs = sorted(p for p in sweep.iterdir() if (p / "run.sqlite").is_file())
    assert len(runs) == 6

    summaries = [summary(run) for run in runs]
    by_condition: dict[str, list[dict]] = {}
    for s in summaries:
        assert s["evaluated"] + s["failed"] >= 1 and s["pending"] == 0
        by_condition.setdefault(s["condition"], []).append(s)
    assert len(by_condition) == 2
    for condition, group in by_condition.items():
        assert sorted(s["random_seed"] for s in group) == [0, 1, 2]
        assert "seed" not in condition.split("=")[0]
    names = {c: ("uniform" if "selection=uniform" in c else "best") for c in by_condition}
    assert sorted(names.values()) == ["best", "uniform"]
    # the report names conditions by what differs between them (the swept selection)
    by_condition = {f"selection={names[c]}": g for c, g in by_condition.items()}

    out = sweep / "report"
    qdagents("report", sweep, "--out", out)
    for name in ["runs.csv", "table.md", "table.csv", "pairwise.md", "pairwise.csv",
                 "curves.png", "curves.pdf", "heatmaps.png", "heatmaps.pdf"]:
        assert (out / name).stat().st_size > 0, name
    # the report must not have taken the report directory itself for a run
    assert len(read_csv(out / "runs.csv")) == 6

    table = {row["condition"]: row for row in read_csv(out / "table.csv")}
    assert set(table) == set(by_condition)
    values = {c: {k: np.array([get(s) for s in sorted(g, key=lambda s: s["random_seed"])])
                  for k, get in METRICS.items()} for c, g in by_condition.items()}
    for condition, row in table.items():
        assert int(row["n"]) == 3
        for key in METRICS:
            x = values[condition][key]
            assert float(row[key]) == pytest.approx(np.median(x)), (condition, key)
            # with 3 seeds the percentile-bootstrap interval lies within the range of the runs
            assert x.min() - 1e-9 <= float(row[f"{key}_ci_low"]) <= float(row[key]) + 1e-9
            assert float(row[key]) - 1e-9 <= float(row[f"{key}_ci_high"]) <= x.max() + 1e-9

    pairwise = read_csv(out / "pairwise.csv")
    assert {row["metric"] for row in pairwise} == set(METRICS) and len(pairwise) == len(METRICS)
    for row in pairwise:
        a, b = values[row["condition_a"]][row["metric"]], values[row["condition_b"]][row["metric"]]
        assert float(row["median_a"]) == pytest.approx(np.median(a))
        assert float(row["median_b"]) == pytest.approx(np.median(b))
        assert float(row["p_value"]) == pytest.approx(expected_p(a, b)), row
        assert float(row["p_holm"]) == pytest.approx(float(row["p_value"]))  # one pair: m = 1
        assert float(row["a12"]) == pytest.approx(brute_force_a12(a, b)), row


@pytest.mark.slow
def test_joblib_launcher_runs_jobs_in_parallel(tmp_path):
    sweep = tmp_path / "sweep"
    qdagents("run", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", *TINY,
             f"sandbox={sandbox()}", f"hydra.sweep.dir={sweep}", timeout=300)
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in runs] == ["0", "1"]
    seeds = []
    for run in runs:
        assert (run / "run.sqlite").is_file() and (run / "agents.git").is_dir()
        with sqlite3.connect(f"file:{run / 'run.sqlite'}?mode=ro", uri=True) as db:
            assert db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0] >= 1
        seeds.append(summary(run)["random_seed"])
    assert sorted(seeds) == [0, 1]


# --- the ready experiments ---------------------------------------------------------------------

EXPERIMENTS = {
    "ablate_selection": {"selection": ["uniform", "dgm", "novelty", "best"],
                         "seed": ["0", "1", "2"]},
    "ablate_emitters": {"emitters.llm_mutation.targets": 2, "seed": ["0", "1", "2"]},
    "ablate_dgm": {"dgm": ["full", "no_open_ended_exploration", "no_self_improve"],
                   "seed": ["0", "1", "2"]},
}

#: DGM's three conditions (Zhang et al. 2025): (selection, who edits) with a keep-all archive.
DGM_CONDITIONS = {"full": ("dgm", "parent"), "no_open_ended_exploration": ("latest", "parent"),
                  "no_self_improve": ("dgm", "seed")}


def sweep_jobs(experiment: str) -> list[list[str]]:
    """The jobs Hydra's basic sweeper makes of ``+experiment=NAME -m``: its params expanded."""
    from hydra import compose, initialize_config_module
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    with initialize_config_module(config_module="qdagents.conf", version_base=None):
        cfg = compose("config", overrides=[f"+experiment={experiment}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    overrides = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    (jobs,) = BasicSweeper.split_arguments(overrides, None)
    return [[f"+experiment={experiment}", *job] for job in jobs]


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_experiment_sweeps_expand_to_valid_configs(experiment):
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from qdagents.config import validate

    jobs = sweep_jobs(experiment)
    expected = EXPERIMENTS[experiment]
    sizes = [v if isinstance(v, int) else len(v) for v in expected.values()]
    assert len(jobs) == int(np.prod(sizes))
    for key, wanted in expected.items():
        seen = {o.split("=", 1)[1] for job in jobs for o in job if o.split("=", 1)[0] == key}
        assert (len(seen) == wanted) if isinstance(wanted, int) else (seen == set(wanted))
    targets = []
    for job in jobs:
        with initialize_config_module(config_module="qdagents.conf", version_base=None):
            cfg = compose("config", overrides=job)
        container = OmegaConf.to_container(cfg, resolve=True)
        validate(container)
        assert container["budget"]["evaluations"] == 30
        assert str(container["seed"]) in {"0", "1", "2"}
        if experiment == "ablate_selection":
            selection = next(o.split("=")[1] for o in job if o.startswith("selection="))
            assert container["selection"]["name"] == selection
        if experiment == "ablate_dgm":
            condition = next(o.split("=")[1] for o in job if o.startswith("dgm="))
            assert container["archive"]["kind"] == "keep_all"
            assert list(container["emitters"]) == ["self_modify"]
            assert container["selection"]["pool"] == "all"
            assert (container["selection"]["name"],
                    container["emitters"]["self_modify"]["meta_agent"]) == DGM_CONDITIONS[condition]
            continue
        targets.append(container["emitters"]["llm_mutation"]["targets"])
    if experiment == "ablate_emitters":
        # plain mutation (no target ever) against the default, descriptor-directed list
        from hydra import compose as compose_default
        with initialize_config_module(config_module="qdagents.conf", version_base=None):
            default = OmegaConf.to_container(compose_default("config"))
        kinds = {json.dumps(t) for t in targets}
        assert kinds == {json.dumps([None]),
                         json.dumps(default["emitters"]["llm_mutation"]["targets"])}


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_experiment_composes_on_the_command_line(experiment):
    job = qdagents("run", f"+experiment={experiment}", "--cfg", "job").stdout
    assert "evaluations: 30" in job
    hydra_cfg = qdagents("run", f"+experiment={experiment}", "--cfg", "hydra").stdout
    assert f"multirun/{experiment}/" in hydra_cfg and "seed: 0,1,2" in hydra_cfg
    # a command-line override still wins over the experiment
    job = qdagents("run", f"+experiment={experiment}", "budget.evaluations=7", "--cfg",
                   "job").stdout
    assert "evaluations: 7" in job


@pytest.mark.slow
def test_dgm_without_open_ended_exploration_builds_on_the_newest_agent(tmp_path):
    run_dir = tmp_path / "run"
    qdagents("run", "+experiment=ablate_dgm", "dgm=no_open_ended_exploration",
             "budget.evaluations=3", "tasks.limit=2", "workers=1", "progress=quiet",
             f"sandbox={sandbox()}", f"hydra.run.dir={run_dir}", timeout=400)
    with sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True) as db:
        told = db.execute("SELECT agent_id, failure FROM evaluations ORDER BY seq").fetchall()
        proposals = db.execute("SELECT parents, agent_id, status FROM proposals WHERE step > 0 "
                               "ORDER BY step").fetchall()
    assert len(told) == 3 and proposals
    valid = [agent for agent, failure in told if failure is None]
    newest = told[0][0]
    for parents, agent, status in proposals:   # one worker: each proposal follows the last tell
        assert json.loads(parents) == [newest]
        if status == "created" and agent in valid:
            newest = agent
