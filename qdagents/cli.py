"""The ``qdagents`` command.

``qdagents run`` hands its arguments to Hydra (overrides, ``-m`` sweeps, ``hydra.run.dir=...``);
every other subcommand works on a run directory and is plain argparse.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RUN_USAGE = """usage: qdagents run [hydra overrides ...] [-m]

Runs an experiment configured by the Hydra tree in conf/ (shipped in the package).
Examples:
  qdagents run                                  # the default: offline model, built-in tasks
  qdagents run seed=3 budget.evaluations=20 selection=dgm
  qdagents run -m selection=uniform,dgm seed=0,1,2
  qdagents run hydra.run.dir=runs/mine
  qdagents run --cfg job                        # print the resolved config
"""


def _fail(message: str, code: int = 2) -> None:
    print(f"qdagents: error: {message}", file=sys.stderr)
    raise SystemExit(code)


#: What building a run's parts raises when the machine or the data cannot serve the config
#: (no sandbox, no image, no task folder): a one-line error, not a traceback.
STARTUP_ERRORS = (OSError, RuntimeError, ValueError, KeyError)

#: Override keys that change how a run is executed, not what is compared between conditions.
NOT_A_CONDITION = {"seed", "progress", "workers", "sandbox"}


def condition_overrides(overrides: list[str]) -> list[str]:
    """The overrides that define the experimental condition: all but seed and execution keys."""
    def key(override: str) -> str:
        return override.split("=")[0].lstrip("+~")

    return sorted(o for o in overrides if key(o) not in NOT_A_CONDITION
                  and not key(o).startswith(("hydra.", "sandbox.")))


def _hydra_run(argv: list[str]) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    @hydra.main(version_base=None, config_path="pkg://qdagents.conf", config_name="config")
    def run(cfg) -> None:
        from qdagents.config import validate

        try:  # ConfigError, and omegaconf's own (a missing '???', a bad interpolation)
            container = validate(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
        except Exception as exc:
            _fail(f"invalid config: {exc}")
        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        overrides = condition_overrides(list(hc.overrides.task))
        _start(container, run_dir, overrides).execute()
        _finish(run_dir)

    sys.argv = ["qdagents run", *argv]
    run()


def _start(cfg: dict, run_dir: Path, condition):
    """The run, or a one-line error when its parts cannot be built (no sandbox, no task data)."""
    from qdagents.loop import Run

    try:
        return Run(cfg, run_dir, condition=condition)
    except STARTUP_ERRORS as exc:
        _fail(f"cannot start the run: {exc}")


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
        print(f"{key:>22}: {json.dumps(value, default=float)}")


def _resume(args) -> None:
    from omegaconf import OmegaConf

    from qdagents.config import ConfigError, validate
    from qdagents.store import RunDatabase

    run_dir = Path(args.run_dir)
    if not (run_dir / "run.sqlite").is_file():
        _fail(f"{run_dir} is not a run directory (no run.sqlite)")
    db = RunDatabase(run_dir / "run.sqlite")
    cfg, condition = db.get_meta("config"), db.get_meta("condition", "default")
    db.close()
    if args.overrides:
        cfg = OmegaConf.to_container(OmegaConf.merge(OmegaConf.create(cfg),
                                                     OmegaConf.from_dotlist(args.overrides)))
    try:
        validate(cfg)
    except ConfigError as exc:
        _fail(f"invalid config: {exc}")
    _start(cfg, run_dir, condition).execute()
    _finish(run_dir)


def _replay(args) -> None:
    from qdagents.config import validate
    from qdagents.store import RunDatabase

    source = Path(args.run_dir)
    if not (source / "run.sqlite").is_file():
        _fail(f"{source} is not a run directory (no run.sqlite)")
    out = Path(args.out)
    if (out / "run.sqlite").exists():
        _fail(f"{out} already holds a run; choose a new --out directory")
    db = RunDatabase(source / "run.sqlite")
    cfg = db.get_meta("config")
    condition = db.get_meta("condition_overrides") or db.get_meta("condition", "default")
    db.close()
    cfg["llm"] = {**cfg["llm"], "mode": "replay", "replay_from": str(source / "run.sqlite")}
    _start(validate(cfg), out, condition).execute()
    _finish(out)


def _plot(args) -> None:
    from qdagents.plots import plot_run

    for path in plot_run(Path(args.run_dir)):
        print(path)


def _export(args) -> None:
    from qdagents.agents import AgentStore

    store = AgentStore(Path(args.run_dir) / "agents.git")
    matches = [a for a in _agent_ids(args.run_dir) if a.startswith(args.agent_id)]
    if len(matches) != 1:
        _fail(f"agent id {args.agent_id!r} matches {len(matches)} agents in {args.run_dir}")
    try:
        dest = store.export(matches[0], args.dest)
    except FileExistsError as exc:
        _fail(str(exc))
    print(f"agent {matches[0]} written to {dest} (run it with: python3 {dest}/agent.py)")


def _agent_ids(run_dir) -> list[str]:
    from qdagents.store import RunDatabase

    db = RunDatabase(Path(run_dir) / "run.sqlite")
    try:
        return [r["id"] for r in db.execute("SELECT id FROM agents")]
    finally:
        db.close()


def compose(overrides: list[str]) -> dict:
    """The validated config for ``overrides``, composed like ``qdagents run`` would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from omegaconf import OmegaConf

    from qdagents.config import validate

    try:
        with initialize_config_module(config_module="qdagents.conf", version_base=None):
            cfg = hydra_compose("config", overrides=overrides)
        return validate(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
    except Exception as exc:
        _fail(f"invalid config: {exc}")


def _evaluate(args) -> None:
    import tempfile

    from qdagents.agents import read_folder
    from qdagents.components import build_evaluator, build_gateway
    from qdagents.store import RunDatabase

    cfg = compose(args.overrides)
    agent_dir = Path(args.agent_dir).resolve()
    try:
        read_folder(agent_dir)
    except NotADirectoryError as exc:
        _fail(str(exc))
    with tempfile.TemporaryDirectory(prefix="qdagents-evaluate-") as tmp:
        db = RunDatabase(args.db or Path(tmp) / "evaluate.sqlite")
        try:
            evaluator = build_evaluator(cfg, gateway=build_gateway(cfg, db=db))
        except STARTUP_ERRORS as exc:
            _fail(f"cannot evaluate: {exc}")
        evaluation = evaluator.evaluate(agent_dir.name, agent_dir)
        db.close()
    result = evaluation.as_dict()
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
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
        sandbox = make_sandbox(args.sandbox)
    except STARTUP_ERRORS as exc:
        _fail(str(exc))
    if args.limit:
        suite = suite.head(args.limit)
    results = check_suite(suite, sandbox=sandbox, limits=Limits(seconds=args.seconds),
                          workers=args.workers)
    bad = [r for r in results if not r.ok]
    for r in bad:
        print(f"{r.task_id}: " + "; ".join(r.problems))
    for task_id, why in getattr(suite, "skipped", {}).items():
        print(f"{task_id}: skipped by the loader: {why}")
    carried = [r for r in results if r.not_carried is None]
    for r in results:
        if r.not_carried is not None:
            print(f"{r.task_id}: not carried by the judge/solution boundary: {r.not_carried}")
    passing = [r for r in carried if r.ok]
    print(f"{suite.name}: {len(passing)}/{len(results)} tasks pass the self-check "
          "(reference passes, untouched stub fails)"
          + (f"; {len(results) - len(carried)} not carried" if len(carried) < len(results)
             else ""))
    if bad:
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


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        if "-h" in argv[1:] or "--help" in argv[1:]:
            print(RUN_USAGE)
            return
        _hydra_run(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="qdagents", description=(
        "Quality-diversity search over LLM coding agents. 'qdagents run --help' for runs."))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run an experiment (Hydra overrides follow)")
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
    p = tasks.add_parser("check", help="reference solutions pass, untouched stubs fail")
    p.add_argument("suite", help="builtin | exercism:PATH | humaneval:PATH")
    p.add_argument("--sandbox", default="bwrap")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, help="only the first N tasks")
    p.add_argument("--seconds", type=float, default=60.0, help="limit per hidden-test run")
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
