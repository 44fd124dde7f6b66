"""Code-embedding novelty: how unlike the archive's elites an agent's code is.

The agent's files are embedded through the gateway (litellm embeddings: the offline hashed
embedder ``qdagents/embed`` by default, or any provider's model via
``descriptors.embedding_model``; nothing is downloaded at run time), and its novelty is the mean
cosine distance to its ``k`` nearest elites at the moment it is offered to the archive (Lehman &
Stanley 2011). Measured by the scheduler when the agent is told (:meth:`CodeNovelty.measure_against`),
in telling order, so a replay, which tells in the recorded order, measures the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from qdagents.descriptors._descriptor import Descriptor


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


@dataclass(frozen=True, kw_only=True)
class CodeNovelty(Descriptor):
    """Code novelty: mean cosine distance of the agent's code embedding to its ``k`` nearest
    elites' embeddings when it is told to the archive (Lehman & Stanley 2011, in embedding space).

    The runner embeds each agent's code (:func:`code_text`) with ``embedding_model`` through the
    gateway (metered, recorded, replayable) and the scheduler measures it against the archive.

    Attributes:
        k: Nearest elites averaged over.
        embedding_model: Any litellm embedding model; the offline hashed ``qdagents/embed`` by
            default (nothing is downloaded). The axis range must be retuned for another model.
    """

    k: int = 3
    embedding_model: str = "qdagents/embed"
    against_archive: ClassVar[bool] = True

    def measure_against(self, own, elites: Sequence) -> float:
        return novelty(own, list(elites), k=self.k)
