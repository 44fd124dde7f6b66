"""The search itself as an ask/tell object: which parents, which emitter, what entered the archive.

In the manner of pyribs' schedulers (Tjanaka et al. 2023, "pyribs: A bare-bones Python library
for quality diversity optimization"): :meth:`Scheduler.ask` says what to make next (a
:class:`Plan`), :meth:`Scheduler.tell` takes what became of it (a :class:`Result`) and returns
what happened in the archive (a :class:`Told`). It holds no thread, file, database or network
connection, so it can be driven from a notebook or a test as well as by the runner
(:mod:`qdagents.runner`), which adds the workers, the budgets and the run database.

Everything a step needs (the selection pool, children counts, curiosity scores, the emitter
bandit's record, code embeddings) is kept in memory and updated by ``tell``, so the work of one
step does not grow with the number of agents (beyond what a selection rule itself does with its
candidates). A resumed run rebuilds it by telling the recorded history once.

Randomness is per step: the choices of step ``s`` come from ``default_rng([seed, s])`` and the
emitter's from ``default_rng([seed, s, 1])`` (:meth:`Plan.rng`), so no generator state has to be
saved, and the same plan is made again for the same step and state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from qdagents.emitters import landed, target_toward_empty_neighbour
from qdagents.selection import CURIOSITY_FAILURE, CURIOSITY_SUCCESS

#: Insertion statuses that count as the child entering the archive.
ENTERED = ("new", "improve")


@dataclass(frozen=True)
class Plan:
    """What to make next: a child of ``parents`` by the emitter named ``emitter`` at ``step``.

    ``parents`` are records ``{id, fitness, descriptors, seq}`` with the descriptors as measured
    (not clipped to the archive). A plan with ``agent_id`` evaluates an agent that exists already
    (the seed agent, step 0; an agent a killed run created but never evaluated).
    """

    step: int
    emitter: str
    parents: tuple[dict, ...] = ()
    parent_elite: bool | None = None      # every parent was an elite when the plan was made
    target: str | None = None             # descriptor target for a directed emitter
    seed: int = 0
    agent_id: str | None = None
    model: str | None = None              # the emitter's model, drawn from an ensemble

    @property
    def parent_ids(self) -> list[str]:
        return [p["id"] for p in self.parents]

    def rng(self) -> np.random.Generator:
        """The emitter's random stream for this step."""
        return np.random.default_rng([self.seed, self.step, 1])


@dataclass(frozen=True)
class Result:
    """What became of a plan.

    Attributes:
        status: ``created`` (a new agent, evaluated in ``evaluation``), ``duplicate`` (code seen
            before), ``failed`` (the emitter could not make a child) or ``rejected`` (too
            similar to an elite).
        evaluation: The :class:`qdagents.evaluation.Evaluation` of the new agent (a failed
            evaluation included); None when no new agent was made.
        target: The target the child was aimed at (the emitter's own draw when the plan had none).
        cost_usd: What the emitter's LLM calls for this child cost (a model ensemble's bandit
            weighs entries per USD).
    """

    plan: Plan
    status: str = "created"
    evaluation: Any = None
    target: str | None = None
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Told:
    """What telling one result did.

    Attributes:
        evaluation: The evaluation as told, with the descriptors measured against the archive
            (code novelty) filled in; None when no new agent was made.
        insertion: What the archive did with the agent (:class:`qdagents.archive.Insertion`);
            None when nothing was offered (no new agent, or its evaluation failed).
        landed: Whether the child moved one bin the way its target asked; None when it had no
            target along the archive's axes.
    """

    result: Result
    evaluation: Any = None
    insertion: Any = None
    landed: bool | None = None

    @property
    def entered(self) -> bool:
        return self.insertion is not None and self.insertion.status in ENTERED


