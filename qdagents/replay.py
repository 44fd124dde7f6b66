"""Replaying a recorded run: the same decisions, in the same order, with no provider.

An asynchronous run's archive depends on the order in which evaluations finished, which no two
executions share. A replay therefore does not select parents again: it re-executes the recorded
proposals (same step numbers, so the same per-step random streams and the same LLM requests),
answers every LLM request from the recordings (``llm.mode=replay``), re-runs every agent in the
sandbox and every hidden test for real, and tells the archive in the recorded completion order.
If every agent behaves as recorded, the archive comes out the same; where one does not, the replay
says so (``diverged``) rather than hiding it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class PlannedProposal:
    step: int
    emitter: str
    parents: tuple[str, ...]
    target: str | None
    parent_elite: bool | None


class ReplayPlan:
    """The proposals and completion order of a recorded run (its ``RunDatabase``)."""

    def __init__(self, source_db):
        rows = source_db.execute(
            "SELECT step, emitter, parents, target, parent_elite FROM proposals "
            "WHERE step > 0 AND status NOT IN ('in_flight', 'lost') ORDER BY step")
        self.proposals = [PlannedProposal(r["step"], r["emitter"], tuple(json.loads(r["parents"])),
                                          r["target"], None if r["parent_elite"] is None
                                          else bool(r["parent_elite"])) for r in rows]
        self.order = [r["agent_id"] for r in source_db.execute(
            "SELECT agent_id FROM evaluations ORDER BY seq")]
        self.diverged: list[str] = []

    @property
    def done(self) -> bool:
        return not self.proposals

    def next_proposal(self, evaluated: dict[str, dict]) -> PlannedProposal | None:
        """The next recorded proposal if all its parents have been evaluated here, else None."""
        if self.proposals and all(p in evaluated for p in self.proposals[0].parents):
            return self.proposals.pop(0)
        return None

    def release(self, held: dict) -> list:
        """Results from ``held`` ({agent id: result}) that may be told now, in recorded order."""
        ready = []
        while self.order and self.order[0] in held:
            ready.append(held.pop(self.order.pop(0)))
        for agent_id in [a for a in held if a not in self.order]:
            self.diverged.append(f"agent {agent_id} was not evaluated in the recorded run")
            ready.append(held.pop(agent_id))
        return ready

    def flush(self, held: dict) -> list:
        """Everything still held, when waiting longer cannot help (the replay diverged)."""
        if held:
            missing = [a for a in self.order if a not in held][:3]
            self.diverged.append(f"recorded evaluations never reproduced, e.g. {missing}")
        ready = [held.pop(a) for a in [a for a in self.order if a in held]]
        ready += [held.pop(a) for a in list(held)]
        self.order.clear()
        return ready
