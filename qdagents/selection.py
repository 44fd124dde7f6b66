"""Parent selection: which agent(s) the next child is made from.

Each strategy is a function from the candidate pool to selection probabilities, so every formula
can be pinned in a test against numbers computed by hand. ``Selection.choose`` draws from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def uniform(candidates: list[dict], children: dict[str, int]) -> np.ndarray:
    """MAP-Elites: every elite equally likely (Mouret & Clune 2015)."""
    return np.full(len(candidates), 1.0 / len(candidates))


def dgm(candidates: list[dict], children: dict[str, int]) -> np.ndarray:
    """DGM's ``score_child_prop`` (Zhang et al. 2025): sigmoid(10(f - 0.5)) / (1 + children)."""
    fitness = np.array([c["fitness"] for c in candidates])
    kids = np.array([children.get(c["id"], 0) for c in candidates])
    weights = 1.0 / (1.0 + np.exp(-10.0 * (fitness - 0.5))) / (1.0 + kids)
    return weights / weights.sum()


def score_prop(candidates: list[dict], children: dict[str, int]) -> np.ndarray:
    """Fitness-proportional; uniform when every candidate has fitness 0."""
    fitness = np.array([max(c["fitness"], 0.0) for c in candidates])
    if fitness.sum() <= 0:
        return uniform(candidates, children)
    return fitness / fitness.sum()


def best(candidates: list[dict], children: dict[str, int]) -> np.ndarray:
    """Truly the highest fitness, ties shared equally (DGM's released code sorts ascending)."""
    fitness = np.array([c["fitness"] for c in candidates])
    top = fitness == fitness.max()
    return top / top.sum()


STRATEGIES = {"uniform": uniform, "dgm": dgm, "score_prop": score_prop, "best": best}


@dataclass
class Selection:
    """Draws parents with one of :data:`STRATEGIES`.

    Args:
        name: Strategy name.
    """

    name: str = "uniform"

    def __post_init__(self):
        if self.name not in STRATEGIES:
            raise ValueError(f"unknown selection {self.name!r}; choose one of: "
                             f"{', '.join(sorted(STRATEGIES))}")

    def probabilities(self, candidates: list[dict], children: dict[str, int]) -> np.ndarray:
        return STRATEGIES[self.name](candidates, children)

    def choose(self, candidates: list[dict], children: dict[str, int], rng: np.random.Generator,
               k: int = 1) -> list[dict]:
        """Draws ``k`` parents (with replacement) from ``candidates``."""
        if not candidates:
            raise ValueError("cannot select a parent from an empty archive")
        p = self.probabilities(candidates, children)
        return [candidates[i] for i in rng.choice(len(candidates), size=k, p=p)]
