"""The runner around the scheduler: workers, budgets, the run database, resume, replay order and
the faults that stop a run. The agent store and the run database are real; the evaluator is a
deterministic function of the agent's code (the sandboxed evaluator is tested end to end in
tests/test_end_to_end.py), and the emitter is the real non-LLM baseline."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from qdagents.agents import AgentStore, read_folder
from qdagents.archive import Archive
from qdagents.components import seed_agent_dir
from qdagents.descriptors import DESCRIPTORS
from qdagents.emitters import EmitFailure, RandomStructural
from qdagents.evaluation import Evaluation, TaskResult
from qdagents.progress import Progress
from qdagents.replay import ReplaySource
from qdagents.runner import (AgentEvaluation, ChildMaker, Runner, SchedulerSource,
                             ThreadExecutor)
from qdagents.scheduler import Plan, Result, Scheduler
from qdagents.selection import Selection
from qdagents.store import RunDatabase

AXES = [DESCRIPTORS["agent_lines"].axis(low=60, high=140, bins=8),
        DESCRIPTORS["tool_count"].axis(low=0.5, high=4.5, bins=4)]


class CodeEvaluator:
    """Fitness and descriptors computed from the agent's code alone, the same every time."""

    def __init__(self, fail_with: Exception | None = None, *, after: int = 0):
        self.fail_with, self.after, self.calls = fail_with, after, 0
        self._lock = threading.Lock()   # the runner evaluates on two threads at once

    def evaluate(self, agent_id: str, agent_dir: Path) -> Evaluation:
        with self._lock:
            self.calls += 1
            number = self.calls
        if self.fail_with and number > self.after:
            raise self.fail_with
        return self.outcome(number, self.scored(agent_id, agent_dir))

    def outcome(self, number: int, evaluation: Evaluation) -> Evaluation:
        """What evaluation ``number`` (1-based, in the order they began) gives: as scored."""
        return evaluation

    def scored(self, agent_id: str, agent_dir: Path) -> Evaluation:
        files = read_folder(agent_dir)
        digest = hashlib.sha256(files["agent.py"].encode()).digest()
        tasks = [TaskResult(task_id=f"t{i}", passed=bool(digest[i] % 2), reason=None if
                            digest[i] % 2 else "hidden tests failed", tokens=100,
                            tools_offered=["bash", "write_file"][:1 + digest[5] % 2])
                 for i in range(4)]
        values = {a.name: a.measure(tasks, files) for a in AXES}
        return Evaluation(agent_id=agent_id, fitness=sum(t.passed for t in tasks) / 4,
                          descriptors=[values[a.name] for a in AXES], descriptor_values=values,
                          tasks=tasks, stage=1)


class Failing:
    name, parents_needed, directed, needs_workshop = "failing", 1, False, False

    def propose(self, parents, *, complete, rng, target=None, workshop=None):
        raise EmitFailure("no edit applies")


def make_runner(run_dir: Path, *, budget: int, emitter=None, evaluator=None, seed=3,
                source=None) -> Runner:
    db = RunDatabase(run_dir / "run.sqlite")
    store = AgentStore(run_dir / "agents.git")
    emitter = emitter or RandomStructural(name="random_structural")
    scheduler = Scheduler(archive=Archive(specs=AXES, seed=seed), selection=Selection("uniform"),
                          emitters={emitter.name: emitter}, seed=seed)
    maker = ChildMaker(emitters=scheduler.emitters, store=store, db=db, complete=None,
                       workshop=None)
    return Runner(source=source(scheduler, db) if source else SchedulerSource(scheduler),
                  scheduler=scheduler, db=db, store=store, make=maker,
                  evaluate=AgentEvaluation(evaluator=evaluator or CodeEvaluator(), store=store),
                  executor=ThreadExecutor(2), budget={"evaluations": budget},
                  progress=Progress(mode="quiet"), seed_agent=seed_agent_dir())


