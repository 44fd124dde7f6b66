"""The ``qdagents`` command.

``qdagents run`` hands its arguments to Hydra (overrides, ``-m`` sweeps, ``hydra.run.dir=...``);
``qdagents llm`` hands them to :mod:`qdagents.llm._cli` (``check``, ``estimate``); every other
subcommand works on a run directory and is plain argparse.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RUN_USAGE = """usage: qdagents run [hydra overrides ...] [-m]
       qdagents run --estimate [overrides ...] [--json]

Runs an experiment configured by the Hydra tree in conf/ (shipped in the package).
Examples:
  qdagents run                                  # the default: offline model, built-in tasks
  qdagents run seed=3 budget.evaluations=20 selection=dgm
  qdagents run -m selection=uniform,dgm seed=0,1,2
  qdagents run hydra.run.dir=runs/mine
  qdagents run --cfg job                        # print the resolved config
  qdagents run --estimate llm=anthropic         # expected tokens and USD, then exit (runs nothing)
"""


def _fail(message: str, code: int = 2) -> None:
    print(f"qdagents: error: {message}", file=sys.stderr)
    raise SystemExit(code)


#: What building a run's parts raises when the machine or the data cannot serve the config
#: (no sandbox, no image, no task folder): a one-line error, not a traceback.
STARTUP_ERRORS = (OSError, RuntimeError, ValueError, KeyError)

def _hydra_run(argv: list[str]) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig

    @hydra.main(version_base=None, config_path="pkg://qdagents.conf", config_name="config")
    def run(cfg) -> None:
        from qdagents.config import condition_overrides
        from qdagents.run import Run

        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        condition = condition_overrides(list(hc.overrides.task))
        _execute(_open(lambda: Run.from_config(cfg, run_dir, condition=condition)))
        _finish(run_dir)

    sys.argv = ["qdagents run", *argv]
    run()


def _open(build, *, doing: str = "start the run"):
    """What ``build()`` returns, or a one-line error: a directory that is not a run (or an agent
    folder that is not there), a bad config, parts that cannot be built here (no sandbox, no
    task data)."""
    from qdagents.config import ConfigError
    from qdagents.run import RunDirectoryError

    try:
        return build()
    except (RunDirectoryError, NotADirectoryError) as exc:
        _fail(str(exc))
    except ConfigError as exc:
        _fail(f"invalid config: {exc}")
    except STARTUP_ERRORS as exc:
        _fail(f"cannot {doing}: {exc}")


def _execute(run) -> None:
    """Runs it; a cluster worker that became unusable is a one-line error (exit code 2)."""
    from qdagents.evaluation import EvaluationUnavailable

    try:
        run.execute()
    except EvaluationUnavailable as exc:
        _fail(f"{exc}; the run stopped, continue it with: qdagents resume {run.run_dir}")


def _finish(run_dir: Path) -> None:
    """Draws the plots and says where things are."""
    from qdagents.plots import plot_run

    paths = plot_run(run_dir)
    heatmap = next((p for p in paths if "heatmap" in p.name and p.suffix == ".png"), None)
    print(f"run directory: {run_dir}")
    if heatmap:
        print(f"heatmap: {heatmap}")


def _summary(args) -> None:
    from qdagents.rundata import RunData, summary_metrics

    metrics = summary_metrics(RunData.load(args.run_dir))
    if args.json:
        print(json.dumps(metrics, indent=2, default=float))
        return
    for key, value in metrics.items():
        if key != "llm":
            print(f"{key:>22}: {json.dumps(value, default=float)}")
    for line in _llm_lines(metrics.get("llm") or {}):
        print(line)


def _llm_lines(llm: dict) -> list[str]:
    """The ``llm`` figures of a summary as a table by model and a line per purpose: which model
    cost what, and whether a provider kept failing, readable without ``--json``."""
    by_model = llm.get("by_model") or {}
    if not by_model:
        return []
    width = max(len("model"), *map(len, by_model))
    lines = ["LLM use by model:",
             f"  {'model':<{width}} {'calls':>8} {'prompt tokens':>14} {'completion tokens':>18}"
             f" {'USD':>10} {'errors':>7} {'provider faults':>16}"]
    for model, t in by_model.items():
        lines.append(f"  {model:<{width}} {t['calls']:>8,} {t['prompt_tokens']:>14,}"
                     f" {t['completion_tokens']:>18,} {t['cost_usd']:>10.4f} {t['errors']:>7,}"
                     f" {t.get('provider_faults', 0):>16,}")
    lines.append("by purpose: " + "; ".join(
        f"{purpose} {t['calls']:,} calls, {t['tokens']:,} tokens, ${t['cost_usd']:.4f}"
        for purpose, t in (llm.get("by_purpose") or {}).items()))
    if llm.get("faults"):
        lines.append("errors by fault class: " + ", ".join(
            f"{fault} {n:,}" for fault, n in sorted(llm["faults"].items())))
    return lines


def _resume(args) -> None:
    from qdagents.run import Run

    _execute(_open(lambda: Run.resume(args.run_dir, args.overrides)))
    _finish(Path(args.run_dir))


def _replay(args) -> None:
    from qdagents.run import Run

    _execute(_open(lambda: Run.replay(args.run_dir, args.out)))
    _finish(Path(args.out))


def _plot(args) -> None:
    from qdagents.plots import plot_run

    for path in plot_run(Path(args.run_dir)):
        print(path)


def _export(args) -> None:
    from qdagents.agents import AgentStore
    from qdagents.run import find_agent

    agent_id = _open(lambda: find_agent(args.run_dir, args.agent_id))
    try:
        dest = AgentStore(Path(args.run_dir) / "agents.git").export(agent_id, args.dest)
    except FileExistsError as exc:
        _fail(str(exc))
    print(f"agent {agent_id} written to {dest} (run it with: python3 {dest}/agent.py)")


def _evaluate(args) -> None:
    from qdagents.config import compose
    from qdagents.run import evaluate_folder

    cfg = _open(lambda: compose(args.overrides), doing="evaluate")
    evaluation = _open(lambda: evaluate_folder(cfg, args.agent_dir, db=args.db),
                       doing="evaluate")
    result = evaluation.as_dict()
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    for task_id, why in evaluation.unavailable.items():
        print(f"  unavailable  {task_id}: {why}")
    print(f"fitness {evaluation.fitness:.3f} ({evaluation.tasks_passed}/{len(evaluation.tasks)} "
          f"tasks), stage {evaluation.stage}, tokens {evaluation.tokens}"
          + (f", FAILED: {evaluation.failure}" if evaluation.failure else ""))
    print("descriptors: " + ", ".join(f"{k}={v:.3g}" for k, v in result["descriptors"].items()))
    for t in evaluation.tasks:
        print(f"  {'PASS' if t.passed else 'fail'}  {t.task_id:<24} {t.tokens:>6} tokens"
              + ("" if t.passed else f"  {(t.reason or '').splitlines()[0][:100]}"))


def _tasks_check(args) -> None:
    from qdagents.sandbox import Limits, make_sandbox
    from qdagents.tasks import check_suite, load_suite

    try:
        suite = load_suite(args.suite)
        if args.limit:
            suite = suite.head(args.limit)
        images = sorted({t.setting.image for t in suite if t.setting.image})
        sandbox = make_sandbox(args.sandbox or ("docker" if images else "bwrap"))
    except STARTUP_ERRORS as exc:
        _fail(str(exc))
    results = check_suite(suite, sandbox=sandbox, workers=args.workers,
                          limits=Limits(seconds=args.seconds, memory_mb=args.memory_mb))
    checked = [r for r in results if r.unavailable is None]
    bad = [r for r in checked if not r.ok]
    for r in results:
        if r.unavailable:
            print(f"{r.task_id}: unavailable: {r.unavailable}")
    for r in bad:
        print(f"{r.task_id}: " + "; ".join(r.problems))
    for task_id, why in getattr(suite, "skipped", {}).items():
        print(f"{task_id}: skipped by the loader: {why}")
    for r in checked:
        if r.not_carried is not None:
            print(f"{r.task_id}: not carried by the judge/solution boundary: {r.not_carried}")
    if images:
        present = [i for i in images if sandbox.has_image(i)] if hasattr(sandbox, "has_image") \
            else []
        print(f"images: {len(present)} of {len(images)} present")
    what = ("gold patch solves, no patch does not" if images
            else "reference passes, untouched stub fails")
    carried = [r for r in checked if r.not_carried is None]
    passing = [r for r in carried if r.ok]
    unavailable = len(results) - len(checked)
    print(f"{suite.name}: {len(passing)}/{len(checked)} tasks pass the self-check ({what})"
          + (f"; {unavailable} unavailable" if unavailable else "")
          + (f"; {len(checked) - len(carried)} not carried" if len(carried) < len(checked)
             else ""))
    if bad or not checked:
        raise SystemExit(1)


def _sandbox_check(args) -> None:
    from qdagents.sandbox import check_sandboxes

    statuses = check_sandboxes()
    for status in statuses:
        print(f"{status.name:>8}: {'available' if status.available else 'unavailable'}"
              f" - {status.detail}")
    if not any(s.available for s in statuses if s.name != "process"):
        raise SystemExit(1)


def _sandbox_build(args) -> None:
    from qdagents.sandbox import build_image

    print(build_image(offline=args.offline, tag=args.tag))


def _report(args) -> None:
    from qdagents.report import report

    written = report([Path(p) for p in args.paths], Path(args.out))
    for name, path in written.items():
        print(f"{name}: {path}")


def _llm(argv: list[str], *, prog: str = "qdagents llm") -> None:
    """``qdagents llm check|estimate [overrides]``: the same command, exit codes and output as
    ``python -m qdagents.llm``, which the presets' comments and the docs point users to."""
    from qdagents.llm._cli import main as llm_main

    raise SystemExit(llm_main(argv, prog=prog))


