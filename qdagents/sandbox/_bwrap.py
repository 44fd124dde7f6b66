"""bubblewrap backend: fresh namespaces per command, a read-only system, only the caller's mounts.

Each command gets its own user, pid, mount, network, ipc, uts and cgroup namespaces
(``--unshare-all``). The filesystem is an empty tmpfs holding read-only binds of ``/usr`` (and the
``/bin``, ``/lib*`` links into it), a few harmless ``/etc`` files, a private ``/proc``, a minimal
``/dev``, size-capped tmpfs ``/tmp`` and ``/dev/shm``, and the caller's :class:`Mount` s. The
environment is cleared. The command runs as uid 1000 in its user namespace with every capability
dropped, no further user namespaces allowed (``--disable-userns``), and a seccomp denylist
(:mod:`qdagents.sandbox._seccomp`).

Limits: ``RLIMIT_AS``/``FSIZE``/``CPU`` for each process; the wall clock from the controller, which
SIGKILLs bwrap and with it the pid namespace (the kernel kills every process in a pid namespace when
its init dies, so nothing outlives :meth:`BwrapSandbox.run`). The process count needs care: an
unprivileged controller sets ``RLIMIT_NPROC`` *inside* the new user namespace (``prlimit``), where
the kernel counts only the sandbox's processes; a root controller maps the sandbox to host uid 0,
for which the kernel never enforces ``RLIMIT_NPROC``, so it uses a per-command cgroup instead
(:mod:`qdagents.sandbox._cgroup`), which also bounds the memory of the whole tree.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import warnings
from functools import lru_cache

from qdagents.sandbox._base import BASE_ENV, Limits, Mount, SandboxResult, trim
from qdagents.sandbox import _cgroup
from qdagents.sandbox._cgroup import Cgroup
from qdagents.sandbox._mounts import check_mounts
from qdagents.sandbox._output import collect
from qdagents.sandbox._process import kill_group, rlimit_preexec
from qdagents.sandbox._seccomp import seccomp_filter

#: Host ``/etc`` entries the interpreter and common tools use; nothing secret.
ETC_FILES = ("/etc/alternatives", "/etc/ld.so.cache", "/etc/localtime", "/etc/python3*")


#: Where a system-wide ``pip install qdagents`` puts the package (under the bound /usr).
INSTALL_PATTERNS = ("/usr/lib/python3*/*-packages/qdagents",
                    "/usr/lib/python3/dist-packages/qdagents",
                    "/usr/local/lib/python3*/*-packages/qdagents",
                    "/usr/lib64/python3*/*-packages/qdagents",
                    "/usr/local/lib64/python3*/*-packages/qdagents")
SYSTEM_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def installed_package_dirs(patterns=INSTALL_PATTERNS, roots=SYSTEM_ROOTS) -> tuple[str, ...]:
    """Copies of the qdagents package under the system folders every sandbox binds.

    The package ships the built-in tasks' hidden tests and reference solutions, so an install
    under ``/usr`` would put the answers in every sandbox's view: each of these folders is
    covered by an empty read-only tmpfs in every command (agents' and solutions' alike).
    """
    here = os.path.realpath(os.path.join(os.path.dirname(__file__), os.pardir))
    found = {here} if any(here == r or here.startswith(r + "/") for r in roots) else set()
    for pattern in patterns:
        found.update(os.path.realpath(p) for p in glob.glob(pattern) if os.path.isdir(p))
    return tuple(sorted(found))


@lru_cache(maxsize=1)
def _system_args() -> tuple[str, ...]:
    """Read-only binds of the host system the sandboxed ``python3`` runs from."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for pattern in ETC_FILES:
        for path in sorted(glob.glob(pattern)):
            if os.path.exists(path):
                args += ["--ro-bind", path, path]
    return tuple(args)


