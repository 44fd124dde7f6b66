"""Checks a resolved Hydra config before anything runs, naming the bad key.

Hydra already refuses keys that do not exist; this module refuses values that would fail later
(a negative budget, an unknown selection, a descriptor axis with no bins), so that a broken config
stops the run at once with ``ConfigError: budget.evaluations: ...`` and a non-zero exit code.
"""

from __future__ import annotations

import numbers


class ConfigError(ValueError):
    """A config value that cannot work; the message starts with the dotted key."""


def _get(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{dotted}: missing (required key)")
        node = node[part]
    return node


def _number(cfg, key, *, integer=False, minimum=None, nullable=False):
    value = _get(cfg, key)
    if value is None and nullable:
        return
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if not ok or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        null = " or null" if nullable else ""
        raise ConfigError(f"{key}: expected {kind}{bound}{null}, got {value!r}")


def _choice(cfg, key, choices):
    value = _get(cfg, key)
    if value not in choices:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(str, choices))}")


def _stages(cfg, key, stages) -> None:
    """A list of ``{tasks, threshold}``; ``tasks``: a count, a list of ids, an id file or null."""
    if stages is None:
        return
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{key}: expected a list of {{tasks, threshold}}, got {stages!r}")
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or set(stage) - {"tasks", "threshold"}:
            raise ConfigError(f"{key}[{i}]: expected {{tasks, threshold}}, got {stage!r}")
        tasks = stage.get("tasks")
        named = (isinstance(tasks, str) and tasks) or (
            isinstance(tasks, list) and tasks and all(isinstance(t, str) for t in tasks))
        count = isinstance(tasks, int) and not isinstance(tasks, bool) and tasks >= 1
        if not (tasks is None or named or count):
            raise ConfigError(f"{key}[{i}].tasks: expected a count >= 1, a list of task ids, a "
                              f"file of ids or null, got {tasks!r}")


def validate(cfg: dict) -> dict:
    """Raises :class:`ConfigError` for the first bad value; returns ``cfg`` unchanged otherwise."""
    from qdagents.descriptors import DESCRIPTORS
    from qdagents.archive import ARCHIVE_KINDS
    from qdagents.selection import STRATEGIES
    from qdagents.emitters import EMITTERS

    _number(cfg, "seed", integer=True, minimum=0)
    _number(cfg, "workers", integer=True, minimum=1)
    _number(cfg, "budget.evaluations", integer=True, minimum=1, nullable=True)
    _number(cfg, "budget.tokens", integer=True, minimum=1, nullable=True)
    _number(cfg, "budget.usd", minimum=0, nullable=True)
    _number(cfg, "budget.seconds", minimum=0, nullable=True)
    for key in ("agent_seconds", "test_seconds"):
        _number(cfg, f"evaluation.{key}", minimum=0.1)
    for key in ("agent_memory_mb", "agent_processes"):
        _number(cfg, f"evaluation.{key}", integer=True, minimum=1)
    for key in ("task_tokens", "evaluation_tokens"):
        _number(cfg, f"evaluation.{key}", integer=True, minimum=1, nullable=True)
    for key in ("task_usd", "evaluation_usd"):
        _number(cfg, f"evaluation.{key}", minimum=0, nullable=True)
    _stages(cfg, "evaluation.stages", _get(cfg, "evaluation.stages"))
    _stages(cfg, "tasks.stages", _get(cfg, "tasks").get("stages"))
    _choice(cfg, "progress", ["auto", "live", "log", "quiet"])
    if not isinstance(cfg.get("emitter_bandit", False), bool):
        raise ConfigError(f"emitter_bandit: expected true or false, got {cfg['emitter_bandit']!r}")
    nf = cfg.get("novelty_filter")
    if nf is not None and (not isinstance(nf, numbers.Real) or not 0 < nf <= 1):
        raise ConfigError(f"novelty_filter: expected a similarity in (0, 1] or null, got {nf!r}")
    _choice(cfg, "archive.kind", sorted(ARCHIVE_KINDS))
    _choice(cfg, "selection.name", sorted(STRATEGIES))
    _choice(cfg, "selection.pool", ["archive", "all"])
    _choice(cfg, "sandbox.backend", ["auto", "bwrap", "docker", "process"])
    _choice(cfg, "llm.mode", ["record", "replay", "off"])
    _choice(cfg, "tasks.kind", ["builtin", "exercism", "humaneval", "swebench"])
    for key in ("llm.agent_model", "llm.emitter_model"):
        if not isinstance(_get(cfg, key), str) or "/" not in _get(cfg, key):
            raise ConfigError(f"{key}: expected a litellm model string like 'provider/model', "
                              f"got {_get(cfg, key)!r}")

    axes = _get(cfg, "descriptors.axes")
    if not isinstance(axes, list) or not axes:
        raise ConfigError("descriptors.axes: expected a non-empty list of axes")
    for i, axis in enumerate(axes):
        key = f"descriptors.axes[{i}]"
        if not isinstance(axis, dict) or axis.get("name") not in DESCRIPTORS:
            raise ConfigError(f"{key}.name: expected one of {', '.join(DESCRIPTORS)}, "
                              f"got {axis.get('name') if isinstance(axis, dict) else axis!r}")
        if not isinstance(axis.get("bins"), int) or axis["bins"] < 1:
            raise ConfigError(f"{key}.bins: expected a positive integer, got {axis.get('bins')!r}")
        if not all(isinstance(axis.get(k), numbers.Real) for k in ("low", "high")) \
                or axis["low"] >= axis["high"]:
            raise ConfigError(f"{key}: expected numbers low < high, got "
                              f"low={axis.get('low')!r} high={axis.get('high')!r}")

    emitters = _get(cfg, "emitters")
    if not isinstance(emitters, dict) or not emitters:
        raise ConfigError("emitters: expected at least one named emitter")
    for name, spec in emitters.items():
        if not isinstance(spec, dict) or spec.get("kind") not in EMITTERS:
            raise ConfigError(f"emitters.{name}.kind: expected one of {', '.join(EMITTERS)}, "
                              f"got {spec.get('kind') if isinstance(spec, dict) else spec!r}")
        weight = spec.get("weight", 1.0)
        if not isinstance(weight, numbers.Real) or weight < 0:
            raise ConfigError(f"emitters.{name}.weight: expected a number >= 0, got {weight!r}")
    if sum(spec.get("weight", 1.0) for spec in emitters.values()) <= 0:
        raise ConfigError("emitters: at least one emitter needs a weight > 0")
    return cfg
