"""`summary --json`'s `llm` figures (tokens and USD by model and purpose, provider faults) on a
real small run's database, checked against sums computed here row by row; the text summary's and
the report's by-model table; and the archive rebuilt in one batch keeps what adding the
insertions one by one keeps."""

import json
import shutil
import sqlite3
import subprocess
import warnings
import sys

import numpy as np
import pytest
from ribs.archives import GridArchive

import qdagents
from qdagents.llm import fault_of_error
from qdagents.report import report
from qdagents.rundata import RunData, summary_metrics
from qdagents.store import RunDatabase

#: Error rows added to a copy of the run, as the gateway writes them ("<type> (<fault>): ..."),
#: and one recorded before faults were classified ("<type>: ...").
ERRORS = [("agent", "qdagents/coder", "provider_error (provider): RateLimitError: 429 slow down"),
          ("agent", "qdagents/coder", "provider_error (provider): Timeout: no answer in 60 s"),
          ("agent", "qdagents/coder", "provider_unusable (fatal): AuthenticationError: bad key"),
          ("emitter", "qdagents/mutator", "invalid_request_error (agent): context length: 9 > 8"),
          ("agent", "qdagents/coder", "budget_exceeded (budget): the task's token budget"),
          ("emitter", "qdagents/mutator", "gateway_error: the gateway was unreachable")]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "run"
    cfg = qdagents.compose(["budget.evaluations=3", "tasks.limit=2", "workers=1",
                            "progress=quiet", "sandbox=process"])
    with warnings.catch_warnings():     # sandbox=process says it isolates nothing (once)
        warnings.simplefilter("ignore", UserWarning)
        run = qdagents.Run.from_config(cfg, run_dir)
    run.execute()
    run.close()
    return run_dir


@pytest.fixture(scope="module")
def faulty_run(real_run, tmp_path_factory):
    """A copy of the real run with provider faults and other errors recorded."""
    copy = tmp_path_factory.mktemp("faulty") / "run"
    shutil.copytree(real_run, copy)
    db = RunDatabase(copy / "run.sqlite")
    for i, (purpose, model, error) in enumerate(ERRORS):
        db.record_llm_call(request_hash=f"e{i}", occurrence=0, purpose=purpose, agent_id=None,
                           task_id=None, model=model, request={"messages": []}, response=None,
                           prompt_tokens=0, completion_tokens=0, cost_usd=0.0, cached=0,
                           latency=0.1, error=error)
    db.close()
    return copy


def sums_row_by_row(run_dir, key):
    """Totals of every llm_calls row grouped by ``key`` (model or purpose), read one by one."""
    with sqlite3.connect(run_dir / "run.sqlite") as conn:
        rows = conn.execute(f"SELECT {key}, prompt_tokens, completion_tokens, cost_usd, error "
                            "FROM llm_calls").fetchall()
    totals = {}
    for name, prompt, completion, usd, error in rows:
        t = totals.setdefault(name, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                     "cost_usd": 0.0, "errors": 0})
        t["calls"] += 1
        t["prompt_tokens"] += prompt or 0
        t["completion_tokens"] += completion or 0
        t["cost_usd"] += usd or 0.0
        t["errors"] += error is not None
    return totals


@pytest.mark.parametrize("table, key", [("by_model", "model"), ("by_purpose", "purpose")])
def test_llm_figures_match_the_rows(real_run, table, key):
    llm = summary_metrics(real_run)["llm"]
    truth = sums_row_by_row(real_run, key)
    assert set(llm[table]) == set(truth)
    for name, t in truth.items():
        got = llm[table][name]
        for field in ("calls", "prompt_tokens", "completion_tokens", "errors"):
            assert got[field] == t[field], (name, field)
        assert got["cost_usd"] == pytest.approx(t["cost_usd"])
        assert got["tokens"] == t["prompt_tokens"] + t["completion_tokens"]


