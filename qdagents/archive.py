"""The MAP-Elites archive: pyribs archives whose solutions are agent ids.

pyribs stores numeric solutions; qdagents stores agents as git commits, so the archive holds the
agent id (``solution_dtype=object``) and the store holds the code. A descriptor value outside the
configured range is clipped to the range's edge and counted, never silently dropped (pyribs would
put it in the edge cell anyway; counting it tells you the range is too narrow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: pyribs add() status codes, named.
STATUS_NAMES = {0: "not_added", 1: "improve", 2: "new"}

#: Archive kinds the config may name (`archive.kind`).
ARCHIVE_KINDS = ("grid",)


@dataclass(frozen=True)
class DescriptorSpec:
    """One axis of the archive: a measured descriptor, its range and number of bins."""

    name: str
    label: str
    low: float
    high: float
    bins: int


@dataclass(frozen=True)
class Insertion:
    """What adding one agent did to the archive."""

    status: str          # "new" | "improve" | "not_added"
    cell: int
    clipped: bool        # a descriptor was outside its range and was clipped


class Archive:
    """A pyribs archive of agent ids with clipping, counting and a few conveniences.

    Args:
        specs: One :class:`DescriptorSpec` per archive axis.
        kind: ``"grid"`` (pyribs ``GridArchive``; the MAP-Elites grid of Mouret & Clune 2015).
        seed: Seed for the archive's own sampling.
    """

    def __init__(self, *, specs: list[DescriptorSpec], kind: str = "grid", seed: int | None = None):
        from ribs.archives import GridArchive

        if kind not in ARCHIVE_KINDS:
            raise ValueError(f"unknown archive kind {kind!r}; choose one of: grid")
        self.specs = list(specs)
        self.kind = kind
        self.archive = GridArchive(
            solution_dim=(), dims=[s.bins for s in specs], ranges=[(s.low, s.high) for s in specs],
            solution_dtype=object, seed=seed)
        self.clipped = 0

    def clip(self, descriptors) -> tuple[np.ndarray, bool]:
        """Clips descriptor values into the archive's ranges; says whether any was outside."""
        values = np.asarray(descriptors, dtype=float)
        low = np.array([s.low for s in self.specs])
        high = np.array([s.high for s in self.specs])
        clipped = np.clip(values, low, high)
        return clipped, bool(np.any(clipped != values))

    def add(self, agent_id: str, fitness: float, descriptors) -> Insertion:
        """Offers an agent to its cell; it stays if the cell is empty or it beats the elite."""
        values, clipped = self.clip(descriptors)
        self.clipped += clipped
        info = self.archive.add_single(agent_id, float(fitness), values)
        cell = int(self.archive.index_of_single(values))
        return Insertion(status=STATUS_NAMES[int(info["status"])], cell=cell, clipped=clipped)

    def cell_of(self, descriptors) -> int:
        return int(self.archive.index_of_single(self.clip(descriptors)[0]))

    def elites(self) -> list[dict]:
        """Every elite as ``{id, fitness, descriptors, cell}``, best first."""
        data = self.archive.data()
        order = np.argsort(-data["objective"], kind="stable")
        return [{"id": data["solution"][i], "fitness": float(data["objective"][i]),
                 "descriptors": [float(v) for v in data["measures"][i]],
                 "cell": int(data["index"][i])} for i in order]

    def is_elite(self, agent_id: str) -> bool:
        return agent_id in set(self.archive.data("solution"))

    @property
    def stats(self) -> dict:
        s = self.archive.stats
        empty = s.num_elites == 0
        return {"elites": int(s.num_elites), "coverage": float(s.coverage),
                "qd_score": 0.0 if empty else float(s.qd_score),
                "best": None if empty else float(s.obj_max)}

    def __len__(self) -> int:
        return len(self.archive)
