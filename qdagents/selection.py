"""Parent selection: which agent(s) the next child is made from.

Each strategy is a function from the candidate pool to selection probabilities, so every formula
can be pinned in a test against numbers computed by hand. ``Selection.choose`` draws from them.

Every strategy has the signature ``f(candidates, children, **context) -> probabilities`` where
``candidates`` are ``{id, fitness, descriptors?, ...}`` dicts, ``children`` maps an agent id to its
number of children, and ``context`` carries the strategy's options (``tournament_size``,
``k_neighbours``, ``ranges``) and per-call information (``curiosity``); strategies ignore what
they do not use. See ``docs/qd.md`` for every formula and its source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np


def uniform(candidates: list[dict], children: dict[str, int], **_) -> np.ndarray:
    """MAP-Elites: every elite equally likely (Mouret & Clune 2015)."""
    return np.full(len(candidates), 1.0 / len(candidates))


def dgm(candidates: list[dict], children: dict[str, int], **_) -> np.ndarray:
    """DGM's ``score_child_prop`` (Zhang et al. 2025): sigmoid(10(f - 0.5)) / (1 + children)."""
    fitness = np.array([c["fitness"] for c in candidates])
    kids = np.array([children.get(c["id"], 0) for c in candidates])
    weights = 1.0 / (1.0 + np.exp(-10.0 * (fitness - 0.5))) / (1.0 + kids)
    return weights / weights.sum()


def score_prop(candidates: list[dict], children: dict[str, int], **_) -> np.ndarray:
    """Fitness-proportional (roulette wheel, Holland 1975); uniform when every fitness is 0."""
    fitness = np.array([max(c["fitness"], 0.0) for c in candidates])
    if fitness.sum() <= 0:
        return uniform(candidates, children)
    return fitness / fitness.sum()


def best(candidates: list[dict], children: dict[str, int], **_) -> np.ndarray:
    """Truly the highest fitness, ties shared equally (DGM's released code sorts ascending)."""
    fitness = np.array([c["fitness"] for c in candidates])
    top = fitness == fitness.max()
    return top / top.sum()


def tournament(candidates: list[dict], children: dict[str, int], *, tournament_size: int = 2,
               **_) -> np.ndarray:
    """k-tournament with replacement (Goldberg & Deb 1991; Blickle & Thiele 1996), exactly.

    ``k`` candidates are drawn uniformly with replacement and the fittest wins; a tie among the
    drawn is broken uniformly. With ``n`` candidates, the winner's fitness is ``v`` with probability
    ``P(max <= v) - P(max < v) = (n_le(v)/n)^k - (n_lt(v)/n)^k`` (``n_le``/``n_lt``: candidates
    with fitness <= / < v), shared equally by the candidates of fitness ``v``. Without ties this is
    Blickle & Thiele's ``P(rank i) = ((n-i+1)^k - (n-i)^k) / n^k`` with rank 1 the best.
    """
    k = int(tournament_size)
    if k < 1:
        raise ValueError(f"tournament_size must be >= 1, got {k}")
    fitness = np.array([c["fitness"] for c in candidates], dtype=float)
    n = len(fitness)
    p = np.empty(n)
    for v in np.unique(fitness):
        same = fitness == v
        le, lt = np.sum(fitness <= v), np.sum(fitness < v)
        p[same] = ((le / n) ** k - (lt / n) ** k) / same.sum()
    return p


def sparseness(points: np.ndarray, k: int) -> np.ndarray:
    """Mean Euclidean distance of each point to its ``k`` nearest *other* points.

    Lehman & Stanley 2011 (novelty search); ``k`` is capped at ``n - 1``. One point alone has
    sparseness 0.
    """
    points = np.asarray(points, dtype=float)
    n = len(points)
    if n < 2:
        return np.zeros(n)
    k = max(1, min(int(k), n - 1))
    dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    return np.sort(dist, axis=1)[:, :k].mean(axis=1)


def _normalised_descriptors(candidates: list[dict],
                            ranges: Sequence[tuple[float, float]] | None) -> np.ndarray:
    points = np.array([c["descriptors"] for c in candidates], dtype=float)
    if ranges is not None:
        low = np.array([r[0] for r in ranges], float)
        span = np.array([r[1] - r[0] for r in ranges], float)
    else:   # no configured ranges: the candidates' own spread per axis
        low, span = points.min(axis=0), points.max(axis=0) - points.min(axis=0)
    span = np.where(span > 0, span, 1.0)
    return (points - low) / span


def novelty(candidates: list[dict], children: dict[str, int], *, k_neighbours: int = 3,
            ranges: Sequence[tuple[float, float]] | None = None, **_) -> np.ndarray:
    """Probability proportional to sparseness in descriptor space (Lehman & Stanley 2011).

    Descriptors are divided by each axis's range (``ranges``: the archive's ``(low, high)`` per
    axis; the candidates' own min-max spread when not given), then
    ``s_i = mean distance to the k nearest other candidates`` and ``p_i = s_i / sum s``; uniform
    when every ``s_i`` is 0 (one candidate, or all at the same point).
    """
    s = sparseness(_normalised_descriptors(candidates, ranges), k_neighbours)
    if s.sum() <= 0:
        return uniform(candidates, children)
    return s / s.sum()


#: Curiosity score changes (Cully & Demiris 2018): a child entered the archive / did not.
CURIOSITY_SUCCESS = 1.0
CURIOSITY_FAILURE = -0.5