def test_a_run_records_every_decision(tmp_path):
    runner = make_runner(tmp_path, budget=10)
    assert runner.run() == "evaluation budget (10) reached"
    db = runner.db
    assert len(db.evaluation_order()) == 10 == runner.evaluated
    barren, evaluated = db.history()
    assert [e["step"] for e in evaluated][0] == 0 and len({e["agent_id"] for e in evaluated}) == 10
    stats = db.execute("SELECT COUNT(*) AS n, MAX(elites) AS elites FROM archive_stats")[0]
    assert stats["n"] == 10 and stats["elites"] == runner.scheduler.archive.stats["elites"]
    assert db.get_meta("stop_reason") == "evaluation budget (10) reached"
    # children are git commits whose parent commits are their parents
    child = evaluated[-1]
    assert runner.store.lineage(child["agent_id"])[-1] == "seed agent"
    # what the scheduler kept in memory is what the database says
    assert runner.scheduler.children == db.children_counts()
    assert {k: tuple(v) for k, v in runner.scheduler.record.items()} == db.emitter_record()


def test_resume_rebuilds_the_scheduler_from_the_history_and_goes_on(tmp_path):
    first = make_runner(tmp_path, budget=6)
    first.run()
    before = first.db.evaluation_order()
    elites = first.scheduler.archive.elites()
    # a run killed with work in flight: a step reserved, an agent created but never evaluated
    first.db.add_proposal(step=50, emitter="random_structural", parents=[before[0]],
                          status="in_flight")
    first.db.close()
    again = make_runner(tmp_path, budget=12)
    assert again.restore() == []
    assert again.scheduler.archive.elites() == elites         # the same archive, rebuilt
    assert again.scheduler.next_step == 51                    # no step is used twice
    again = make_runner(tmp_path, budget=12)
    again.run()
    after = again.db.evaluation_order()
    assert after[:len(before)] == before and len(after) == 12 == len(set(after))
    assert again.db.execute("SELECT status FROM proposals WHERE step = 50")[0]["status"] == "lost"
    assert again.scheduler.children == again.db.children_counts()


def test_an_agent_created_but_not_evaluated_is_evaluated_on_resume(tmp_path):
    first = make_runner(tmp_path, budget=3)
    first.run()
    parent = first.db.evaluation_order()[0]
    files = dict(first.store.files(parent), **{"NOTES.md": "pending\n"})
    agent_id, commit = first.store.add(files, parents=[parent], message="made, then killed")
    first.db.add_agent(agent_id=agent_id, commit_sha=commit, parents=[parent],
                       emitter="random_structural", step=40)
    first.db.add_proposal(step=40, emitter="random_structural", parents=[parent],
                          status="created", agent_id=agent_id, target="more tools")
    again = make_runner(tmp_path, budget=4)
    assert again.run() == "evaluation budget (4) reached"
    assert again.db.evaluation_order()[-1] == agent_id
    assert again.db.agent(agent_id)["status"] == "evaluated"
    assert again.scheduler.children[parent] >= 1


def test_internal_errors_stop_the_run_with_their_reason(tmp_path):
    runner = make_runner(tmp_path, budget=20, evaluator=CodeEvaluator(RuntimeError("sandbox gone")))
    assert runner.run() == "no agent in the archive to select from: the first failure was: " \
                           "internal error: RuntimeError('sandbox gone')"
    assert runner.failures == 1
    (tmp_path / "later").mkdir()
    later = make_runner(tmp_path / "later", budget=20,
                        evaluator=CodeEvaluator(RuntimeError("sandbox gone"), after=1))
    assert later.run() == "5 evaluations in a row failed inside qdagents (see the log)"
    assert later.failures >= 5 and later.evaluated == later.failures + 1   # + the seed


def test_barren_proposals_stop_the_run(tmp_path):
    runner = make_runner(tmp_path, budget=500, emitter=Failing())
    assert runner.run().startswith("50 proposals in a row made no new agent")
    counts = runner.db.execute("SELECT status, COUNT(*) AS n FROM proposals GROUP BY status")
    assert {r["status"]: r["n"] for r in counts}["failed"] >= 50
    assert runner.scheduler.record["failing"][1] >= 50 and runner.evaluated == 1


