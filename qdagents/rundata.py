"""A read-only view of one run directory, and the summary metrics of a run.

The runner writes ``run.sqlite`` (schema in ``docs/architecture.md``); everything that analyses a
run (plots, ``qdagents summary``, reports over sweeps, the notebooks) reads it through ``RunData``,
which reads it through :class:`qdagents.store.RunDatabase`, so that the schema is interpreted in
exactly one place. The database is opened read-only, so a run can be looked at while it is still
going.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ribs.archives import GridArchive

from qdagents.descriptors import Descriptor
from qdagents.llm._usage import llm_usage
from qdagents.store import RunDatabase

__all__ = ["Agent", "Descriptor", "Elite", "LLMUsage", "RunData", "held_out_scores",
           "summary_metrics", "tampered_agents"]


@dataclass(frozen=True)
class Agent:
    """One row of ``agents``; ``parents`` is empty for the seed agent."""

    id: str
    parents: tuple[str, ...]
    emitter: str | None
    step: int | None
    created: float | None
    status: str  # pending | evaluated | failed
    commit: str | None = None   # its commit in the run's agents.git


@dataclass(frozen=True)
class Elite:
    """An agent holding a cell of the final archive; ``descriptors`` are the measured values
    (the archive itself stores them clipped to the grid's range)."""

    id: str
    fitness: float
    descriptors: tuple[float, ...]
    cell: int


@dataclass(frozen=True)
class LLMUsage:
    """Totals over ``llm_calls``: every exchange that went through the gateway.

    ``provider_calls`` are rows answered by the provider (``cached=0`` and no error);
    ``tokens`` and ``cost_usd`` sum what the gateway metered on every row.
    """

    calls: int
    provider_calls: int
    cache_hits: int
    errors: int
    tokens: int
    cost_usd: float


#: Per emitter model (a model ensemble's): the children it made, how many entered the archive,
#: and what its calls for them cost, as the model chooser was told them.
EMITTER_MODELS_SQL = (
    "SELECT p.model, COUNT(*) AS children, SUM(CASE WHEN i.status IN ('new', 'improve') THEN 1"
    " ELSE 0 END) AS entered, SUM(COALESCE(p.cost_usd, 0)) AS cost_usd FROM proposals p"
    " LEFT JOIN insertions i ON i.agent_id = p.agent_id AND p.status = 'created'"
    " WHERE p.step > 0 AND p.model IS NOT NULL AND p.status NOT IN ('in_flight', 'lost')"
    " GROUP BY p.model ORDER BY p.model")


def llm_figures(db: RunDatabase) -> dict[str, Any]:
    """:func:`qdagents.llm.llm_usage` (tokens and USD by model and by purpose, error rows by
    fault class, ``provider_faults``), and ``emitter_models``: per model of an emitter ensemble,
    its children, how many entered the archive and their emitter calls' USD (empty without an
    ensemble)."""
    figures = llm_usage(db)
    figures["emitter_models"] = {model: {"children": children, "entered": entered or 0,
                                         "cost_usd": usd or 0.0}
                                 for model, children, entered, usd in db.execute(EMITTER_MODELS_SQL)}
    return figures


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _columns(rows: list[tuple], names: list[str], dtypes: dict[str, Any]) -> dict[str, np.ndarray]:
    """Rows to a dict of column arrays; NULL becomes NaN in float columns and None in others."""
    columns = {}
    for i, name in enumerate(names):
        values = [row[i] for row in rows]
        dtype = dtypes.get(name, object)
        if dtype is float:
            values = [np.nan if v is None else v for v in values]
        columns[name] = np.array(values, dtype=dtype)
    return columns


@dataclass(eq=False)  # identity equality: fields hold numpy arrays
class RunData:
    """Everything recorded about one run, loaded once.

    ``evaluations``, ``insertions`` and ``archive_stats`` are dicts of numpy column arrays sorted
    by ``seq`` (``evaluations["descriptors"]`` is an ``(n, len(descriptors))`` float array, NaN
    where an evaluation measured none); ``agents`` is in creation order.
    """

    path: Path
    meta: dict[str, Any]
    config: dict[str, Any]
    condition: str
    seed: int | None
    descriptors: list[Descriptor]
    agents: dict[str, Agent]
    evaluations: dict[str, np.ndarray]
    insertions: dict[str, np.ndarray]
    archive_stats: dict[str, np.ndarray]
    usage: LLMUsage
    proposals: dict[str, int] = field(default_factory=dict)   # attempts to make a child, by status
    emitters: dict[str, dict] = field(default_factory=dict)   # per emitter: attempts, entered
    llm: dict[str, Any] = field(default_factory=dict)         # llm_figures(): by model, purpose

    @classmethod
    def load(cls, run_dir: str | Path) -> RunData:
        path = Path(run_dir)
        db = RunDatabase(path / "run.sqlite", read_only=True)
        try:
            meta = db.meta()
            config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
            specs = meta.get("descriptors") or config.get("archive", {}).get("descriptors") or []
            descriptors = [Descriptor(name=d["name"], label=d.get("label", d["name"]),
                                      unit=d.get("unit", ""), low=float(d["low"]),
                                      high=float(d["high"]), bins=int(d["bins"]))
                           for d in specs]
            agents = {}
            for id_, parents, emitter, step, created, status, commit in db.agent_rows():
                agents[id_] = Agent(id_, tuple(_json(parents) or ()), emitter, step, created,
                                    status or "pending", commit)
            names = ["agent_id", "seq", "fitness", "descriptors", "tokens", "cost_usd",
                     "tasks_run", "tasks_passed", "stage", "failure", "started", "finished"]
            rows = db.rows("evaluations", names)
            text = ("agent_id", "descriptors", "failure")
            evaluations = _columns(rows, names, {n: float for n in names if n not in text})
            evaluations["seq"] = evaluations["seq"].astype(int)
            dims = len(descriptors)
            measured = np.full((len(rows), dims), np.nan)
            for i, row in enumerate(rows):
                values = _json(row[3])
                if isinstance(values, list) and len(values) == dims:
                    measured[i] = [np.nan if v is None else v for v in values]
            evaluations["descriptors"] = measured
            names = ["seq", "agent_id", "status", "cell", "fitness", "parent_elite"]
            insertions = _columns(db.rows("insertions", names), names,
                                  {"seq": int, "fitness": float, "parent_elite": float})
            names = ["seq", "elites", "coverage", "qd_score", "best", "tokens", "cost_usd",
                     "seconds"]
            archive_stats = _columns(db.rows("archive_stats", names), names,
                                     {n: float for n in names})
            totals = db.llm_usage()
            llm = llm_figures(db)
            proposals = db.proposal_counts()
            emitters = {name: {"attempts": int(entered) + int(other), "entered": int(entered)}
                        for name, (entered, other) in db.emitter_record().items()}
        finally:
            db.close()
        usage = LLMUsage(*(int(v) for v in totals[:5]), float(totals[5]))
        seed = meta.get("seed", config.get("seed"))
        return cls(path, meta, config, _condition(path, meta), None if seed is None else int(seed),
                   descriptors, agents, evaluations, insertions, archive_stats, usage, proposals,
                   emitters, llm)

    def task_results(self) -> list[dict]:
        """Every task result of the run (``task_results``: agent_id, task_id, passed, reason,
        tokens, llm_calls, tools_offered, lines_changed, lines_emitted, seconds, exit_code,
        log), in the order they were recorded; read from the database when asked."""
        db = RunDatabase(self.path / "run.sqlite", read_only=True)
        try:
            return db.task_results()
        finally:
            db.close()

    @property
    def name(self) -> str:
        """A short label for figure titles: condition and seed."""
        return f"{self.condition}, seed {self.seed}" if self.seed is not None else self.condition

    def rebuild_archive(self) -> GridArchive:
        """Re-creates the final archive by replaying what the archive was told, in ``seq`` order.

        Each ``insertions`` row is added with its fitness and the agent's measured descriptors
        clipped to the grid range (a run without insertion rows replays every evaluation that has
        a fitness and descriptors and no failure). Solutions are agent ids.

        Adding them one by one keeps, in each cell, the first of its best (an elite is replaced
        only by a strictly better one); that winner is computed with numpy and only the winners
        are added: one ``add_single`` per insertion took most of ``qdagents summary``'s second at
        10^4 agents.
        """
        archive = GridArchive(solution_dim=(), dims=[d.bins for d in self.descriptors],
                              ranges=[(d.low, d.high) for d in self.descriptors],
                              solution_dtype=object)
        low = np.array([d.low for d in self.descriptors])
        high = np.array([d.high for d in self.descriptors])
        evaluations = self.evaluations
        row_of = {agent_id: i for i, agent_id in enumerate(evaluations["agent_id"])}
        if len(self.insertions["agent_id"]):
            ids, fitness = self.insertions["agent_id"], self.insertions["fitness"]
        else:
            ok = ~np.isnan(evaluations["fitness"]) & np.array(
                [f is None for f in evaluations["failure"]], dtype=bool)
            ids, fitness = evaluations["agent_id"][ok], evaluations["fitness"][ok]
        known = np.array([a in row_of for a in ids], dtype=bool)
        ids, fitness = ids[known], fitness[known].astype(float)
        rows = np.array([row_of[a] for a in ids], dtype=int)
        measured = evaluations["descriptors"][rows].reshape(len(rows), len(self.descriptors))
        fitness = np.where(np.isnan(fitness), evaluations["fitness"][rows].astype(float),
                           fitness)
        keep = ~np.isnan(fitness) & ~np.isnan(measured).any(axis=1)
        ids, fitness, measured = ids[keep], fitness[keep], np.clip(measured[keep], low, high)
        if not len(ids):
            return archive
        cells = archive.index_of(measured)
        order = np.lexsort((np.arange(len(ids)), -fitness, cells))   # by cell, best, earliest
        first = np.ones(len(order), dtype=bool)
        first[1:] = cells[order][1:] != cells[order][:-1]
        for i in order[first]:   # one per cell (the batch ``add`` would compile numba: ~0.5 s)
            archive.add_single(ids[i], float(fitness[i]), measured[i])
        return archive

    @functools.cached_property
    def archive(self) -> GridArchive:
        """The final archive (``rebuild_archive()``, computed once)."""
        return self.rebuild_archive()

    def elites(self) -> list[Elite]:
        """Elites of the final archive, best first; ties go to the earlier evaluation."""
        data = self.archive.data()
        seq_of = dict(zip(self.evaluations["agent_id"], self.evaluations["seq"]))
        row_of = {agent_id: i for i, agent_id in enumerate(self.evaluations["agent_id"])}
        elites = [Elite(str(agent_id), float(fitness),
                        tuple(float(v) for v in self.evaluations["descriptors"][row_of[agent_id]]),
                        int(cell))
                  for agent_id, fitness, cell in zip(data["solution"], data["objective"],
                                                     data["index"])]
        return sorted(elites, key=lambda e: (-e.fitness, seq_of[e.id]))

    def failed(self) -> set[str]:
        """Agents whose evaluation failed (status ``failed`` or a recorded failure reason)."""
        failed = {a.id for a in self.agents.values() if a.status == "failed"}
        return failed | {agent_id for agent_id, failure in
                         zip(self.evaluations["agent_id"], self.evaluations["failure"])
                         if failure is not None}

    def depths(self) -> dict[str, int]:
        """Lineage depth of each agent: 0 for agents without (known) parents, else one more than
        its deepest parent."""
        depth: dict[str, int] = {}
        for root in self.agents:
            stack, on_stack = [root], {root}
            while stack:
                agent_id = stack[-1]
                pending = [p for p in self.agents[agent_id].parents
                           if p in self.agents and p not in depth and p not in on_stack]
                if pending:
                    stack.extend(pending)
                    on_stack.update(pending)
                    continue
                stack.pop()
                depth[agent_id] = 1 + max((depth[p] for p in self.agents[agent_id].parents
                                           if p in depth), default=-1)
        return depth


def _condition(path: Path, meta: dict[str, Any]) -> str:
    """``meta.condition``; else the Hydra overrides of the run without ``seed``."""
    if meta.get("condition"):
        return str(meta["condition"])
    overrides = path / ".hydra" / "overrides.yaml"
    if overrides.is_file():
        items = [line.strip()[2:].strip() for line in overrides.read_text().splitlines()
                 if line.strip().startswith("- ")]
        items = [item for item in items if not item.lstrip("+~").startswith("seed=")]
        if items:
            return ",".join(items)
    return "default"


def _agent_summary(run: RunData, agent_id: str | None) -> dict[str, Any] | None:
    if agent_id is None:
        return None
    rows = np.flatnonzero(run.evaluations["agent_id"] == agent_id)
    if not len(rows):
        return {"id": agent_id, "fitness": None, "descriptors": None}
    fitness = run.evaluations["fitness"][rows[0]]
    descriptors = run.evaluations["descriptors"][rows[0]]
    return {"id": agent_id, "fitness": None if np.isnan(fitness) else float(fitness),
            "descriptors": None if np.isnan(descriptors).any() else descriptors.tolist()}


def _clipped(run: "RunData") -> int:
    """Evaluations with a descriptor outside its configured range (clipped to the edge)."""
    values = run.evaluations["descriptors"]
    if not len(values) or not run.descriptors:
        return 0
    low = np.array([d.low for d in run.descriptors])
    high = np.array([d.high for d in run.descriptors])
    with np.errstate(invalid="ignore"):
        outside = (values < low) | (values > high)
    return int(np.sum(np.any(outside, axis=1)))


def _archive_figures(run: "RunData", elites, archive) -> dict:
    stats = run.archive_stats
    if len(stats.get("seq", ())):
        return {"elites": int(stats["elites"][-1]), "cells": int(archive.cells),
                "coverage": float(stats["coverage"][-1]), "qd_score": float(stats["qd_score"][-1])}
    return {"elites": len(elites), "cells": int(archive.cells),
            "coverage": float(archive.stats.coverage),
            "qd_score": float(sum(e.fitness for e in elites))}


def tampered_agents(run: "RunData") -> set[str]:
    """Agents whose evaluation failed because the judge saw tampering (``failure`` starts with
    ``tampering:``; such an evaluation never enters the archive)."""
    return {agent_id for agent_id, failure in zip(run.evaluations["agent_id"],
                                                  run.evaluations["failure"])
            if isinstance(failure, str) and failure.startswith("tampering")}


def held_out_scores(run: "RunData") -> tuple[list[str], dict[str, float]]:
    """The held-out task ids of a run and each agent's held-out fitness (empty for runs without
    a held-out split, or recorded before it existed)."""
    db = RunDatabase(run.path / "run.sqlite", read_only=True)
    try:
        return db.held_out_scores()
    finally:
        db.close()


def _held_out_summary(run: "RunData", elites) -> dict[str, Any] | None:
    tasks, scores = held_out_scores(run)
    if not tasks:
        return None

    def pair(ids: list[str], fitness: dict[str, float]) -> dict[str, Any]:
        scored = [a for a in ids if a in scores]
        if not scored:
            return {"agents": 0, "seen": None, "held_out": None, "gap": None}
        seen = float(np.mean([fitness[a] for a in scored]))
        held = float(np.mean([scores[a] for a in scored]))
        return {"agents": len(scored), "seen": seen, "held_out": held, "gap": seen - held}

    fitness = {e.id: e.fitness for e in elites}
    best = pair([elites[0].id], fitness) if elites else None
    if best is not None:
        best["id"] = elites[0].id
    return {"tasks": tasks, "best": best, "elites": pair([e.id for e in elites], fitness)}


def summary_metrics(run: RunData | str | Path) -> dict[str, Any]:
    """The headline numbers of one run, JSON-serialisable (``qdagents summary --json``).

    ``evaluated`` counts completed evaluations, failed ones included (``failed`` of them);
    ``pending`` agents were created but never finished. ``qd_score`` is the sum of elite fitness
    with offset 0: fitness is the share of hidden tests passed, in [0, 1], so every elite adds a
    non-negative amount. ``coverage`` is a fraction of cells. Open-endedness: ``new_cells`` and
    ``improved`` count insertions that filled an empty cell or beat an elite;
    ``parent_not_elite_share`` is the share of inserted children whose (first) parent was no
    longer, or never, an elite when the child was made. ``tampered`` counts evaluations the judge
    failed for tampering. ``held_out`` is None for a run without held-out tasks; else the
    held-out ``tasks`` and, for the ``best`` agent and the ``elites`` (means), the fitness on
    ``seen`` tasks (what the archive used), on ``held_out`` tasks and their ``gap``. ``llm`` is
    :func:`llm_figures`: calls, prompt and completion tokens and USD by model and by purpose
    (``agent``, ``emitter``, ``embedding``, ``probe``), errors by fault class, provider faults.
    """
    run = run if isinstance(run, RunData) else RunData.load(run)
    elites = run.elites()
    statuses = [a.status for a in run.agents.values()]
    failed = run.failed()
    seed = next((a.id for a in run.agents.values() if a.step == 0 or not a.parents), None)
    status = run.insertions["status"]
    parent_elite = run.insertions["parent_elite"]
    parent_elite = parent_elite[~np.isnan(parent_elite)]
    depths = run.depths()
    archive = run.archive
    return {
        "run": str(run.path), "condition": run.condition, "random_seed": run.seed,
        "agents": len(run.agents),
        "evaluated": len(run.evaluations["agent_id"]),
        "failed": len(failed),
        "pending": sum(s == "pending" for s in statuses),
        # the run's own archive (grid, CVT, novelty, keep-all) as last recorded; the grid rebuilt
        # from the descriptors stands in only for runs that recorded no statistics
        **_archive_figures(run, elites, archive),
        "tokens": run.usage.tokens, "cost_usd": run.usage.cost_usd,
        "llm_calls": run.usage.calls, "provider_calls": run.usage.provider_calls,
        "cache_hits": run.usage.cache_hits, "llm_errors": run.usage.errors,
        "seed": _agent_summary(run, seed),
        "best": _agent_summary(run, elites[0].id if elites else None),
        "new_cells": int(np.sum(status == "new")),
        "improved": int(np.sum(status == "improve")),
        "max_depth": max(depths.values(), default=0),
        "parent_not_elite_share": (float(np.mean(parent_elite == 0)) if len(parent_elite)
                                   else None),
        "clipped": _clipped(run),
        "proposals": {k: v for k, v in run.proposals.items() if not k.startswith("directed_")},
        "emitters": dict(run.emitters),
        "directed": {"aimed": run.proposals.get("directed_aimed", 0),
                     "landed": run.proposals.get("directed_landed", 0)},
        "tampered": len(tampered_agents(run)),
        "held_out": _held_out_summary(run, elites),
        "llm": run.llm,
    }
