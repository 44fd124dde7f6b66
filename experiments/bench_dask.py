"""Evaluations per hour with the local executor and with Dask on 1, 2 and 4 worker processes
(not a test).

Every run is the same small experiment (offline model, built-in tasks, bwrap) with the offline
model's simulated latency (``llm.latency``), so evaluations are latency-bound as with a hosted
model. The local executor runs one evaluation at a time (``workers=1``: one task at a time);
Dask with N worker processes of one thread runs N tasks at once (``workers=N`` evaluations in
flight, so each task slot has as many evaluations to serve as the local one), so the ideal is N
times the local rate. Parallel efficiency = rate / (N x local rate). Each run's budget grows with N, so each
takes about as long; the time counted is ``Run.execute`` (cluster start and worker preflight are
before it). Two rates are printed: over the whole run, and in steady state, from the first
evaluation's end (the seed: before it nothing else can start) to the last evaluation's start
(after it the budget lets no more in, and the cluster drains): the rate a long run sees.

The search differs with N (more evaluations, in another order), so the agents evaluated differ
too, and a later agent may make more model calls per task. ``calls/eval`` is the agents' model
calls per evaluation, the work an evaluation is when evaluations are latency-bound, and ``by
calls`` the whole run's efficiency in model calls per hour: the same ratio with that drift taken
out. The last column is how busy the machine's cores were (all of them, from ``/proc/stat``) during
the run: on a small machine the worker processes, the sandboxes and the controller share its
cores, and a row near 100% measures the machine rather than the executor.

A last run puts 100+ tasks in flight (``workers`` evaluations of the whole suite at once on 4
worker processes of 4 threads) and reports the controller's CPU time per evaluation: this
process's user + system time during ``execute`` (the search, the gateway with the offline model,
Dask's client, a LocalCluster's scheduler and nannies, the relay), next to the local executor's.

    python experiments/bench_dask.py [--latency 1.5] [--tasks 6] [--evaluations 4]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import threading
import time
from pathlib import Path

from qdagents import Run, compose


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far, all cores (Linux /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]                      # idle + iowait
    return sum(fields) - idle, sum(fields)


def measure(overrides: list[str], *, sample_in_flight: bool = False) -> dict:
    """Runs one experiment; returns evaluations, seconds, CPU seconds and tasks in flight."""
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        run = Run.from_config(compose([*overrides, "progress=quiet"]), Path(tmp) / "run")
        in_flight, done = [], threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                in_flight.append(len(run.task_runner.endpoint.sessions))

        sampler = threading.Thread(target=sample, daemon=True)
        if sample_in_flight:
            sampler.start()
        started, cpu, ticks = time.perf_counter(), cpu_seconds(), machine_ticks()
        try:
            run.execute()
        finally:
            done.set()
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        busy = [after - before for after, before in zip(machine_ticks(), ticks)]
        evaluations = run.db.evaluations()
        results = run.db.task_results()
        tasks, calls = len(results), sum(r["llm_calls"] or 0 for r in results)
        run.db.close()
    first_end = min(e["finished"] for e in evaluations)
    last_start = max(e["started"] for e in evaluations)
    steady = sum(first_end < e["finished"] <= last_start for e in evaluations)
    return {"evaluations": len(evaluations), "tasks": tasks, "seconds": seconds, "cpu": cpu,
            "rate": len(evaluations) / seconds * 3600, "in_flight": in_flight,
            "machine": busy[0] / max(busy[1], 1),
            "calls": calls / max(len(evaluations), 1), "work": calls / seconds * 3600,
            "steady": steady / (last_start - first_end) * 3600 if steady else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.5, help="seconds per model call")
    parser.add_argument("--tasks", type=int, default=6, help="tasks per evaluation")
    parser.add_argument("--evaluations", type=int, default=4,
                        help="evaluations of the local run (x N for N Dask workers)")
    parser.add_argument("--in-flight-evaluations", type=int, default=8)
    args = parser.parse_args()
    common = [f"llm.latency={args.latency}", "sandbox=bwrap", "seed=0"]
    small = [*common, f"tasks.limit={args.tasks}"]

    print(f"latency {args.latency:g} s per model call, {args.tasks} tasks per evaluation")
    print(f"{'':<43}{'whole run':^34}{'steady state':^34}")
    print(f"{'executor':<28}{'evals':>6}{'seconds':>9}" + f"{'evals/hour':>12}{'vs local':>10}"
          f"{'efficiency':>12}" * 2 + f"{'calls/eval':>12}{'by calls':>10}{'CPU busy':>10}")
    local = measure([*small, "executor=local", "workers=1",
                     f"budget.evaluations={args.evaluations}"])
    rows = [("local (workers=1)", 1, local)]
    for n in (1, 2, 4):
        rows.append((f"dask, {n} worker process(es)", n, measure([
            *small, "executor=dask", f"executor.local_workers={n}", f"workers={n}",
            f"budget.evaluations={args.evaluations * n}"])))
    for name, n, m in rows:
        line = f"{name:<28}{m['evaluations']:>6}{m['seconds']:>9.1f}"
        for key in ("rate", "steady"):
            ratio = m[key] / local[key]
            line += f"{m[key]:>12.1f}{ratio:>10.2f}{ratio / n:>12.2f}"
        work = m["work"] / local["work"] / n
        print(line + f"{m['calls']:>12.1f}{work:>10.2f}{m['machine']:>10.0%}")

    print(f"\ncontroller CPU, whole suite, {args.in_flight_evaluations} evaluations in flight:")
    loaded = measure([*common, "executor=dask", "executor.local_workers=4",
                      "executor.threads_per_worker=4", f"workers={args.in_flight_evaluations}",
                      f"budget.evaluations={args.in_flight_evaluations + 4}"],
                     sample_in_flight=True)
    peak = max(loaded["in_flight"] or [0])
    busy = [n for n in loaded["in_flight"] if n >= 100]
    print(f"  tasks in flight: peak {peak}, >= 100 for {len(busy) * 0.25:.0f} s of "
          f"{loaded['seconds']:.0f} s")
    for name, m in (("dask, 4 x 4 threads", loaded), ("local (workers=1)", local)):
        print(f"  {name:<22} {m['cpu']:7.1f} s CPU for {m['evaluations']} evaluations "
              f"({m['tasks']} tasks): {m['cpu'] / m['evaluations']:.2f} s per evaluation, "
              f"{1000 * m['cpu'] / m['tasks']:.0f} ms per task")


if __name__ == "__main__":
    main()
