"""Plain-subprocess backend: rlimits and a process-group kill, no isolation.

For trusted code only (the harness self-check, debugging a hand-written agent). Mount targets are
mapped back to their host paths, since there is no mount namespace to put them in.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import threading
import time
import warnings

from qdagents.sandbox._base import BASE_ENV, Limits, Mount, SandboxResult, trim

_warned = False


def _translate(value: str, mounts: list[Mount]) -> str:
    """Rewrites a path under a mount target to the mount's host source."""
    for mount in sorted(mounts, key=lambda m: len(m.target), reverse=True):
        if value == mount.target or value.startswith(mount.target.rstrip("/") + "/"):
            return str(mount.source) + value[len(mount.target.rstrip("/")):]
    return value


def rlimit_preexec(limits: Limits):
    """Returns a ``preexec_fn`` that starts a new session and applies ``limits`` as rlimits."""

    def apply() -> None:
        os.setsid()
        memory = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = int(limits.seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        size = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def kill_group(proc: subprocess.Popen) -> None:
    """Kills the process and everything it started in its session."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_limited(argv: list[str], *, cwd: str, env: dict[str, str], limits: Limits,
                preexec=None, cancel: threading.Event | None = None) -> SandboxResult:
    """Runs ``argv`` with a wall-clock kill (and a kill when ``cancel`` is set)."""
    from qdagents.sandbox._output import collect

    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=preexec or rlimit_preexec(limits))
    out, err, timed_out = collect(proc, limits.seconds, lambda: kill_group(proc), cancel=cancel)
    kill_group(proc)  # nothing the command started may outlive it
    seconds = time.monotonic() - start
    code = proc.returncode
    failure = None
    if timed_out:
        failure, code = f"timed out after {limits.seconds:g}s", None
    elif cancel is not None and cancel.is_set():
        failure, code = "cancelled by the caller", None
    elif code is not None and code < 0:
        failure = f"killed by signal {signal.Signals(-code).name}"
    return SandboxResult(exit_code=code, stdout=trim(out), stderr=trim(err), seconds=seconds,
                         timed_out=timed_out, failure=failure)


class ProcessSandbox:
    """Runs commands as plain subprocesses with rlimits. Not a security boundary."""

    name = "process"

    def __init__(self, *, warn: bool = True):
        global _warned
        if warn and not _warned:
            warnings.warn("sandbox=process isolates nothing: use it for trusted code only",
                          stacklevel=2)
            _warned = True

    def run(self, argv: list[str], *, workdir: str, mounts: list[Mount],
            env: dict[str, str], limits: Limits,
            cancel: threading.Event | None = None) -> SandboxResult:
        full_env = {**BASE_ENV, **{k: _translate(v, mounts) for k, v in env.items()}}
        full_env["PATH"] = os.path.dirname(_python()) + ":" + full_env["PATH"]
        argv = [_translate(a, mounts) for a in argv]
        if argv and argv[0] == "python3":
            argv[0] = _python()
        return run_limited(argv, cwd=_translate(workdir, mounts), env=full_env, limits=limits,
                           cancel=cancel)


def _python() -> str:
    """The interpreter agents get: the system python3 if there is one, else this one."""
    import shutil
    import sys
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable
