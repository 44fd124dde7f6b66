"""The scheduler alone, in memory: ask/tell with a real archive, real emitters and real
selection rules, no thread, database, sandbox or model (as pyribs tests its schedulers)."""

import numpy as np
import pytest

from qdagents.archive import Archive
from qdagents.descriptors import DESCRIPTORS, CodeNovelty
from qdagents.emitters import LLMCrossover, LLMMutation, RandomStructural
from qdagents.evaluation import Evaluation
from qdagents.scheduler import Plan, Result, Scheduler
from qdagents.selection import Selection

AXES = [DESCRIPTORS["tool_count"].axis(low=0.5, high=4.5, bins=4),
        DESCRIPTORS["token_cost"].axis(low=0, high=100, bins=2)]


def evaluation(agent_id, fitness, descriptors, failure=None, embedding=None):
    names = [a.name for a in AXES]
    return Evaluation(agent_id=agent_id, fitness=fitness, descriptors=list(descriptors),
                      descriptor_values=dict(zip(names, descriptors)), tasks=[], stage=1,
                      failure=failure, embedding=embedding)


def scheduler(*, selection="uniform", pool="archive", emitters=None, axes=AXES, **options):
    return Scheduler(archive=Archive(specs=axes, seed=0),
                     emitters=emitters or {"mutate": LLMMutation(name="mutate")},
                     selection=Selection(selection), seed=7, pool=pool, **options)


def seeded(s, descriptors=(1, 10), fitness=0.2):
    return s.tell(Result(Plan(step=0, emitter="seed", agent_id="seed"),
                         evaluation=evaluation("seed", fitness, descriptors)))


def child(s, plan, agent_id, fitness, descriptors, **kw):
    return s.tell(Result(plan, evaluation=evaluation(agent_id, fitness, descriptors, **kw),
                         target=plan.target))


def test_nothing_to_ask_until_an_agent_is_told():
    s = scheduler()
    assert s.ask() is None
    told = seeded(s)
    assert told.insertion.status == "new" and told.entered and s.archive.stats["elites"] == 1
    plan = s.ask()
    assert (plan.step, plan.emitter, plan.parent_ids, plan.parent_elite) == (1, "mutate", ["seed"], True)
    assert plan.parents[0] == {"id": "seed", "fitness": 0.2, "descriptors": [1.0, 10.0], "seq": 1}
    assert s.ask().step == 2          # every ask reserves its own step


def test_tell_updates_archive_children_curiosity_and_emitter_record():
    s = scheduler()
    seeded(s)
    a, b, c, d = (s.ask() for _ in range(4))
    assert child(s, a, "a", 0.5, [1, 10]).insertion.status == "improve"     # beats the seed
    assert child(s, b, "b", 0.1, [1, 10]).insertion.status == "not_added"
    failed = child(s, c, "c", 0.0, [1, 10], failure="crashed on every task")
    assert failed.insertion is None and not failed.entered
    assert not s.tell(Result(d, status="duplicate")).entered                 # no new agent
    assert s.children == {"seed": 3}                      # three children were evaluated
    assert s.curiosity == {"seed": 1.0 - 0.5 - 0.5}       # +1 entered, -0.5 twice
    assert s.record == {"mutate": [1, 3]}
    assert s.told == 4 and s.evaluated("c") is None and s.evaluated("a")["seq"] == 2
    assert [e["id"] for e in s.archive.elites()] == ["a"]


def test_same_seed_same_history_same_plans():
    plans = []
    for _ in range(2):
        s = scheduler(selection="dgm", emitters={"m": LLMMutation(name="m"),
                                                 "r": RandomStructural(name="r")})
        seeded(s)
        for i in range(6):
            plan = s.ask()
            child(s, plan, f"x{i}", 0.1 * i, [1 + i % 4, 10 * i])
            plans.append((plan.step, plan.emitter, plan.parent_ids,
                          int(plan.rng().integers(10**9))))
    assert plans[:6] == plans[6:]
    assert len({p[1] for p in plans}) == 2                # both emitters drawn


def test_pool_all_offers_agents_that_left_the_archive():
    s = scheduler(pool="all", selection="uniform")
    seeded(s, fitness=0.2)
    child(s, s.ask(), "better", 0.9, [1, 10])             # replaces the seed in its cell
    assert not s.archive.is_elite("seed")
    picks = {s.ask().parent_ids[0] for _ in range(40)}
    assert picks == {"seed", "better"}
    plan = next(p for p in (s.ask() for _ in range(40)) if p.parent_ids == ["seed"])
    assert plan.parent_elite is False
    elites_only = scheduler(selection="uniform")
    seeded(elites_only)
    child(elites_only, elites_only.ask(), "better", 0.9, [1, 10])
    assert {elites_only.ask().parent_ids[0] for _ in range(20)} == {"better"}


def test_latest_always_builds_on_the_newest_valid_agent():
    for pool in ("all", "archive"):
        s = scheduler(pool=pool, selection="latest")
        seeded(s)
        child(s, s.ask(), "a", 0.3, [2, 10])
        child(s, s.ask(), "b", 0.1, [3, 90])
        assert s.ask().parent_ids == ["b"]
        child(s, s.ask(), "broken", 0.0, [4, 90], failure="crashed")
        assert s.ask().parent_ids == ["b"]                # a failed agent is not valid


