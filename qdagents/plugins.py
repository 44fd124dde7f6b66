"""Every pluggable part, named in config by a built-in name or by ``_target_``, resolved here.

A researcher extends qdagents without editing it: any part below may be given in config as
``_target_: my_package.module.Name`` (Hydra's convention: a dotted path, called with the part's
other keys) instead of a built-in name. This module is the one place where either is turned into
an object and checked against the part's protocol; a part that does not resolve or does not fit
is a :class:`~qdagents.config.ConfigError` naming its config key.

| part | config | built-in names | what ``_target_`` names, called with the other keys |
| --- | --- | --- | --- |
| emitter | ``emitters.<name>`` | ``kind``: :data:`qdagents.emitters.EMITTERS` | a class, called with ``name=`` too; its objects fit :class:`qdagents.emitters.Emitter` |
| selection rule | ``selection`` | ``name``: :data:`qdagents.selection.STRATEGIES` | a rule ``(candidates, children, **context) -> probabilities`` (the other keys are its options), or a class whose objects have ``choose(candidates, children, rng, k, *, curiosity)`` |
| descriptor | ``descriptors.axes[i]`` | ``name``: :data:`qdagents.descriptors.DESCRIPTORS` | a :class:`~qdagents.descriptors.Descriptor`, a Descriptor class, or a measure ``(tasks, files) -> float`` |
| archive | ``archive`` | ``kind``: :data:`qdagents.archive.ARCHIVE_KINDS` | a class, called with ``specs=`` (the axes) and ``seed=`` too; its objects have ``specs``, ``add``, ``elites``, ``is_elite``, ``stats`` |
| task-suite loader | ``tasks`` | ``kind``: builtin, exercism, humaneval, swebench | a function returning a suite (``name``, ``tasks``, ``len()``) |
| sandbox backend | ``sandbox`` | ``backend``: process, bwrap, docker, auto | a class whose objects have ``name`` and ``run(argv, *, workdir, mounts, env, limits)`` |
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any, Callable

from qdagents.config import ConfigError

TARGET = "_target_"


def locate(path: Any, key: str) -> Any:
    """The object at the dotted path ``package.module.name`` (``_target_``)."""
    if not isinstance(path, str) or "." not in path.strip("."):
        raise ConfigError(f"{key}.{TARGET}: expected a dotted path like 'my_package.module.Name', "
                          f"got {path!r}")
    parts = path.split(".")
    for i in range(len(parts) - 1, 0, -1):   # the longest prefix that is a module
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue                      # not a module: try a shorter prefix
            raise ConfigError(f"{key}.{TARGET}: importing {module_name!r} failed: {exc}") from None
        except Exception as exc:              # the user's module itself raised
            raise ConfigError(f"{key}.{TARGET}: importing {module_name!r} failed: "
                              f"{exc!r}") from None
        break
    else:
        raise ConfigError(f"{key}.{TARGET}: no module found for {path!r} (is its package "
                          "installed or on PYTHONPATH?)")
    for part in parts[i:]:
        if not hasattr(obj, part):
            raise ConfigError(f"{key}.{TARGET}: {getattr(obj, '__name__', obj)!s} has no "
                              f"attribute {part!r} (from {path!r})")
        obj = getattr(obj, part)
    return obj


def factory(spec: Any, key: str, field: str, builtins: dict) -> tuple[Any, dict, str]:
    """``(object, options, name)`` for a part's config: its ``_target_`` located, or the
    built-in its ``field`` names; ``options`` are the other keys."""
    if not isinstance(spec, dict):
        raise ConfigError(f"{key}: expected a mapping with {field} or {TARGET}, got {spec!r}")
    options = {k: v for k, v in spec.items() if k not in (TARGET, field)}
    if spec.get(TARGET) is not None:
        return locate(spec[TARGET], key), options, str(spec[TARGET])
    name = spec.get(field)
    if name not in builtins:
        raise ConfigError(f"{key}.{field}: {name!r} is not one of {', '.join(map(str, builtins))}"
                          f" (or name your own with {key}.{TARGET}: a dotted path)")
    return builtins[name], options, str(name)


def call(target: Callable, options: dict, key: str, what: str) -> Any:
    """``target(**options)``; a TypeError (wrong keys) becomes a ConfigError naming ``key``."""
    if not callable(target):
        raise ConfigError(f"{key}: {what} {target!r} is not callable")
    try:
        inspect.signature(target).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"{key}: {what} {getattr(target, '__name__', target)} does not take "
                          f"these keys {sorted(options)}: {exc}") from None
    except ValueError:   # no signature to inspect (a builtin): let the call say
        pass
    return target(**options)


def check(obj: Any, key: str, what: str, *, attributes: tuple[str, ...] = (),
          methods: dict[str, tuple[tuple, dict]] | None = None) -> Any:
    """Checks ``obj`` has the protocol's attributes, and methods that accept the runner's calls
    (``{method: (positional args, keyword args)}``); returns it."""
    missing = [a for a in attributes if not hasattr(obj, a)]
    missing += [m for m in (methods or {}) if not callable(getattr(obj, m, None))]
    if missing:
        raise ConfigError(f"{key}: {what} {type(obj).__name__} lacks {', '.join(missing)} "
                          f"(the protocol: {', '.join([*attributes, *(methods or {})])})")
    for name, (args, kwargs) in (methods or {}).items():
        callable_as(getattr(obj, name), args, kwargs, key,
                    f"{what} {type(obj).__name__}.{name}", name)
    return obj


def callable_as(fn: Callable, args: tuple, kwargs: dict, key: str, what: str, name: str) -> None:
    """Checks ``fn`` accepts the runner's call ``name(*args, **kwargs)`` now, so a plug-in with
    the wrong signature is a ConfigError naming ``key`` before the run starts, not a TypeError
    in the middle of it."""
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as exc:
        call_text = ", ".join([*("…" for _ in args), *(f"{k}=…" for k in kwargs)])
        raise ConfigError(f"{key}: {what} cannot be called as {name}({call_text}): "
                          f"{exc}") from None
    except ValueError:   # no signature to inspect (a builtin): let the call say
        pass


# -- the parts -------------------------------------------------------------------------------------

def emitter(name: str, spec: dict, *, key: str | None = None):
    """The emitter ``emitters.<name>`` (``weight`` is the scheduler's, not the emitter's)."""
    from qdagents.emitters import EMITTERS

    key = key or f"emitters.{name}"
    target, options, _ = factory(spec, key, "kind", EMITTERS)
    options.pop("weight", None)
    built = call(target, {"name": name, **options}, key, "emitter")
    check(built, key, "emitter", attributes=("name", "parents_needed", "directed", "needs_workshop"),
          methods={"propose": (([],), {"complete": None, "rng": None, "target": None,
                                       "workshop": None})})
    if not isinstance(built.parents_needed, int) or built.parents_needed < 1:
        raise ConfigError(f"{key}: parents_needed must be an integer >= 1, "
                          f"got {built.parents_needed!r}")
    return built


def selection(spec: dict, *, ranges, key: str = "selection"):
    """The selection rule (``pool`` is the scheduler's, not the rule's)."""
    from qdagents.selection import STRATEGIES, Selection

    spec = {k: v for k, v in spec.items() if k != "pool"}
    target, options, name = factory(spec, key, "name", {n: None for n in STRATEGIES})
    if target is None:
        return call(Selection, {"name": name, "ranges": ranges, **options}, key, "selection")
    if inspect.isclass(target):
        rule = call(target, options, key, "selection rule")
    else:   # a function: the probabilities of each candidate, like the built-in strategies
        known = {k: options.pop(k) for k in ("tournament_size", "k_neighbours") if k in options}
        rule = Selection(name=name, rule=target, ranges=ranges, options=options, **known)
        callable_as(target, ([], {}), rule.context(), key,
                    f"selection rule {getattr(target, '__name__', name)}", "rule")
    return check(rule, key, "selection rule", methods={
        "choose": (([], {}, None), {"k": 1, "curiosity": None})})


def descriptor(spec: dict, *, group: dict | None = None, key: str):
    """One archive axis: the descriptor over its configured range and bins."""
    from qdagents.descriptors import DESCRIPTORS, CodeNovelty, Descriptor

    target, options, name = factory(spec, key, "name", DESCRIPTORS)
    renamed = spec.get("name") if spec.get(TARGET) is not None else None
    axis = {k: options.pop(k) for k in ("low", "high", "bins") if k in options}
    if isinstance(target, Descriptor):
        built = dataclasses.replace(target, name=renamed) if renamed else target
    elif inspect.isclass(target) and issubclass(target, Descriptor):
        built = call(target, {**options, **axis, **({"name": renamed} if renamed else {})}, key,
                     "descriptor")
    elif callable(target):   # a measure (tasks, files) -> float
        callable_as(target, ([], {}), {}, key,
                    f"descriptor measure {getattr(target, '__name__', name)}", "measure")
        built = call(Descriptor, {"name": renamed or getattr(target, "__name__", name), **options,
                                  **axis, "measure": target}, key, "descriptor")
    else:
        raise ConfigError(f"{key}.{TARGET}: {name} is not a Descriptor, a Descriptor class or a "
                          "measure (tasks, files) -> float")
    if isinstance(built, CodeNovelty) and group:
        built = dataclasses.replace(built, k=int(group.get("novelty_k", built.k)),
                                    embedding_model=group.get("embedding_model")
                                    or built.embedding_model)
    built = built.axis(**{k: v for k, v in axis.items() if v is not None})
    if not isinstance(built.bins, int) or isinstance(built.bins, bool) or built.bins < 1:
        raise ConfigError(f"{key}.bins: expected a positive integer, got {built.bins!r}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
               for v in (built.low, built.high)) or built.low >= built.high:
        raise ConfigError(f"{key}: expected numbers low < high, got low={built.low!r} "
                          f"high={built.high!r}")
    if built.measure is None and not built.against_archive:
        raise ConfigError(f"{key}: descriptor {built.name} has no measure")
    return built


def descriptors(group: dict, *, key: str = "descriptors") -> list:
    """Every archive axis of ``descriptors.axes``, in order, with distinct names."""
    axes = group.get("axes") if isinstance(group, dict) else None
    if not isinstance(axes, list) or not axes:
        raise ConfigError(f"{key}.axes: expected a non-empty list of axes")
    built = [descriptor(a, group=group, key=f"{key}.axes[{i}]") for i, a in enumerate(axes)]
    names = [d.name for d in built]
    if len(set(names)) != len(names):
        raise ConfigError(f"{key}.axes: descriptor names must be distinct, got {names}")
    return built


def archive(spec: dict, *, axes: list, seed: int, key: str = "archive"):
    from qdagents.archive import ARCHIVE_KINDS, Archive

    target, options, name = factory(spec, key, "kind", {k: Archive for k in ARCHIVE_KINDS})
    if target is Archive and spec.get(TARGET) is None:
        options["kind"] = name
    built = call(target, {"specs": axes, "seed": seed, **options}, key, "archive")
    check(built, key, "archive", attributes=("specs", "stats"), methods={
        "add": (("id", 0.0, []), {}), "elites": ((), {}), "is_elite": (("id",), {})})
    stats = built.stats
    missing = [k for k in ARCHIVE_STATS if not isinstance(stats, dict) or k not in stats]
    if missing:   # the runner writes them after every evaluation: say so now, not mid-run
        raise ConfigError(f"{key}: the archive's stats must be a dict with "
                          f"{', '.join(ARCHIVE_STATS)}; missing {', '.join(missing)}")
    return built


#: What an archive's ``stats`` holds (the run database's archive_stats row of each evaluation).
ARCHIVE_STATS = ("elites", "coverage", "qd_score", "best")


def task_suite(spec: dict, *, key: str = "tasks"):
    from qdagents.tasks import SUITE_KINDS, load_suite

    builtins = dict.fromkeys(SUITE_KINDS)
    target, options, name = factory(spec, key, "kind", builtins)
    options.pop("stages", None)   # the suite's preset stages are the evaluator's (tasks.stages)
    built = (load_suite({"kind": name, **options}) if target is None
             else call(target, options, key, "task-suite loader"))
    check(built, key, "task suite", attributes=("name", "tasks"))
    if not built.tasks or not all(hasattr(t, "id") for t in built.tasks):
        raise ConfigError(f"{key}: the task suite {built.name!r} holds no tasks")
    return built


def sandbox(spec: dict, *, key: str = "sandbox"):
    from qdagents.sandbox import BACKENDS, make_sandbox

    target, options, name = factory(spec, key, "backend", {b: None for b in BACKENDS})
    built = (make_sandbox(name, **options) if target is None
             else call(target, options, key, "sandbox"))
    return check(built, key, "sandbox", attributes=("name",), methods={
        "run": (([],), {"workdir": "/", "mounts": [], "env": {}, "limits": None})})


def resolves(spec: Any, *, key: str, field: str, builtins) -> None:
    """Checks a part's config names a built-in or a ``_target_`` that imports (without building
    it: archives, task suites and sandboxes are checked against their protocol when built)."""
    factory(spec, key, field, {name: None for name in builtins})
