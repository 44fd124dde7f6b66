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


def _condition(overrides: list[str]) -> str:
    """A short name for the experimental condition: the overrides, minus seed and hydra's own."""
    kept = sorted(o for o in overrides
                  if not o.split("=")[0].lstrip("+~").startswith(
                      ("seed", "hydra", "progress", "workers", "sandbox")))
    return ",".join(kept) or "default"


def _hydra_run(argv: list[str]) -> None:
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    @hydra.main(version_base=None, config_path="pkg://qdagents.conf", config_name="config")
    def run(cfg) -> None:
        from qdagents.config import ConfigError, validate
        from qdagents.loop import Run

        try:
            container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
            validate(container)
        except ConfigError as exc:
            _fail(f"invalid config: {exc}")
        except Exception as exc:  # omegaconf's own errors (missing '???', bad interpolation)
            _fail(f"invalid config: {exc}")
        hc = HydraConfig.get()
        run_dir = Path(hc.runtime.output_dir)
        experiment = Run(container, run_dir, condition=_condition(list(hc.overrides.task)))
        experiment.execute()
        _finish(run_dir)

    sys.argv = ["qdagents run", *argv]
    run()


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
    from qdagents.loop import Run
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
    Run(cfg, run_dir, condition=condition).execute()
    _finish(run_dir)


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
    p = sub.add_parser("plot", help="(re)draw a run's plots into RUN_DIR/plots")
    p.add_argument("run_dir")
    p.set_defaults(func=_plot)
    p = sub.add_parser("export", help="write a runnable copy of an agent")
    p.add_argument("run_dir")
    p.add_argument("agent_id", help="an agent id (a unique prefix is enough)")
    p.add_argument("dest")
    p.set_defaults(func=_export)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
