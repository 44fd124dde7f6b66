"""Controller overhead per step on synthetic runs of 10^2, 10^3 and 10^4 agents (not a test).

For each size a synthetic run directory is written (:func:`synthetic_run`: every agent a real
commit of the run's ``agents.git``, made with ``git fast-import``; every evaluation, its 17 task
results, insertion and archive statistics written through ``RunDatabase`` as the runner writes
them), resumed with the real :class:`~qdagents.runner.Runner`, and driven for ``--steps`` more
evaluations. The sandbox and the model are replaced by a synthetic evaluator (an
:class:`~qdagents.evaluation.Evaluation` computed from the agent's code, no process started) and
the emitter is the non-LLM ``random_structural``, so what is timed is everything else:
selection, the archive, the run database, the agent store. Work runs inline (one worker), so a
step's wall time splits exactly into the controller's part and the stand-ins'.

Printed per size: resume (telling the recorded history to a fresh scheduler), summary (the
figures of ``qdagents summary --json``), the median and 90th
percentile of a step's controller time (all of it but the stand-ins: the main thread, the git
store and export) and of its main-thread part alone (ask, tell, the database writes), and the
10^4/10^2 ratio of the medians. Issue 12's goals: ratio <= 1.5, and overhead <= 1% of a 1 s
evaluation (10 ms).

    python experiments/bench_controller.py [--sizes 100 1000 10000] [--steps 100] [--config dgm]

:func:`controller_overhead` is the function other benchmarks call.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qdagents import compose  # noqa: E402
from qdagents.agents import AgentStore  # noqa: E402
from qdagents.components import build_scheduler, seed_agent_dir  # noqa: E402
from qdagents.emitters import RandomStructural  # noqa: E402
from qdagents.evaluation import Evaluation, TaskResult  # noqa: E402
from qdagents.rundata import summary_metrics  # noqa: E402
from qdagents.runner import AgentEvaluation, ChildMaker, Runner, SchedulerSource  # noqa: E402
from qdagents.scheduler import Plan, Result  # noqa: E402
from qdagents.store import RunDatabase  # noqa: E402

#: The scheduler's config per --config: the default run, and a DGM-style run (every valid agent
#: a candidate and kept: selection work that grows with the run by design).
CONFIGS = {"default": [], "dgm": ["selection=dgm", "selection.pool=all", "archive=keep_all"]}
TASKS = 17
LOG = ("$ python3 test_visible.py\n" + "F" * 60 + "\nAssertionError: 2 != 3\n") * 30   # ~2.6 kB


def synthetic_evaluation(agent_id: str, code: str, rng: np.random.Generator | None = None):
    """An evaluation of realistic size computed from the code (no sandbox, no model)."""
    digest = hashlib.sha256(code.encode()).digest()
    rng = rng or np.random.default_rng(list(digest[:8]))
    tasks = [TaskResult(task_id=f"task_{i:02d}", passed=bool(rng.random() < 0.3),
                        reason="1 of 6 hidden tests failed: AssertionError: 2 != 3",
                        tokens=int(rng.integers(500, 3000)), llm_calls=int(rng.integers(2, 9)),
                        tools_offered=["bash", "write_file", "str_replace"][:int(rng.integers(1, 4))],
                        lines_changed=int(rng.integers(0, 5)),
                        lines_emitted=int(rng.integers(20, 200)), seconds=float(rng.random()),
                        exit_code=0, log=LOG) for i in range(TASKS)]
    descriptors = [float(rng.uniform(0.5, 8.5)), float(rng.uniform(0, 0.12)),
                   float(rng.uniform(0, 20000))]
    values = dict(zip(["tool_count", "edit_granularity", "token_cost"], descriptors))
    return Evaluation(agent_id=agent_id, fitness=sum(t.passed for t in tasks) / TASKS,
                      descriptors=descriptors, descriptor_values=values, tasks=tasks, stage=1)


class Stopwatch:
    """Wraps a function and notes ``(end, seconds)`` of each call."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, *args, **kwargs):
        begin = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            end = time.perf_counter()
            self.calls.append((end, end - begin))

    def within(self, start: float, end: float) -> float:
        """Seconds spent in calls that ended in ``(start, end]``."""
        return sum(d for t, d in self.calls if start < t <= end)


class SyntheticEvaluator:
    """Stands in for the sandbox and the model: an evaluation from the agent's code."""

    def evaluate(self, agent_id: str, agent_dir: Path) -> Evaluation:
        return synthetic_evaluation(agent_id, (Path(agent_dir) / "agent.py").read_text())


class InlineExecutor:
    """Runs each piece of work at once in this thread (one worker), so nothing overlaps."""

    workers = 1

    def submit(self, fn, /, *args) -> Future:
        future = Future()
        future.set_result(fn(*args))
        return future

    def wait(self, futures) -> set:
        return set(futures)

    def shutdown(self, *, cancel: bool) -> None:
        pass


