"""A throwaway cgroup per sandboxed command: the process and memory bounds rlimits can't give root.

Why: the kernel never enforces ``RLIMIT_NPROC`` for processes whose host uid is 0 (fork checks
``real_cred->user != INIT_USER``), and a bwrap sandbox started by root maps its uid to host root.
So when the controller runs as root, a fork bomb is bounded by ``pids.max`` here instead, and the
whole tree's memory (``RLIMIT_AS`` is per process; tmpfs pages are per nobody) by the memory
controller. Supports cgroup v2 (``/sys/fs/cgroup/qdagents/<run>``) and v1 (``pids`` and ``memory``
hierarchies). When cgroups can't be created, :func:`Cgroup.create` returns None and says why in
:data:`UNAVAILABLE`.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

from qdagents.sandbox._base import Limits

ROOT = Path("/sys/fs/cgroup")

#: Why cgroups can't be used here ("" when they can, None before the first try).
UNAVAILABLE: str | None = None


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _counter(path: Path, key: str) -> int:
    """Reads ``key N`` from a flat-keyed cgroup file (0 when missing)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _sweep() -> None:
    """Removes empty cgroups left by controllers that were killed (``run-<pid>-*``, pid gone)."""
    for parent in (ROOT / "qdagents", ROOT / "pids" / "qdagents", ROOT / "memory" / "qdagents"):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            if name.startswith("run-") and not Path(f"/proc/{name.split('-')[1]}").exists():
                try:
                    (parent / name).rmdir()  # fails, harmlessly, if processes remain
                except OSError:
                    pass


class Cgroup:
    """One cgroup (a directory per v1 hierarchy, one directory for v2) for one command."""

    def __init__(self, dirs: list[Path], v2: bool):
        self.dirs, self.v2 = dirs, v2
        self._procs = [str(d / "cgroup.procs") for d in dirs]

    @classmethod
    def create(cls, limits: Limits) -> Cgroup | None:
        """Creates a cgroup holding ``limits``, or returns None when this host can't."""
        global UNAVAILABLE
        if UNAVAILABLE:
            return None
        name = f"run-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        group = None
        if UNAVAILABLE is None:
            _sweep()
        try:
            group = cls._create_v2(name) if (ROOT / "cgroup.controllers").exists() \
                else cls._create_v1(name)
            group._limit(limits)
        except OSError as error:
            UNAVAILABLE = f"cannot create cgroups ({error.strerror or error}: {error.filename})"
            if group is not None:
                group.remove()
            return None
        UNAVAILABLE = ""
        return group

    @classmethod
    def _create_v2(cls, name: str) -> Cgroup:
        base = ROOT / "qdagents"
        for parent in (ROOT, base):
            parent.mkdir(exist_ok=True)
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            missing = [c for c in ("pids", "memory") if c not in enabled]
            if missing:
                _write(parent / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
        (base / name).mkdir()
        return cls([base / name], v2=True)

    @classmethod
    def _create_v1(cls, name: str) -> Cgroup:
        dirs = [ROOT / "pids" / "qdagents" / name, ROOT / "memory" / "qdagents" / name]
        made = []
        try:
            for path in dirs:
                path.mkdir(parents=True)
                made.append(path)
        except OSError:
            cls(made, v2=False).remove()
            raise
        return cls(dirs, v2=False)

    def _limit(self, limits: Limits) -> None:
        memory = str(limits.memory_mb * 1024 * 1024)
        if self.v2:
            (group,) = self.dirs
            _write(group / "pids.max", str(limits.processes))
            _write(group / "memory.max", memory)
            if (group / "memory.swap.max").exists():
                _write(group / "memory.swap.max", "0")
        else:
            pids, mem = self.dirs
            _write(pids / "pids.max", str(limits.processes))
            _write(mem / "memory.limit_in_bytes", memory)
            if (mem / "memory.memsw.limit_in_bytes").exists():
                _write(mem / "memory.memsw.limit_in_bytes", memory)

    def join(self) -> None:
        """Moves the calling process into the cgroup (called in the child before exec)."""
        pid = str(os.getpid())
        for procs in self._procs:
            with open(procs, "w") as handle:
                handle.write(pid)

    def events(self) -> dict[str, int]:
        """How often the process and memory bounds were hit."""
        if self.v2:
            (group,) = self.dirs
            return {"pids": _counter(group / "pids.events", "max"),
                    "oom": _counter(group / "memory.events", "oom_kill")}
        pids, mem = self.dirs
        return {"pids": _counter(pids / "pids.events", "max"),
                "oom": _counter(mem / "memory.oom_control", "oom_kill")}

    def kill(self) -> None:
        """SIGKILLs everything in the cgroup."""
        if self.v2 and (self.dirs[0] / "cgroup.kill").exists():
            _write(self.dirs[0] / "cgroup.kill", "1")
            return
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def pids(self) -> list[int]:
        found = set()
        for procs in self._procs:
            try:
                found.update(int(p) for p in Path(procs).read_text().split())
            except OSError:
                pass
        return sorted(found)

    def remove(self) -> None:
        """Kills what is left and removes the directories (retrying while processes exit)."""
        if self.dirs and self.pids():
            self.kill()
        for path in self.dirs:
            pause, deadline = 0.001, time.monotonic() + 5
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # exiting processes still count for a moment
                    if time.monotonic() > deadline:
                        break
                    time.sleep(pause)
                    pause = min(pause * 2, 0.05)
