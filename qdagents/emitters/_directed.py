"""Descriptor-directed targets: aim a mutation at an empty cell next to the parent's.

The loop picks the target in the main thread (it reads the archive) and hands it to the emitter
(``propose(..., target=...)``). The parent's cell is its cell on the descriptor grid of the
archive's axes (``DescriptorSpec.bins``), for every archive kind; a neighbouring cell is one bin up
or down on one axis; it is empty when no elite's descriptors fall in it. One empty neighbour is
drawn uniformly and named by its axis and direction (“more tools”, ...), the phrase the emitter
model sees as ``Target:``. This is the “directed variation toward unexplored niches” of
curiosity/novelty-driven QD (e.g. Cully & Demiris 2018), made explicit for an LLM emitter.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

#: (axis name, direction) -> the phrase the emitter model is shown.
TARGET_PHRASES: dict[tuple[str, int], str] = {
    ("tool_count", +1): "more tools", ("tool_count", -1): "fewer tools",
    ("edit_granularity", +1): "finer edits", ("edit_granularity", -1): "coarser edits",
    ("token_cost", +1): "more tokens", ("token_cost", -1): "fewer tokens",
    ("llm_calls_per_task", +1): "more LLM calls per task",
    ("llm_calls_per_task", -1): "fewer LLM calls per task",
    ("agent_lines", +1): "more lines of agent code", ("agent_lines", -1): "fewer lines of agent code",
}


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
    return TARGET_PHRASES.get((name, step), f"{'higher' if step > 0 else 'lower'} {name}")