def _agents_git(store: AgentStore, count: int, rng: np.random.Generator) -> list[tuple]:
    """``count`` agents (the seed's code plus a distinct comment), each a commit whose parent
    commit is an earlier agent's, written by one ``git fast-import``: ``[(id, commit, parent
    index)]``."""
    seed = (seed_agent_dir() / "agent.py").read_bytes()
    stream, parents = [], [-1]
    for i in range(count):
        code = seed + (f"\n# variant {i}\n".encode() if i else b"")
        parent = int(rng.integers(0, i)) if i else -1
        parents.append(parent)
        stream += [b"blob\n", f"mark :{2 * i + 1}\ndata {len(code)}\n".encode(), code, b"\n",
                   f"commit refs/heads/a{i}\nmark :{2 * i + 2}\n".encode(),
                   b"committer qdagents <qdagents@localhost> 946684800 +0000\n",
                   f"data {len(str(i))}\n{i}\n".encode()]
        if i:
            stream.append(f"from :{2 * parent + 2}\n".encode())
        stream.append(f"M 100644 :{2 * i + 1} agent.py\n\n".encode())
    git = ["git", "--git-dir", str(store.path)]
    subprocess.run([*git, "fast-import", "--quiet"], input=b"".join(stream), check=True)
    refs = subprocess.run([*git, "for-each-ref", "--format=%(refname:short) %(objectname) %(tree)",
                           "refs/heads/"], capture_output=True, text=True, check=True).stdout
    by_index = {}
    for line in refs.splitlines():
        name, commit, tree = line.split()
        by_index[int(name[1:])] = (tree[:12], commit)
    subprocess.run([*git, "update-ref", "--stdin"], check=True, input="".join(
        f"create refs/agents/{tree} {commit}\n" for tree, commit in by_index.values()).encode())
    return [(*by_index[i], parents[i + 1]) for i in range(count)]


def synthetic_run(run_dir: Path, agents: int, *, overrides: list[str] = (), seed: int = 0) -> dict:
    """Writes a run of ``agents`` evaluated agents into ``run_dir``; returns its config."""
    cfg = compose(["progress=quiet", "sandbox=process", *overrides, f"seed={seed}"])
    run_dir.mkdir(parents=True, exist_ok=True)
    db, store = RunDatabase(run_dir / "run.sqlite"), AgentStore(run_dir / "agents.git")
    scheduler = build_scheduler(cfg)   # decides the insertions, as the run's scheduler did
    rng = np.random.default_rng(seed)
    made = _agents_git(store, agents, rng)
    db.set_meta("config", cfg)
    db.set_meta("descriptors", [a.as_record() for a in scheduler.archive.specs])
    step = 0
    for i, (agent_id, commit, parent) in enumerate(made):
        parents = [made[parent][0]] if parent >= 0 else []
        if i and rng.random() < 0.1:   # a proposal that made no agent
            db.add_proposal(step=step, emitter="llm_mutation", parents=parents, status="failed",
                            reason="edits did not apply after 3 attempts")
            step += 1
        emitter = "llm_mutation" if i else "seed"
        db.add_agent(agent_id=agent_id, commit_sha=commit, parents=parents, emitter=emitter,
                     step=step)
        db.add_proposal(step=step, emitter=emitter, parents=parents, status="created",
                        agent_id=agent_id, parent_elite=True)
        evaluation = synthetic_evaluation(agent_id, str(i), rng)
        if rng.random() < 0.05:
            evaluation.failure = "the agent failed to run on every task"
        for call in range(3):
            db.record_llm_call(request_hash=f"{agent_id}{call}", occurrence=0, purpose="agent",
                               agent_id=agent_id, task_id="task_00", model="qdagents/coder",
                               request={"messages": [{"role": "user", "content": "x" * 200}]},
                               response={"choices": [{"message": {"content": "y" * 200}}]},
                               prompt_tokens=400, completion_tokens=100, cost_usd=0.0001,
                               cached=0, latency=0.01)
        plan = Plan(step=step, emitter=emitter, parent_elite=True, seed=seed,
                    parents=tuple(scheduler.evaluated(p) or {"id": p} for p in parents))
        told = scheduler.tell(Result(plan, evaluation=evaluation), recorded=True)
        seq = db.add_evaluation(evaluation, started=time.time())
        if told.insertion is not None:
            db.add_insertion(seq=seq, agent_id=agent_id, status=told.insertion.status,
                             cell=told.insertion.cell, fitness=evaluation.fitness,
                             parent_elite=True)
        stats = scheduler.archive.stats
        db.add_archive_stats(seq=seq, elites=stats["elites"], coverage=stats["coverage"],
                             qd_score=stats["qd_score"], best=stats["best"] or 0.0,
                             tokens=0, cost_usd=0.0, seconds=float(seq))
        step += 1
    db.close()
    return cfg


class StepClock:
    """Progress stand-in: the time at which each evaluation was recorded."""

    def __init__(self):
        self.times: list[float] = []

    def update(self, status: dict, *, final: bool = False) -> None:
        if not final:
            self.times.append(time.perf_counter())

    def message(self, text: str) -> None:
        pass