def _run_estimate(argv: list[str]) -> None:
    """``qdagents run --estimate [overrides]``: the cost estimate of the run these overrides
    configure (``qdagents llm estimate``), then exit without running it, so the price of a run
    is known before its command line is run for real."""
    if {"-m", "--multirun"} & set(argv):
        _fail("--estimate prices one run: drop -m and estimate each condition of the sweep")
    _llm(["estimate", *(a for a in argv if a != "--estimate")], prog="qdagents run --estimate")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        if "-h" in argv[1:] or "--help" in argv[1:]:
            print(RUN_USAGE)
            return
        if "--estimate" in argv[1:]:
            _run_estimate(argv[1:])
        _hydra_run(argv[1:])
        return
    if argv and argv[0] == "llm":
        _llm(argv[1:])
    parser = argparse.ArgumentParser(prog="qdagents", description=(
        "Quality-diversity search over LLM coding agents. 'qdagents run --help' for runs."))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run an experiment (Hydra overrides follow; --estimate: its cost)")
    sub.add_parser("llm", help="check the configured models (llm check [overrides]) or estimate "
                               "a run's cost (llm estimate [overrides])")
    p = sub.add_parser("resume", help="continue a stopped or killed run")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="key=value changes, e.g. budget.evaluations=100")
    p.set_defaults(func=_resume)
    p = sub.add_parser("summary", help="print a run's summary")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=_summary)
    p = sub.add_parser("replay", help="rerun a finished run from its LLM recordings, no provider")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="directory of the new run")
    p.set_defaults(func=_replay)
    p = sub.add_parser("plot", help="(re)draw a run's plots into RUN_DIR/plots")
    p.add_argument("run_dir")
    p.set_defaults(func=_plot)
    p = sub.add_parser("export", help="write a runnable copy of an agent")
    p.add_argument("run_dir")
    p.add_argument("agent_id", help="an agent id (a unique prefix is enough)")
    p.add_argument("dest")
    p.set_defaults(func=_export)
    p = sub.add_parser("evaluate", help="evaluate an agent folder on the configured tasks")
    p.add_argument("agent_dir")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. sandbox=docker tasks.limit=5")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--db", help="keep the LLM exchanges in this SQLite file")
    p.set_defaults(func=_evaluate)
    tasks = sub.add_parser("tasks", help="task suites").add_subparsers(dest="what", required=True)
    p = tasks.add_parser("check", help="reference solutions pass, untouched stubs fail "
                                       "(SWE-bench: images present, gold patch solves)")
    p.add_argument("suite", help="builtin | exercism:PATH | humaneval:PATH | swebench:PATH")
    p.add_argument("--sandbox", help="default: docker for tasks with images, else bwrap")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, help="only the first N tasks")
    p.add_argument("--seconds", type=float, default=60.0, help="limit per hidden-test run")
    p.add_argument("--memory-mb", type=int, default=1024, help="memory limit per hidden-test run")
    p.set_defaults(func=_tasks_check)
    box = sub.add_parser("sandbox", help="sandbox backends").add_subparsers(dest="what", required=True)
    p = box.add_parser("check", help="which backends work here, and why not")
    p.set_defaults(func=_sandbox_check)
    p = box.add_parser("build-image", help="build the docker sandbox image")
    p.add_argument("--offline", action="store_true", help="debootstrap + docker import, no registry")
    p.add_argument("--tag", default="qdagents-sandbox:latest")
    p.set_defaults(func=_sandbox_build)
    p = sub.add_parser("report", help="ablation report over sweep or run directories")
    p.add_argument("paths", nargs="+", help="sweep directories or run directories")
    p.add_argument("--out", required=True)
    p.set_defaults(func=_report)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