def test_a_real_run_uses_both_models_and_agrees_with_the_totals(real_run):
    summary = summary_metrics(real_run)
    llm = summary["llm"]
    assert set(llm["by_model"]) == {"qdagents/coder", "qdagents/mutator"}
    assert {"agent", "emitter"} <= set(llm["by_purpose"])
    assert llm["by_model"]["qdagents/coder"]["tokens"] > 0
    assert sum(t["tokens"] for t in llm["by_model"].values()) == summary["tokens"]
    assert sum(t["calls"] for t in llm["by_purpose"].values()) == summary["llm_calls"]
    assert sum(t["cost_usd"] for t in llm["by_model"].values()) == \
        pytest.approx(summary["cost_usd"])
    assert llm["faults"] == {} and llm["provider_faults"] == 0
    json.dumps(summary)   # what `summary --json` prints


def test_provider_faults_are_counted_by_class_and_model(faulty_run):
    llm = summary_metrics(faulty_run)["llm"]
    expected = {}
    for _, _, error in ERRORS:
        expected[fault_of_error(error)] = expected.get(fault_of_error(error), 0) + 1
    assert llm["faults"] == expected == {"provider": 3, "fatal": 1, "agent": 1, "budget": 1}
    assert llm["provider_faults"] == 4   # rate limit, timeout, bad key, unreachable gateway
    assert llm["by_model"]["qdagents/coder"]["provider_faults"] == 3
    assert llm["by_model"]["qdagents/mutator"]["provider_faults"] == 1
    assert llm["by_model"]["qdagents/mutator"]["errors"] == 2


def test_the_text_summary_and_the_report_show_the_by_model_table(faulty_run, tmp_path):
    result = subprocess.run([sys.executable, "-m", "qdagents.cli", "summary", str(faulty_run)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "LLM use by model:" in lines
    coder = next(line for line in lines if line.strip().startswith("qdagents/coder"))
    assert coder.split()[-1] == "3" and coder.split()[-2] == "4"   # provider faults, errors
    assert any(line.startswith("by purpose: agent ") for line in lines)
    assert "errors by fault class: agent 1, budget 1, fatal 1, provider 3" in lines

    table = report([faulty_run], tmp_path / "report")["table_md"].read_text()
    assert "## LLM use by model" in table
    row = next(line for line in table.splitlines() if "| qdagents/mutator |" in line)
    assert row.rstrip(" |").endswith("| 1")   # its provider faults


def test_the_batch_rebuild_keeps_what_adding_one_by_one_keeps(real_run):
    """Ties go to the earlier insertion and a worse one never replaces an elite: the replay that
    ``add_single`` per insertion did, on insertions crafted to collide in few cells."""
    run = RunData.load(real_run)
    rng = np.random.default_rng(0)
    n, dims = 400, len(run.descriptors)
    low = np.array([d.low for d in run.descriptors])
    high = np.array([d.high for d in run.descriptors])
    ids = np.array([f"a{i}" for i in range(n)], dtype=object)
    measured = low + (high - low) * rng.choice([0.05, 0.5, 1.2], size=(n, dims))
    fitness = rng.choice([0.0, 0.25, 0.5, np.nan], size=n)
    measured[rng.random(n) < 0.05] = np.nan
    run.evaluations = {"agent_id": ids, "seq": np.arange(n), "fitness": fitness,
                       "descriptors": measured, "failure": np.array([None] * n, dtype=object)}
    run.insertions = {"agent_id": ids, "fitness": np.where(rng.random(n) < 0.5, np.nan, fitness),
                      "seq": np.arange(n)}
    one_by_one = GridArchive(solution_dim=(), dims=[d.bins for d in run.descriptors],
                             ranges=[(d.low, d.high) for d in run.descriptors],
                             solution_dtype=object)
    for agent_id, f, m in zip(ids, fitness, measured):
        if not np.isnan(f) and not np.isnan(m).any():
            one_by_one.add_single(agent_id, f, np.clip(m, low, high))

    def cells(archive):
        data = archive.data()
        return {int(i): (s, float(o)) for i, s, o in
                zip(data["index"], data["solution"], data["objective"])}

    assert cells(run.rebuild_archive()) == cells(one_by_one)
    assert len(cells(one_by_one)) > 1