@lru_cache(maxsize=None)
def _bwrap_help(bwrap: str) -> str:
    """``bwrap --help`` (``--disable-userns`` needs bubblewrap 0.8; older ones lack it)."""
    try:
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _system_folder(path: str) -> bool:
    """Whether ``path`` is a folder of the sandbox's own (not a mount's)."""
    path = os.path.normpath(path)
    return path in ("/", "/tmp", "/dev/shm") or (
        path.startswith("/usr/") and os.path.isdir(path))


def _memfd(name: str, text: str) -> int:
    """A file descriptor holding ``text`` (for bwrap's ``--ro-bind-data``)."""
    fd = os.memfd_create(name)
    os.write(fd, text.encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class BwrapSandbox:
    """Runs each command in fresh bubblewrap namespaces. See the module docstring for the layout.

    Args:
        bwrap: path of the ``bwrap`` binary (default: found on ``PATH``).
        uid: the uid (and gid) the command has inside its user namespace.
        cgroups: when the controller is root, bound processes and memory with a per-command cgroup.
        seccomp: deny the syscalls in :mod:`qdagents.sandbox._seccomp` (x86_64).
        hide: folders under the bound system to show empty (default: every installed copy of
            qdagents, :func:`installed_package_dirs`).
    """

    name = "bwrap"

    def __init__(self, *, bwrap: str | None = None, uid: int = 1000, cgroups: bool = True,
                 seccomp: bool = True, hide: tuple[str, ...] | None = None):
        self.bwrap = bwrap or shutil.which("bwrap") or "/usr/bin/bwrap"
        self.uid, self.seccomp = uid, seccomp
        self.hide = installed_package_dirs() if hide is None else tuple(hide)
        self.cgroups = cgroups and os.geteuid() == 0
        self.prlimit = shutil.which("prlimit", path="/usr/bin:/bin")  # /usr is mounted inside

    def command(self, argv: list[str], *, workdir: str, mounts: list[Mount],
                env: dict[str, str], limits: Limits, fds: dict[str, int]) -> list[str]:
        """The bwrap command line; ``fds`` maps ``passwd``, ``group``, ``hosts``, ``status`` (and
        ``seccomp`` when filtering) to file descriptors."""
        tmp = str(limits.memory_mb * 1024 * 1024)
        nested = ["--disable-userns"] if "--disable-userns" in _bwrap_help(self.bwrap) else []
        cmd = [self.bwrap, "--unshare-all", "--unshare-user", *nested, "--die-with-parent",
               "--new-session", "--cap-drop", "ALL",
               "--uid", str(self.uid), "--gid", str(self.uid), "--hostname", "sandbox",
               *_system_args(),
               "--ro-bind-data", str(fds["passwd"]), "/etc/passwd",
               "--ro-bind-data", str(fds["group"]), "/etc/group",
               "--ro-bind-data", str(fds["hosts"]), "/etc/hosts",
               "--proc", "/proc", "--dev", "/dev",
               "--perms", "1777", "--size", tmp, "--tmpfs", "/dev/shm",
               "--perms", "1777", "--size", tmp, "--tmpfs", "/tmp"]
        for path in self.hide:  # an installed qdagents (its tasks' answers) shows empty
            cmd += ["--size", "4096", "--tmpfs", path, "--remount-ro", path]
        if not check_mounts(workdir, mounts) and not _system_folder(workdir):
            raise FileNotFoundError(f"workdir {workdir} does not exist in the sandbox")
        for mount in mounts:
            cmd += ["--bind" if mount.writable else "--ro-bind", str(mount.source), mount.target]
        cmd += ["--clearenv"]
        for key, value in {**BASE_ENV, **env}.items():
            cmd += ["--setenv", key, value]
        if "seccomp" in fds:
            cmd += ["--seccomp", str(fds["seccomp"])]
        cmd += ["--chdir", workdir, "--json-status-fd", str(fds["status"]), "--"]
        if not self.cgroups and self.prlimit:  # counted per user namespace: set it inside
            cmd += [self.prlimit, f"--nproc={limits.processes}", "--"]
        return cmd + list(argv)

    def run(self, argv: list[str], *, workdir: str, mounts: list[Mount],
            env: dict[str, str], limits: Limits,
            cancel: threading.Event | None = None) -> SandboxResult:
        start = time.monotonic()
        fds = {"passwd": _memfd("passwd", f"agent:x:{self.uid}:{self.uid}:agent:/tmp:/bin/sh\n"
                                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
               "group": _memfd("group", f"agent:x:{self.uid}:\nnogroup:x:65534:\n"),
               "hosts": _memfd("hosts", "127.0.0.1 localhost sandbox\n::1 localhost\n"),
               "status": os.memfd_create("status")}
        program = seccomp_filter() if self.seccomp else None
        if program is not None:
            fds["seccomp"] = os.memfd_create("seccomp")
            os.write(fds["seccomp"], program)
            os.lseek(fds["seccomp"], 0, os.SEEK_SET)
        group = Cgroup.create(limits) if self.cgroups else None
        if self.cgroups and group is None:
            _warn_once(f"bwrap as root without cgroups: the process count and the memory of the "
                       f"whole tree are not bounded ({_cgroup.UNAVAILABLE})")
        try:
            cmd = self.command(argv, workdir=workdir, mounts=mounts, env=env, limits=limits,
                               fds=fds)
            return self._run(cmd, fds, group, limits, start, cancel)
        except (OSError, ValueError) as error:
            return SandboxResult(exit_code=None, stdout="", stderr=str(error),
                                 seconds=time.monotonic() - start,
                                 failure=f"sandbox setup failed: {error}")
        finally:
            if group is not None:
                group.remove()
            for fd in fds.values():
                os.close(fd)

    def _run(self, cmd: list[str], fds: dict[str, int], group: Cgroup | None, limits: Limits,
             start: float, cancel: threading.Event | None = None) -> SandboxResult:
        limit = rlimit_preexec(limits)

        def preexec() -> None:
            limit()
            if group is not None:
                group.join()

        proc = subprocess.Popen(cmd, env={}, cwd="/", stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                pass_fds=tuple(fds.values()), preexec_fn=preexec)

        def kill() -> None:
            kill_group(proc)
            if group is not None:
                group.kill()

        out, err, timed_out = collect(proc, limits.seconds, kill, cancel=cancel)
        kill_group(proc)
        status = _status(fds["status"])
        events = group.events() if group is not None else {}
        code = status.get("exit-code", proc.returncode)
        failure = None
        if timed_out:
            failure, code = f"timed out after {limits.seconds:g}s", None
        elif cancel is not None and cancel.is_set():
            failure, code = "cancelled by the caller", None
        elif "child-pid" not in status:
            failure, code = f"sandbox setup failed: {err.strip()[-500:]}", None
        elif events.get("oom"):
            failure = f"killed: memory limit ({limits.memory_mb} MB)"
        elif code is not None and code > 128 and (code - 128) in signal.valid_signals():
            failure = f"killed by signal {signal.Signals(code - 128).name}"
        elif code is not None and code < 0:
            failure = f"killed by signal {signal.Signals(-code).name}"
        if failure is None and events.get("pids"):
            failure = f"hit the process limit ({limits.processes})"
        return SandboxResult(exit_code=code, stdout=trim(out), stderr=trim(err),
                             seconds=time.monotonic() - start, timed_out=timed_out,
                             failure=failure)


@lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _status(fd: int) -> dict:
    """Merges the JSON lines bwrap wrote to ``--json-status-fd``."""
    os.lseek(fd, 0, os.SEEK_SET)
    merged: dict = {}
    for line in os.read(fd, 1 << 16).decode(errors="replace").splitlines():
        try:
            merged.update(json.loads(line))
        except ValueError:
            pass
    return merged
