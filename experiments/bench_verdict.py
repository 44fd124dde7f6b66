"""What the unforgeable verdict costs: the hidden-test step before and after, side by side.

*Before* is the in-process runner that the judge/solution split replaced (loaded from git
history, commit ``BEFORE``: one sandboxed process imported the solution and reported its own
verdicts). *After* is :func:`qdagents.tasks.run_hidden_tests` (a judge and a solution server in
two sandboxes, plain data over a socket). Both run on the same workspaces in one process,
interleaved so drift in the machine's load hits both alike:

1. the hidden-test step of every built-in task, on the reference (all tests pass) and on the
   untouched stub (some fail): median seconds per task, before and after, and the ratio (after
   reuses one place for all tasks, as an evaluation does);
2. a whole evaluation of the seed agent (offline model) on the built-in suite with each harness:
   the end-to-end ratio (the issue asks for at most 1.5x).

    python experiments/bench_verdict.py [--backend bwrap|docker] [--repeats 3] [--skip-evaluation]

Needs the git history of this checkout (for the old runner).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import qdagents.tasks._harness as harness_module
from qdagents.sandbox import Limits, make_sandbox
from qdagents.tasks import TestOutcome, hidden_test_place, load_builtin, run_hidden_tests

#: The last commit with the in-process runner.
BEFORE = "bd64a130db0a0159e6a24c0a2f368ac15bebace5"
ROOT = Path(__file__).resolve().parents[1]


def old_harness(folder: Path):
    """The old ``run_hidden_tests``, from git history (its runner beside it, as it expects)."""
    for name in ("_harness.py", "_runner.py"):
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:qdagents/tasks/{name}"],
                                check=True, capture_output=True, text=True).stdout
        (folder / name).write_text(source)
    spec = importlib.util.spec_from_file_location("old_hidden_harness", folder / "_harness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclasses look themselves up there
    spec.loader.exec_module(module)

    def run(task, workspace, place=None, **options):   # today's outcome type, for the evaluator
        old = module.run_hidden_tests(task, workspace, **options)
        return TestOutcome(old.passed, old.tests_run, old.tests_failed, old.reason, old.log)
    return run


def hidden_step(harnesses: dict, backend: str, repeats: int) -> dict:
    """Median seconds per (task, workspace) and harness. *After* reuses one
    :func:`hidden_test_place` across tasks, as an evaluation does (with docker: two session
    containers instead of two containers per task)."""
    sandbox, limits = make_sandbox(backend), Limits(seconds=60)
    with hidden_test_place(sandbox, limits) as place:
        harnesses = {**harnesses, "after": functools.partial(harnesses["after"], place=place)}
        return _hidden_step(harnesses, sandbox, limits, repeats)


def _hidden_step(harnesses: dict, sandbox, limits: Limits, repeats: int) -> dict:
    times = {name: {} for name in harnesses}
    for task in load_builtin():
        for solved in (True, False):
            with tempfile.TemporaryDirectory() as root:
                task.write_workspace(Path(root), solved=solved)
                verdicts = {}
                for _ in range(repeats):
                    for name, run in harnesses.items():   # interleaved
                        start = time.perf_counter()
                        outcome = run(task, Path(root), sandbox=sandbox, limits=limits)
                        times[name].setdefault((task.id, solved), []).append(
                            time.perf_counter() - start)
                        verdicts[name] = outcome.passed
                if len(set(verdicts.values())) != 1:
                    print(f"  note: {task.id} ({'reference' if solved else 'stub'}): verdicts "
                          f"differ {verdicts}")
    return {name: {key: statistics.median(v) for key, v in per.items()}
            for name, per in times.items()}


def evaluation_seconds(run_hidden, backend: str) -> tuple[float, float]:
    from qdagents.components import seed_agent_dir
    from qdagents.evaluation import Evaluator
    from qdagents.llm import Gateway, register_offline_provider

    register_offline_provider()
    # Task.judge looks the runner up in qdagents.tasks._harness at each call: swap it there
    saved = harness_module.run_hidden_tests
    harness_module.run_hidden_tests = run_hidden
    try:
        evaluator = Evaluator(suite=load_builtin(), sandbox=make_sandbox(backend),
                              gateway=Gateway(model="qdagents/coder", seed=0),
                              descriptors=["tool_count", "edit_granularity", "token_cost"],
                              agent_limits=Limits(seconds=60), test_limits=Limits(seconds=30))
        start = time.perf_counter()
        evaluation = evaluator.evaluate("seed", seed_agent_dir())
        return time.perf_counter() - start, evaluation.fitness
    finally:
        harness_module.run_hidden_tests = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="bwrap")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-evaluation", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as folder:
        before = old_harness(Path(folder))
        harnesses = {"before": before, "after": run_hidden_tests}
        print(f"hidden-test step on {args.backend}, median of {args.repeats} per workspace "
              f"(before = in-process runner at {BEFORE[:7]}, after = judge + solution server)")
        medians = hidden_step(harnesses, args.backend, args.repeats)
        print(f"{'task':<18} {'workspace':<10} {'before s':>9} {'after s':>9} {'ratio':>6}")
        for key in medians["before"]:
            b, a = medians["before"][key], medians["after"][key]
            print(f"{key[0]:<18} {'reference' if key[1] else 'stub':<10} {b:>9.3f} {a:>9.3f} "
                  f"{a / b:>6.2f}")
        total_b, total_a = sum(medians["before"].values()), sum(medians["after"].values())
        per_task = len(medians["before"])
        print(f"{'mean per run':<29} {total_b / per_task:>9.3f} {total_a / per_task:>9.3f} "
              f"{total_a / total_b:>6.2f}")
        if args.skip_evaluation:
            return
        print(f"\nwhole evaluation of the seed agent on the built-in suite ({args.backend}, "
              "offline model)")
        results = {}
        for name in ("before", "after", "before", "after"):   # twice each, interleaved
            seconds, fitness = evaluation_seconds(harnesses[name], args.backend)
            results.setdefault(name, []).append(seconds)
            print(f"  {name:<7} {seconds:7.2f} s   fitness {fitness:.3f}")
        b, a = min(results["before"]), min(results["after"])
        print(f"end to end (best of 2): before {b:.2f} s, after {a:.2f} s, ratio {a / b:.2f}")
        sys.exit(0 if a / b <= 1.5 else 1)


if __name__ == "__main__":
    main()
