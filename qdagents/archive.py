"""The MAP-Elites archive: pyribs archives whose solutions are agent ids.

pyribs stores numeric solutions; qdagents stores agents as git commits, so the archive holds the
agent id (``solution_dtype=object``) and the store holds the code. A descriptor value outside the
configured range is clipped to the range's edge and counted, never silently dropped (pyribs would
put it in the edge cell anyway; counting it tells you the range is too narrow).

Kinds: ``grid`` (MAP-Elites), ``cvt`` (CVT-MAP-Elites), ``novelty`` (novelty-search archive) and
``keep_all`` (DGM's keep-every-agent archive); see :class:`Archive` and ``docs/qd.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: pyribs add() status codes, named.
STATUS_NAMES = {0: "not_added", 1: "improve", 2: "new"}

#: Archive kinds the config may name (`archive.kind`).
ARCHIVE_KINDS = ("grid", "cvt", "novelty", "keep_all")


@dataclass(frozen=True)
class Insertion:
    """What adding one agent did to the archive."""

    status: str          # "new" | "improve" | "not_added"
    cell: int
    clipped: bool        # a descriptor was outside its range and was clipped


def _plain(solution):
    """pyribs may hand object solutions back wrapped in 0-d arrays; unwrap them."""
    return solution.item() if isinstance(solution, np.ndarray) else solution


class Archive:
    """A pyribs archive of agent ids with clipping, counting and a few conveniences.

    Args:
        specs: One :class:`qdagents.descriptors.Descriptor` per archive axis (its
            ``name``, ``low``, ``high`` and ``bins`` are used).
        kind: ``"grid"`` (pyribs ``GridArchive``; the MAP-Elites grid of Mouret & Clune 2015),
            ``"cvt"`` (pyribs ``CVTArchive``, CVT-MAP-Elites of Vassiliades et al. 2018: ``cells``
            centroids by k-means over ``samples`` uniform points, seeded by ``seed``; no download),
            ``"novelty"`` (pyribs ``ProximityArchive``, the novelty-search archive of Lehman &
            Stanley 2011: an agent is kept if its mean distance to its ``k_neighbors`` nearest
            kept agents is at least ``novelty_threshold``; with ``local_competition`` a
            not-novel-enough agent replaces its nearest neighbour if fitter, as in NSLC) or
            ``"keep_all"`` (the Darwin Gödel Machine's archive: every valid agent is kept).
        seed: Seed for the archive's own sampling (and the CVT centroids).
        cells, samples: ``cvt`` only.
        k_neighbors, novelty_threshold, local_competition: ``novelty`` only.

    ``cvt`` and ``novelty`` work in descriptor space normalised to [0, 1] per axis (each value
    divided by its axis range), so that no axis dominates the distances; ``novelty_threshold`` is
    in those units. :meth:`elites` always reports descriptors in their own units.

    ``stats`` (``elites``, ``coverage``, ``qd_score``, ``best``): for ``grid`` and ``cvt`` pyribs'
    own (coverage = share of cells filled, qd_score = sum of elite fitness); for ``novelty`` and
    ``keep_all``, which have no fixed cells, ``elites`` is the number kept, and ``coverage`` and
    ``qd_score`` are those of the kept agents projected on the descriptor grid of ``specs`` (share
    of grid cells occupied; sum over occupied grid cells of the best fitness in the cell). DGM
    itself defines no QD score. :meth:`grid_stats` gives the grid projection for every kind, so
    that runs with different archives can be compared.
    """

    def __init__(self, *, specs: list, kind: str = "grid", seed: int | None = None,
                 cells: int = 50, samples: int = 20000, k_neighbors: int = 5,
                 novelty_threshold: float = 0.1, local_competition: bool = False):
        from ribs.archives import CVTArchive, GridArchive, ProximityArchive

        if kind not in ARCHIVE_KINDS:
            raise ValueError(f"unknown archive kind {kind!r}; choose one of: "
                             f"{', '.join(ARCHIVE_KINDS)}")
        self.specs = list(specs)
        self.kind = kind
        self.clipped = 0
        self._low = np.array([s.low for s in self.specs], float)
        self._high = np.array([s.high for s in self.specs], float)
        self._normalised = kind in ("cvt", "novelty")
        self._kept: dict[str, dict] = {}     # keep_all only: id -> elite, in insertion order
        self._kept_cells: dict[int, float] = {}   # keep_all only: grid cell -> best fitness
        self._best_first: list[dict] | None = None   # keep_all only: elites() until the next add
        dim = len(self.specs)
        if kind == "grid":
            self.archive = GridArchive(
                solution_dim=(), dims=[s.bins for s in specs],
                ranges=[(s.low, s.high) for s in specs], solution_dtype=object, seed=seed)
        elif kind == "cvt":
            if int(cells) < 1:
                raise ValueError(f"cvt archive: cells must be >= 1, got {cells}")
            self.archive = CVTArchive(
                solution_dim=(), centroids=int(cells), ranges=[(0.0, 1.0)] * dim,
                samples=int(samples), solution_dtype=object, seed=seed)
        elif kind == "novelty":
            self.archive = ProximityArchive(
                solution_dim=(), measure_dim=dim, k_neighbors=int(k_neighbors),
                novelty_threshold=float(novelty_threshold),
                local_competition=bool(local_competition), solution_dtype=object, seed=seed)
        else:
            self.archive = None

    # -- descriptor space ------------------------------------------------------------------------
    def clip(self, descriptors) -> tuple[np.ndarray, bool]:
        """Clips descriptor values into the archive's ranges; says whether any was outside."""
        values = np.asarray(descriptors, dtype=float)
        clipped = np.clip(values, self._low, self._high)
        return clipped, bool(np.any(clipped != values))

    def _to_archive(self, values: np.ndarray) -> np.ndarray:
        return (values - self._low) / (self._high - self._low) if self._normalised else values

    def _from_archive(self, measures) -> list[float]:
        measures = np.asarray(measures, float)
        if self._normalised:
            measures = self._low + measures * (self._high - self._low)
        return [float(v) for v in measures]

    def grid_cell(self, descriptors) -> int:
        """The cell of the descriptor grid of ``specs`` (bins per axis), whatever the kind."""
        values = self.clip(descriptors)[0]
        bins = np.array([s.bins for s in self.specs])
        index = np.floor((values - self._low) / (self._high - self._low) * bins).astype(int)
        return int(np.ravel_multi_index(tuple(np.clip(index, 0, bins - 1)), tuple(bins)))

    # -- the archive interface -----------------------------------------------------------------
    def add(self, agent_id: str, fitness: float, descriptors) -> Insertion:
        """Offers an agent; it stays if its kind's rule accepts it (see the class docstring).

        ``keep_all``: every agent is kept (``"new"``), except an id already kept (``"not_added"``).
        ``cell`` is the archive's cell (``novelty``: the index of the nearest kept agent;
        ``keep_all``: the descriptor-grid cell).
        """
        values, clipped = self.clip(descriptors)
        self.clipped += clipped
        if self.kind == "keep_all":
            cell = self.grid_cell(values)
            if agent_id in self._kept:
                return Insertion(status="not_added", cell=cell, clipped=clipped)
            self._kept[agent_id] = {"id": agent_id, "fitness": float(fitness),
                                    "descriptors": [float(v) for v in values], "cell": cell}
            self._kept_cells[cell] = max(self._kept_cells.get(cell, -np.inf), float(fitness))
            self._best_first = None
            return Insertion(status="new", cell=cell, clipped=clipped)
        measures = self._to_archive(values)
        info = self.archive.add_single(agent_id, float(fitness), measures)
        status = int(np.asarray(info["status"]).reshape(-1)[0])
        return Insertion(status=STATUS_NAMES[status], cell=self._index(measures), clipped=clipped)

    def _index(self, measures) -> int:
        if len(self.archive) == 0:
            return -1
        return int(np.asarray(self.archive.index_of_single(measures)).reshape(-1)[0])

    def cell_of(self, descriptors) -> int:
        values = self.clip(descriptors)[0]
        if self.kind == "keep_all":
            return self.grid_cell(values)
        return self._index(self._to_archive(values))

    def elites(self) -> list[dict]:
        """Every elite as ``{id, fitness, descriptors, cell}``, best first."""
        if self.kind == "keep_all":
            if self._best_first is None:
                self._best_first = sorted(self._kept.values(), key=lambda e: -e["fitness"])
            return [dict(e) for e in self._best_first]
        data = self.archive.data()
        order = np.argsort(-data["objective"], kind="stable")
        return [{"id": _plain(data["solution"][i]), "fitness": float(data["objective"][i]),
                 "descriptors": self._from_archive(data["measures"][i]),
                 "cell": int(data["index"][i])} for i in order]

    def is_elite(self, agent_id: str) -> bool:
        if self.kind == "keep_all":
            return agent_id in self._kept
        return agent_id in {_plain(s) for s in self.archive.data("solution")}

    def grid_stats(self) -> dict:
        """The elites projected on the descriptor grid of ``specs``: one best fitness per cell."""
        if self.kind == "keep_all":   # kept up to date by add(): constant time per call
            cells, count = self._kept_cells, len(self._kept)
        else:
            cells, elites = {}, self.elites()
            for e in elites:
                cell = self.grid_cell(e["descriptors"])
                cells[cell] = max(cells.get(cell, -np.inf), e["fitness"])
            count = len(elites)
        total = int(np.prod([s.bins for s in self.specs]))
        return {"elites": count, "coverage": len(cells) / total,
                "qd_score": float(sum(cells.values())),
                "best": max(cells.values(), default=None)}

    @property
    def stats(self) -> dict:
        if self.kind in ("novelty", "keep_all"):
            return self.grid_stats()
        s = self.archive.stats
        empty = s.num_elites == 0
        return {"elites": int(s.num_elites), "coverage": float(s.coverage),
                "qd_score": 0.0 if empty else float(s.qd_score),
                "best": None if empty else float(s.obj_max)}

    def __len__(self) -> int:
        return len(self._kept) if self.kind == "keep_all" else len(self.archive)
