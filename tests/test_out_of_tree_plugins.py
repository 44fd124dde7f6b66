"""Extension points: a researcher's own package, outside the checkout, with one part of each
kind (emitter, selection rule, descriptor, archive, task-suite loader, sandbox backend), named in
its own Hydra config groups by ``_target_`` and run through ``qdagents run``; and the clear errors
for parts that do not resolve or do not fit their protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from plugin_package import OVERRIDES, write_plugin_package

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture
def plugin_root():
    """The package, in a folder outside the checkout (not under tests' tmp_path in the tree)."""
    with tempfile.TemporaryDirectory(prefix="qdplug-") as root:
        root = Path(root)
        assert CHECKOUT not in root.parents
        yield write_plugin_package(root)


def qdagents(*args, root: Path, log: Path, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(root), QDPLUG_LOG=str(log))
    return subprocess.run([sys.executable, "-m", "qdagents.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=root)


@pytest.mark.slow
def test_a_plugin_package_runs_through_qdagents_run(plugin_root):
    run_dir, log = plugin_root / "run", plugin_root / "parts.log"
    result = qdagents("run", f"hydra.searchpath=[file://{plugin_root / 'conf'}]", *OVERRIDES,
                      "budget.evaluations=5", "workers=1", "progress=log",
                      f"hydra.run.dir={run_dir}", root=plugin_root, log=log)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "sandbox logged-process" in result.stderr and "2 tasks (words)" in result.stderr
    used = Counter(log.read_text().split())
    assert set(used) == {"emitter", "selection", "descriptor", "archive", "loader", "sandbox"}
    assert used["emitter"] == used["selection"] >= 4     # every child: one rule, one emitter call
    summary = json.loads(qdagents("summary", run_dir, "--json", root=plugin_root,
                                  log=log).stdout)
    assert summary["evaluated"] == 5 and summary["emitters"]["append_step"]["attempts"] == 4
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "qdplug.parts.FirstComeArchive" in config and "comment_lines" in config
    # the descriptor measured the agents' own comment lines: the seed has some, children more
    from qdagents.rundata import RunData

    data = RunData.load(run_dir)
    assert [d.name for d in data.descriptors] == ["comment_lines", "token_cost"]
    assert data.descriptors[0].label == "comment lines (lines)"
    comments = data.evaluations["descriptors"][:, 0]
    assert comments[-1] > comments[0]
    # a resume rebuilds the plug-in archive from the recorded history and goes on
    result = qdagents("resume", run_dir, "budget.evaluations=7", root=plugin_root, log=log)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(qdagents("summary", run_dir, "--json", root=plugin_root,
                               log=log).stdout)["evaluated"] == 7


@pytest.mark.parametrize("override, message", [
    ("archive._target_=qdplug.parts.NoSuchArchive",
     "archive._target_: qdplug.parts has no attribute 'NoSuchArchive'"),
    ("+emitters.append_step.colour=red", "emitters.append_step: emitter AppendStep does not take"),
    ("selection._target_=nowhere.rule", "selection._target_: no module found for 'nowhere.rule'"),
    ("descriptors.axes.0._target_=qdplug.parts.HERE", "descriptors.axes[0]._target_"),
    ("sandbox._target_=builtins.dict", "sandbox: sandbox dict lacks name, run"),
    ("tasks._target_=qdplug.parts.comment_lines", "tasks: task-suite loader comment_lines does not take"),
])
def test_a_part_that_does_not_fit_is_a_config_error(plugin_root, override, message):
    log = plugin_root / "parts.log"
    log.write_text("")
    result = qdagents("run", f"hydra.searchpath=[file://{plugin_root / 'conf'}]", *OVERRIDES,
                      override, "budget.evaluations=1", f"hydra.run.dir={plugin_root / 'run'}",
                      root=plugin_root, log=log, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "invalid config: " + message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
