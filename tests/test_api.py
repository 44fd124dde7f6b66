"""qdagents from Python: compose a config, run, resume, read back; every shipped config composes."""

from __future__ import annotations

from pathlib import Path

import pytest

import qdagents

CONF = Path(__file__).resolve().parents[1] / "qdagents" / "conf"


def test_compose_validates_and_names_the_bad_key():
    cfg = qdagents.compose(["seed=4", "selection=dgm", "budget.evaluations=7"])
    assert cfg["seed"] == 4 and cfg["selection"]["name"] == "dgm" and "hydra" not in cfg
    for overrides, key in [(["budget.evaluations=-3"], "budget.evaluations"),
                           (["budget.evaluatons=3"], "budget.evaluatons"),
                           (["selection=roulette"], "selection/roulette"),
                           (["selection.name=roulette"], "selection.name"),
                           (["tasks=exercism"], "tasks.path"),
                           (["archive._target_=no.such.Archive"], "archive._target_"),
                           (["emitters.llm_mutation.kind=telepathy"], "emitters.llm_mutation.kind")]:
        with pytest.raises(qdagents.ConfigError, match=key.replace(".", r"\.")):
            qdagents.compose(overrides)


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", ["archive", "selection", "emitters", "descriptors", "sandbox",
                                   "llm"])
def test_every_shipped_option_composes(group):
    for option in _options(group):
        cfg = qdagents.compose([f"{group}={option}"])
        assert cfg[group], (group, option)


def test_task_suites_compose_with_a_path_and_experiments_compose():
    for option in _options("tasks"):
        cfg = qdagents.compose([f"tasks={option}", "tasks.path=/data/somewhere"])
        assert option.startswith(cfg["tasks"]["kind"])   # a preset (swebench_dgm) names its kind
    for experiment in _options("experiment"):
        assert qdagents.compose([f"+experiment={experiment}"])["budget"]["evaluations"]


def test_not_a_run_directory(tmp_path):
    with pytest.raises(qdagents.RunDirectoryError, match="not a run directory"):
        qdagents.Run.resume(tmp_path)
    with pytest.raises(qdagents.RunDirectoryError, match="not a run directory"):
        qdagents.Run.replay(tmp_path, tmp_path / "out")


@pytest.mark.slow
def test_run_resume_and_read_back_from_python(tmp_path, bwrap_backend):
    run_dir = tmp_path / "run"
    cfg = qdagents.compose(["budget.evaluations=3", "tasks.limit=2", "workers=1",
                            "progress=quiet", f"sandbox={bwrap_backend}"])
    run = qdagents.Run.from_config(cfg, run_dir)
    stats = run.execute()
    assert stats == run.scheduler.archive.stats and stats["elites"] >= 1
    resumed = qdagents.Run.resume(run_dir, ["budget.evaluations=4"])
    assert resumed.scheduler.archive.stats["elites"] == 0     # rebuilt when it runs
    resumed.execute()
    assert resumed.scheduler.archive.stats["elites"] >= stats["elites"]
    summary = qdagents.summary_metrics(run_dir)
    assert summary["evaluated"] == 4 and summary["elites"] == resumed.scheduler.archive.stats["elites"]
    data = qdagents.RunData.load(run_dir)
    assert len(data.evaluations["agent_id"]) == 4
    with pytest.raises(qdagents.ConfigError, match="budget.evaluations"):
        qdagents.Run.from_config({**cfg, "budget": {**cfg["budget"], "evaluations": 0}},
                                 tmp_path / "other")


def test_a_run_started_with_a_ready_scheduler_needs_it_again(tmp_path, bwrap_backend):
    """Resumed or replayed with the config's own search parts, a run started with other axes
    would file its agents in the wrong cells: it is refused, naming both sets of axes."""
    from qdagents.components import build_scheduler
    from qdagents.run import RunDirectoryError

    run_dir = tmp_path / "run"
    cfg = qdagents.compose(["budget.evaluations=2", "tasks.limit=1", "workers=1",
                            "progress=quiet", f"sandbox={bwrap_backend}"])
    ready = lambda: build_scheduler(qdagents.compose(   # noqa: E731
        ["descriptors.axes=[{name: tool_count, low: 0.5, high: 4.5, bins: 4}]"]))
    qdagents.Run.from_config(cfg, run_dir, scheduler=ready()).execute()
    with pytest.raises(RunDirectoryError, match=r"archive axes \['tool_count'\].*scheduler="):
        qdagents.Run.resume(run_dir)
    with pytest.raises(RunDirectoryError, match="scheduler="):
        qdagents.Run.replay(run_dir, tmp_path / "replayed")
    qdagents.Run.resume(run_dir, ["budget.evaluations=3"], scheduler=ready()).execute()
    replayed = qdagents.Run.replay(run_dir, tmp_path / "replayed2", scheduler=ready())
    replayed.execute()
    assert replayed.db.get_meta("replay_diverged") == []
