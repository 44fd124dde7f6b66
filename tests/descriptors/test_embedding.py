import numpy as np
import pytest

from qdagents.descriptors import code_text, novelty
from qdagents.offline._embed import DIM, embed_text


def test_novelty_is_mean_distance_to_k_nearest():
    x = [1.0, 0.0]
    others = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]          # cosine distances 0, 1, 2
    assert novelty(x, others, k=1) == pytest.approx(0.0)
    assert novelty(x, others, k=2) == pytest.approx(0.5)
    assert novelty(x, others, k=5) == pytest.approx(1.0)
    assert novelty(x, [], k=3) == 1.0                       # nothing to compare with


def test_offline_embedding_tracks_code_similarity():
    base = code_text({"agent.py": "MAX_STEPS = 8\ndef loop():\n    return call(model, tools)\n"})
    small = base.replace("8", "9")
    other = code_text({"agent.py": "import os\nprint(os.listdir('.'))\n"})
    e = [np.array(embed_text(t)) for t in (base, small, other)]
    assert len(e[0]) == DIM and np.linalg.norm(e[0]) == pytest.approx(1.0)
    assert embed_text(base) == list(e[0])                   # deterministic
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3
