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


def test_tournament_exact_with_ties_by_hand():
    # n=4, k=2: P(winner has fitness v) = P(max <= v) - P(max < v)
    # 0.2: (1/4)^2 - 0 = 1/16; 0.5: (2/4)^2 - (1/4)^2 = 3/16;
    # 0.9 (two tied): 1 - (2/4)^2 = 12/16, shared -> 6/16 each
    p = Selection("tournament", tournament_size=2).probabilities(POOL, CHILDREN)
    assert p == pytest.approx([1 / 16, 3 / 16, 6 / 16, 6 / 16])
    # without ties it is Blickle & Thiele's ((n-i+1)^k - (n-i)^k)/n^k, rank 1 the best:
    # y (rank 1) (27-8)/27, z (rank 2) (8-1)/27, x (rank 3) (1-0)/27
    pool = [{"id": x, "fitness": f} for x, f in zip("xyz", [0.1, 0.3, 0.2])]
    p = Selection("tournament", tournament_size=3).probabilities(pool, {})
    assert p == pytest.approx([1 / 27, (27 - 8) / 27, (8 - 1) / 27])
    # size 1 is uniform
    assert Selection("tournament", tournament_size=1).probabilities(POOL, {}) == \
        pytest.approx([0.25] * 4)
    with pytest.raises(ValueError):
        Selection("tournament", tournament_size=0)


NOVEL = [{"id": "a", "fitness": 0.1, "descriptors": [0.0, 0.5]},
         {"id": "b", "fitness": 0.1, "descriptors": [1.0, 0.5]},
         {"id": "c", "fitness": 0.1, "descriptors": [3.0, 0.5]}]


def test_novelty_sparseness_by_hand():
    ranges = [(0.0, 4.0), (0.0, 1.0)]   # normalised x: 0, 0.25, 0.75
    p1 = Selection("novelty", k_neighbours=1, ranges=ranges).probabilities(NOVEL, {})
    assert p1 == pytest.approx([0.25, 0.25, 0.5])
    # k=2: a (0.25+0.75)/2 = 0.5, b (0.25+0.5)/2 = 0.375, c (0.5+0.75)/2 = 0.625; sum 1.5
    p2 = Selection("novelty", k_neighbours=2, ranges=ranges).probabilities(NOVEL, {})
    assert p2 == pytest.approx([0.5 / 1.5, 0.375 / 1.5, 0.625 / 1.5])
    # k larger than n-1 is capped; without ranges the candidates' own spread (x: 0, 1/3, 1)
    p3 = Selection("novelty", k_neighbours=9).probabilities(NOVEL, {})
    s = [(1 / 3 + 1) / 2, (1 / 3 + 2 / 3) / 2, (1 + 2 / 3) / 2]
    assert p3 == pytest.approx([x / sum(s) for x in s])
    # one candidate, or all at one point: uniform
    assert Selection("novelty").probabilities(NOVEL[:1], {}) == pytest.approx([1.0])
    same = [dict(c, descriptors=[1.0, 1.0]) for c in NOVEL]
    assert Selection("novelty").probabilities(same, {}) == pytest.approx([1 / 3] * 3)


def test_curiosity_scores_and_probabilities_by_hand():
    from qdagents.selection import curiosity_scores
    events = [(["a"], True), (["a"], False), (["b"], False), (["a", "b"], True), (["c", "c"], True)]
    scores = curiosity_scores(events)
    assert scores == {"a": 1.5, "b": 0.5, "c": 1.0}   # a parent listed twice counts once
    # d has no children (0); min is 0 -> weights c - 0 + 1 = 2.5, 1.5, 2, 1; sum 7
    p = Selection("curiosity").probabilities(POOL, CHILDREN, curiosity=scores)
    assert p == pytest.approx([2.5 / 7, 1.5 / 7, 2 / 7, 1 / 7])
    # negative scores are shifted: -0.5 and 0 -> weights 1 and 1.5
    p = Selection("curiosity").probabilities(POOL[:2], {}, curiosity={"a": -0.5})
    assert p == pytest.approx([1 / 2.5, 1.5 / 2.5])
    # no scores at all: uniform; choose passes them through
    assert Selection("curiosity").probabilities(POOL, {}) == pytest.approx([0.25] * 4)
    rng = np.random.default_rng(0)
    picks = {Selection("curiosity").choose(POOL, {}, rng, k=2, curiosity=scores)[0]["id"]
             for _ in range(60)}
    assert picks == {"a", "b", "c", "d"}


def test_a_users_rule_and_its_options():
    def cheapest(candidates, children, *, scale=1.0, **_):
        w = np.array([scale / (1 + c["fitness"]) for c in candidates])
        return w / w.sum()
    s = Selection(name="cheapest", rule=cheapest, options={"scale": 2.0})
    assert s.probabilities(POOL[:2], {}) == pytest.approx([1.5 / 2.7, 1.2 / 2.7])
    bad = Selection(name="bad", rule=lambda candidates, children, **_: [1.0, 1.0])
    with pytest.raises(ValueError, match="summing to 1"):
        bad.probabilities(POOL[:2], {})


def test_every_selection_conf_builds():
    from pathlib import Path

    import yaml
    conf = Path(__file__).resolve().parents[2] / "qdagents" / "conf" / "selection"
    names = set()
    for path in conf.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        assert spec.pop("pool") in ("archive", "all")
        s = Selection(**spec)
        assert s.name == path.stem
        assert s.probabilities(NOVEL, {}).sum() == pytest.approx(1.0)
        names.add(s.name)
    assert {"tournament", "novelty", "curiosity"} <= names


def test_latest_is_the_newest_candidate():
    # DGM w/o open-ended exploration: always the newest (highest seq) valid agent
    pool = [dict(c, seq=s) for c, s in zip(POOL, [3, 9, 1, 4])]
    assert Selection("latest").probabilities(pool, CHILDREN) == pytest.approx([0, 1, 0, 0])
    assert probs("latest") == pytest.approx([0, 0, 0, 1])     # no seq: the last candidate