def _runner(cfg: dict, run_dir: Path, *, budget: int, clock: StepClock, stand_ins: list,
            workers: list) -> Runner:
    """A runner on ``run_dir`` with the stand-ins: the emitter and the evaluator are timed
    (``stand_ins``), and so is every piece of work handed to the executor (``workers``)."""
    db, store = RunDatabase(run_dir / "run.sqlite"), AgentStore(run_dir / "agents.git")
    scheduler = build_scheduler(cfg)
    emitter = RandomStructural(name="llm_mutation")
    emitter.propose = Stopwatch(emitter.propose)
    scheduler.emitters = {"llm_mutation": emitter}
    evaluator = SyntheticEvaluator()
    evaluator.evaluate = Stopwatch(evaluator.evaluate)
    stand_ins += [emitter.propose, evaluator.evaluate]
    make = Stopwatch(ChildMaker(emitters=scheduler.emitters, store=store, db=db, complete=None,
                                workshop=None))
    evaluate = Stopwatch(AgentEvaluation(evaluator=evaluator, store=store))
    workers += [make, evaluate]
    return Runner(source=SchedulerSource(scheduler), scheduler=scheduler, db=db, store=store,
                  make=make, evaluate=evaluate, executor=InlineExecutor(),
                  budget={"evaluations": budget}, progress=clock, seed_agent=seed_agent_dir())


def controller_overhead(agents: int, *, steps: int = 100, overrides: list[str] = (),
                        workdir: Path | None = None) -> dict:
    """Resumes a synthetic run of ``agents`` agents and times ``steps`` more evaluations.

    Returns seconds: ``generate`` (writing the synthetic run), ``resume`` (telling its history
    to a fresh scheduler), ``summary`` (``qdagents summary --json``'s figures), and per step the ``median``/``p90`` of the controller's time (all but
    the stand-in evaluator and emitter) and ``main_median``/``main_p90`` of its main-thread part
    (without the work handed to the executor: making the child, exporting the agent).
    """
    with tempfile.TemporaryDirectory(prefix="qdagents-bench-", dir=workdir) as tmp:
        run_dir = Path(tmp) / "run"
        start = time.perf_counter()
        cfg = synthetic_run(run_dir, agents, overrides=list(overrides))
        generate = time.perf_counter() - start
        clock, stand_ins, workers = StepClock(), [], []
        resumed = _runner(cfg, run_dir, budget=agents, clock=clock, stand_ins=[], workers=[])
        start = time.perf_counter()
        resumed.restore()
        resume = time.perf_counter() - start
        resumed.db.close()
        start = time.perf_counter()
        summary_metrics(run_dir)   # what ``qdagents summary --json`` computes
        summary = time.perf_counter() - start
        runner = _runner(cfg, run_dir, budget=agents + steps + 1, clock=clock,
                         stand_ins=stand_ins, workers=workers)
        runner.run()
        runner.db.close()
    bounds = clock.times            # the first step is the first interval after the resume
    controller, main = [], []
    for begin, end in zip(bounds, bounds[1:]):
        wall = end - begin
        controller.append(wall - sum(s.within(begin, end) for s in stand_ins))
        main.append(wall - sum(w.within(begin, end) for w in workers))
    return {"agents": agents, "steps": len(controller), "generate": generate, "resume": resume,
            "summary": summary,
            "median": float(np.median(controller)), "p90": float(np.percentile(controller, 90)),
            "main_median": float(np.median(main)), "main_p90": float(np.percentile(main, 90))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="default")
    args = parser.parse_args()
    print(f"controller overhead per evaluation, config {args.config} "
          f"({' '.join(CONFIGS[args.config]) or 'grid archive, uniform selection over elites'}), "
          f"{args.steps} steps per size")
    print(f"{'agents':>7} {'generate s':>10} {'resume s':>9} {'summary s':>9} {'median ms':>10} "
          f"{'p90 ms':>8} "
          f"{'main median ms':>15} {'main p90 ms':>12}")
    results = []
    for size in args.sizes:
        r = controller_overhead(size, steps=args.steps, overrides=CONFIGS[args.config])
        results.append(r)
        print(f"{r['agents']:>7} {r['generate']:>10.1f} {r['resume']:>9.2f} {r['summary']:>9.2f} "
              f"{1000 * r['median']:>10.2f} {1000 * r['p90']:>8.2f} "
              f"{1000 * r['main_median']:>15.2f} {1000 * r['main_p90']:>12.2f}", flush=True)
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"ratio {last['agents']}/{first['agents']} of the medians: "
              f"controller {last['median'] / first['median']:.2f}, "
              f"main thread {last['main_median'] / first['main_median']:.2f} "
              f"(goal <= 1.5); overhead at {last['agents']}: "
              f"{100 * last['median'] / 1.0:.2f}% of a 1 s evaluation, main thread "
              f"{100 * last['main_median'] / 1.0:.2f}% (goal <= 1%); at {last['agents']} agents "
              f"resume {last['resume']:.2f} s (goal <= 5 s), summary {last['summary']:.2f} s "
              f"(goal <= 1 s)")


if __name__ == "__main__":
    main()
