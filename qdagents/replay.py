"""Replaying a recorded run: the same decisions, in the same order, with no provider.

An asynchronous run's archive depends on the order in which evaluations finished, which no two
executions share. A replay therefore does not select parents again: :class:`ReplaySource` hands
the runner the recorded proposals (same step numbers, so the same per-step random streams and the
same LLM requests) through the same ``ask``/``tell`` interface as the scheduler, and tells the
scheduler in the recorded completion order. The runner answers every LLM request from the
recordings (``llm.mode=replay``) and re-runs every agent in the sandbox and every hidden test for
real. If every agent behaves as recorded, the archive comes out the same; where one does not, the
replay says so (``diverged``) rather than hiding it.
"""

from __future__ import annotations

from collections import deque

from qdagents.scheduler import Plan, Result, Scheduler, Told


class ReplaySource:
    """The recorded run's proposals as a source of plans for ``scheduler``.

    Args:
        scheduler: Told every result, in the recorded completion order.
        proposals: The recorded run's finished proposals, by step
            (:meth:`qdagents.store.RunDatabase.recorded_proposals`).
        order: Its agents in evaluation order (:meth:`~qdagents.store.RunDatabase.evaluation_order`).
        done_steps: Steps this replay has already run, and done_agents: agents it has already
            evaluated (when the replay is itself resumed).
    """

    follows_budget = False   # a replay runs the recorded proposals, whatever the budget says

    def __init__(self, scheduler: Scheduler, *, proposals: list[dict], order: list[str],
                 done_steps: set[int] = frozenset(), done_agents: set[str] = frozenset()):
        self.scheduler = scheduler
        self.proposals = deque(p for p in proposals if p["step"] not in done_steps)
        self.order = deque(a for a in order if a not in done_agents)
        self._ordered = set(self.order)     # the agents still to be told, for constant-time look-ups
        self.held: dict[str, Result] = {}   # results waiting for their recorded turn
        self.diverged: list[str] = []

    # the source interface ------------------------------------------------------------------------
    def ask(self) -> Plan | None:
        """The next recorded proposal, once all its parents have been evaluated here."""
        if not self.proposals:
            return None
        parents = [self.scheduler.evaluated(p) for p in self.proposals[0]["parents"]]
        if any(p is None for p in parents):
            return None
        recorded = self.proposals.popleft()
        return Plan(step=recorded["step"], emitter=recorded["emitter"], parents=tuple(parents),
                    parent_elite=recorded["parent_elite"], target=recorded["target"],
                    seed=self.scheduler.seed, model=recorded.get("model"))

    def tell(self, result: Result) -> list[Told]:
        """Holds an evaluated result until the recorded order reaches it; tells what may be told."""
        if result.evaluation is None:
            return [self.scheduler.tell(result)]
        self.held[result.evaluation.agent_id] = result
        ready = []
        while self.order and self.order[0] in self.held:
            agent_id = self.order.popleft()
            self._ordered.discard(agent_id)
            ready.append(self.held.pop(agent_id))
        for agent_id in [a for a in self.held if a not in self._ordered]:
            self.diverged.append(f"agent {agent_id} was not evaluated in the recorded run")
            ready.append(self.held.pop(agent_id))
        return [self.scheduler.tell(r) for r in ready]

    def unstick(self) -> list[Told] | None:
        """Nothing in flight and nothing to ask: tell what is held (the recorded order cannot be
        reached any more), or drop a proposal whose parents were never evaluated here."""
        if self.held:
            missing = [a for a in self.order if a not in self.held][:3]
            self.diverged.append(f"recorded evaluations never reproduced, e.g. {missing}")
            ready = [self.held.pop(a) for a in self.order if a in self.held]
            ready += [self.held.pop(a) for a in list(self.held)]
            self.order.clear()
            self._ordered.clear()
            return [self.scheduler.tell(r) for r in ready]
        if self.proposals:
            dropped = self.proposals.popleft()
            self.diverged.append(f"step {dropped['step']}: its parents {dropped['parents']} were "
                                 "never evaluated in the replay")
            return []
        return None

    def stop_reason(self) -> str | None:
        """Set once every recorded proposal has run and every result has been told."""
        if self.proposals or self.held or not self.scheduler.told:
            return None
        detail = "; ".join(self.diverged[:3])
        return "replayed the recorded run" + (
            f", DIVERGED in {len(self.diverged)} place(s): {detail}" if self.diverged
            else ", no divergence")
