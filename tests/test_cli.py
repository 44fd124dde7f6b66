"""The command line: config errors name the bad key and exit non-zero."""

import subprocess
import sys

import pytest


def qdagents(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qdagents.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("override, key", [
    ("budget.evaluations=-3", "budget.evaluations"),
    ("workers=zero", "workers"),
    ("selection.name=roulette", "selection.name"),
    ("descriptors.axes.0.bins=0", "descriptors.axes[0].bins"),
    ("sandbox.backend=vm", "sandbox.backend"),
    ("llm.max_tokens=0", "llm.max_tokens"),
])
def test_bad_value_names_the_key(tmp_path, override, key):
    result = qdagents("run", override, f"hydra.run.dir={tmp_path}/run")
    assert result.returncode != 0
    assert key in result.stderr and "invalid config" in result.stderr
    assert not (tmp_path / "run" / "run.sqlite").exists()


def test_unknown_key_and_group_are_refused(tmp_path):
    result = qdagents("run", "budget.evaluatons=3", f"hydra.run.dir={tmp_path}/run")
    assert result.returncode != 0 and "evaluatons" in result.stderr
    result = qdagents("run", "selection=roulette", f"hydra.run.dir={tmp_path}/run")
    assert result.returncode != 0 and "roulette" in result.stderr


def test_missing_required_path(tmp_path):
    result = qdagents("run", "tasks=exercism", f"hydra.run.dir={tmp_path}/run")
    assert result.returncode != 0 and "tasks.path" in result.stderr


def test_resume_of_something_that_is_not_a_run(tmp_path):
    result = qdagents("resume", str(tmp_path))
    assert result.returncode == 2 and "not a run directory" in result.stderr


def test_help():
    assert "hydra overrides" in qdagents("run", "--help").stdout
    assert "summary" in qdagents("--help").stdout


def test_unusable_parts_are_one_line_errors(tmp_path):
    result = qdagents("run", "tasks=exercism", f"tasks.path={tmp_path}/none",
                      f"hydra.run.dir={tmp_path}/run")
    assert result.returncode == 2 and "cannot start the run: no exercism folder" in result.stderr
    assert "Traceback" not in result.stderr
    result = qdagents("tasks", "check", f"humaneval:{tmp_path}/none.jsonl")
    assert result.returncode == 2 and "Traceback" not in result.stderr
