"""RunData and summary_metrics against the numbers the fake loop computed itself."""

import json
import shutil
import sqlite3

import numpy as np
import pytest

from qdagents.rundata import RunData, summary_metrics


@pytest.fixture(scope="module")
def run(fake_run):
    return RunData.load(fake_run.path)


def test_load_reads_meta_agents_and_tables(run, fake_run):
    truth = fake_run.truth
    assert run.condition == "selection=uniform" and run.seed == 0
    assert [d.name for d in run.descriptors] == ["tool_count", "edit_granularity", "token_cost"]
    assert run.config["selection"]["_name"] == "uniform"
    assert len(run.agents) == truth["agents"]
    assert run.agents[truth["seed_id"]].parents == ()
    assert all(p in run.agents for a in run.agents.values() for p in a.parents)
    assert any(len(a.parents) == 2 for a in run.agents.values())  # crossover children
    assert len(run.evaluations["agent_id"]) == truth["evaluations"]
    assert run.evaluations["descriptors"].shape == (truth["evaluations"], 3)
    assert np.all(np.diff(run.evaluations["seq"]) > 0)
    assert run.archive_stats["seq"][-1] == truth["evaluations"]


def test_rebuilt_archive_holds_the_loops_elites(run, fake_run):
    archive = run.rebuild_archive()
    data = archive.data()
    assert dict(zip(data["index"].tolist(), data["solution"].tolist())) == \
        fake_run.truth["elite_ids"]
    assert archive.stats.qd_score == pytest.approx(fake_run.truth["qd_score"])
    assert archive.stats.qd_score == pytest.approx(run.archive_stats["qd_score"][-1])


def test_descriptors_outside_the_grid_are_clipped_into_the_edge_cells(run):
    high = np.array([d.high for d in run.descriptors])
    outside = np.flatnonzero((run.evaluations["descriptors"] > high).any(axis=1))
    assert len(outside) > 0  # the fake loop makes agents with more tools than the grid has
    cell_of = dict(zip(run.insertions["agent_id"], run.insertions["cell"]))
    low = np.array([d.low for d in run.descriptors])
    for row in outside:
        clipped = np.clip(run.evaluations["descriptors"][row], low, high)
        assert run.archive.index_of_single(clipped) == cell_of[run.evaluations["agent_id"][row]]


def test_elites_are_best_first_with_measured_descriptors(run, fake_run):
    elites = run.elites()
    assert len(elites) == fake_run.truth["elites"]
    assert [e.fitness for e in elites] == sorted((e.fitness for e in elites), reverse=True)
    assert elites[0].id == fake_run.truth["best_id"]
    assert max(e.descriptors[0] for e in elites) > run.descriptors[0].high  # not clipped


def test_summary_metrics_match_the_fake_loop(run, fake_run):
    truth, summary = fake_run.truth, summary_metrics(run)
    for key in ["agents", "evaluated", "failed", "pending", "elites", "tokens",
                "llm_calls", "provider_calls", "cache_hits", "max_depth"]:
        assert summary[key] == truth[key], key
    for key in ["coverage", "qd_score", "cost_usd"]:
        assert summary[key] == pytest.approx(truth[key]), key
    assert summary["evaluated"] == summary["agents"] - summary["pending"]
    assert summary["new_cells"] == truth["new_cells"] == truth["elites"]
    assert summary["improved"] == truth["improved"]
    assert summary["parent_not_elite_share"] == pytest.approx(truth["share_parent_not_elite"])
    assert summary["seed"]["id"] == truth["seed_id"]
    assert summary["best"]["id"] == truth["best_id"]
    assert summary["best"]["fitness"] == truth["best_fitness"]
    assert len(summary["best"]["descriptors"]) == 3
    json.dumps(summary, allow_nan=False)


def test_dgm_like_selection_reports_children_of_non_elites(make_fake_run, tmp_path):
    fake = make_fake_run(tmp_path / "dgm", condition="selection=dgm", agents=80,
                         parent_pool="all")
    share = summary_metrics(fake.path)["parent_not_elite_share"]
    assert 0 < share == pytest.approx(fake.truth["share_parent_not_elite"])


def test_condition_falls_back_to_hydra_overrides_without_seed(fake_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(fake_run.path, copy)
    with sqlite3.connect(copy / "run.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'condition'")
    assert RunData.load(copy).condition == "selection=uniform"


def test_without_insertions_the_archive_replays_evaluations(fake_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(fake_run.path, copy)
    with sqlite3.connect(copy / "run.sqlite") as db:
        db.execute("DELETE FROM insertions")
    data = RunData.load(copy).rebuild_archive().data()
    assert dict(zip(data["index"].tolist(), data["solution"].tolist())) == \
        fake_run.truth["elite_ids"]


def test_loading_does_not_write(fake_run):
    database = fake_run.path / "run.sqlite"
    before = (database.stat().st_mtime_ns, database.read_bytes())
    RunData.load(fake_run.path)
    assert (database.stat().st_mtime_ns, database.read_bytes()) == before


def test_seed_only_run(make_fake_run, tmp_path):
    fake = make_fake_run(tmp_path / "one", agents=1, pending=0)
    summary = summary_metrics(fake.path)
    assert (summary["agents"], summary["elites"], summary["max_depth"]) == (1, 1, 0)
    assert summary["best"]["id"] == summary["seed"]["id"] == fake.truth["seed_id"]
    assert summary["parent_not_elite_share"] is None


def test_missing_database_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="run.sqlite"):
        RunData.load(tmp_path)
