"""The LLM layer's commands, as functions of a composed config that return an exit code:
``qdagents llm check [overrides]`` (:func:`llm_check`) and ``qdagents run ... --estimate``
(:func:`llm_estimate`). ``qdagents.cli`` parses the arguments and composes the config.
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