def test_crossover_gets_two_different_parents():
    s = scheduler(emitters={"x": LLMCrossover(name="x")})
    seeded(s)
    child(s, Plan(step=1, emitter="x", parents=(s.evaluated("seed"),)), "a", 0.3, [3, 90])
    for _ in range(20):
        assert sorted(s.ask().parent_ids) == ["a", "seed"]


def test_directed_target_and_landing():
    s = scheduler(emitters={"d": LLMMutation(name="d", directed=True)})
    seeded(s, descriptors=(1, 10))     # cell (0, 0): empty neighbours (1, 0) and (0, 1)
    plans = [s.ask() for _ in range(30)]
    assert {p.target for p in plans} == {"more tools", "more tokens"}
    more_tools = next(p for p in plans if p.target == "more tools")
    assert child(s, more_tools, "a", 0.1, [2, 10]).landed is True        # one bin up
    more_tokens = next(p for p in plans if p.target == "more tokens")
    assert child(s, more_tokens, "b", 0.1, [2, 10]).landed is False      # moved another way
    plain = Plan(step=99, emitter="d", parents=(s.evaluated("seed"),))
    assert child(s, plain, "c", 0.1, [2, 10]).landed is None


def test_emitter_bandit_prefers_the_emitter_whose_children_enter():
    emitters = {"good": LLMMutation(name="good"), "bad": LLMMutation(name="bad"),
                "off": LLMMutation(name="off")}
    s = scheduler(emitters=emitters, bandit=True, weights={"good": 1, "bad": 1, "off": 0})
    seeded(s)
    s.record.update({"good": [2, 0], "bad": [0, 2]})
    picks = [s.ask().emitter for _ in range(200)]
    assert "off" not in picks and picks.count("good") > 150    # Beta(3,1) against Beta(1,3)
    by_weight = scheduler(emitters=emitters, weights={"good": 1, "bad": 1, "off": 0})
    seeded(by_weight)
    picks = [by_weight.ask().emitter for _ in range(200)]
    assert 60 < picks.count("good") < 140 and "off" not in picks
    with pytest.raises(ValueError, match="weights"):
        scheduler(weights={"mutate": 0})


def test_code_novelty_is_measured_in_tell_against_the_elites():
    axes = [AXES[0], CodeNovelty(name="code_novelty", low=0, high=1, bins=2, k=1)]
    s = scheduler(axes=axes)
    first = s.tell(Result(Plan(step=0, emitter="seed"), evaluation=evaluation(
        "seed", 0.2, [1, 0.5], embedding=[1.0, 0.0])))
    assert first.evaluation.descriptors[1] == 1.0                   # nothing to compare with
    told = child(s, s.ask(), "a", 0.3, [3, 0.5], embedding=[0.0, 1.0])
    assert told.evaluation.descriptors[1] == pytest.approx(1.0)     # orthogonal to the seed
    assert told.evaluation.descriptor_values["code_novelty"] == told.evaluation.descriptors[1]
    near = child(s, s.ask(), "b", 0.4, [3, 0.5], embedding=[1.0, 0.01])
    assert near.evaluation.descriptors[1] == pytest.approx(0.0, abs=1e-3)   # like the seed
    # a recorded history is told as recorded: nothing is measured again
    again = scheduler(axes=axes)
    kept = again.tell(Result(Plan(step=0, emitter="seed"), evaluation=evaluation(
        "seed", 0.2, [1, 0.25], embedding=[1.0, 0.0])), recorded=True)
    assert kept.evaluation.descriptors == [1, 0.25]


def test_rebuilt_from_its_history_it_asks_what_the_original_would():
    live = scheduler(selection="curiosity", emitters={"m": LLMMutation(name="m", directed=True),
                                                      "x": LLMCrossover(name="x")}, bandit=True)
    history = [Result(Plan(step=0, emitter="seed", agent_id="seed"),
                      evaluation=evaluation("seed", 0.2, [1, 10]))]
    live.tell(history[0])
    rng = np.random.default_rng(0)
    for i in range(40):
        plan = live.ask()
        if i % 7 == 3:
            result = Result(plan, status="failed")
        else:
            d = [float(rng.uniform(0.5, 4.5)), float(rng.uniform(0, 100))]
            result = Result(plan, evaluation=evaluation(f"a{i}", float(rng.uniform()), d,
                                                        failure="crashed" if i % 11 == 5 else None),
                            target=plan.target)
        live.tell(result)
        history.append(result)
    rebuilt = scheduler(selection="curiosity", emitters={"m": LLMMutation(name="m", directed=True),
                                                         "x": LLMCrossover(name="x")}, bandit=True)
    for result in history:
        rebuilt.tell(result, recorded=True)
    for name in ("children", "curiosity", "record", "next_step", "told"):
        assert getattr(rebuilt, name) == getattr(live, name), name
    assert rebuilt.archive.stats == live.archive.stats
    assert rebuilt.archive.elites() == live.archive.elites()
    assert rebuilt.ask() == live.ask()
