"""`qdagents llm check|estimate` and `qdagents run --estimate`, as a user types them (the presets'
comments and the docs tell users to run these), and the USD budget on the progress line."""

import io
import json
import os
import re
import subprocess
import sys

import pytest

from qdagents.progress import Progress

SMALL = ["tasks.limit=1", "sandbox=process"]


def run(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def no_keys() -> dict:
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


def test_llm_check_is_a_qdagents_command_with_the_module_s_output_and_exit_codes():
    ok = run("qdagents.cli", "llm", "check")
    assert ok.returncode == 0, ok.stderr
    assert "ok    qdagents/coder (agents)" in ok.stdout
    timeless = lambda text: re.sub(r"answered in [\d.]+ s", "answered", text)   # noqa: E731
    assert timeless(ok.stdout) == timeless(run("qdagents.llm", "check").stdout)

    missing = run("qdagents.cli", "llm", "check", "llm=anthropic", env=no_keys())
    assert missing.returncode == 1
    assert "missing credentials: set ANTHROPIC_API_KEY" in missing.stdout
    assert "2 of 2 model(s) cannot be used" in missing.stdout


def test_llm_usage_errors_are_one_line_and_exit_2():
    bad = run("qdagents.cli", "llm", "check", "budget.evaluatons=3")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "qdagents llm: error: invalid config" in bad.stderr and "evaluatons" in bad.stderr
    usage = run("qdagents.cli", "llm", "frobnicate")
    assert usage.returncode == 2 and "usage: qdagents llm check" in usage.stderr
    helped = run("qdagents.cli", "llm", "--help")
    assert helped.returncode == 0 and "qdagents llm estimate" in helped.stdout
    assert "llm" in run("qdagents.cli", "--help").stdout


def test_run_estimate_prints_the_estimate_and_runs_nothing(tmp_path):
    run_dir = tmp_path / "run"
    args = ["llm=anthropic", "budget.usd=5", *SMALL, f"hydra.run.dir={run_dir}"]
    result = run("qdagents.cli", "run", "--estimate", *args, env=no_keys())
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Estimated cost of this run" in result.stdout
    assert "anthropic/claude-haiku-4-5" in result.stdout and "budget.usd=5 stops" in result.stdout
    assert "nothing was spent on a hosted model" in result.stdout
    assert not run_dir.exists()   # no run started, no directory made

    as_json = run("qdagents.cli", "run", *args, "--estimate", "--json", env=no_keys())
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    module = run("qdagents.llm", "estimate", *args, "--json", env=no_keys())
    mine, theirs = json.loads(as_json.stdout), json.loads(module.stdout)
    mine["calibration"].pop("seconds"), theirs["calibration"].pop("seconds")
    assert mine == theirs   # the same estimate as `python -m qdagents.llm estimate`
    assert not run_dir.exists()


def test_run_estimate_refuses_a_sweep_and_a_bad_override(tmp_path):
    sweep = run("qdagents.cli", "run", "--estimate", "-m", "seed=0,1")
    assert sweep.returncode == 2 and "drop -m" in sweep.stderr
    bad = run("qdagents.cli", "run", "--estimate", "budget.evaluations=-3")
    assert bad.returncode == 2 and "budget.evaluations" in bad.stderr
    assert "Traceback" not in bad.stderr


STATUS = {"evaluated": 3, "best": 0.5, "elites": 2, "coverage": 0.1, "tokens": 1200,
          "cost_usd": 1.2, "failures": 0}


@pytest.mark.parametrize("budget, shown", [
    ({"usd": 5.0}, "| $1.20/$5.00 |"),
    ({"usd": 5}, "| $1.20/$5.00 |"),
    ({"usd": None, "evaluations": 60}, "| $1.2000 |"),
    ({}, "| $1.2000 |"),
])
def test_the_progress_line_shows_spent_against_the_usd_budget(budget, shown):
    assert shown in Progress(mode="log", budget=budget).line(STATUS)


def test_a_fraction_of_a_cent_against_a_budget_is_not_shown_as_nothing():
    stream = io.StringIO()
    progress = Progress(mode="log", budget={"usd": 0.5}, stream=stream)
    progress.update({**STATUS, "cost_usd": 0.0042, "evaluated": 1})
    assert "| $0.0042/$0.50 |" in stream.getvalue()
    assert "| $0.00/$0.50 |" in progress.line({**STATUS, "cost_usd": 0.0})