def test_replay_source_tells_in_the_recorded_order():
    scheduler = Scheduler(archive=Archive(specs=AXES), selection=Selection("uniform"),
                          emitters={"r": RandomStructural(name="r")}, seed=0)
    source = ReplaySource(scheduler, order=["s", "a", "b"], proposals=[
        {"step": 1, "emitter": "r", "parents": ["s"], "target": None, "parent_elite": True},
        {"step": 2, "emitter": "r", "parents": ["s"], "target": None, "parent_elite": True},
        {"step": 3, "emitter": "r", "parents": ["zz"], "target": None, "parent_elite": True}])

    def result(plan, agent_id, lines):
        return Result(plan, evaluation=Evaluation(agent_id=agent_id, fitness=0.5,
                                                  descriptors=[lines, 1.0], descriptor_values={},
                                                  tasks=[], stage=1))
    assert source.ask() is None                                # its parent is not evaluated yet
    [told] = source.tell(result(Plan(step=0, emitter="seed"), "s", 80))
    assert told.insertion.status == "new"
    one, two = source.ask(), source.ask()
    assert (one.step, two.step, one.parent_ids) == (1, 2, ["s"]) and source.ask() is None
    assert source.tell(result(two, "b", 100)) == []            # b waits for a
    assert [t.evaluation.agent_id for t in source.tell(result(one, "a", 90))] == ["a", "b"]
    assert source.stop_reason() is None
    assert source.unstick() == [] and "never evaluated" in source.diverged[0]
    assert source.stop_reason().startswith("replayed the recorded run, DIVERGED in 1 place")


class SpoilingEvaluator(CodeEvaluator):
    """The provider spoils evaluations number ``spoiled`` (1-based) with fault class ``fault``."""

    def __init__(self, fault: str, spoiled: set[int]):
        super().__init__()
        self.fault, self.spoiled = fault, spoiled

    def outcome(self, number, evaluation):
        if number in self.spoiled:   # this call's number: another thread may have begun since
            evaluation.fitness, evaluation.infra_failure = float("nan"), self.fault
            evaluation.failure = f"provider fault on task t0: {self.fault}"
        return evaluation


def test_a_spoiled_evaluation_is_tried_again_not_scored(tmp_path):
    evaluator = SpoilingEvaluator("provider", {2, 3})      # two in a row: within the retries
    runner = make_runner(tmp_path, budget=6, evaluator=evaluator)
    runner.fault_backoff = 0.01
    assert runner.run() == "evaluation budget (6) reached"
    assert evaluator.calls == 8 and runner.evaluated == 6 and runner.failures == 0
    rows = runner.db.execute("SELECT agent_id, failure FROM evaluations")
    assert len(rows) == 6 == len({r["agent_id"] for r in rows}) and not any(r["failure"] for r in rows)


@pytest.mark.parametrize("fault, spoiled", [("provider", set(range(2, 99))), ("fatal", {2})])
def test_a_provider_that_does_not_heal_pauses_the_run_and_resume_goes_on(tmp_path, fault, spoiled):
    from qdagents.runner import ProviderPaused

    runner = make_runner(tmp_path, budget=6, evaluator=SpoilingEvaluator(fault, spoiled))
    runner.fault_backoff = 0.01
    with pytest.raises(ProviderPaused, match="cannot be used" if fault == "fatal" else
                       "failed 3 times in a row"):
        runner.run()
    assert runner.db.get_meta("status") == "interrupted"
    # (two workers: one evaluation may finish beside the spoiled ones)
    assert len(runner.db.evaluation_order()) < 6 and runner.db.pending_agents()
    runner.db.close()
    again = make_runner(tmp_path, budget=6)
    assert again.run() == "evaluation budget (6) reached"
    assert len(set(again.db.evaluation_order())) == 6 and not again.db.pending_agents()


def test_a_provider_fault_in_an_emitter_call_is_not_a_barren_proposal(tmp_path):
    from qdagents.llm import ProviderFault

    class Flaky(RandomStructural):
        calls = 0

        def propose(self, parents, **kwargs):
            Flaky.calls += 1
            if Flaky.calls <= 2:
                raise ProviderFault("the provider is unreachable")
            return super().propose(parents, **kwargs)

    runner = make_runner(tmp_path, budget=4, emitter=Flaky(name="flaky"))
    runner.fault_backoff = 0.01
    assert runner.run() == "evaluation budget (4) reached"
    lost = runner.db.execute("SELECT reason FROM proposals WHERE status = 'lost'")
    assert len(lost) == 2 and "unreachable" in lost[0]["reason"]
    # the emitter's record counts its own attempts only: lost proposals are not its doing
    attempts = runner.db.execute("SELECT COUNT(*) AS n FROM proposals WHERE step > 0 AND "
                                 "status NOT IN ('lost', 'in_flight')")[0]["n"]
    assert sum(runner.scheduler.record["flaky"]) == attempts >= 3