def curiosity_scores(events: Iterable[tuple[Sequence[str], bool]]) -> dict[str, float]:
    """Per-agent curiosity from ``(parent ids, child entered the archive)`` events.

    Cully & Demiris 2018 (“Quality and Diversity Optimization: A Unifying Modular Framework”):
    every parent of a child gets +1 when the child entered the archive and -0.5 when it did not
    (a failed evaluation counts as not entered). Agents with no children are absent (score 0).
    """
    scores: dict[str, float] = {}
    for parents, entered in events:
        delta = CURIOSITY_SUCCESS if entered else CURIOSITY_FAILURE
        for pid in set(parents):
            scores[pid] = scores.get(pid, 0.0) + delta
    return scores


def curiosity(candidates: list[dict], children: dict[str, int], *,
              curiosity: dict[str, float] | None = None, **_) -> np.ndarray:
    """Probability proportional to the curiosity score, shifted positive (Cully & Demiris 2018).

    ``w_i = c_i - min_j c_j + 1`` (``c_i`` from :func:`curiosity_scores`, 0 for an agent with no
    recorded children), ``p_i = w_i / sum w``: the least curious candidate keeps weight 1, so no
    elite is ever excluded; all scores equal gives uniform.
    """
    scores = np.array([(curiosity or {}).get(c["id"], 0.0) for c in candidates], dtype=float)
    weights = scores - scores.min() + 1.0
    return weights / weights.sum()


def latest(candidates: list[dict], children: dict[str, int], **_) -> np.ndarray:
    """Always the newest candidate: DGM without open-ended exploration (Zhang et al. 2025).

    The Darwin Gödel Machine's "DGM w/o open-ended exploration" ablation drops the archive as a
    source of stepping stones and always builds on the latest version of the agent: its released
    code (``DGM_outer.py``, baseline ``no_darwin``) takes the last agent that entered its
    keep-all archive, i.e. the newest agent whose evaluation did not fail. Newest is the highest
    ``seq`` (the order in which agents were told to the archive; the scheduler sets it), or the
    last candidate when no candidate has one.
    """
    order = np.array([c.get("seq", i) for i, c in enumerate(candidates)], dtype=float)
    p = np.zeros(len(candidates))
    p[int(np.argmax(order))] = 1.0
    return p


STRATEGIES = {"uniform": uniform, "dgm": dgm, "score_prop": score_prop, "best": best,
              "tournament": tournament, "novelty": novelty, "curiosity": curiosity,
              "latest": latest}


#: What a selection rule is: ``(candidates, children, **context) -> probabilities``.
Rule = Callable[..., np.ndarray]


@dataclass
class Selection:
    """Draws parents with a rule: one of :data:`STRATEGIES`, or a user's own.

    Args:
        name: Strategy name (a key of :data:`STRATEGIES`), or the name of ``rule``.
        tournament_size: ``k`` of ``tournament``.
        k_neighbours: ``k`` of ``novelty``'s sparseness.
        ranges: ``(low, high)`` per descriptor axis, to normalise descriptors for ``novelty``
            (the archive's axis ranges); None = the candidates' own spread.
        rule: A user's rule ``(candidates, children, **context) -> probabilities``, in place of
            a built-in one; it receives ``tournament_size``, ``k_neighbours``, ``ranges``,
            ``curiosity`` and ``options`` as keywords (and may ignore them with ``**_``).
        options: Further keyword arguments for ``rule`` (its config keys).

    Candidates are ``{id, fitness, descriptors, seq}`` (``seq``: the order in which the agents
    were told to the archive); ``children`` maps an agent id to its number of children.
    """

    name: str = "uniform"
    tournament_size: int = 2
    k_neighbours: int = 3
    ranges: Sequence[tuple[float, float]] | None = None
    rule: Rule | None = None
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.rule is None and self.name not in STRATEGIES:
            raise ValueError(f"unknown selection {self.name!r}; choose one of: "
                             f"{', '.join(sorted(STRATEGIES))}")
        if int(self.tournament_size) < 1 or int(self.k_neighbours) < 1:
            raise ValueError("tournament_size and k_neighbours must be >= 1")

    def context(self, curiosity: dict[str, float] | None = None) -> dict:
        """The keywords a rule is called with after ``(candidates, children)`` (checked against a
        user's rule when the run is built, :func:`qdagents.plugins.selection`)."""
        return {"tournament_size": self.tournament_size, "k_neighbours": self.k_neighbours,
                "ranges": self.ranges, "curiosity": curiosity, **self.options}

    def probabilities(self, candidates: list[dict], children: dict[str, int], *,
                      curiosity: dict[str, float] | None = None) -> np.ndarray:
        rule = self.rule or STRATEGIES[self.name]
        p = np.asarray(rule(candidates, children, **self.context(curiosity)), dtype=float)
        if p.shape != (len(candidates),) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"selection {self.name} returned {p!r}: expected one probability "
                             f"per candidate ({len(candidates)}), >= 0, summing to 1")
        return p

    def choose(self, candidates: list[dict], children: dict[str, int], rng: np.random.Generator,
               k: int = 1, *, curiosity: dict[str, float] | None = None) -> list[dict]:
        """Draws ``k`` parents (with replacement) from ``candidates``.

        ``curiosity``: per-agent curiosity scores (:func:`curiosity_scores`), used by the
        ``curiosity`` strategy only; None = every score 0 (uniform).
        """
        if not candidates:
            raise ValueError("cannot select a parent from an empty archive")
        p = self.probabilities(candidates, children, curiosity=curiosity)
        return [candidates[i] for i in rng.choice(len(candidates), size=k, p=p)]
