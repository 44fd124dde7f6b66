"""The wheel carries everything a run needs: config tree, seed agent, built-in tasks, the
verdict runtime."""

import glob
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NEEDED = ["qdagents/conf/__init__.py", "qdagents/conf/config.yaml", "qdagents/conf/selection/dgm.yaml",
          "qdagents/conf/experiment/ablate_selection.yaml", "qdagents/conf/selection/latest.yaml",
          "qdagents/conf/experiment/ablate_dgm.yaml", "qdagents/conf/dgm/no_self_improve.yaml",
          "qdagents/seed_agent/agent.py",
          "qdagents/conf/tasks/swebench_dgm.yaml", "qdagents/conf/tasks/dgm/small.json",
          "qdagents/tasks/builtin/inventory/problem.md",
          "qdagents/tasks/builtin/inventory/workspace/test_visible.py",
          "qdagents/tasks/builtin/inventory/hidden/test_inventory_hidden.py",
          "qdagents/tasks/verdict/judge.py", "qdagents/tasks/verdict/server.py",
          "qdagents/tasks/verdict/boot.py", "qdagents/sandbox/Dockerfile", "qdagents/emitters/__init__.py",
          "qdagents/descriptors/__init__.py", "qdagents/offline/__init__.py"]


@pytest.mark.slow
def test_wheel_contents(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    names = set(zipfile.ZipFile(glob.glob(str(tmp_path / "*.whl"))[0]).namelist())
    missing = [n for n in NEEDED if n not in names]
    assert not missing, missing
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    # one package: a user's own emitters/ or descriptors.py beside a notebook must not shadow ours
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top_level == {"qdagents"}, top_level
