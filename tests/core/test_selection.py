import math

import numpy as np
import pytest

from qdagents.selection import Selection

POOL = [{"id": "a", "fitness": 0.2}, {"id": "b", "fitness": 0.5}, {"id": "c", "fitness": 0.9},
        {"id": "d", "fitness": 0.9}]
CHILDREN = {"c": 3}


def probs(name):
    return Selection(name).probabilities(POOL, CHILDREN)


def test_uniform():
    assert probs("uniform") == pytest.approx([0.25] * 4)


def test_dgm_score_child_prop_by_hand():
    sig = lambda f: 1 / (1 + math.exp(-10 * (f - 0.5)))  # noqa: E731
    w = [sig(0.2), sig(0.5), sig(0.9) / 4, sig(0.9)]
    assert probs("dgm") == pytest.approx([x / sum(w) for x in w])


def test_score_prop_and_best():
    assert probs("score_prop") == pytest.approx([0.2 / 2.5, 0.5 / 2.5, 0.9 / 2.5, 0.9 / 2.5])
    # "best" picks the highest fitness (DGM's released code sorted ascending and took the worst)
    assert probs("best") == pytest.approx([0, 0, 0.5, 0.5])


def test_choose_draws_from_probabilities():
    rng = np.random.default_rng(0)
    picks = [Selection("best").choose(POOL, CHILDREN, rng)[0]["id"] for _ in range(50)]
    assert set(picks) == {"c", "d"}
    with pytest.raises(ValueError, match="empty archive"):
        Selection("uniform").choose([], {}, rng)
    with pytest.raises(ValueError, match="unknown selection"):
        Selection("roulette")
