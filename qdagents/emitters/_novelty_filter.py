"""A code-novelty filter: reject a child whose code is nearly the same as a known agent's.

Similarity is the Jaccard index of the sets of k-token shingles (Broder 1997) of the agents'
concatenated files (sorted by path, each preceded by its path). Tokens are identifiers/numbers
(``\\w+``) and single punctuation characters; whitespace and layout are ignored. The loop calls
:meth:`NoveltyFilter.too_similar` before evaluating a child, as ShinkaEvolve's novelty rejection
sampling does with embeddings, to save evaluations on near-duplicates (exact duplicates are
already caught by the agent id, the git tree hash).
"""

from __future__ import annotations

import re
from typing import Iterable

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _tokens(files: dict[str, str]) -> list[str]:
    out: list[str] = []
    for path in sorted(files):
        out += [path, *_TOKEN.findall(files[path])]
    return out


def shingles(files: dict[str, str], k: int = 5) -> set[tuple[str, ...]]:
    """The set of k-token shingles of ``files``; fewer than ``k`` tokens give one shingle."""
    tokens = _tokens(files)
    if len(tokens) < k:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + k]) for i in range(len(tokens) - k + 1)}


def shingle_similarity(a: dict[str, str], b: dict[str, str], k: int = 5) -> float:
    """Jaccard similarity |A ∩ B| / |A ∪ B| of the k-token shingle sets of two agents' files.

    1.0 for identical token streams (and for two empty agents), 0.0 for no shared shingle.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    sa, sb = shingles(a, k), shingles(b, k)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


class NoveltyFilter:
    """Rejects files whose shingle similarity to any known agent is at least ``threshold``.

    Args:
        threshold: in (0, 1]; 1.0 rejects only token-identical code.
        k: shingle length in tokens.
    """

    def __init__(self, threshold: float = 0.95, k: int = 5):
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = float(threshold)
        self.k = int(k)

    def too_similar(self, files: dict[str, str], known: Iterable[dict]) -> str | None:
        """A reason naming the most similar known agent if ``files`` is too similar, else None.

        ``known``: the files (``{path: text}``) of the agents to compare with (e.g. the elites).
        """
        mine = shingles(files, self.k)
        best, best_i = -1.0, -1
        for i, other in enumerate(known):
            theirs = shingles(other, self.k)
            sim = 1.0 if not mine and not theirs else len(mine & theirs) / len(mine | theirs)
            if sim > best:
                best, best_i = sim, i
            if sim >= 1.0:
                break
        if best >= self.threshold:
            return (f"too similar to known agent #{best_i} (shingle Jaccard {best:.3f} >= "
                    f"threshold {self.threshold:g})")
        return None