class Scheduler:
    """Asks for children and tells the archive, keeping what selection needs in memory.

    Args:
        archive: A :class:`qdagents.archive.Archive` (or anything with ``specs``, ``add``,
            ``elites``, ``is_elite`` and ``stats``); its ``specs`` are the descriptor axes.
        emitters: ``{name: emitter}`` (:class:`qdagents.emitters.Emitter`).
        selection: Draws parents: ``choose(candidates, children, rng, k, *, curiosity)``
            (:class:`qdagents.selection.Selection` or a user's rule).
        seed: The run's seed; every step's randomness derives from it.
        weights: ``{name: weight}`` by which an emitter is drawn per child (default equal).
        pool: Selection candidates: ``archive`` (the elites) or ``all`` (every agent whose
            evaluation did not fail, as in DGM).
        bandit: Choose emitters by Thompson sampling on how often their children entered the
            archive (Thompson 1933; ShinkaEvolve's adaptive choice of LLM) instead of by weight.
        models: Which model an emitter calls for each child
            (:class:`qdagents.llm.ModelChooser`: ``llm.emitter_ensemble``), told each child's
            fate and cost; None: the emitters' one model.
    """

    def __init__(self, *, archive, emitters: Mapping[str, Any], selection, seed: int = 0,
                 weights: Mapping[str, float] | None = None, pool: str = "archive",
                 bandit: bool = False, models=None):
        if pool not in ("archive", "all"):
            raise ValueError(f"pool must be 'archive' or 'all', got {pool!r}")
        if not emitters:
            raise ValueError("a scheduler needs at least one emitter")
        w = np.array([float((weights or {}).get(name, 1.0)) for name in emitters])
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"emitter weights must be >= 0 with a positive sum, got {weights}")
        self.archive, self.selection, self.seed = archive, selection, int(seed)
        self.emitters, self.weights = dict(emitters), w / w.sum()
        self.pool, self.bandit, self.models = pool, bool(bandit), models
        self.next_step = 1                      # step 0 is the seed agent
        self.told = 0                           # evaluations told so far (the last one's seq)
        self.children: dict[str, int] = {}      # agent id -> children evaluated
        self.curiosity: dict[str, float] = {}   # agent id -> curiosity score (Cully & Demiris)
        self.record: dict[str, list[int]] = {}  # emitter -> [children entered, attempts not]
        self._valid: dict[str, dict] = {}       # agent id -> record, evaluation not failed
        self._all: list[dict] = []              # the same records in telling order
        self._embeddings: dict[str, Any] = {}   # agent id -> code embedding

    # -- ask ------------------------------------------------------------------------------------
    def ask(self) -> Plan | None:
        """The next child to make; None while there is no candidate parent (nothing told yet)."""
        candidates = self._candidates()
        if not candidates:
            return None
        step, self.next_step = self.next_step, self.next_step + 1
        rng = np.random.default_rng([self.seed, step])
        name = self._choose_emitter(rng)
        emitter = self.emitters[name]
        chosen = self.selection.choose(candidates, self.children, rng,
                                       k=int(emitter.parents_needed), curiosity=self.curiosity)
        if len(chosen) == 2 and chosen[0]["id"] == chosen[1]["id"] and len(candidates) > 1:
            others = [c for c in candidates if c["id"] != chosen[0]["id"]]
            chosen[1] = self.selection.choose(others, self.children, rng,
                                              curiosity=self.curiosity)[0]
        target = (target_toward_empty_neighbour(self.archive, chosen[0]["descriptors"], rng)
                  if emitter.directed else None)
        # the model has a stream of its own: an ensemble changes no other draw of the step
        model = (self.models.choose(np.random.default_rng([self.seed, step, 2]))
                 if self.models is not None else None)
        return Plan(step=step, emitter=name, parents=tuple(self._valid[c["id"]] for c in chosen),
                    parent_elite=all(self.archive.is_elite(c["id"]) for c in chosen),
                    target=target, seed=self.seed, model=model)

    def _candidates(self) -> list[dict]:
        if self.pool == "all":
            return list(self._all)
        return [dict(e, seq=self._valid[e["id"]]["seq"]) for e in self.archive.elites()]

    def _choose_emitter(self, rng) -> str:
        names = list(self.emitters)
        if not self.bandit:
            return names[rng.choice(len(names), p=self.weights)]
        # Thompson sampling: a success rate drawn from Beta(1 + entered, 1 + not) per emitter
        draws = [rng.beta(1 + self.record.get(n, (0, 0))[0], 1 + self.record.get(n, (0, 0))[1])
                 if w > 0 else -1.0 for n, w in zip(names, self.weights)]
        return names[int(np.argmax(draws))]

    # -- tell -----------------------------------------------------------------------------------
    def tell(self, result: Result, *, recorded: bool = False) -> Told:
        """Offers the result's agent to the archive and updates what the next asks need.

        Args:
            result: What became of a plan.
            recorded: The result comes from the run's history (a resume): its descriptors are
                final as recorded and are not measured against the archive again.
        """
        plan = result.plan
        self.next_step = max(self.next_step, plan.step + 1)
        if result.evaluation is None:           # no new agent: failed, duplicate or rejected
            self._count(plan, entered=False, cost_usd=result.cost_usd)
            return Told(result)
        evaluation = self._measure_against_archive(result.evaluation, recorded)
        self.told += 1
        insertion = None
        if not evaluation.failure:
            insertion = self.archive.add(evaluation.agent_id, evaluation.fitness,
                                         evaluation.descriptors)
            entry = {"id": evaluation.agent_id, "fitness": float(evaluation.fitness),
                     "descriptors": [float(v) for v in evaluation.descriptors], "seq": self.told}
            self._valid[entry["id"]] = entry
            self._all.append(entry)
        moved = (landed(self.archive.specs, result.target, plan.parents[0]["descriptors"],
                        evaluation.descriptors)
                 if result.target and plan.parents and not evaluation.failure else None)
        told = Told(result, evaluation, insertion, moved)
        for parent in plan.parent_ids:
            self.children[parent] = self.children.get(parent, 0) + 1
        for parent in set(plan.parent_ids):
            self.curiosity[parent] = self.curiosity.get(parent, 0.0) + (
                CURIOSITY_SUCCESS if told.entered else CURIOSITY_FAILURE)
        self._count(plan, entered=told.entered, cost_usd=result.cost_usd)
        return told

    def _count(self, plan: Plan, *, entered: bool, cost_usd: float) -> None:
        if plan.step > 0:                       # the seed agent is no emitter's attempt
            counts = self.record.setdefault(plan.emitter, [0, 0])
            counts[0 if entered else 1] += 1
            if self.models is not None and plan.model in self.models.models:
                self.models.tell(plan.model, entered=entered, cost_usd=cost_usd)

    def _measure_against_archive(self, evaluation, recorded: bool):
        """Descriptors measured against the elites now in the archive (code novelty)."""
        axes = [(i, d) for i, d in enumerate(self.archive.specs) if d.against_archive]
        if not axes or evaluation.embedding is None:
            return evaluation
        if not recorded:
            elites = [self._embeddings[e["id"]] for e in self.archive.elites()
                      if e["id"] in self._embeddings]
            descriptors = list(evaluation.descriptors)
            values = dict(evaluation.descriptor_values)
            for i, axis in axes:
                descriptors[i] = values[axis.name] = axis.measure_against(evaluation.embedding,
                                                                          elites)
            evaluation = dataclasses.replace(evaluation, descriptors=descriptors,
                                             descriptor_values=values)
        self._embeddings[evaluation.agent_id] = evaluation.embedding
        return evaluation

    # -- state ----------------------------------------------------------------------------------
    def evaluated(self, agent_id: str) -> dict | None:
        """The record ``{id, fitness, descriptors, seq}`` of an agent told with no failure."""
        return self._valid.get(agent_id)
