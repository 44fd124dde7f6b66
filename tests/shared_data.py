"""Where the shared test data lives: ``$QDAGENTS_SHARED_DATA``, else ``shared/data`` beside the
checkout (as on the developers' machines and in CI), else ``/work/shared/data``."""

import os
from pathlib import Path

_CANDIDATES = [os.environ.get("QDAGENTS_SHARED_DATA"),
               Path(__file__).resolve().parents[2] / "shared" / "data", "/work/shared/data"]
SHARED_DATA = next((Path(c) for c in _CANDIDATES if c and Path(c).is_dir()),
                   Path(__file__).resolve().parents[2] / "shared" / "data")
EXERCISM = SHARED_DATA / "exercism-python"
HUMANEVAL = SHARED_DATA / "humaneval" / "HumanEval.jsonl.gz"
