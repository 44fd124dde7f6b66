"""Bytes per evaluation of a run's ``run.sqlite`` and ``agents.git``, before and after packing
LLM requests (not a test).

Runs a real run on the offline model (``--evaluations``, the default config otherwise, bwrap when
it works), then writes its database a second time the way runs stored it before issue 12 (each
call's whole request as JSON text, no ``blobs``) and measures both side by side, each after
``VACUUM``: bytes per evaluation, the ratio, and where the bytes go (LLM exchanges, task logs). ``agents.git`` is measured after ``git gc``, as a finished run leaves it compacted.

    python experiments/bench_storage.py [--evaluations 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qdagents import Run, compose  # noqa: E402
from qdagents.store import RunDatabase  # noqa: E402


def unpacked_copy(packed: Path, out: Path) -> None:
    """``packed`` as earlier runs stored it: every request whole in ``llm_calls.request``."""
    shutil.copy(packed, out)
    whole = RunDatabase(packed, read_only=True).llm_exchanges()
    conn = sqlite3.connect(out)
    text = lambda value: value if isinstance(value, str) or value is None \
        else json.dumps(value)  # noqa: E731
    conn.executemany("UPDATE llm_calls SET request = ?, request_blobs = NULL, response = ?, "
                     "response_blobs = NULL WHERE id = ?",
                     [(text(r["request"]), text(r["response"]), r["id"]) for r in whole])
    conn.execute("DROP TABLE blobs")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()


def breakdown(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    one = lambda sql: conn.execute(sql).fetchone()[0] or 0  # noqa: E731
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    figures = {
        "file": path.stat().st_size,
        "LLM exchanges": one("SELECT SUM(LENGTH(request) + LENGTH(response) + COALESCE("
                             "LENGTH(request_blobs), 0) + COALESCE(LENGTH(response_blobs), 0)) "
                             "FROM llm_calls") + (one("SELECT SUM(LENGTH(data)) FROM blobs")
                                                  if "blobs" in tables else 0),
        "task logs": one("SELECT SUM(LENGTH(log)) FROM task_results"),
        "calls": one("SELECT COUNT(*) FROM llm_calls"),
        "evaluations": one("SELECT COUNT(*) FROM evaluations")}
    conn.close()
    return figures


def git_bytes(folder: Path) -> int:
    subprocess.run(["git", "-C", str(folder), "gc", "--quiet", "--aggressive"], check=True)
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="run here and keep the run directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qdagents-bench-storage-") as tmp:
        run_dir = args.keep or Path(tmp) / "run"
        cfg = compose(["progress=quiet", f"budget.evaluations={args.evaluations}"])
        Run.from_config(cfg, run_dir).execute()
        unpacked_copy(run_dir / "run.sqlite", Path(tmp) / "before.sqlite")
        before, after = breakdown(Path(tmp) / "before.sqlite"), breakdown(run_dir / "run.sqlite")
        evaluations = after["evaluations"]
        print(f"run.sqlite of a default run of {evaluations} evaluations on the offline model "
              f"({after['calls']} LLM calls), bytes per evaluation:")
        print(f"{'':>8} {'file':>10} {'LLM exchanges':>14} {'task logs':>10}")
        for name, f in (("before", before), ("after", after)):
            print(f"{name:>8} {f['file'] / evaluations:>10,.0f} "
                  f"{f['LLM exchanges'] / evaluations:>14,.0f} {f['task logs'] / evaluations:>10,.0f}")
        print(f"ratio before/after: file {before['file'] / after['file']:.1f}x, LLM exchanges "
              f"{before['LLM exchanges'] / max(after['LLM exchanges'], 1):.1f}x "
              f"(goal: file >= 5x)")
        agents = git_bytes(run_dir / "agents.git")
        print(f"agents.git after gc: {agents / evaluations:,.0f} bytes per evaluation")


if __name__ == "__main__":
    main()
