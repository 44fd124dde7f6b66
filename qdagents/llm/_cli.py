"""The LLM layer's commands, as functions of a composed config that return an exit code:
:func:`llm_check` (is every configured model usable?) and :func:`llm_estimate` (what will the run
cost?), and :func:`main`, their command line: ``qdagents llm check [overrides]`` and
``qdagents llm estimate [overrides] [--json]`` (also ``python -m qdagents.llm ...``, and
``qdagents run --estimate [overrides]``).
"""

from __future__ import annotations

import json
import sys


def llm_check(cfg: dict, *, out=None) -> int:
    """Preflight of every configured model (see :func:`qdagents.llm.preflight`): prints one line
    per model and returns 0 when all are usable, 1 otherwise."""
    from qdagents.llm._preflight import preflight

    out = out or sys.stdout
    report = preflight(cfg)
    print(report.text(), file=out)
    if not report.ok:
        print(f"{len(report.problems)} of {len(report.checks)} model(s) cannot be used as "
              "configured", file=out)
    return 0 if report.ok else 1


def llm_estimate(cfg: dict, *, as_json: bool = False, out=None) -> int:
    """Calibrates on the offline model and prints the run's expected tokens and USD with a
    range (see :func:`qdagents.llm.estimate_cost`); spends nothing on a hosted model."""
    from qdagents.llm._estimate import calibrate, estimate_cost

    out = out or sys.stdout
    estimate = estimate_cost(cfg, calibrate(cfg))
    print(json.dumps(estimate.as_dict(), indent=2) if as_json else estimate.text(), file=out)
    return 0


USAGE = """usage: {prog} check [overrides]
       {prog} estimate [overrides] [--json]

check     every configured model: credentials, one minimal call, a price when a USD budget is set
estimate  expected tokens and USD of the configured run, from a calibration on the offline model
overrides are those of `qdagents run`, e.g. llm=anthropic budget.usd=5"""


def main(argv: list[str] | None = None, *, prog: str = "python -m qdagents.llm") -> int:
    """``check`` or ``estimate`` followed by config overrides; returns the exit code: 0 when
    every model is usable (``check``) or the estimate was printed, 1 when a model is not, 2 for
    a usage error or a config that cannot be composed or built (one line on stderr, no
    traceback). ``prog`` names the command in messages: ``qdagents llm`` hands its arguments
    here, and ``qdagents run --estimate`` hands them as ``estimate``."""
    from qdagents.config import ConfigError, compose

    argv = list(sys.argv[1:] if argv is None else argv)
    usage = USAGE.format(prog=prog)
    if argv and argv[0] in ("-h", "--help"):
        print(usage)
        return 0
    if not argv or argv[0] not in ("check", "estimate") or {"-h", "--help"} & set(argv):
        print(usage, file=sys.stderr)
        return 2
    command, overrides = argv[0], [a for a in argv[1:] if a != "--json"]
    try:
        cfg = compose(overrides)
        if command == "check":
            return llm_check(cfg)
        return llm_estimate(cfg, as_json="--json" in argv)
    except ConfigError as exc:
        print(f"{prog}: error: invalid config: {exc}", file=sys.stderr)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:   # no sandbox, no task data
        print(f"{prog}: error: cannot {command}: {exc}", file=sys.stderr)
    return 2
