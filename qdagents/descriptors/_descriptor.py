"""A descriptor is one object: an archive axis, how it is measured, how an emitter names a move.

Adding an axis means writing one :class:`Descriptor` (in the package or, through ``_target_`` in
config, in a user's own module); the archive takes its range and bins, the evaluator calls its
``measure``, a descriptor-directed emitter asks its model for ``more``/``fewer`` of it, plots label
it with ``label``, and no schema, emitter or allow-list needs editing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Sequence

#: ``(tasks, files) -> value``: tasks are :class:`qdagents.evaluation.TaskResult` (what the
#: gateway metered and the harness saw change), files the agent's code ``{path: text}``.
Measure = Callable[[list, dict], float]


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    """One behavioural descriptor: a measured value and the archive axis it spans.

    Attributes:
        name: Its key in config, the run database and plots.
        label: The axis label, unit included ("tool count (tools)").
        unit: The unit alone ("tools").
        low, high, bins: The default axis; config may override each (``descriptors.axes``).
            Values outside ``[low, high]`` are clipped to the edge and counted by the archive.
        measure: ``(tasks, files) -> float``, measured by the evaluator from what was metered,
            never from what the agent reports. None for an axis read back from a run database.
        more, fewer: What a descriptor-directed emitter asks its model for to move one bin up
            or down this axis ("more tools"); a plain "higher <name>" when not given.
    """

    name: str
    label: str = ""
    unit: str = ""
    low: float = 0.0
    high: float = 1.0
    bins: int = 1
    measure: Measure | None = field(default=None, compare=False, repr=False)
    more: str | None = None
    fewer: str | None = None

    #: True for a descriptor measured when the agent is told to the archive, against the elites
    #: there (:meth:`measure_against`), rather than by the evaluator alone.
    against_archive: ClassVar[bool] = False

    def __post_init__(self):
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def phrase(self, direction: int) -> str:
        """The target phrase for a move of one bin up (``+1``) or down (``-1``) this axis."""
        if direction > 0:
            return self.more or f"higher {self.name}"
        return self.fewer or f"lower {self.name}"

    def axis(self, *, low: float | None = None, high: float | None = None,
             bins: int | None = None) -> Descriptor:
        """This descriptor over another range or number of bins."""
        return dataclasses.replace(self, **{k: v for k, v in
                                            {"low": low, "high": high, "bins": bins}.items()
                                            if v is not None})

    def as_record(self) -> dict:
        """What the run database keeps of the axis (``meta.descriptors``)."""
        return {"name": self.name, "label": self.label, "unit": self.unit,
                "low": float(self.low), "high": float(self.high), "bins": int(self.bins)}

    def measure_against(self, own, elites: Sequence) -> float:
        """The value of an ``against_archive`` descriptor, from the agent's own features and
        those of the elites in the archive when it is told."""
        raise NotImplementedError(f"descriptor {self.name} is not measured against the archive")
