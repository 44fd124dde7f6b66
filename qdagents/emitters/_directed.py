"""Descriptor-directed targets: aim a mutation at an empty cell next to the parent's.

The loop picks the target in the main thread (it reads the archive) and hands it to the emitter
(``propose(..., target=...)``). The parent's cell is its cell on the descriptor grid of the
archive's axes (each :class:`qdagents.descriptors.Descriptor`'s ``bins``), for every archive kind; a neighbouring cell is one bin up
or down on one axis; it is empty when no elite's descriptors fall in it. One empty neighbour is
drawn uniformly and named by its axis's phrase for that direction (``Descriptor.more``/``fewer``:
“more tools”, ...), which the emitter model sees as ``Target:``. This is the “directed variation toward unexplored niches” of
curiosity/novelty-driven QD (e.g. Cully & Demiris 2018), made explicit for an LLM emitter.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

def grid_position(specs, descriptors: Sequence[float] | Mapping[str, float]) -> tuple[int, ...]:
    """Bin index per axis of ``descriptors`` (values clipped into each axis's range)."""
    if isinstance(descriptors, Mapping):
        descriptors = [descriptors[s.name] for s in specs]
    out = []
    for spec, value in zip(specs, descriptors):
        value = min(max(float(value), spec.low), spec.high)
        out.append(min(int(np.floor((value - spec.low) / (spec.high - spec.low) * spec.bins)),
                       spec.bins - 1))
    return tuple(out)


def empty_neighbours(archive, parent_descriptors) -> list[tuple[str, int]]:
    """``(axis name, +1 | -1)`` of every empty grid cell one bin away from the parent's."""
    specs = archive.specs
    occupied = {grid_position(specs, e["descriptors"]) for e in archive.elites()}
    here = grid_position(specs, parent_descriptors)
    found = []
    for axis, spec in enumerate(specs):
        for step in (-1, +1):
            moved = list(here)
            moved[axis] += step
            if 0 <= moved[axis] < spec.bins and tuple(moved) not in occupied:
                found.append((spec.name, step))
    return found


def target_toward_empty_neighbour(archive, parent_descriptors, rng) -> str | None:
    """A target phrase toward an empty neighbouring cell of the parent, or None if none is empty.

    Args:
        archive: a :class:`qdagents.archive.Archive` (uses ``specs`` and ``elites()``).
        parent_descriptors: the parent's descriptor values, in axis order or by axis name.
        rng: a numpy Generator; one empty neighbour is drawn uniformly.
    """
    options = empty_neighbours(archive, parent_descriptors)
    if not options:
        return None
    name, step = options[int(rng.integers(len(options)))]
    return next(spec for spec in archive.specs if spec.name == name).phrase(step)


def aim_of(specs, target: str | None) -> tuple[int, int] | None:
    """``(axis index, +1 | -1)`` of the axis move a target phrase asks for; None when the phrase
    names no move along these axes (no target, or free text)."""
    for axis, spec in enumerate(specs):
        for direction in (+1, -1):
            if target is not None and spec.phrase(direction) == target:
                return axis, direction
    return None


def landed(specs, target: str | None, before, after) -> bool | None:
    """Whether a child moved exactly one bin along its target's axis, the way it asked; None when
    the target names no move along these axes."""
    aim = aim_of(specs, target)
    if aim is None:
        return None
    axis, direction = aim
    return grid_position(specs, after)[axis] - grid_position(specs, before)[axis] == direction
