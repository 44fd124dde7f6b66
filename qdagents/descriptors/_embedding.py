"""Code-embedding novelty: how unlike the archive's elites an agent's code is.

The agent's files are embedded through the gateway (litellm embeddings: the offline hashed
embedder ``qdagents/embed`` by default, or any provider's model via
``descriptors.embedding_model``; nothing is downloaded at run time), and its novelty is the mean
cosine distance to its ``k`` nearest elites at the moment it is offered to the archive (Lehman &
Stanley 2011). Computed in the loop's main thread in the order agents are told, so a replay, which
tells in the recorded order, measures the same values.
"""

from __future__ import annotations

import numpy as np


def code_text(files: dict[str, str]) -> str:
    """The text embedded for an agent: every file, in path order, under its path."""
    return "\n".join(f"# file: {path}\n{text}" for path, text in sorted(files.items()))


def novelty(vector, others: list, k: int = 3) -> float:
    """Mean cosine distance from ``vector`` to its ``k`` nearest ``others``; 1.0 with no others."""
    if not others:
        return 1.0
    a = np.asarray(vector, dtype=float)
    b = np.asarray(others, dtype=float)
    norms = np.linalg.norm(b, axis=1) * (np.linalg.norm(a) or 1.0)
    distances = 1.0 - (b @ a) / np.where(norms == 0, 1.0, norms)
    return float(np.mean(np.sort(distances)[:k]))
