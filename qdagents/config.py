"""Composing and checking a config before anything runs, naming the bad key.

:func:`compose` composes the Hydra tree in ``conf/`` (shipped as ``qdagents.conf``) with overrides,
as ``qdagents run`` does, and returns a plain dict. Hydra already refuses keys that do not exist;
:func:`validate` refuses values that would fail later (a negative budget, an unknown selection, a
part whose ``_target_`` does not import, a descriptor axis with no bins), so that a broken config
stops the run at once with ``ConfigError: budget.evaluations: ...`` (``qdagents: error: invalid
config: ...`` and exit code 2 on the command line).
"""

from __future__ import annotations

import numbers
from typing import Sequence


class ConfigError(ValueError):
    """A config value that cannot work; the message starts with the dotted key."""


def compose(overrides: Sequence[str] = ()) -> dict:
    """The validated config for ``overrides`` (``["seed=3", "selection=dgm", ...]``), composed
    as ``qdagents run`` composes it; a ``hydra.searchpath=[file://...]`` override adds a
    package's own config groups. Raises :class:`ConfigError` naming the first bad key."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module="qdagents.conf", version_base=None):
            cfg = hydra_compose("config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(str(exc).strip()) from None
    return resolve(cfg)


def resolve(cfg) -> dict:
    """A composed config (OmegaConf, or a dict) as a plain, validated dict."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(cfg, dict):
        try:   # a missing '???' value, a bad interpolation
            cfg = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        except OmegaConfBaseException as exc:
            raise ConfigError(str(exc).strip()) from None
    return validate(cfg)


#: Override keys that change how a run is executed, not what is compared between conditions.
NOT_A_CONDITION = {"seed", "progress", "workers", "sandbox", "executor"}


def condition_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides that define a run's experimental condition (what reports compare): all
    but the seed and the keys of how it is executed."""
    def key(override: str) -> str:
        return override.split("=")[0].lstrip("+~")

    return sorted(o for o in overrides if key(o) not in NOT_A_CONDITION
                  and not key(o).startswith(("hydra.", "sandbox.", "executor.")))


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


def _executor(cfg: dict) -> None:
    """``executor``: local, or dask with its cluster's address, sizes and relay. A key left out
    takes its default (``qdagents resume RUN executor.kind=dask`` on a run started locally)."""
    executor = cfg.get("executor")
    if executor is None:   # a run recorded before there were executors
        return
    _choice(cfg, "executor.kind", ["local", "dask"])
    if executor["kind"] != "dask":
        return
    unknown = set(executor) - {"kind", *DASK_KEYS}
    if unknown:
        raise ConfigError(f"executor.{sorted(unknown)[0]}: not a key of executor=dask (its keys: "
                          f"{', '.join(DASK_KEYS)})")
    address = executor.get("address")
    if address is not None and (not isinstance(address, str) or "://" not in address):
        raise ConfigError(f"executor.address: expected a scheduler address like "
                          f"tcp://HOST:8786, or null for a LocalCluster, got {address!r}")
    for key in ("local_workers", "threads_per_worker", "min_workers"):
        if key in executor:
            _number(cfg, f"executor.{key}", integer=True, minimum=1)
    if "connect_timeout" in executor:
        _number(cfg, "executor.connect_timeout", minimum=1)
    if "relay_port" in executor:
        _number(cfg, "executor.relay_port", integer=True, minimum=0)
        if executor["relay_port"] > 65535:
            raise ConfigError(f"executor.relay_port: expected a port <= 65535, got "
                              f"{executor['relay_port']}")
    host = executor.get("relay_host")
    if host is not None and not isinstance(host, str):
        raise ConfigError(f"executor.relay_host: expected an address or null, got {host!r}")
    tls = executor.get("tls")
    if tls is not None and (not isinstance(tls, dict) or
                            not all(isinstance(tls.get(k), str) for k in ("ca_file", "cert", "key"))):
        raise ConfigError(f"executor.tls: expected {{ca_file, cert, key}} (paths) or null, "
                          f"got {tls!r}")


#: The keys of ``executor=dask`` (conf/executor/dask.yaml), all optional.
DASK_KEYS = ("address", "local_workers", "threads_per_worker", "min_workers", "connect_timeout",
             "relay_host", "relay_port", "tls")


def validate(cfg: dict) -> dict:
    """Raises :class:`ConfigError` for the first bad value; returns ``cfg`` unchanged otherwise."""
    from qdagents import plugins
    from qdagents.archive import ARCHIVE_KINDS
    from qdagents.llm import validate_llm
    from qdagents.sandbox import BACKENDS
    from qdagents.tasks import FEEDBACK_MODES, SUITE_KINDS

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
    if "early_stop" in _get(cfg, "evaluation"):   # runs from before the key resume with 3
        _number(cfg, "evaluation.early_stop", integer=True, minimum=0)
    _stages(cfg, "evaluation.stages", _get(cfg, "evaluation.stages"))
    _stages(cfg, "tasks.stages", _get(cfg, "tasks").get("stages"))
    _choice(cfg, "progress", ["auto", "live", "log", "quiet"])
    if "feedback" in _get(cfg, "evaluation"):   # runs from before the key resume with "names"
        _choice(cfg, "evaluation.feedback", FEEDBACK_MODES)
    _executor(cfg)
    if not isinstance(cfg.get("emitter_bandit", False), bool):
        raise ConfigError(f"emitter_bandit: expected true or false, got {cfg['emitter_bandit']!r}")
    nf = cfg.get("novelty_filter")
    if nf is not None and (not isinstance(nf, numbers.Real) or not 0 < nf <= 1):
        raise ConfigError(f"novelty_filter: expected a similarity in (0, 1] or null, got {nf!r}")
    _choice(cfg, "selection.pool", ["archive", "all"])
    _choice(cfg, "llm.mode", ["record", "replay", "off"])
    validate_llm(cfg)   # llm.max_tokens, llm.prices, llm.emitter_ensemble
    for key in ("llm.agent_model", "llm.emitter_model"):
        if not isinstance(_get(cfg, key), str) or "/" not in _get(cfg, key):
            raise ConfigError(f"{key}: expected a litellm model string like 'provider/model', "
                              f"got {_get(cfg, key)!r}")

    # the pluggable parts: a built-in name or a _target_ that imports (qdagents.plugins);
    # emitters, the selection rule and the descriptors are built and checked here, the archive,
    # task suite and sandbox when the run builds them
    plugins.resolves(_get(cfg, "archive"), key="archive", field="kind", builtins=ARCHIVE_KINDS)
    plugins.resolves(_get(cfg, "sandbox"), key="sandbox", field="backend", builtins=BACKENDS)
    plugins.resolves(_get(cfg, "tasks"), key="tasks", field="kind", builtins=SUITE_KINDS)
    plugins.selection(_get(cfg, "selection"), ranges=None)
    plugins.descriptors(_get(cfg, "descriptors"))
    emitters = _get(cfg, "emitters")
    if not isinstance(emitters, dict) or not emitters:
        raise ConfigError("emitters: expected at least one named emitter")
    for name, spec in emitters.items():
        plugins.emitter(name, spec)
        weight = spec.get("weight", 1.0)
        if not isinstance(weight, numbers.Real) or isinstance(weight, bool) or weight < 0:
            raise ConfigError(f"emitters.{name}.weight: expected a number >= 0, got {weight!r}")
    if sum(spec.get("weight", 1.0) for spec in emitters.values()) <= 0:
        raise ConfigError("emitters: at least one emitter needs a weight > 0")
    return cfg
