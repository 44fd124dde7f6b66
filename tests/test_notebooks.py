"""The analysis notebooks run top to bottom on a real (tiny) sweep, and are stored without outputs.

The kernel: nbclient starts the kernel spec ``python3``. So that it is this interpreter (the venv
with qdagents installed) whatever kernel specs the machine has, the test writes a ``python3``
kernel spec whose argv starts with ``sys.executable`` into a temporary directory and puts that
first on ``JUPYTER_PATH`` (which Jupyter searches before the user and system directories).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from sandbox_support import REQUIRE_SANDBOXES, bwrap_works

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TINY = ["budget.evaluations=3", "tasks.limit=2", "workers=1", "progress=quiet"]


def sandbox() -> str:
    if bwrap_works():
        return "bwrap"
    if REQUIRE_SANDBOXES:
        pytest.fail("bubblewrap is required (QDAGENTS_REQUIRE_SANDBOXES=1) but not available")
    return "process"


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory) -> Path:
    """2 conditions x 2 seeds of 3 evaluations on 2 tasks (about 40 s)."""
    sweep = tmp_path_factory.mktemp("notebooks") / "sweep"
    result = subprocess.run([sys.executable, "-m", "qdagents.cli", "run", "-m",
                             "selection=uniform,best", "seed=0,1", *TINY, f"sandbox={sandbox()}",
                             f"hydra.sweep.dir={sweep}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(sweep.glob("*/run.sqlite"))) == 4
    return sweep


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (qdagents test)", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return monkeypatch


def execute(name: str, cwd: Path, timeout: int = 180) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=timeout,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.extend(str(v) for k, v in output.get("data", {}).items()
                         if k.startswith("text/"))
    return "\n".join(parts)


@pytest.mark.parametrize("name", ["tour_of_a_run.ipynb", "ablation.ipynb", "library_api.ipynb"])
def test_notebooks_are_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_tour_of_a_run(tiny_sweep, kernel_env, tmp_path):
    run_dir = tiny_sweep / "0"
    kernel_env.setenv("QDAGENTS_RUN_DIR", str(run_dir))
    before = (run_dir / "run.sqlite").stat().st_mtime_ns
    nb = execute("tour_of_a_run.ipynb", tmp_path)
    out = text_of(nb)
    assert str(run_dir) in out and '"qd_score"' in out
    assert "seed agent" in out                      # git log of the best agent reaches the seed
    assert any(o.get("data", {}).get("image/png") for c in nb.cells for o in c.get("outputs", []))
    assert "def " in out                            # the best agent's code
    assert "task_id" in out or "pass_rate" in out   # the per-task tables
    assert (run_dir / "run.sqlite").stat().st_mtime_ns == before   # read-only


@pytest.mark.slow
def test_ablation(tiny_sweep, kernel_env, tmp_path):
    kernel_env.setenv("QDAGENTS_SWEEP_DIR", str(tiny_sweep))
    kernel_env.setenv("QDAGENTS_REPORT_DIR", str(tmp_path / "report"))
    nb = execute("ablation.ipynb", tmp_path)
    out = text_of(nb)
    for name in ["table.md", "pairwise.csv", "curves.png", "heatmaps.png"]:
        assert (tmp_path / "report" / name).stat().st_size > 0
    assert "selection=uniform" in out and "selection=best" in out
    assert "Final metrics per condition" in out


@pytest.mark.slow
def test_library_api(kernel_env, tmp_path):
    run_dir = tmp_path / "run"
    kernel_env.setenv("QDAGENTS_SANDBOX", sandbox())
    kernel_env.setenv("QDAGENTS_RUN_DIR", str(run_dir))
    nb = execute("library_api.ipynb", tmp_path, timeout=600)
    out = text_of(nb)
    assert "{'tokens_per_call': 1000.0, 'tool_count': 0.0}" in out     # the descriptor by hand
    assert "array([0.   , 0.   , 0.214, 0.429, 0.286, 0.071])" in out  # the rule by hand
    assert "'evaluated': 10" in out and "tokens_per_call=" in out
    assert any(o.get("data", {}).get("image/png") for c in nb.cells for o in c.get("outputs", []))
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "qdagents._" not in source and "import qdagents." not in source   # public names only
    from qdagents.rundata import RunData

    data = RunData.load(run_dir)
    assert [d.name for d in data.descriptors] == ["tool_count", "tokens_per_call"]
    assert len(data.evaluations["agent_id"]) == 10
